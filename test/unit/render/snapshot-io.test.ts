import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RcptsyncError } from '../../../src/errors.js';
import { compareAddressKeys, normaliseAddress } from '../../../src/model/address.js';
import { checkedRunsOf, domainRuns, keyProblem, sortAddressKeys } from '../../../src/model/address-keys.js';
import { readSnapshot, validateSnapshot, writeSnapshot } from '../../../src/model/snapshot-io.js';
import { buildGatewayTables } from '../../../src/tables/gateway-tables.js';
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

function withAddresses(addresses: unknown): unknown {
  const snapshot = fixtureSnapshot() as unknown as { sources: Array<{ addresses: unknown }> };
  snapshot.sources[2]!.addresses = addresses;
  return snapshot;
}

/**
 * A snapshot file in the written layout whose source 2 (lists2 office) has the
 * address lines `text`, as a hand edit would leave them, and the line count
 * `count` in the head (by default the number of LFs in `text`).
 */
function fileWithLines(text: string, count = text.split('\n').length - 1): { text: string; firstLine: number } {
  const snapshot = validateSnapshot(fixtureSnapshot());
  const head = { ...snapshot, sources: snapshot.sources.map((s, i) => ({ ...s, addresses: i === 2 ? count : s.addresses.length })) };
  const json = JSON.stringify(head, null, 2);
  const before = snapshot.sources.slice(0, 2).flatMap((s) => s.addresses.map((a) => `${a}\n`));
  return { text: `${json}\n${before.join('')}${text}`, firstLine: json.split('\n').length + 1 + before.length };
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
  '..@lists.example.org',
  'a%b@lists.example.org',
  'a@b@lists.example.org',
  'x@lists.example.org.',
  'x@-lists.example.org',
  'x@[127.0.0.1]',
  'x@localhost',
  'x@lists.example.123',
  `${'a'.repeat(240)}@lists.example.org`,
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

  test('in address lines (the written layout), every hostile line is refused with its file line', async () => {
    // Lines are split on LF only: a CR, tab, space, NUL or U+2028 stays in its key and is refused with it.
    const lines = [...HOSTILE, 'x@lists.example.org\r', 'x\r@lists.example.org', ' x@lists.example.org', 'x@lists.example.org '];
    for (const bad of lines) {
      const file = path.join(work, 'hostile-lines.snapshot');
      const { text, firstLine } = fileWithLines(`a@lists.example.org\n${bad}\nz@lists.example.org\n`);
      writeFileSync(file, text);
      const error = await readSnapshot(file).catch((e: unknown) => e);
      expect(error, JSON.stringify(bad)).toBeInstanceOf(RcptsyncError);
      // A hostile entry with a LF in it is two lines here, so its refused part may be the second one.
      const place = bad.includes('\n')
        ? /line \d+: sources\[2\] \(lists2 office\)\.addresses\[[12]\]/
        : `line ${firstLine + 1}: sources[2] (lists2 office).addresses[1]`;
      expect((error as Error).message, JSON.stringify(bad)).toMatch(place);
    }
  });

  test('address lines must match the counts in the head: a cut or edited file is refused', async () => {
    const file = path.join(work, 'counts.snapshot');
    const read = async (text: string): Promise<unknown> => {
      writeFileSync(file, text);
      return readSnapshot(file).catch((e: unknown) => e);
    };
    const good = fileWithLines('a@lists.example.org\nz@lists.example.org\n');
    expect((await read(good.text)) as Snapshot).toEqual(validateSnapshot(withAddresses(['a@lists.example.org', 'z@lists.example.org'])));
    const cases: Array<[string, RegExp]> = [
      [fileWithLines('a@lists.example.org\n', 2).text, /sources\[2\]\.addresses: 2 address lines from line \d+, but the file has only 1 more/],
      [fileWithLines('a@lists.example.org\nz@lists.example.org\nq@lists.example.org\n', 2).text, /line \d+: 1 address lines more than the sources count/],
      [good.text.slice(0, -1), /the last address line has no LF: the file was cut short/],
      [good.text.slice(0, -5), /the last address line has no LF/],
      [good.text.slice(0, good.text.lastIndexOf('z@')), /2 address lines from line \d+, but the file has only 1 more/],
      [good.text.replace('"addresses": 2,', '"addresses": "2",'), /sources\[2\]\.addresses: must be the number of its address lines/],
      [good.text.replace('"addresses": 2,', '"addresses": -1,'), /sources\[2\]\.addresses: must be the number of its address lines/],
      [good.text.replace('"gateways"', '"gateways" "'), /is not valid JSON/],
    ];
    for (const [text, message] of cases) {
      const error = await read(text);
      expect(error, JSON.stringify(text.slice(-120))).toBeInstanceOf(RcptsyncError);
      expect((error as Error).message, text.slice(-80)).toMatch(message);
    }
    // A count belongs to a file: a parsed object must carry its addresses as a list.
    expect(() => validateSnapshot(withAddresses(2))).toThrow(/sources\[2\]\.addresses: must be a list/);
  });

  test('address lines and a list of the same keys read the same, in contract order', async () => {
    const keys = ['b@y.example', 'a.b@x.example', 'a@x.example', 'b@y.example', 'c@x.example'];
    const file = path.join(work, 'same.snapshot');
    writeFileSync(file, fileWithLines(`${keys.join('\n')}\n`).text);
    const fromLines = await readSnapshot(file);
    expect(fromLines).toEqual(validateSnapshot(withAddresses(keys)));
    expect(fromLines.sources[2]!.addresses).toEqual(['a@x.example', 'a.b@x.example', 'c@x.example', 'b@y.example']);
  });

  test('the fast check accepts exactly what normaliseAddress leaves unchanged', async () => {
    const candidates = [
      ...HOSTILE,
      'a@lists.example.org',
      "o'brien+tag@lists.example.org",
      'x_y-z.w@xn--bcher-kva.example',
      'a#$&*+-/=?^_`{|}~.@lists.example.org',
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
      const keys = keyProblem(first) === null ? [first, candidate] : [candidate];
      let ok = true;
      try {
        validateSnapshot(withAddresses(keys));
      } catch {
        ok = false;
      }
      expect(ok, JSON.stringify(candidate)).toBe(accepted);
      // The same when its domain was met before but another domain came in between (unsorted input).
      if (keys.length === 2) {
        let unsortedOk = true;
        try {
          validateSnapshot(withAddresses([first, '0@other.example', candidate]));
        } catch {
          unsortedOk = false;
        }
        expect(unsortedOk, `${JSON.stringify(candidate)} after another domain`).toBe(accepted);
      }
      // The same through a file's address lines (a candidate with a LF in it is two lines; either may refuse it).
      const file = path.join(work, 'candidate.snapshot');
      writeFileSync(file, fileWithLines(`${keys.join('\n')}\n`).text);
      expect((await readSnapshot(file).then(() => true, () => false)), JSON.stringify(candidate)).toBe(accepted);
      expect(keyProblem(candidate) === null, JSON.stringify(candidate)).toBe(accepted);
    }
  });

  test('unsorted or duplicated addresses come back in contract order, once', () => {
    const addresses = ['b@y.example', 'a.b@x.example', 'a@x.example', 'b@y.example', 'c@x.example'];
    const snapshot = validateSnapshot(withAddresses(addresses));
    expect(snapshot.sources[2]!.addresses).toEqual(['a@x.example', 'a.b@x.example', 'c@x.example', 'b@y.example']);
    expect(sortAddressKeys(addresses)).toEqual([...new Set(addresses)].sort(compareAddressKeys));
    // Out of order first within a domain (the fast path), after a domain in order; runs as sorted.
    for (const keys of [
      ['a@x.example', 'c@y.example', 'b@y.example', 'a@x.example', 'c@y.example'],
      ['a@x.example', 'b@x.example', 'a@x.example', 'a@w.example'],
    ]) {
      const sorted = validateSnapshot(withAddresses(keys)).sources[2]!.addresses;
      expect(sorted).toEqual([...new Set(keys)].sort(compareAddressKeys));
      expect(checkedRunsOf(sorted)).toEqual(domainRuns(sorted));
    }
  });

  test('every kind of disorder is put in order: a duplicate in order, keys out of order within a domain, domains out of order', () => {
    const cases: Array<[string[], string[]]> = [
      [['a@x.example', 'a@x.example', 'b@x.example'], ['a@x.example', 'b@x.example']],
      [['a@x.example', 'a@x.example'], ['a@x.example']],
      [['c@x.example', 'b@x.example'], ['b@x.example', 'c@x.example']],
      // A local part before its own prefix: "a-b@" < "a@" as strings, after it in table order.
      [['a-b@x.example', 'a@x.example'], ['a@x.example', 'a-b@x.example']],
      [['a@x.example', 'c@x.example', 'b@x.example'], ['a@x.example', 'b@x.example', 'c@x.example']],
      [['b@y.example', 'a@x.example'], ['a@x.example', 'b@y.example']],
      [['a@x.example', 'b@y.example', 'a@x.example'], ['a@x.example', 'b@y.example']],
    ];
    for (const [given, expected] of cases) {
      const sorted = validateSnapshot(withAddresses(given)).sources[2]!.addresses;
      expect(sorted, JSON.stringify(given)).toEqual(expected);
      expect(checkedRunsOf(sorted)).toEqual(domainRuns(sorted));
    }
  });

  test('a bad key of a list in memory is named by its index, one of a file by its line too', () => {
    const problem = (addresses: unknown[]): string => {
      try {
        validateSnapshot(withAddresses(addresses));
      } catch (error) {
        return (error as RcptsyncError).detail ?? (error as Error).message;
      }
      return 'accepted';
    };
    expect(problem(['a@x.example', 'A@x.example'])).toMatch(/^snapshot: sources\[2\] \([^)]*\)\.addresses\[1\]: "A@x\.example": not normalised/m);
    expect(problem(['a@x.example', 42])).toMatch(/\.addresses\[1\]: "42": not a string/);
    expect(problem(['a@x.example', 42])).not.toMatch(/line \d/);
  });

  test('writeSnapshot is atomic and deterministic, and readSnapshot reads it back', async () => {
    const file = path.join(work, 'snap.json');
    const snapshot = validateSnapshot(fixtureSnapshot());
    await writeSnapshot(file, snapshot);
    const first = readFileSync(file, 'utf8');
    await writeSnapshot(file, snapshot);
    expect(readFileSync(file, 'utf8')).toBe(first);
    expect(first.endsWith('\n')).toBe(true);
    // A JSON head with each source's number of addresses, ended by a line "}", then one key a line.
    const headEnd = first.indexOf('\n}\n') + 3;
    expect(JSON.parse(first.slice(0, headEnd))).toEqual({ ...snapshot, sources: snapshot.sources.map((s) => ({ ...s, addresses: s.addresses.length })) });
    expect(first.slice(headEnd)).toBe(snapshot.sources.flatMap((s) => s.addresses.map((a) => `${a}\n`)).join(''));
    expect(await readSnapshot(file)).toEqual(snapshot);
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // A key with a LF in it would come back as two keys: it is never written.
    const split: Snapshot = { ...snapshot, sources: [{ ...snapshot.sources[0]!, addresses: ['a@x.example\nb@x.example'] }] };
    await expect(writeSnapshot(file, split)).rejects.toThrow(/address 0 "a@x.example\\nb@x.example" contains a line feed/);
    expect(readFileSync(file, 'utf8')).toBe(first);
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

  test('checked lists are frozen, and the tables from them equal those from unchecked copies', async () => {
    const file = path.join(work, 'tables.json');
    const unsorted = fixtureSnapshot();
    // Out of order, duplicated, and a domain in two places: read back in contract order with one run per domain.
    unsorted.sources[2]!.addresses = ['z@lists.example.org', 'a@unrelayed.example.com', 'a@lists.example.org', 'z@lists.example.org', 'b@support.example.net'];
    await writeSnapshot(file, unsorted);
    const fromFile = await readSnapshot(file);
    const fromList = validateSnapshot(unsorted);
    for (const checked of [validateSnapshot(fixtureSnapshot()), fromFile, fromList]) {
      const copies: Snapshot = { ...checked, sources: checked.sources.map((s) => ({ ...s, addresses: [...s.addresses] })) };
      expect(Object.isFrozen(checked.sources[2]!.addresses)).toBe(true);
      expect(buildGatewayTables(checked)).toEqual(buildGatewayTables(copies));
    }
    expect(buildGatewayTables(fromFile)).toEqual(buildGatewayTables(fromList));
    // What buildGatewayTables then takes unchecked: each domain's keys as one run, whether the source came sorted or not.
    for (const read of [fromFile, fromList]) {
      expect(read.sources[2]!.addresses).toEqual(['a@lists.example.org', 'z@lists.example.org', 'b@support.example.net', 'a@unrelayed.example.com']);
      expect(checkedRunsOf(read.sources[2]!.addresses)).toEqual([
        { domain: 'lists.example.org', from: 0, to: 2 },
        { domain: 'support.example.net', from: 2, to: 3 },
        { domain: 'unrelayed.example.com', from: 3, to: 4 },
      ]);
      expect(checkedRunsOf([...read.sources[2]!.addresses])).toBeUndefined();
    }
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

  test('the longest valid key (254 characters) goes into the table from a snapshot built in memory too', () => {
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(59)}`;
    const longest = `xy@${domain}`;
    expect(longest).toHaveLength(254);
    const snapshot = fixtureSnapshot();
    snapshot.sources[2]!.addresses = [longest];
    snapshot.gateways[0]!.domains.push({ domain, nextHop: 'smtp:[lists2.example.org]:25', roleAddresses: false, allowEmpty: false });
    const table = buildGatewayTables(snapshot)[0]!.domains.find((d) => d.domain === domain)!;
    expect(table.addresses).toEqual([longest]);
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
