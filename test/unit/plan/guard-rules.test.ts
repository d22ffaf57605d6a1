// The guard's rules at their edges, each case failing when one condition of a
// rule is dropped or loosened (found by `npm run mutate`; guard.test.ts has the
// rules' main cases and messages).
import { describe, expect, it } from 'vitest';
import type { GatewayPolicy, Thresholds } from '../../../src/inventory/model.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { diffTables, type Plan } from '../../../src/plan/diff.js';
import { DEFAULT_THRESHOLDS, SafetyRefusedError, assertSafe, checkSafety, findViolations, sourceCountsOf, thresholdsFor } from '../../../src/plan/guard.js';
import type { GatewayTables } from '../../../src/plan/tables.js';

const addresses = (domain: string, n: number): string[] => Array.from({ length: n }, (_, i) => `u${String(i).padStart(5, '0')}@${domain}`);
const tables = (spec: Record<string, Record<string, string[]>>): GatewayTables =>
  new Map(Object.entries(spec).map(([g, d]) => [g, new Map(Object.entries(d))]));
const policy = (thresholds: Partial<Thresholds> = {}, domains: GatewayPolicy['domains'] = {}): GatewayPolicy => ({
  gateway: 'mx1',
  thresholds: { ...DEFAULT_THRESHOLDS, ...thresholds },
  domains,
});
const messages = (v: { message: string }[]): string[] => v.map((x) => x.message);

/** `domain` on mx1 going from `before` entries to `after` (the first `after` of them). */
function shrink(before: number, after: number, domain = 'lists.example.org'): Plan {
  const all = addresses(domain, before);
  return diffTables(tables({ mx1: { [domain]: all } }), tables({ mx1: { [domain]: all.slice(0, after) } }));
}

describe('share of removals', () => {
  it('keeps the gateway threshold where a domain override leaves a value undefined', () => {
    const plan = shrink(100, 50);
    const loose = policy({}, { 'lists.example.org': { maxRemovalPercent: undefined, minEntries: 1 } });
    expect(thresholdsFor(loose, DEFAULT_THRESHOLDS, 'lists.example.org')).toEqual({ ...DEFAULT_THRESHOLDS, minEntries: 1 });
    expect(messages(checkSafety(plan, { policies: [loose], force: false }))).toEqual([
      'mx1: lists.example.org: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept',
    ]);
  });

  it('reports the gateway total beside a domain whose own rule is another one with the same numbers', () => {
    // The domain may lose any share but at most 10 entries; the gateway at most 30%.
    const own = policy({}, { 'lists.example.org': { maxRemovalPercent: 100, maxRemovals: 10 } });
    const found = checkSafety(shrink(100, 50), { policies: [own], force: false });
    expect(found.map((v) => [v.rule, v.domain])).toEqual([
      ['removal-percent', undefined],
      ['max-removals', 'lists.example.org'],
    ]);
    expect(messages(found)).toEqual([
      'mx1: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept',
      'mx1: lists.example.org: 50 of 100 entries would be removed, over the limit of 10; run with --force to accept',
    ]);
  });
});

describe('the gateway total and its domains', () => {
  it('reports both when the domain breaks the same rule with the same removals out of fewer entries', () => {
    // a loses 50 of 100 (50%, over its own 30%); the gateway 50 of 200 (25%, over its 10%).
    const a = addresses('a.example.org', 100);
    const b = addresses('b.example.org', 100);
    const plan = diffTables(tables({ mx1: { 'a.example.org': a, 'b.example.org': b } }), tables({ mx1: { 'a.example.org': a.slice(50), 'b.example.org': b } }));
    const strict = policy({ maxRemovalPercent: 10 }, { 'a.example.org': { maxRemovalPercent: 30 }, 'b.example.org': { maxRemovalPercent: 30 } });
    expect(messages(checkSafety(plan, { policies: [strict], force: false }))).toEqual([
      'mx1: 50 of 200 entries (25.0%) would be removed, over 10%; run with --force to accept',
      'mx1: a.example.org: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept',
    ]);
  });
});

describe('absolute count', () => {
  it('names the rule, and --allow-removals accepts it like the share rule', () => {
    const plan = shrink(10_000, 9_980);
    const limited = { policies: [policy({ maxRemovals: 10 })], force: false };
    expect(checkSafety(plan, limited).map((v) => v.rule)).toEqual(['max-removals']);
    expect(checkSafety(plan, { ...limited, allowRemovals: 20 })).toEqual([]);
    expect(checkSafety(plan, { ...limited, allowRemovals: 19 }).map((v) => v.rule)).toEqual(['max-removals']);
  });
});

describe('minimum entries', () => {
  it('says "1 entry" and "no entries" as well as "N entries"', () => {
    const min = (after: number): string[] => messages(checkSafety(shrink(12, after), { policies: [policy({ minEntries: 5, maxRemovalPercent: 100 })], force: false }));
    expect(min(1)).toEqual(['mx1: lists.example.org: 1 entry would remain, under the minimum of 5; run with --force to accept']);
    expect(min(0)).toEqual(['mx1: lists.example.org: no entries would remain, under the minimum of 5; run with --force to accept']);
    expect(min(4)).toEqual(['mx1: lists.example.org: 4 entries would remain, under the minimum of 5; run with --force to accept']);
    expect(min(5)).toEqual([]);
  });

  it('sorts the expected domains however the policy lists them', () => {
    for (const order of [['c', 'a', 'b'], ['b', 'c', 'a'], ['a', 'c', 'b'], ['e', 'd', 'c', 'b', 'a']]) {
      const expects = policy({}, Object.fromEntries(order.map((d) => [`${d}.example.org`, { minEntries: 1 }])));
      const found = checkSafety(shrink(10, 10), { policies: [expects], force: false });
      expect(found.map((v) => v.domain), order.join('')).toEqual([...order].sort().map((d) => `${d}.example.org`));
    }
  });

  it('reports domains the policy expects but nobody has, sorted, and only those with a minimum', () => {
    const expects = policy({}, { 'b.example.org': { minEntries: 1 }, 'c.example.org': { maxRemovals: 5 }, 'd.example.org': { minEntries: 0 }, 'a.example.org': { minEntries: 2 } });
    expect(messages(checkSafety(shrink(10, 10), { policies: [expects], force: false }))).toEqual([
      'mx1: a.example.org: no entries would remain, under the minimum of 2; run with --force to accept',
      'mx1: b.example.org: no entries would remain, under the minimum of 1; run with --force to accept',
    ]);
  });

  it('is not accepted by --allow-removals', () => {
    const found = checkSafety(shrink(12, 1), { policies: [policy({ minEntries: 5, maxRemovalPercent: 100 })], force: false, allowRemovals: 1000 });
    expect(found.map((v) => v.rule)).toEqual(['min-entries']);
  });
});

describe('sources gone empty', () => {
  const source = (host: string, index: number, addresses: string[], held?: true): Snapshot['sources'][number] => ({
    host,
    index,
    type: 'static',
    label: `sources[${index}] (static)`,
    addresses,
    refused: 0,
    ...(held ? { held } : {}),
  });

  it('are sorted by host before index', () => {
    for (const before of [
      [
        { host: 'lists2', index: 0, label: 'a', count: 1 },
        { host: 'lists1', index: 1, label: 'b', count: 1 },
      ],
      [
        { host: 'lists1', index: 1, label: 'b', count: 1 },
        { host: 'lists2', index: 0, label: 'a', count: 1 },
      ],
      [
        { host: 'lists3', index: 0, label: 'c', count: 1 },
        { host: 'lists2', index: 2, label: 'a', count: 1 },
        { host: 'lists1', index: 1, label: 'b', count: 1 },
      ],
    ]) {
      const found = findViolations(shrink(10, 10), { policies: [], sourcesBefore: before, sourcesAfter: before.map((s) => ({ ...s, count: 0 })) });
      expect(found.map((v) => v.host)).toEqual(before.map((s) => s.host).sort());
    }
    // One host: by index.
    for (const order of [[2, 0, 1], [1, 2, 0], [0, 2, 1]]) {
      const before = order.map((index) => ({ host: 'lists1', index, label: `s${index}`, count: 1 }));
      const found = findViolations(shrink(10, 10), { policies: [], sourcesBefore: before, sourcesAfter: before.map((s) => ({ ...s, count: 0 })) });
      expect(found.map((v) => v.source), order.join('')).toEqual(['s0', 's1', 's2']);
    }
  });

  it('are reported by host, then index, whatever the order they come in', () => {
    const before = [
      { host: 'lists2', index: 0, label: 'sources[0] (static)', count: 3 },
      { host: 'lists1', index: 1, label: 'sources[1] (static)', count: 2 },
      { host: 'lists1', index: 0, label: 'sources[0] (static)', count: 1 },
    ];
    const after = before.map((s) => ({ ...s, count: 0 }));
    const found = findViolations(shrink(10, 10), { policies: [], sourcesBefore: before, sourcesAfter: after });
    expect(found.map((v) => `${v.host} ${v.source}`)).toEqual(['lists1 sources[0] (static)', 'lists1 sources[1] (static)', 'lists2 sources[0] (static)']);
  });

  it('count a source with its held records as one source', () => {
    const snapshot: Snapshot = {
      format: 'rcptsync-snapshot',
      version: 1,
      sources: [source('lists1', 0, ['a@x.example', 'b@x.example']), source('lists1', 0, ['c@x.example'], true), source('lists1', 1, ['d@x.example'])],
      gateways: [],
    };
    expect(sourceCountsOf(snapshot).map((s) => [s.host, s.index, s.count])).toEqual([
      ['lists1', 0, 3],
      ['lists1', 1, 1],
    ]);
  });
});

describe('the refusal', () => {
  it('is a SafetyRefusedError that says what was not done and how to accept it', () => {
    let error: unknown;
    try {
      assertSafe(shrink(100, 50), { policies: [], force: false });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SafetyRefusedError);
    const refused = error as SafetyRefusedError;
    expect(refused.name).toBe('SafetyRefusedError');
    expect(refused.exitCode).toBe(3);
    expect(refused.detail!.split('\n')).toEqual([
      'mx1: lists.example.org: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept',
      'Nothing was rendered and the last-known-good state is unchanged. Review the plan (rcptsync plan), then run with --force, or with --allow-removals N to accept up to N removals per gateway.',
    ]);
  });
});

describe('the share in the message', () => {
  it('shows as many decimals as it takes to be over the limit it breaks', () => {
    // 30,000,001 of 100,000,000: over 30% only in the sixth decimal (sparse arrays: only their length counts).
    const removed = new Array<string>(30_000_001);
    const domain = { domain: 'big.example.org', added: [], removed, unchanged: 69_999_999, before: 100_000_000, after: 69_999_999 };
    const plan: Plan = {
      gateways: [{ gateway: 'mx1', domains: [domain], added: 0, removed: removed.length, unchanged: 69_999_999, before: 100_000_000, after: 69_999_999 }],
      totals: { added: 0, removed: removed.length, unchanged: 69_999_999, before: 100_000_000, after: 69_999_999 },
      routes: [],
      hasChanges: true,
    };
    expect(messages(findViolations(plan, { policies: [] }))).toEqual([
      'mx1: big.example.org: 30,000,001 of 100,000,000 entries (30.000001%) would be removed, over 30%; run with --force to accept',
    ]);
  });
});
