import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ExitCode, type ConfigProblem } from '../../../src/errors.js';
import { parseInventoryJson, resolveInventory, type ResolvedInventory } from '../../../src/inventory/resolve.js';
import { checkInventory, closest, formatPath, validateInventory } from '../../../src/inventory/validate.js';
import { SCHEMAS_DIR } from '../../../src/inventory/schemas.js';

const BAD = 'test/fixtures/inventory/bad';

/** A resolved inventory from plain data, as `ansible-inventory --list` would print it. */
function inventoryOf(hostvars: Record<string, Record<string, unknown>>, groups?: Record<string, string[]>): ResolvedInventory {
  const listed = groups ?? {
    list_servers: Object.keys(hostvars).filter((h) => h.startsWith('lists')),
    mail_gateways: Object.keys(hostvars).filter((h) => h.startsWith('mx')),
  };
  const data: Record<string, unknown> = { _meta: { hostvars }, all: { children: ['ungrouped', ...Object.keys(listed)] } };
  for (const [name, hosts] of Object.entries(listed)) data[name] = { hosts };
  return parseInventoryJson(data, 'test.json');
}

const goodList = { rcptsync_sources: [{ type: 'static', addresses: ['listmaster@lists.example.org'] }] };
const goodGateway = { rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists1.example.org]:25' } };

function problemsOf(hostvars: Record<string, Record<string, unknown>>): ConfigProblem[] {
  return checkInventory(inventoryOf(hostvars)).problems;
}

describe('validateInventory on a real inventory with many mistakes', () => {
  let problems: ConfigProblem[];
  let error: unknown;
  beforeAll(async () => {
    const resolved = await resolveInventory({ inventory: BAD });
    problems = checkInventory(resolved).problems;
    try {
      validateInventory(resolved);
    } catch (caught) {
      error = caught;
    }
  });

  it('throws one ConfigError carrying every problem, with the usage exit code', () => {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.exitCode).toBe(ExitCode.usage);
    expect(configError.problems).toEqual(problems);
    expect(configError.message).toBe(`invalid configuration: ${problems.length} problems`);
    expect(configError.detail!.split('\n')).toHaveLength(problems.length);
  });

  it('reports each problem with host, variable path, file and line', () => {
    const expected: Partial<ConfigProblem>[] = [
      { host: 'lists1', path: 'rcptsync_conect_timeout', file: `${BAD}/group_vars/list_servers.yml`, line: 2, column: 1 },
      { host: 'lists1', path: 'rcptsync_sources[0].form', file: `${BAD}/host_vars/lists1.yml`, line: 3, column: 5 },
      { host: 'lists1', path: 'rcptsync_sources[1].domains[1]', file: `${BAD}/host_vars/lists1.yml`, line: 8, column: 9 },
      { host: 'lists1', path: 'rcptsync_sources[2].addresses', file: `${BAD}/host_vars/lists1.yml`, line: 10, column: 5 },
      // The object that lacks the key.
      { host: 'lists1', path: 'rcptsync_sources[3].path', file: `${BAD}/host_vars/lists1.yml`, line: 11, column: 5 },
      { host: 'lists1', path: 'rcptsync_sources[4].type', file: `${BAD}/host_vars/lists1.yml`, line: 13, column: 5 },
      { host: 'lists2', path: 'ansible_port', file: `${BAD}/hosts.yml`, line: 9, column: 11 },
      { host: 'lists2', path: 'rcptsync_command_timeout', file: `${BAD}/host_vars/lists2.yml`, line: 1, column: 1 },
      { host: 'lists2', path: 'rcptsync_conect_timeout', file: `${BAD}/group_vars/list_servers.yml`, line: 2, column: 1 },
      // Missing everywhere: no file to point at, host and path still named.
      { host: 'lists2', path: 'rcptsync_sources' },
      { host: 'mx1', path: 'rcptsync_domain_settings["other.example.org"]', file: `${BAD}/host_vars/mx1.yml`, line: 6, column: 3 },
      { host: 'mx1', path: 'rcptsync_relay_domains["lists.example.org"]', file: `${BAD}/host_vars/mx1.yml`, line: 2, column: 3 },
      { host: 'mx1', path: 'rcptsync_relay_domains["xn--bcher-kva.example.org"]', file: `${BAD}/host_vars/mx1.yml`, line: 4, column: 3 },
      { host: 'mx2', path: 'rcptsync_relay_domains' },
      { host: 'mx2', path: 'rcptsync_smtputf8', file: `${BAD}/host_vars/mx2.yml`, line: 1, column: 1 },
    ];
    expect(problems.map(({ message: _message, ...place }) => place)).toEqual(expected);
  });

  it('explains each problem', () => {
    const message = (host: string, path: string): string => problems.find((p) => p.host === host && p.path === path)!.message;
    expect(message('lists1', 'rcptsync_conect_timeout')).toBe('unknown variable rcptsync_conect_timeout (did you mean rcptsync_connect_timeout?)');
    expect(message('lists1', 'rcptsync_sources[0].form')).toMatch(/^unknown key "form" for a mailman3 source \(did you mean "from"\?\)/);
    expect(message('lists1', 'rcptsync_sources[1].domains[1]')).toMatch(/^invalid domain: .*whitespace/);
    expect(message('lists1', 'rcptsync_sources[2].addresses')).toBe('must be a list, not the string "listmaster@lists.example.org"');
    expect(message('lists1', 'rcptsync_sources[3].path')).toBe('required key "path" is missing');
    expect(message('lists1', 'rcptsync_sources[4].type')).toMatch(/^unknown source type "mailmann2" \(did you mean "mailman2"\?\)/);
    expect(message('lists2', 'ansible_port')).toMatch(/port number/);
    expect(message('lists2', 'rcptsync_command_timeout')).toBe('must be a number, not the string "120"');
    expect(message('lists2', 'rcptsync_sources')).toBe('required on every host of group list_servers, but not set');
    expect(message('mx1', 'rcptsync_relay_domains["lists.example.org"]')).toMatch(/must not contain whitespace or newlines/);
    expect(message('mx1', 'rcptsync_relay_domains["xn--bcher-kva.example.org"]')).toMatch(/listed twice: "bücher.example.org" and "xn--bcher-kva.example.org"/);
    expect(message('mx1', 'rcptsync_domain_settings["other.example.org"]')).toMatch(/does not relay/);
    expect(message('mx2', 'rcptsync_smtputf8')).toBe('must be a boolean (true or false), not the string "yes"');
  });
});

describe('validation rules', () => {
  it('accepts a minimal valid inventory', () => {
    expect(problemsOf({ lists1: goodList, mx1: goodGateway })).toEqual([]);
  });

  it('requires both groups to exist and have hosts, with configurable names', () => {
    const resolved = inventoryOf({ lists1: goodList, mx1: goodGateway }, { list_servers: ['lists1'], edge: [] });
    expect(checkInventory(resolved).problems.map((p) => p.message)).toEqual([
      'the gateway group "mail_gateways" is not in the inventory (name another with --gateway-group)',
    ]);
    expect(checkInventory(resolved, { gatewayGroup: 'edge' }).problems.map((p) => p.message)).toEqual([
      'the gateway group "edge" has no hosts',
    ]);
    const renamed = inventoryOf({ a: goodList, b: goodGateway }, { lists: ['a'], gateways: ['b'] });
    expect(checkInventory(renamed, { listGroup: 'lists', gatewayGroup: 'gateways' }).problems).toEqual([]);
  });

  it('counts hosts of child groups as members', () => {
    const data = {
      _meta: { hostvars: { lists1: goodList, mx1: goodGateway } },
      all: { children: ['list_servers', 'mail_gateways'] },
      list_servers: { children: ['eu_lists'] },
      eu_lists: { hosts: ['lists1'] },
      mail_gateways: { hosts: ['mx1'] },
    };
    const result = checkInventory(parseInventoryJson(data, 'x.json'));
    expect(result.problems).toEqual([]);
    expect(result.listServers).toEqual(['lists1']);
  });

  it('refuses unknown rcptsync_ variables on any host and suggests the closest name', () => {
    const problems = problemsOf({ lists1: { ...goodList, rcptsync_source: [] }, mx1: { ...goodGateway, rcptsync_relay_domain: {} }, other: { rcptsync_zzz_qqq: 1 } });
    expect(problems.map((p) => [p.host, p.message])).toEqual([
      ['lists1', 'unknown variable rcptsync_source (did you mean rcptsync_sources?)'],
      ['mx1', 'unknown variable rcptsync_relay_domain (did you mean rcptsync_relay_domains?)'],
      ['other', 'unknown variable rcptsync_zzz_qqq'],
    ]);
  });

  it('reports wrong types', () => {
    const problems = problemsOf({
      lists1: { rcptsync_sources: { type: 'static' }, rcptsync_connect_timeout: '10', rcptsync_max_output_bytes: 1.5 },
      mx1: { rcptsync_relay_domains: ['lists.example.org'], rcptsync_max_removal_percent: 150, rcptsync_domain_settings: { 'lists.example.org': { allow_empty: 'yes' } } },
    });
    expect(problems.map((p) => `${p.host} ${p.path}: ${p.message}`)).toEqual([
      'lists1 rcptsync_connect_timeout: must be a number, not the string "10"',
      'lists1 rcptsync_max_output_bytes: must be an integer, not the number 1.5',
      'lists1 rcptsync_sources: must be a list, not a mapping',
      'mx1 rcptsync_domain_settings["lists.example.org"].allow_empty: must be a boolean (true or false), not the string "yes"',
      'mx1 rcptsync_max_removal_percent: must be <= 100',
      'mx1 rcptsync_relay_domains: must be a mapping, not a list',
    ]);
  });

  it('checks each source type with its own keys and requirements', () => {
    const sources = [
      { type: 'mailman2', from: 'list_lists' }, // domain required
      { type: 'mailman2', from: 'virtual_mailman' }, // fine without domain
      { type: 'mailman2' }, // default from is list_lists
      { type: 'aliases' },
      { type: 'passwd', domains: ['lists.example.org'], min_uid: 2000, max_uid: 1000 },
      { type: 'command' },
      { type: 'static', addresses: [], command: 'cat /x' },
      { type: 'static', addresses: ['@lists.example.org', 'ok@lists.example.org'] },
      { type: 'mailman3', from: 'lists', site_addresses: ['noreply@lists.example.org'], timeout: 0 },
      { name: 'no type' },
      { type: 'sympa', from: 'aliases', domains: ['lists.example.org', 'bad_domain'], email: 'lists', return_path_suffix: ' owner', listmaster_email: '' },
      { type: 'sympa', from: 'sympa_transport', bounce_email_prefix: '@bounce' },
    ];
    const problems = problemsOf({ lists1: { rcptsync_sources: sources }, mx1: goodGateway });
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'rcptsync_sources[0].domain: required key "domain" is missing',
      'rcptsync_sources[2].domain: required key "domain" is missing',
      'rcptsync_sources[3].domains: required key "domains" is missing',
      'rcptsync_sources[4].min_uid: min_uid 2000 is greater than max_uid 1000',
      'rcptsync_sources[5].command: required key "command" is missing',
      'rcptsync_sources[6].addresses: must not be empty',
      'rcptsync_sources[6].command: unknown key "command" for a static source; allowed: type, name, addresses',
      'rcptsync_sources[7].addresses[0]: invalid address "@lists.example.org": catch-all or leading "@" is never accepted',
      'rcptsync_sources[8].timeout: must be > 0',
      'rcptsync_sources[9].type: required key "type" is missing',
      'rcptsync_sources[10].domains[1]: invalid domain: domain "bad_domain" has no dot',
      'rcptsync_sources[10].listmaster_email: must not be an empty string',
      'rcptsync_sources[10].return_path_suffix: gives an invalid address "lists owner@...": contains whitespace or control characters',
      'rcptsync_sources[11].bounce_email_prefix: gives an invalid address "@bounce@...": catch-all or leading "@" is never accepted',
      'rcptsync_sources[11].from: invalid value "sympa_transport"; one of: transport, aliases',
    ]);
  });

  it('refuses bad domains and next hops with newlines on gateways', () => {
    const problems = problemsOf({
      lists1: goodList,
      mx1: {
        rcptsync_relay_domains: {
          'lists.example.org': 'smtp:[lists1.example.org]:25\n@lists.example.org OK',
          'no-dot': 'smtp:[x.example.org]',
          'LISTS.example.org': 'smtp:[lists2.example.org]',
          'bad_domain.example.org': 'smtp:[x.example.org]',
          'empty.example.org': '',
        },
      },
    });
    // Sorted by code point, so upper case first.
    expect(problems.map((p) => `${p.path}: ${p.message}`)).toEqual([
      'rcptsync_relay_domains["LISTS.example.org"]: domain listed twice: "lists.example.org" and "LISTS.example.org" are both lists.example.org after normalisation',
      'rcptsync_relay_domains["bad_domain.example.org"]: invalid domain: invalid domain "bad_domain.example.org"',
      'rcptsync_relay_domains["empty.example.org"]: a next hop must not contain whitespace or newlines (transport(5) syntax, e.g. smtp:[lists1.example.org]:25); got ""',
      'rcptsync_relay_domains["lists.example.org"]: a next hop must not contain whitespace or newlines (transport(5) syntax, e.g. smtp:[lists1.example.org]:25); got "smtp:[lists1.example.org]:25\\n@lists.example.org OK"',
      'rcptsync_relay_domains["no-dot"]: invalid domain: domain "no-dot" has no dot',
    ]);
  });

  it('checks rcptsync_mta, and that an Exim gateway\'s next hops have a manualroute form (issue 11)', () => {
    const problems = problemsOf({
      lists1: goodList,
      mx1: { rcptsync_mta: 'sendmail', rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists1.example.org]:25' } },
      mx2: {
        rcptsync_mta: 'exim',
        rcptsync_relay_domains: { 'lists.example.org': 'lmtp:[lists1.example.org]:24', 'news.example.org': 'smtp:[10.0.0.5]:2525' },
      },
      // The same next hop is fine on a Postfix gateway.
      mx3: { rcptsync_relay_domains: { 'lists.example.org': 'lmtp:[lists1.example.org]:24' } },
    });
    expect(problems.map((p) => `${p.host}: ${p.path}: ${p.message}`)).toEqual([
      'mx1: rcptsync_mta: invalid value "sendmail"; one of: postfix, exim',
      'mx2: rcptsync_relay_domains["lists.example.org"]: next hop "lmtp:[lists1.example.org]:24" has a transport Exim gateways do not map; an Exim gateway takes smtp:[host]:port, smtp:[host] or smtp:host (relay: works as smtp:)',
    ]);
  });

  it('allows two gateways to relay one domain with different next hops', () => {
    const problems = problemsOf({
      lists1: goodList,
      mx1: { rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists1.example.org]:25' } },
      mx2: { rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists2.example.org]:25' } },
    });
    expect(problems).toEqual([]);
  });

  it('refuses Jinja templates, which only a playbook would evaluate', () => {
    const problems = problemsOf({
      lists1: { ...goodList, ansible_host: '{{ inventory_hostname }}.example.org', rcptsync_known_hosts_file: '{{ playbook_dir }}/known_hosts' },
      mx1: goodGateway,
    });
    expect(problems.map((p) => p.path)).toEqual(['ansible_host', 'rcptsync_known_hosts_file']);
    expect(problems[0]!.message).toMatch(/Jinja template/);
  });

  it('sorts problems by host, then path with numeric indexes, and drops duplicates', () => {
    const sources = Array.from({ length: 12 }, () => ({ type: 'static', addresses: 'x' }));
    const problems = problemsOf({ lists2: { rcptsync_sources: sources }, lists1: { rcptsync_sources: 5 }, mx1: goodGateway });
    expect(problems.map((p) => `${p.host} ${p.path}`)).toEqual([
      'lists1 rcptsync_sources',
      ...sources.map((_, i) => `lists2 rcptsync_sources[${i}].addresses`),
    ]);
  });
});

describe('playbook variables', () => {
  it('knows the control-node variables of schemas/playbook-vars.schema.json when the file exists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rcptsync-schemas-'));
    try {
      for (const name of ['source.schema.json', 'list-server.schema.json', 'gateway.schema.json']) copyFileSync(join(SCHEMAS_DIR, name), join(dir, name));
      const hostvars = { lists1: { ...goodList, rcptsync_rendered_dir: 'rendered' }, mx1: { ...goodGateway, rcptsync_rendered_dir: 'rendered' } };
      expect(checkInventory(inventoryOf(hostvars), { schemasDir: dir }).problems.map((p) => p.message)).toEqual([
        'unknown variable rcptsync_rendered_dir',
        'unknown variable rcptsync_rendered_dir',
      ]);
      const playbook = { $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'object', properties: { rcptsync_rendered_dir: { type: 'string' } } };
      writeFileSync(join(dir, 'playbook-vars.schema.json'), JSON.stringify(playbook));
      // A fresh directory path, so the schema cache does not answer.
      const again = `${dir}/.`;
      expect(checkInventory(inventoryOf(hostvars), { schemasDir: again }).problems).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('helpers', () => {
  it('formats variable paths', () => {
    expect(formatPath(['rcptsync_sources', 1, 'domains', 0])).toBe('rcptsync_sources[1].domains[0]');
    expect(formatPath(['rcptsync_relay_domains', 'lists.example.org'])).toBe('rcptsync_relay_domains["lists.example.org"]');
  });

  it('suggests only close names', () => {
    expect(closest('rcptsync_max_removal_percnt', ['rcptsync_max_removal_percent', 'rcptsync_max_removals'])).toBe('rcptsync_max_removal_percent');
    expect(closest('frob', ['from', 'path'])).toBe('from');
    expect(closest('completely_else', ['from', 'path'])).toBeUndefined();
  });
});
