/**
 * Keeps the committed schemas, the documentation and the code honest with each
 * other: every variable and source key documented in docs/variables.md is in the
 * schemas and vice versa, and every default agrees.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/inventory/load.js';
import { loadSchemas, SCHEMAS_DIR, SOURCE_TYPES, type JsonSchema } from '../../../src/inventory/schemas.js';
import { ALIASES_PATH } from '../../../src/sources/aliases.js';
import { MAILMAN2_BIN_DIR, MAILMAN2_VIRTUAL_MAILMAN } from '../../../src/sources/mailman2.js';
import { MAILMAN3_POSTFIX_LMTP } from '../../../src/sources/mailman3.js';
import { PASSWD_MAX_UID, PASSWD_MIN_UID } from '../../../src/sources/passwd.js';

const docs = readFileSync('docs/variables.md', 'utf8');
const schemas = loadSchemas();

/** The body of a Markdown section, up to the next heading of the same or a higher level. */
function section(heading: string): string {
  const lines = docs.split('\n');
  const start = lines.findIndex((line) => line === heading);
  expect(start, `docs/variables.md has no heading "${heading}"`).toBeGreaterThanOrEqual(0);
  const level = heading.indexOf(' ');
  const end = lines.findIndex((line, i) => i > start && /^#+ /.test(line) && line.indexOf(' ') <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** First-column names of the first table in a section: `| \`name\` | ...` rows. */
function tableRows(body: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of body.split('\n')) {
    const match = /^\| `([^`]+)` \|(.*)\|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!.split(' | ').map((cell) => cell.trim()));
  }
  return rows;
}

describe('schemas/', () => {
  it('has no duplicate keys and compiles under ajv strict mode', () => {
    for (const name of readdirSync(SCHEMAS_DIR).filter((n) => n.endsWith('.schema.json'))) {
      const doc = parseDocument(readFileSync(join(SCHEMAS_DIR, name), 'utf8'));
      expect(doc.errors.map((e) => `${name}: ${e.message}`)).toEqual([]);
    }
    expect(typeof schemas.listServer).toBe('function');
    expect(typeof schemas.gateway).toBe('function');
  });

  it('lists exactly the source types the code knows, each with type/name and the common keys', () => {
    expect((schemas.documents.source.properties!['type']!['enum'] as string[]).slice().sort()).toEqual([...SOURCE_TYPES].sort());
    for (const type of SOURCE_TYPES) {
      expect(schemas.sourceKeys[type]).toContain('type');
      expect(schemas.sourceKeys[type]).toContain('name');
      if (type !== 'static') expect(schemas.sourceKeys[type]).toEqual(expect.arrayContaining(['command', 'timeout']));
    }
    expect(schemas.sourceKeys.static).not.toContain('command');
  });

  it('states the same defaults as the code', () => {
    const defaultOf = (doc: JsonSchema, name: string): unknown => doc.properties![name]!['default'];
    const { listServer, gateway, source } = schemas.documents;
    expect(defaultOf(listServer, 'rcptsync_known_hosts_file')).toBe(DEFAULTS.knownHostsFile);
    expect(defaultOf(listServer, 'rcptsync_connect_timeout')).toBe(DEFAULTS.connectTimeoutSeconds);
    expect(defaultOf(listServer, 'rcptsync_command_timeout')).toBe(DEFAULTS.commandTimeoutSeconds);
    expect(defaultOf(listServer, 'rcptsync_max_output_bytes')).toBe(DEFAULTS.maxOutputBytes);
    expect(defaultOf(gateway, 'rcptsync_smtputf8')).toBe(DEFAULTS.smtputf8);
    expect(defaultOf(gateway, 'rcptsync_max_removal_percent')).toBe(DEFAULTS.maxRemovalPercent);
    expect(defaultOf(gateway, 'rcptsync_removal_floor')).toBe(DEFAULTS.removalFloor);
    expect(defaultOf(gateway, 'rcptsync_min_entries')).toBe(DEFAULTS.minEntries);
    const settings = (gateway.properties!['rcptsync_domain_settings']!['additionalProperties'] as JsonSchema).properties!;
    expect(settings['role_addresses']!['default']).toBe(DEFAULTS.roleAddresses);
    expect(settings['allow_empty']!['default']).toBe(DEFAULTS.allowEmpty);

    const sourceDefault = (type: string, key: string): unknown => source.$defs![type]!.properties![key]!['default'];
    expect(sourceDefault('mailman3', 'path')).toBe(MAILMAN3_POSTFIX_LMTP);
    expect(sourceDefault('mailman2', 'bin_dir')).toBe(MAILMAN2_BIN_DIR);
    expect(sourceDefault('mailman2', 'path')).toBe(MAILMAN2_VIRTUAL_MAILMAN);
    expect(sourceDefault('aliases', 'path')).toBe(ALIASES_PATH);
    expect(sourceDefault('passwd', 'min_uid')).toBe(PASSWD_MIN_UID);
    expect(sourceDefault('passwd', 'max_uid')).toBe(PASSWD_MAX_UID);
  });
});

describe('docs/variables.md and the schemas agree', () => {
  it('documents every list-server variable, and nothing else, with its schema default', () => {
    const rows = tableRows(section('## List-server variables').split('### ')[0]!);
    expect([...rows.keys()].sort()).toEqual(schemas.listServerVariables);
    for (const [name, cells] of rows) {
      const fallback = schemas.documents.listServer.properties![name]!['default'];
      if (fallback !== undefined) expect(cells[1], name).toContain(`\`${fallback}\``);
      else expect(cells[1], name).toMatch(/required|none|no limit/);
    }
  });

  it('documents every gateway variable, and nothing else, with its schema default', () => {
    const rows = tableRows(section('## Gateway variables').split('### ')[0]!);
    expect([...rows.keys()].sort()).toEqual(schemas.gatewayVariables);
    for (const [name, cells] of rows) {
      const fallback = schemas.documents.gateway.properties![name]!['default'];
      if (fallback !== undefined) expect(cells[1], name).toContain(`\`${JSON.stringify(fallback)}\``);
    }
  });

  it('documents every key of rcptsync_domain_settings', () => {
    const settings = schemas.documents.gateway.properties!['rcptsync_domain_settings']!['additionalProperties'] as JsonSchema;
    expect([...tableRows(section('### Domain settings')).keys()].sort()).toEqual(Object.keys(settings.properties!).sort());
  });

  it('documents every source type with exactly its keys', () => {
    const documented = [...docs.matchAll(/^### `([a-z0-9_]+)`$/gm)].map((m) => m[1]!);
    expect(documented.sort()).toEqual([...SOURCE_TYPES].sort());
    for (const type of SOURCE_TYPES) {
      const rows = tableRows(section(`### \`${type}\``));
      expect([...rows.keys()].sort(), type).toEqual(schemas.sourceKeys[type]);
    }
  });

  it('mentions no rcptsync_ variable that the schemas do not know (outside examples)', () => {
    const prose = docs.replace(/^```[\s\S]*?^```$/gm, '');
    const mentioned = new Set([...prose.matchAll(/`(rcptsync_[a-z0-9_]+)`/g)].map((m) => m[1]!));
    expect(mentioned.size).toBeGreaterThan(10);
    for (const name of mentioned) expect(schemas.knownVariables.has(name), name).toBe(true);
  });
});
