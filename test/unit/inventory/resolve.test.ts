import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RcptsyncError, UsageError, ExitCode } from '../../../src/errors.js';
import { parseInventoryJson, resolveInventory } from '../../../src/inventory/resolve.js';

const tmp = mkdtempSync(join(tmpdir(), 'rcptsync-resolve-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('resolveInventory with the real ansible-inventory', () => {
  it('resolves the example YAML inventory directory, group_vars and host_vars included', async () => {
    const resolved = await resolveInventory({ inventory: 'inventory/example' });
    expect(resolved.inventoryPath).toMatch(/inventory\/example$/);
    expect(resolved.groups['list_servers']!.allHosts).toEqual(['lists1', 'lists2', 'lists3']);
    expect(resolved.groups['mail_gateways']!.allHosts).toEqual(['mx1', 'mx2']);
    expect(resolved.groups['all']!.allHosts).toEqual(['lists1', 'lists2', 'lists3', 'mx1', 'mx2']);
    // group_vars/list_servers.yml and host_vars/lists1.yml merged; group_vars/all reaches every host.
    expect(resolved.hostvars['lists1']).toMatchObject({
      ansible_host: 'lists1.example.org',
      ansible_user: 'rcptsync',
      rcptsync_connect_timeout: 10,
      ansible_python_interpreter: '/usr/bin/python3',
    });
    expect((resolved.hostvars['lists1']!['rcptsync_sources'] as unknown[]).length).toBe(2);
    expect(resolved.hostvars['mx2']).toMatchObject({ rcptsync_max_removals: 500, rcptsync_max_removal_percent: 30 });
  });

  it('resolves an INI inventory with child groups and [group:vars]', async () => {
    const resolved = await resolveInventory({ inventory: 'test/fixtures/inventory/ini/hosts.ini' });
    expect(resolved.groups['edge']).toMatchObject({ hosts: [], children: ['mail_gateways'], allHosts: ['mx1'] });
    expect(resolved.hostvars['lists1']).toMatchObject({ ansible_host: '127.0.0.1', ansible_port: 2222, ansible_user: 'rcptsync' });
    expect(resolved.hostvars['mx1']).toMatchObject({ rcptsync_max_removal_percent: 25, rcptsync_smtputf8: true });
  });

  it('reads a JSON dump of ansible-inventory --list the same way', async () => {
    const dump = join(tmp, 'dump.json');
    writeFileSync(dump, execFileSync('ansible-inventory', ['-i', 'inventory/example', '--list']));
    const fromDump = await resolveInventory({ inventoryJson: dump });
    const live = await resolveInventory({ inventory: 'inventory/example' });
    expect(fromDump.groups).toEqual(live.groups);
    expect(fromDump.hostvars).toEqual(live.hostvars);
    expect(fromDump.jsonPath).toBe(dump);
  });

  it('applies group vars of an --export dump with Ansible precedence (all < parent < child < host)', async () => {
    const dump = join(tmp, 'export.json');
    writeFileSync(dump, execFileSync('ansible-inventory', ['-i', 'test/fixtures/inventory/layered', '--list', '--export']));
    const exported = await resolveInventory({ inventoryJson: dump });
    const live = await resolveInventory({ inventory: 'test/fixtures/inventory/layered' });
    expect(exported.hostvars).toEqual(live.hostvars);
  });

  it('fails with ansible-inventory’s stderr when it cannot parse the inventory', async () => {
    const broken = join(tmp, 'broken.yml');
    writeFileSync(broken, 'all:\n  hosts: [\n');
    const error = await resolveInventory({ inventory: broken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RcptsyncError);
    expect((error as RcptsyncError).message).toMatch(/^inventory could not be resolved: command failed with exit code \d+: ansible-inventory -i .*broken\.yml --list$/);
    expect((error as RcptsyncError).detail).toMatch(/No inventory was parsed|Unable to parse/);
    expect((error as RcptsyncError).exitCode).toBe(ExitCode.usage);
  });

  it('says how to do without ansible-core when ansible-inventory is missing', async () => {
    const error = await resolveInventory({ inventory: 'inventory/example', ansibleInventory: join(tmp, 'no-such-ansible-inventory') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/not found: install ansible-core .* --inventory-json/);
  });

  it('refuses a missing inventory path and a missing dump clearly', async () => {
    await expect(resolveInventory({ inventory: join(tmp, 'nope') })).rejects.toThrow(/inventory .*nope does not exist/);
    await expect(resolveInventory({ inventoryJson: join(tmp, 'nope.json') })).rejects.toThrow(/cannot read the inventory dump/);
    await expect(resolveInventory({})).rejects.toThrow(/no inventory given/);
  });
});

describe('parseInventoryJson', () => {
  it('lists hosts of child groups recursively and gives every host an entry', () => {
    const resolved = parseInventoryJson(
      {
        _meta: { hostvars: { a: { x: 1 } } },
        all: { children: ['ungrouped', 'outer'] },
        outer: { children: ['inner'], hosts: ['b'] },
        inner: { hosts: ['a', 'c'] },
      },
      'dump.json',
    );
    expect(resolved.groups['outer']!.allHosts).toEqual(['a', 'b', 'c']);
    expect(resolved.groups['ungrouped']!.allHosts).toEqual([]);
    expect(resolved.hostvars).toEqual({ a: { x: 1 }, b: {}, c: {} });
  });

  it('refuses shapes that are not ansible-inventory output', () => {
    expect(() => parseInventoryJson([], 'x.json')).toThrow(/expected a JSON object/);
    expect(() => parseInventoryJson({ g: { hosts: 'a' } }, 'x.json')).toThrow(/group g: hosts: expected a list of names/);
  });
});
