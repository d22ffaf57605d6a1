import { describe, expect, it } from 'vitest';
import { ExitCode, RcptsyncError } from '../../../src/errors.js';
import type { GatewayPolicy, Thresholds } from '../../../src/inventory/model.js';
import { diffTables } from '../../../src/plan/diff.js';
import {
  DEFAULT_THRESHOLDS,
  SafetyRefusedError,
  assertSafe,
  checkSafety,
  findViolations,
  formatCount,
  type SourceCount,
} from '../../../src/plan/guard.js';
import type { GatewayTables } from '../../../src/plan/tables.js';

/** `n` addresses `u0000@domain`… */
function addresses(domain: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `u${String(from + i).padStart(5, '0')}@${domain}`);
}

function tables(spec: Record<string, Record<string, string[]>>): GatewayTables {
  return new Map(Object.entries(spec).map(([g, d]) => [g, new Map(Object.entries(d))]));
}

/** A plan where `domain` on `gateway` goes from `before` entries to `before - removed`. */
function shrink(before: number, removed: number, domain = 'lists.example.org', gateway = 'mx1') {
  const all = addresses(domain, before);
  return diffTables(tables({ [gateway]: { [domain]: all } }), tables({ [gateway]: { [domain]: all.slice(removed) } }));
}

function policy(thresholds: Partial<Thresholds> = {}, domains: GatewayPolicy['domains'] = {}, gateway = 'mx1'): GatewayPolicy {
  return { gateway, thresholds: { ...DEFAULT_THRESHOLDS, ...thresholds }, domains };
}

const messages = (v: { message: string }[]) => v.map((x) => x.message);

describe('checkSafety: share of removals', () => {
  it('refuses over 30% with the message of the issue, per domain', () => {
    const all = addresses('lists.example.org', 2340);
    const other = addresses('other.example.net', 5000);
    const plan = diffTables(
      tables({ mx1: { 'lists.example.org': all, 'other.example.net': other } }),
      tables({ mx1: { 'lists.example.org': all.slice(812), 'other.example.net': other } }),
    );
    expect(messages(checkSafety(plan, { policies: [], force: false }))).toEqual([
      'mx1: lists.example.org: 812 of 2,340 entries (34.7%) would be removed, over 30%; run with --force to accept',
    ]);
  });

  it('allows exactly 30% and refuses one entry more', () => {
    expect(checkSafety(shrink(10, 3), { policies: [], force: false })).toEqual([]);
    expect(checkSafety(shrink(1000, 300), { policies: [], force: false })).toEqual([]);
    const over = checkSafety(shrink(1000, 301), { policies: [], force: false });
    // One domain: the gateway's total would say the same, so it is said once.
    expect(messages(over)).toEqual([
      'mx1: lists.example.org: 301 of 1,000 entries (30.1%) would be removed, over 30%; run with --force to accept',
    ]);
    expect(over[0]).toMatchObject({ rule: 'removal-percent', gateway: 'mx1', domain: 'lists.example.org', removed: 301, before: 1000, limit: 30 });
  });

  it('prints two decimals when one would show the limit itself', () => {
    expect(messages(checkSafety(shrink(10_000, 3001), { policies: [], force: false }))[0]).toContain('3,001 of 10,000 entries (30.01%)');
    expect(messages(checkSafety(shrink(100_000, 1), { policies: [policy({ maxRemovalPercent: 0 })], force: false }))[0]).toContain(
      '1 of 100,000 entries (0.001%) would be removed, over 0%',
    );
  });

  it('exempts tables under the floor, as octoDNS does under MIN_EXISTING_RECORDS', () => {
    expect(checkSafety(shrink(9, 9), { policies: [], force: false })).toEqual([]);
    expect(checkSafety(shrink(10, 4), { policies: [], force: false })).toHaveLength(1);
    expect(checkSafety(shrink(50, 40), { policies: [policy({ removalFloor: 100 })], force: false })).toEqual([]);
  });

  it('checks the gateway total as well as each domain', () => {
    // Each domain loses 25% (allowed with 30%), the gateway as a whole too; with a 20% gateway limit only the total is refused.
    const a = addresses('a.example.org', 100);
    const b = addresses('b.example.org', 100);
    const plan = diffTables(tables({ mx1: { 'a.example.org': a, 'b.example.org': b } }), tables({ mx1: { 'a.example.org': a.slice(25), 'b.example.org': b.slice(25) } }));
    expect(checkSafety(plan, { policies: [], force: false })).toEqual([]);
    const limited = policy({ maxRemovalPercent: 20 }, { 'a.example.org': { maxRemovalPercent: 30 }, 'b.example.org': { maxRemovalPercent: 30 } });
    expect(messages(checkSafety(plan, { policies: [limited], force: false }))).toEqual([
      'mx1: 50 of 200 entries (25.0%) would be removed, over 20%; run with --force to accept',
    ]);
  });

  it('applies per-domain overrides over the gateway thresholds, and per-gateway policies over the defaults', () => {
    const plan = shrink(100, 10);
    expect(checkSafety(plan, { policies: [], force: false })).toEqual([]);
    expect(messages(checkSafety(plan, { policies: [policy({}, { 'lists.example.org': { maxRemovalPercent: 5 } })], force: false }))).toEqual([
      'mx1: lists.example.org: 10 of 100 entries (10.0%) would be removed, over 5%; run with --force to accept',
    ]);
    // A policy for another gateway changes nothing here; custom defaults do.
    expect(checkSafety(plan, { policies: [policy({ maxRemovalPercent: 1 }, {}, 'mx2')], force: false })).toEqual([]);
    expect(messages(checkSafety(plan, { policies: [], force: false, defaults: { ...DEFAULT_THRESHOLDS, maxRemovalPercent: 9.5 } }))).toEqual([
      'mx1: lists.example.org: 10 of 100 entries (10.0%) would be removed, over 9.5%; run with --force to accept',
    ]);
  });

  it('never refuses additions, nor a first run', () => {
    const first = diffTables(new Map(), tables({ mx1: { 'a.example.org': addresses('a.example.org', 10_000) } }));
    expect(checkSafety(first, { policies: [policy({ maxRemovals: 0 })], force: false })).toEqual([]);
  });
});

describe('checkSafety: absolute count, minimum, source gone empty', () => {
  it('refuses more removals than maxRemovals, on the gateway total and on a domain with its own limit', () => {
    const plan = shrink(10_000, 1200);
    expect(messages(checkSafety(plan, { policies: [policy({ maxRemovals: 1000 })], force: false }))).toEqual([
      'mx1: 1,200 of 10,000 entries would be removed, over the limit of 1,000; run with --force to accept',
    ]);
    expect(checkSafety(plan, { policies: [policy({ maxRemovals: 1200 })], force: false })).toEqual([]);
    expect(messages(checkSafety(plan, { policies: [policy({}, { 'lists.example.org': { maxRemovals: 500 } })], force: false }))).toEqual([
      'mx1: lists.example.org: 1,200 of 10,000 entries would be removed, over the limit of 500; run with --force to accept',
    ]);
  });

  it('refuses a domain falling under its minimum, also on a first run and for an expected domain with no entries', () => {
    const first = diffTables(new Map(), tables({ mx1: { 'a.example.org': addresses('a.example.org', 3) } }));
    const strict = policy({}, { 'a.example.org': { minEntries: 5 }, 'z.example.org': { minEntries: 1 } });
    const found = checkSafety(first, { policies: [strict], force: false });
    expect(messages(found)).toEqual([
      'mx1: a.example.org: 3 entries would remain, under the minimum of 5; run with --force to accept',
      'mx1: z.example.org: no entries would remain, under the minimum of 1; run with --force to accept',
    ]);
    expect(found[0]).toMatchObject({ rule: 'min-entries', after: 3, limit: 5 });
    // The gateway's minimum applies to each of its domains.
    expect(checkSafety(first, { policies: [policy({ minEntries: 3 })], force: false })).toEqual([]);
    expect(checkSafety(first, { policies: [policy({ minEntries: 4 })], force: false })).toHaveLength(1);
  });

  it('refuses when a source that returned entries last time returns none', () => {
    const plan = diffTables(new Map(), new Map());
    const before: SourceCount[] = [
      { host: 'lists1', index: 0, label: 'sources[0] (mailman3)', count: 2340 },
      { host: 'lists1', index: 1, label: 'sources[1] (aliases)', count: 0 },
      { host: 'lists2', index: 0, label: 'sources[0] (mailman2)', count: 12 },
      { host: 'retired', index: 0, label: 'sources[0] (aliases)', count: 40 },
    ];
    const after: SourceCount[] = [
      { host: 'lists1', index: 0, label: 'sources[0] (mailman3)', count: 0 },
      { host: 'lists1', index: 1, label: 'sources[1] (aliases)', count: 0 },
      { host: 'lists2', index: 0, label: 'sources[0] (mailman2)', count: 11 },
    ];
    const found = checkSafety(plan, { policies: [], sourcesBefore: before, sourcesAfter: after, force: false });
    expect(messages(found)).toEqual(['lists1: sources[0] (mailman3): returned no entries, 2,340 last time; run with --force to accept']);
    expect(found[0]).toMatchObject({ rule: 'source-empty', host: 'lists1', source: 'sources[0] (mailman3)' });
    expect(checkSafety(plan, { policies: [], sourcesAfter: after, force: false })).toEqual([]);
  });
});

describe('--force and --allow-removals', () => {
  const plan = shrink(1000, 400);
  const sources = {
    sourcesBefore: [{ host: 'lists1', index: 0, label: 's', count: 5 }],
    sourcesAfter: [{ host: 'lists1', index: 0, label: 's', count: 0 }],
  };

  it('--force accepts everything, but findViolations still lists it for a warning', () => {
    expect(checkSafety(plan, { policies: [policy({ minEntries: 900 })], ...sources, force: true })).toEqual([]);
    expect(findViolations(plan, { policies: [policy({ minEntries: 900 })], ...sources }).map((v) => v.rule)).toEqual([
      'source-empty',
      'removal-percent',
      'min-entries',
    ]);
  });

  it('--allow-removals N accepts removal rules of gateways removing at most N entries, nothing else', () => {
    expect(checkSafety(plan, { policies: [], force: false, allowRemovals: 400 })).toEqual([]);
    expect(checkSafety(plan, { policies: [], force: false, allowRemovals: 399 })).toHaveLength(1);
    expect(checkSafety(plan, { policies: [policy({ minEntries: 900 })], ...sources, force: false, allowRemovals: 1000 }).map((v) => v.rule)).toEqual([
      'source-empty',
      'min-entries',
    ]);
  });

  it('counts the allowance per gateway', () => {
    const a = addresses('a.example.org', 100);
    const two = diffTables(tables({ mx1: { 'a.example.org': a }, mx2: { 'a.example.org': a } }), tables({ mx1: { 'a.example.org': a.slice(50) }, mx2: { 'a.example.org': a.slice(60) } }));
    expect(checkSafety(two, { policies: [], force: false, allowRemovals: 50 }).map((v) => v.gateway)).toEqual(['mx2']);
  });
});

describe('SafetyRefusedError', () => {
  it('carries exit code 3 and lists every violation', () => {
    const plan = shrink(1000, 400);
    const error = (() => {
      try {
        assertSafe(plan, { policies: [policy({ maxRemovals: 10 })], force: false });
      } catch (e) {
        return e;
      }
      throw new Error('not refused');
    })() as SafetyRefusedError;
    expect(error).toBeInstanceOf(RcptsyncError);
    expect(error.exitCode).toBe(ExitCode.refused);
    expect(error.message).toBe('refused: 2 safety thresholds would be broken');
    expect(error.violations).toHaveLength(2);
    expect(error.detail?.split('\n').slice(0, 2)).toEqual([
      'mx1: 400 of 1,000 entries would be removed, over the limit of 10; run with --force to accept',
      'mx1: lists.example.org: 400 of 1,000 entries (40.0%) would be removed, over 30%; run with --force to accept',
    ]);
    expect(() => assertSafe(plan, { policies: [], force: true })).not.toThrow();
  });

  it('formats counts without the machine locale', () => {
    expect([0, 999, 1000, 1234567, 2.5].map(formatCount)).toEqual(['0', '999', '1,000', '1,234,567', '2.5']);
  });
});
