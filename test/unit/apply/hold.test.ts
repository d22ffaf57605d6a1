// Held removals (issue 7 §2): the addresses a breach would remove are kept in a
// held record of the source that had them; additions and unbreached domains
// pass through; the scope follows the violation.
import { describe, expect, it } from 'vitest';
import { holdRemovals } from '../../../src/apply/hold.js';
import type { Snapshot, SourceRecord } from '../../../src/model/snapshot.js';
import { diffTables } from '../../../src/plan/diff.js';
import { checkSafety } from '../../../src/plan/guard.js';
import { tablesFromSnapshot } from '../../../src/plan/tables.js';

const domain = (name: string) => ({ domain: name, nextHop: 'smtp:[lists1]:25', roleAddresses: false, allowEmpty: true });
const GATEWAYS: Snapshot['gateways'] = [
  { name: 'mx1', smtputf8: false, domains: [domain('a.example.org'), domain('b.example.org')] },
  { name: 'mx2', smtputf8: false, domains: [domain('a.example.org')] },
];
const snapshot = (sources: SourceRecord[]): Snapshot => ({ format: 'rcptsync-snapshot', version: 1, sources, gateways: GATEWAYS });
const source = (host: string, index: number, addresses: string[]): SourceRecord => ({ host, index, type: 'static', label: `s${index}`, addresses, refused: 0 });
const many = (prefix: string, n: number, d: string): string[] => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(2, '0')}@${d}`);

function decide(before: Snapshot, after: Snapshot) {
  const plan = diffTables(tablesFromSnapshot(before), tablesFromSnapshot(after));
  const violations = checkSafety(plan, { policies: [], force: false, sourcesBefore: [], sourcesAfter: [] });
  return { plan, violations };
}

/** The plan and violations when lists1 sources[0] returned 5 entries last time and none now. */
function lists1EmptiedFrom5(before: Snapshot, after: Snapshot) {
  const plan = diffTables(tablesFromSnapshot(before), tablesFromSnapshot(after));
  const violations = checkSafety(plan, {
    policies: [],
    force: false,
    sourcesBefore: [{ host: 'lists1', index: 0, label: 's0', count: 5 }],
    sourcesAfter: [{ host: 'lists1', index: 0, label: 's0', count: 0 }],
  });
  return { plan, violations };
}

describe('holdRemovals', () => {
  it('holds the breaching domain\'s removals, lets additions and other domains through', () => {
    const before = snapshot([source('lists1', 0, [...many('a', 20, 'a.example.org'), ...many('b', 20, 'b.example.org')])]);
    // a.example.org loses 15 of 20 (over 30%) and gains one; b.example.org loses 2 of 20 (under).
    const after = snapshot([source('lists1', 0, [...many('a', 5, 'a.example.org'), 'new@a.example.org', ...many('b', 18, 'b.example.org')])]);
    const { plan, violations } = decide(before, after);
    expect(violations.map((v) => `${v.gateway} ${v.domain ?? ''} ${v.rule}`)).toEqual(['mx1  removal-percent', 'mx1 a.example.org removal-percent', 'mx2 a.example.org removal-percent']);
    const { snapshot: held, held: report } = holdRemovals(before, after, plan, violations);

    const published = tablesFromSnapshot(held);
    const mx1 = published.get('mx1')!;
    expect(mx1.get('a.example.org')).toEqual([...many('a', 20, 'a.example.org'), 'new@a.example.org'].sort());
    // The gateway-wide breach holds b.example.org's removals on mx1 too: the safe side.
    expect(mx1.get('b.example.org')).toHaveLength(20);
    expect(published.get('mx2')!.get('a.example.org')).toHaveLength(21);

    expect(held.sources.map((s) => [s.host, s.index, s.held ?? false, s.addresses.length])).toEqual([
      ['lists1', 0, false, 24],
      ['lists1', 0, true, 17],
    ]);
    expect(report).toEqual([
      { host: 'lists1', label: 's0', domain: 'a.example.org', gateways: ['mx1', 'mx2'], count: 15, first: many('a', 20, 'a.example.org').slice(5, 10) },
      { host: 'lists1', label: 's0', domain: 'b.example.org', gateways: ['mx1'], count: 2, first: many('b', 20, 'b.example.org').slice(18) },
    ]);
    // Published, the breach is gone: nothing is removed any more.
    expect(decide(before, held).violations).toEqual([]);
  });

  it('holds only the breaching domain when the gateway as a whole stays under its threshold', () => {
    const before = snapshot([source('lists1', 0, [...many('a', 20, 'a.example.org'), ...many('b', 80, 'b.example.org')])]);
    const after = snapshot([source('lists1', 0, [...many('a', 10, 'a.example.org'), ...many('b', 79, 'b.example.org')])]);
    const { plan, violations } = decide(before, after);
    expect(violations.every((v) => v.domain === 'a.example.org')).toBe(true);
    const { snapshot: held } = holdRemovals(before, after, plan, violations);
    const mx1 = tablesFromSnapshot(held).get('mx1')!;
    expect(mx1.get('a.example.org')).toHaveLength(20);
    expect(mx1.get('b.example.org')).toHaveLength(79);
  });

  it('attributes each held address to the source that had it, and an address that moved is not held', () => {
    const before = snapshot([source('lists1', 0, many('a', 12, 'a.example.org')), source('lists2', 0, many('z', 12, 'a.example.org'))]);
    const after = snapshot([source('lists1', 0, []), source('lists2', 0, [...many('z', 2, 'a.example.org'), 'a00@a.example.org'])]);
    const { plan, violations } = decide(before, after);
    const { held } = holdRemovals(before, after, plan, violations);
    expect(held.map((h) => [h.host, h.count])).toEqual([
      ['lists1', 11],
      ['lists2', 10],
    ]);
  });

  it('merges with removals held before (one held record per source)', () => {
    const heldBefore: SourceRecord = { ...source('lists1', 0, many('old', 10, 'a.example.org')), held: true };
    const before = snapshot([source('lists1', 0, many('a', 10, 'a.example.org')), heldBefore]);
    const after = snapshot([source('lists1', 0, many('a', 2, 'a.example.org'))]);
    const { plan, violations } = decide(before, after);
    const { snapshot: held } = holdRemovals(before, after, plan, violations);
    const heldRecords = held.sources.filter((s) => s.held);
    expect(heldRecords).toHaveLength(1);
    expect(heldRecords[0]!.addresses).toHaveLength(18);
  });

  it('a source gone empty holds everything it had', () => {
    const before = snapshot([source('lists1', 0, many('a', 5, 'a.example.org')), source('lists1', 1, many('b', 50, 'b.example.org'))]);
    const after = snapshot([source('lists1', 0, []), source('lists1', 1, many('b', 50, 'b.example.org'))]);
    const { plan, violations } = lists1EmptiedFrom5(before, after);
    expect(violations.map((v) => v.rule)).toEqual(['source-empty']);
    const { held } = holdRemovals(before, after, plan, violations);
    expect(held).toEqual([{ host: 'lists1', label: 's0', domain: 'a.example.org', gateways: ['mx1', 'mx2'], count: 5, first: many('a', 5, 'a.example.org') }]);
  });
});

describe('holdRemovals keeps to the breach', () => {
  it('a source gone empty holds what it had, and nothing of another source that removed a little elsewhere', () => {
    const before = snapshot([source('lists1', 0, many('a', 5, 'a.example.org')), source('lists2', 0, many('b', 50, 'b.example.org'))]);
    const after = snapshot([source('lists1', 0, []), source('lists2', 0, many('b', 48, 'b.example.org'))]);
    const { plan, violations } = lists1EmptiedFrom5(before, after);
    const { held, snapshot: published } = holdRemovals(before, after, plan, violations);
    expect(held.map((h) => [h.host, h.domain, h.count])).toEqual([['lists1', 'a.example.org', 5]]);
    expect(tablesFromSnapshot(published).get('mx1')!.get('b.example.org')).toHaveLength(48);
  });

  it('a domain no longer relayed is not held (the run stops instead)', () => {
    const before = snapshot([source('lists1', 0, many('a', 20, 'a.example.org'))]);
    const plan = diffTables(tablesFromSnapshot(before), new Map([['mx1', new Map()]]));
    const { held } = holdRemovals(before, snapshot([source('lists1', 0, [])]), plan, [
      { rule: 'domain-unrelayed', message: 'mx1: a.example.org: no longer relayed', gateway: 'mx1', domain: 'a.example.org' },
    ]);
    expect(held).toEqual([]);
  });

  it('a gateway-wide breach holds the domains of that gateway, not of another', () => {
    const gateways: Snapshot['gateways'] = [
      { name: 'mx1', smtputf8: false, domains: [domain('a.example.org')] },
      { name: 'mx2', smtputf8: false, domains: [domain('b.example.org')] },
    ];
    const before: Snapshot = { ...snapshot([source('lists1', 0, [...many('a', 20, 'a.example.org'), ...many('b', 20, 'b.example.org')])]), gateways };
    const after: Snapshot = { ...snapshot([source('lists1', 0, [...many('a', 18, 'a.example.org'), ...many('b', 5, 'b.example.org')])]), gateways };
    const plan = diffTables(tablesFromSnapshot(before), tablesFromSnapshot(after));
    const { held } = holdRemovals(before, after, plan, [{ rule: 'removal-percent', message: 'mx2: 15 of 20', gateway: 'mx2', removed: 15, before: 20 }]);
    expect(held.map((h) => [h.domain, h.gateways, h.count])).toEqual([['b.example.org', ['mx2'], 15]]);
  });

  it('labels held records as the source is labelled now, orders the report by domain, host and label, and the sources as snapshots are', () => {
    const before = snapshot([source('lists1', 0, many('z', 12, 'b.example.org')), source('lists2', 0, many('a', 12, 'a.example.org'))]);
    const renamed: SourceRecord = { ...source('lists1', 0, []), label: 'renamed' };
    const after = snapshot([renamed, source('lists2', 0, []), source('lists3', 0, ['x@a.example.org'])]);
    const plan = diffTables(tablesFromSnapshot(before), tablesFromSnapshot(after));
    const { held, snapshot: published } = holdRemovals(before, after, plan, [
      { rule: 'removal-percent', message: 'a', gateway: 'mx1', domain: 'a.example.org' },
      { rule: 'removal-percent', message: 'b', gateway: 'mx1', domain: 'b.example.org' },
    ]);
    expect(held.map((h) => `${h.domain} ${h.host} ${h.label}`)).toEqual(['a.example.org lists2 s0', 'b.example.org lists1 renamed']);
    expect(published.sources.map((s) => `${s.host}${s.held ? ' held' : ''}`)).toEqual(['lists1', 'lists1 held', 'lists2', 'lists2 held', 'lists3']);
    // Held records of an earlier run in the collection give way to these (never twice).
    const again = holdRemovals(before, published, plan, [{ rule: 'removal-percent', message: 'a', gateway: 'mx1', domain: 'a.example.org' }]);
    expect(again.snapshot.sources.filter((s) => s.held).map((s) => s.host)).toEqual(['lists2']);
  });
});
