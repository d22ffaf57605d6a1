import { beforeAll, describe, expect, it } from 'vitest';
import { PositionFinder, locateInFile } from '../../../src/inventory/positions.js';
import { resolveInventory } from '../../../src/inventory/resolve.js';
import { checkInventory } from '../../../src/inventory/validate.js';

const LAYERED = 'test/fixtures/inventory/layered';

describe('PositionFinder on a layered YAML inventory', () => {
  let finder: PositionFinder;
  beforeAll(async () => {
    finder = new PositionFinder(await resolveInventory({ inventory: LAYERED }));
  });

  it('prefers host_vars over group_vars', () => {
    expect(finder.locate('lists2', ['rcptsync_sources', 0, 'timeout'])).toEqual({ file: `${LAYERED}/host_vars/lists2.yml`, line: 4, column: 5 });
    expect(finder.locate('lists1', ['rcptsync_sources', 0, 'addresses', 1])).toEqual({
      file: `${LAYERED}/group_vars/list_servers/10-sources.yml`,
      line: 5,
      column: 9,
    });
  });

  it('prefers the inventory host entry over group_vars, and later files of a group_vars directory', () => {
    expect(finder.locate('lists1', ['rcptsync_command_timeout'])).toEqual({ file: `${LAYERED}/hosts.yml`, line: 10, column: 15 });
    expect(finder.locate('lists2', ['rcptsync_command_timeout'])).toEqual({ file: `${LAYERED}/group_vars/list_servers/20-timeouts.yml`, line: 2, column: 1 });
  });

  it('finds group vars written in the inventory file, nested groups included', () => {
    expect(finder.locate('lists1', ['rcptsync_max_output_bytes'])).toEqual({ file: `${LAYERED}/hosts.yml`, line: 15, column: 13 });
    expect(finder.locate('lists3', ['rcptsync_max_output_bytes'])).toEqual({ file: `${LAYERED}/hosts.yml`, line: 13, column: 15 });
  });

  it('puts group_vars/all under every other place', () => {
    expect(finder.locate('mx1', ['rcptsync_connect_timeout'])).toEqual({ file: `${LAYERED}/group_vars/all.yml`, line: 1, column: 1 });
  });

  it('returns undefined when nothing defines the variable', () => {
    expect(finder.locate('mx1', ['rcptsync_sources'])).toBeUndefined();
    expect(finder.locate('nobody', ['rcptsync_sources'])).toBeUndefined();
  });

  it('gives every validation problem of the layered inventory a file and line', async () => {
    const { problems } = checkInventory(await resolveInventory({ inventory: LAYERED }));
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.host}: ${p.path}`)).toEqual([
      `${LAYERED}/group_vars/all.yml:1: lists1: rcptsync_connect_timeout`,
      `${LAYERED}/hosts.yml:15: lists1: rcptsync_max_output_bytes`,
      `${LAYERED}/group_vars/list_servers/10-sources.yml:5: lists1: rcptsync_sources[0].addresses[1]`,
      `${LAYERED}/group_vars/list_servers/20-timeouts.yml:2: lists2: rcptsync_command_timeout`,
      `${LAYERED}/group_vars/all.yml:1: lists2: rcptsync_connect_timeout`,
      `${LAYERED}/hosts.yml:15: lists2: rcptsync_max_output_bytes`,
      `${LAYERED}/host_vars/lists2.yml:4: lists2: rcptsync_sources[0].timeout`,
      `${LAYERED}/group_vars/list_servers/20-timeouts.yml:2: lists3: rcptsync_command_timeout`,
      `${LAYERED}/group_vars/all.yml:1: lists3: rcptsync_connect_timeout`,
      `${LAYERED}/hosts.yml:13: lists3: rcptsync_max_output_bytes`,
      `${LAYERED}/group_vars/list_servers/10-sources.yml:5: lists3: rcptsync_sources[0].addresses[1]`,
      `${LAYERED}/hosts.yml:21: mx1: rcptsync_relay_domains[""]`,
    ]);
  });
});

describe('PositionFinder on INI inventories and JSON dumps', () => {
  it('points at the line of an INI host variable or [group:vars] entry', async () => {
    const file = 'test/fixtures/inventory/ini-bad/hosts.ini';
    const { problems } = checkInventory(await resolveInventory({ inventory: file }));
    expect(problems.map((p) => `${p.file}:${p.line}:${p.column}: ${p.host}: ${p.path}: ${p.message}`)).toEqual([
      `${file}:2:8: lists1: rcptsync_command_timout: unknown variable rcptsync_command_timout (did you mean rcptsync_command_timeout?)`,
      `${file}:9:1: mx1: rcptsync_max_removal_percnt: unknown variable rcptsync_max_removal_percnt (did you mean rcptsync_max_removal_percent?)`,
      `${file}:8:1: mx1: rcptsync_relay_domains: must be a mapping, not the string "{'lists.example.org': 'smtp:[lists1.exam…"`,
    ]);
  });

  it('locates a value inside a JSON dump when no inventory path is known', async () => {
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'rcptsync-pos-'));
    try {
      const dump = join(dir, 'dump.json');
      const data = {
        _meta: { hostvars: { lists1: { rcptsync_sources: [{ type: 'static', addresses: ['a@lists.example.org'], extra: 1 }] }, mx1: {} } },
        list_servers: { hosts: ['lists1'] },
        mail_gateways: { hosts: ['mx1'] },
      };
      writeFileSync(dump, JSON.stringify(data, null, 2));
      const { problems } = checkInventory(await resolveInventory({ inventoryJson: dump }));
      const extra = problems.find((p) => p.path === 'rcptsync_sources[0].extra')!;
      expect(extra).toMatchObject({ host: 'lists1', file: dump, line: 11, column: 13 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('locateInFile follows a path through mappings, sequences and aliases', async () => {
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'rcptsync-pos-'));
    try {
      const file = join(dir, 'x.yml');
      writeFileSync(file, 'base: &b\n  domains:\n    - a.example.org\n    - b.example.org\nother: *b\n');
      expect(locateInFile(file, ['base', 'domains', 1])).toMatchObject({ line: 4, column: 7 });
      expect(locateInFile(file, ['other', 'domains', 0])).toMatchObject({ line: 3, column: 7 });
      expect(locateInFile(file, ['base', 'missing'])).toMatchObject({ line: 1, column: 1 });
      expect(locateInFile(file, ['nothing'])).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
