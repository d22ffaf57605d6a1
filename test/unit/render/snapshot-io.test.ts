import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RcptsyncError } from '../../../src/errors.js';
import { compareAddressKeys, normaliseAddress } from '../../../src/model/address.js';
import { buildGatewayTables, keyProblem, readSnapshot, sortAddressKeys, validateSnapshot, writeSnapshot } from '../../../src/model/snapshot-io.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { toYaml } from '../../../src/render/yaml.js';
import { fixtureSnapshot } from './fixture-snapshot.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rcptsync-snapshot-io-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

function withAddresses(addresses: unknown[]): unknown {
  const snapshot = fixtureSnapshot() as unknown as { sources: Array<{ addresses: unknown[] }> };
  snapshot.sources[2]!.addresses = addresses;
  return snapshot;
}

const HOSTILE = [
  '@lists.example.org',
  'x OK\n@lists.example.org',
  'x OK@lists.example.org',
  'x\t@lists.example.org',
  'x@lists.example.org OK',
  'x@lists.example.org\n@lists.example.org',
  '#x@lists.example.org',
  'X@lists.example.org',
  'x@Lists.example.org',
  'x@bücher.example',
  '"a b"@lists.example.org',
  'a..b@lists.example.org',
  '.a@lists.example.org',
  'a.@lists.example.org',
  'a@b@lists.example.org',
  'x@lists.example.org.',
  'x@-lists.example.org',
  'x@[127.0.0.1]',
  'x@localhost',
  'x@lists.example.123',
  `${'a'.repeat(65)}@lists.example.org`,
  '',
  'x\u0000@lists.example.org',
  'x\u2028@lists.example.org',
];

describe('readSnapshot', () => {
  test('refuses a file that is not a snapshot, naming the file', async () => {
    const cases: Array<[string, RegExp]> = [
      ['not json', /is not valid JSON/],
      ['[]', /not a JSON object/],
      ['{"format":"something-else","version":1}', /format: expected "rcptsync-snapshot"/],
      ['{"format":"rcptsync-snapshot","version":2,"sources":[],"gateways":[]}', /version 2 is not supported/],
      ['{"format":"rcptsync-snapshot","version":1,"sources":{},"gateways":[]}', /sources: must be a list/],
      ['{"format":"rcptsync-snapshot","version":1,"sources":[{"host":"h"}],"gateways":[]}', /sources\[0\]\.label/],
    ];
    for (const [text, message] of cases) {
      const file = path.join(work, 'bad.json');
      writeFileSync(file, text);
      const error = await readSnapshot(file).catch((e: unknown) => e);
      expect(error, text).toBeInstanceOf(RcptsyncError);
      expect((error as Error).message, text).toContain(file);
      expect((error as Error).message, text).toMatch(message);
    }
    await expect(readSnapshot(path.join(work, 'missing.json'))).rejects.toThrow(/cannot read snapshot .*missing\.json/);
  });

  test('a hand-edited catch-all or second token is refused with its place', async () => {
    for (const bad of HOSTILE) {
      const file = path.join(work, 'hostile.json');
      writeFileSync(file, JSON.stringify(withAddresses(['a@lists.example.org', bad])));
      const error = await readSnapshot(file).catch((e: unknown) => e);
      expect(error, JSON.stringify(bad)).toBeInstanceOf(RcptsyncError);
      expect((error as Error).message).toContain('sources[2] (lists2 office).addresses[1]');
    }
  });

  test('the fast check accepts exactly what normaliseAddress leaves unchanged', () => {
    const candidates = [
      ...HOSTILE,
      'a@lists.example.org',
      "o'brien+tag@lists.example.org",
      'x_y-z.w@xn--bcher-kva.example',
      '!#$%&*+-/=?^_`{|}~@lists.example.org',
      `${'a'.repeat(64)}@lists.example.org`,
      `a@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(57)}.org`,
      `abc@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(57)}.org`,
      'x@a-b.example.org',
    ];
    for (const candidate of candidates) {
      // A valid key of the same domain first, so the candidate goes through the per-domain fast path.
      const domain = candidate.slice(candidate.lastIndexOf('@') + 1);
      const first = `0@${domain}`;
      const normal = normaliseAddress(candidate);
      const accepted = normal.ok && normal.address.key === candidate;
      let ok = true;
      try {
        validateSnapshot(withAddresses(keyProblem(first) === null ? [first, candidate] : [candidate]));
      } catch {
        ok = false;
      }
      expect(ok, JSON.stringify(candidate)).toBe(accepted);
      expect(keyProblem(candidate) === null, JSON.stringify(candidate)).toBe(accepted);
    }
  });

  test('unsorted or duplicated addresses come back in contract order, once', () => {
    const addresses = ['b@y.example', 'a.b@x.example', 'a@x.example', 'b@y.example', 'c@x.example'];
    const snapshot = validateSnapshot(withAddresses(addresses));
    expect(snapshot.sources[2]!.addresses).toEqual(['a@x.example', 'a.b@x.example', 'c@x.example', 'b@y.example']);
    expect(sortAddressKeys(addresses)).toEqual([...new Set(addresses)].sort(compareAddressKeys));
  });

  test('writeSnapshot is atomic and deterministic, and readSnapshot reads it back', async () => {
    const file = path.join(work, 'snap.json');
    const snapshot = validateSnapshot(fixtureSnapshot());
    await writeSnapshot(file, snapshot);
    const first = readFileSync(file, 'utf8');
    await writeSnapshot(file, snapshot);
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(first.endsWith('}\n')).toBe(true);
    expect(JSON.parse(first)).toEqual(snapshot);
    expect(await readSnapshot(file)).toEqual(snapshot);
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // An empty snapshot too.
    const empty: Snapshot = { format: 'rcptsync-snapshot', version: 1, sources: [], gateways: [] };
    await writeSnapshot(file, empty);
    expect(await readSnapshot(file)).toEqual(empty);
  });
});

describe('buildGatewayTables', () => {
  test('per gateway and domain: sorted unique addresses, role addresses, contributing sources', () => {
    const snapshot = validateSnapshot(fixtureSnapshot());
    const [gw1, gw2] = buildGatewayTables(snapshot);
    expect(gw1!.gateway).toBe('gw1.example.net');
    const lists = gw1!.domains.find((d) => d.domain === 'lists.example.org')!;
    expect(lists.addresses.slice(0, 4)).toEqual(['a@lists.example.org', 'a.b@lists.example.org', 'abuse@lists.example.org', 'announce@lists.example.org']);
    expect(lists.addresses).toEqual([...new Set(lists.addresses)].sort(compareAddressKeys));
    expect(lists.collected).not.toContain('postmaster@lists.example.org');
    expect(lists.sources.map((s) => snapshot.sources[s]!.host)).toEqual(['lists1', 'lists2']);
    const quiet = gw1!.domains.find((d) => d.domain === 'quiet.example.org')!;
    expect(quiet.collected).toEqual([]);
    expect(quiet.addresses).toEqual(['abuse@quiet.example.org', 'postmaster@quiet.example.org']);
    const support = gw2!.domains.find((d) => d.domain === 'support.example.net')!;
    expect(support.addresses).toEqual(support.collected);
    expect(gw2!.sources.map((s) => snapshot.sources[s]!.label)).toEqual(['sources[0] (mailman3)', 'sources[1] (aliases)']);
  });

  test('checked lists are frozen, and the tables from them equal those from unchecked copies', () => {
    const checked = validateSnapshot(fixtureSnapshot());
    const list = checked.sources[2]!.addresses;
    expect(Object.isFrozen(list)).toBe(true);
    expect(() => (list as string[]).push('@lists.example.org')).toThrow(TypeError);
    const unchecked: Snapshot = { ...checked, sources: checked.sources.map((s) => ({ ...s, addresses: [...s.addresses] })) };
    expect(buildGatewayTables(checked)).toEqual(buildGatewayTables(unchecked));
  });

  test('an invalid key in a relayed domain is refused even in a snapshot built in memory', () => {
    for (const bad of ['@lists.example.org', 'x OK\n@lists.example.org', 'X@lists.example.org']) {
      const snapshot = fixtureSnapshot();
      snapshot.sources[2]!.addresses = ['a@lists.example.org', bad];
      expect(() => buildGatewayTables(snapshot), bad).toThrow(RcptsyncError);
    }
  });
});

describe('toYaml', () => {
  test('whatever the strings hold, YAML reads back the same value', () => {
    const value = {
      rcptsync_rendered: {
        gateway: 'gw1',
        relay_domains: ['bücher.example', 'a: b', '- x', '{y}', '"q"', "'s'", 'line\nbreak', '#c', '&a *b', 'yes', 'null', '\u2028', '0x10'],
        transport: { 'a.example': 'smtp:[h]:25', 'b: c': '\\', yes: 'no', '': 'empty key' },
        entries: { 'a.example': 3, zero: 0 },
        empty: [],
        none: {},
      },
    };
    const text = toYaml(value);
    expect(parseYaml(text)).toEqual(value);
    expect(parseYaml(text, { version: '1.1' })).toEqual(value);
    expect(text).toMatch(/^rcptsync_rendered:\n {2}gateway: "gw1"\n/);
  });
});
