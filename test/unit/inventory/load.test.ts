import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/errors.js';
import { buildInventory, expandPath, loadInventory } from '../../../src/inventory/load.js';
import { parseInventoryJson } from '../../../src/inventory/resolve.js';

const env = { HOME: '/home/op', USER: 'op', SSH_AUTH_SOCK: '/run/agent.sock' };

function resolvedOf(hostvars: Record<string, Record<string, unknown>>) {
  return parseInventoryJson(
    {
      _meta: { hostvars },
      all: { children: ['list_servers', 'mail_gateways'] },
      list_servers: { hosts: Object.keys(hostvars).filter((h) => h.startsWith('lists')) },
      mail_gateways: { hosts: Object.keys(hostvars).filter((h) => h.startsWith('mx')) },
    },
    'test.json',
  );
}

describe('loadInventory', () => {
  it('builds the typed model of the example inventory', async () => {
    const inventory = await loadInventory({ inventory: 'inventory/example', env });
    expect(inventory.listServers.map((s) => s.name)).toEqual(['lists1', 'lists2', 'lists3']);
    const lists1 = inventory.listServers[0]!;
    expect(lists1.ssh).toEqual({
      name: 'lists1',
      host: 'lists1.example.org',
      port: 22,
      user: 'rcptsync',
      privateKeyFile: '/home/op/.ssh/rcptsync_ed25519',
      agentSocket: '/run/agent.sock',
      knownHostsFile: '/home/op/.ssh/known_hosts',
      connectTimeoutMs: 10_000,
    });
    expect(lists1.commandTimeoutMs).toBe(120_000);
    expect(lists1.maxOutputBytes).toBe(67_108_864);
    expect(lists1.sources.map((s) => s.type)).toEqual(['mailman3', 'aliases']);
    expect(inventory.listServers[1]!.sources.map((s) => s.type)).toEqual(['mailman2', 'static']);
    expect(inventory.listServers[2]!.sources.map((s) => s.type)).toEqual(['sympa']);

    expect(inventory.gateways).toEqual([
      {
        name: 'mx1',
        smtputf8: false,
        domains: [
          { domain: 'announce.example.com', nextHop: 'smtp:[lists2.example.com]:25', roleAddresses: true, allowEmpty: false },
          { domain: 'lists.example.org', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false },
        ],
      },
      {
        name: 'mx2',
        smtputf8: false,
        domains: [
          { domain: 'announce.example.com', nextHop: 'smtp:[lists2.example.com]:25', roleAddresses: true, allowEmpty: false },
          { domain: 'groups.example.edu', nextHop: 'smtp:[lists3.example.edu]:25', roleAddresses: true, allowEmpty: false },
          { domain: 'lists.example.edu', nextHop: 'smtp:[lists3.example.edu]:25', roleAddresses: true, allowEmpty: false },
          { domain: 'lists.example.net', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: true },
        ],
      },
    ]);
    expect(inventory.policies).toEqual([
      {
        gateway: 'mx1',
        thresholds: { maxRemovalPercent: 30, removalFloor: 10, minEntries: 0 },
        domains: { 'announce.example.com': { maxRemovalPercent: 10, minEntries: 5 } },
      },
      { gateway: 'mx2', thresholds: { maxRemovalPercent: 30, removalFloor: 10, minEntries: 0, maxRemovals: 500 }, domains: {} },
    ]);
  });

  it('reads an INI inventory: ports, users, IDN domains stored as A-labels', async () => {
    const inventory = await loadInventory({ inventory: 'test/fixtures/inventory/ini/hosts.ini', env: { HOME: '/home/op', USER: 'op' } });
    const [lists1, lists2] = inventory.listServers;
    expect(lists1!.ssh).toEqual({
      name: 'lists1',
      host: '127.0.0.1',
      port: 2222,
      user: 'rcptsync',
      knownHostsFile: '/etc/rcptsync/known_hosts',
      connectTimeoutMs: 10_000,
    });
    // No ansible_user: the current user.
    expect(lists2!.ssh.user).toBe('op');
    expect(lists2!.sources).toEqual([{ type: 'passwd', domains: ['xn--bcher-kva.example.org'] }]);
    expect(inventory.gateways[0]!.domains.map((d) => d.domain)).toEqual(['lists.example.org', 'xn--bcher-kva.example.org']);
    expect(inventory.gateways[0]!.smtputf8).toBe(true);
    expect(inventory.policies[0]!.thresholds).toEqual({ maxRemovalPercent: 25, maxRemovals: 100, removalFloor: 10, minEntries: 0 });
  });

  it('throws ConfigError for the invalid fixture, listing every problem', async () => {
    const error = await loadInventory({ inventory: 'test/fixtures/inventory/bad' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.length).toBe(15);
    expect((error as ConfigError).detail).toContain(
      'test/fixtures/inventory/bad/host_vars/lists1.yml:3:5: lists1: rcptsync_sources[0].form: unknown key "form"',
    );
  });
});

describe('buildInventory', () => {
  it('accepts every source type with all its keys and keeps them', () => {
    const sources = [
      { type: 'mailman3', name: 'm3', command: 'mailman lists', timeout: 30, from: 'postfix_lmtp', path: '/x/postfix_lmtp', site_addresses: ['noreply@lists.example.org'] },
      { type: 'mailman2', name: 'm2', command: 'list_lists -b', timeout: 30, from: 'list_lists', domain: 'BÜCHER.example.org', bin_dir: '/opt/mailman/bin', path: '/x', site_addresses: ['mailman-loop@lists.example.org'] },
      { type: 'aliases', name: 'a', command: 'cat /etc/aliases', timeout: 5, path: '/etc/aliases', domains: ['lists.example.org', 'LISTS.example.org'] },
      { type: 'postfix_map', name: 'p', command: 'cat /etc/postfix/virtual', timeout: 5, path: '/etc/postfix/virtual', domains: ['lists.example.org'] },
      { type: 'passwd', name: 'u', command: 'getent passwd', timeout: 5, min_uid: 1000, max_uid: 1999, domains: ['lists.example.org'] },
      { type: 'command', name: 'c', command: '/usr/local/bin/addresses', timeout: 5, domains: ['lists.example.org'] },
      { type: 'static', name: 's', addresses: ['listmaster@lists.example.org'] },
    ];
    const inventory = buildInventory(
      resolvedOf({
        lists1: { rcptsync_sources: sources, ansible_ssh_host: '192.0.2.10', ansible_ssh_port: '2200', ansible_ssh_user: 'legacy', rcptsync_connect_timeout: 2.5 },
        mx1: {
          rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists1.example.org]:25', 'bücher.example.org': 'smtp:[lists1.example.org]:25' },
          rcptsync_domain_settings: { 'BÜCHER.example.org': { role_addresses: false, allow_empty: true, removal_floor: 0, max_removals: 3 } },
        },
      }),
      { env: {} },
    );
    const server = inventory.listServers[0]!;
    expect(server.ssh).toMatchObject({ host: '192.0.2.10', port: 2200, user: 'legacy', connectTimeoutMs: 2500 });
    expect(server.ssh.agentSocket).toBeUndefined();
    expect(server.sources).toHaveLength(7);
    expect(server.sources[1]!['domain']).toBe('xn--bcher-kva.example.org');
    expect(server.sources[2]!['domains']).toEqual(['lists.example.org']);
    expect(server.sources[0]).toEqual(sources[0]);
    expect(inventory.gateways[0]!.domains).toEqual([
      { domain: 'lists.example.org', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false },
      { domain: 'xn--bcher-kva.example.org', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: false, allowEmpty: true },
    ]);
    expect(inventory.policies[0]!.domains).toEqual({ 'xn--bcher-kva.example.org': { removalFloor: 0, maxRemovals: 3 } });
  });

  it('lets one host be both a list server and a gateway', () => {
    const resolved = parseInventoryJson(
      {
        _meta: { hostvars: { both: { rcptsync_sources: [{ type: 'static', addresses: ['a@lists.example.org'] }], rcptsync_relay_domains: { 'lists.example.org': 'local:' } } } },
        list_servers: { hosts: ['both'] },
        mail_gateways: { hosts: ['both'] },
      },
      'x.json',
    );
    const inventory = buildInventory(resolved, { env: {} });
    expect(inventory.listServers.map((s) => s.name)).toEqual(['both']);
    expect(inventory.gateways.map((g) => g.name)).toEqual(['both']);
  });
});

describe('expandPath', () => {
  it('expands ~ and resolves relative paths from the working directory', () => {
    expect(expandPath('~', { HOME: '/home/op' })).toBe('/home/op');
    expect(expandPath('~/.ssh/known_hosts', { HOME: '/home/op' })).toBe('/home/op/.ssh/known_hosts');
    expect(expandPath('/etc/ssh/known', {})).toBe('/etc/ssh/known');
    expect(expandPath('keys/id', {})).toBe(`${process.cwd()}/keys/id`);
  });
});
