// Carrying a failed source forward (issue 7 §1): the last-known-good addresses
// stand in for it within rcptsync_max_stale, with its old collection time and
// the reason; without data for it, or past the limit, the run is refused whole.
import { describe, expect, it } from 'vitest';
import { withCarriedSources } from '../../../src/apply/apply.js';
import { carryForward, stampCollectedAt, StaleSourcesError } from '../../../src/apply/carry-forward.js';
import type { SourceFailure } from '../../../src/collect/collect.js';
import type { Snapshot, SourceRecord } from '../../../src/model/snapshot.js';

const GATEWAYS: Snapshot['gateways'] = [
  { name: 'mx1', smtputf8: false, domains: [{ domain: 'lists.example.org', nextHop: 'smtp:[lists1]:25', roleAddresses: true, allowEmpty: false }] },
];
const snapshot = (sources: SourceRecord[]): Snapshot => ({ format: 'rcptsync-snapshot', version: 1, sources, gateways: GATEWAYS });
const record = (host: string, index: number, addresses: string[], extra: Partial<SourceRecord> = {}): SourceRecord => ({
  host,
  index,
  type: 'mailman3',
  label: `sources[${index}] (mailman3)`,
  addresses,
  refused: 0,
  ...extra,
});
const failure = (host: string, index: number, extra: Partial<SourceFailure> = {}): SourceFailure => ({
  host,
  index,
  type: 'mailman3',
  label: `sources[${index}] (mailman3)`,
  message: `${host}: SSH connection to 127.0.0.1:1 refused`,
  hostKey: false,
  ...extra,
});
const NOW = new Date('2026-12-01T12:00:00.000Z');
const hours = (h: number): string => new Date(NOW.getTime() - h * 3_600_000).toISOString();

describe('carryForward', () => {
  const lastGood = snapshot([
    record('lists1', 0, ['a@lists.example.org', 'b@lists.example.org'], { collectedAt: hours(5) }),
    record('lists2', 0, ['c@lists.example.org'], { collectedAt: hours(5) }),
  ]);

  it('returns the collection as it is when nothing failed', () => {
    const fresh = snapshot([record('lists1', 0, ['x@lists.example.org'])]);
    const result = carryForward({ snapshot: fresh, failures: [], lastGood, maxStaleHours: () => 72, now: NOW });
    expect(result.snapshot).toBe(fresh);
    expect(result.carried).toEqual([]);
  });

  it('uses the failed source\'s last-known-good addresses, keeps its collection time and names why', () => {
    const fresh = snapshot([record('lists2', 0, ['c@lists.example.org', 'new@lists.example.org'])]);
    const result = carryForward({ snapshot: fresh, failures: [failure('lists1', 0)], lastGood, maxStaleHours: () => 72, now: NOW });
    expect(result.snapshot.sources.map((s) => s.host)).toEqual(['lists1', 'lists2']);
    expect(result.snapshot.sources[0]).toEqual({
      ...record('lists1', 0, ['a@lists.example.org', 'b@lists.example.org']),
      collectedAt: hours(5),
      carriedForward: { reason: 'lists1: SSH connection to 127.0.0.1:1 refused', hostKey: false },
    });
    expect(result.snapshot.sources[1]!.addresses).toContain('new@lists.example.org');
    expect(result.carried).toEqual([
      {
        host: 'lists1',
        label: 'sources[0] (mailman3)',
        reason: 'lists1: SSH connection to 127.0.0.1:1 refused',
        hostKey: false,
        addresses: 2,
        since: hours(5),
        staleHours: 5,
        maxStaleHours: 72,
      },
    ]);
  });

  it('marks a host key problem', () => {
    const result = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0, { hostKey: true })], lastGood, maxStaleHours: () => 72, now: NOW });
    expect(result.snapshot.sources[0]!.carriedForward).toEqual({ reason: 'lists1: SSH connection to 127.0.0.1:1 refused', hostKey: true });
    expect(result.carried[0]!.hostKey).toBe(true);
  });

  it('keeps the first failure\'s collection time across runs (a carried state carried again)', () => {
    const carriedState = snapshot([record('lists1', 0, ['a@lists.example.org'], { collectedAt: hours(70), carriedForward: { reason: 'old', hostKey: false } })]);
    const result = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood: carriedState, maxStaleHours: () => 72, now: NOW });
    expect(result.carried[0]!.since).toBe(hours(70));
    expect(() => carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood: carriedState, maxStaleHours: () => 69, now: NOW })).toThrow(
      /older than rcptsync_max_stale \(69 h\)/,
    );
  });

  it('refuses, naming the source and what to do, with no state or no data for it, or another type at its index', () => {
    const run = (last: Snapshot | undefined, f: SourceFailure) => () => carryForward({ snapshot: snapshot([]), failures: [f], lastGood: last, maxStaleHours: () => 72, now: NOW });
    expect(run(undefined, failure('lists1', 0))).toThrow(StaleSourcesError);
    expect(run(undefined, failure('lists1', 0))).toThrow(/lists1: sources\[0\] \(mailman3\): failed \(.*\) and cannot be carried forward: the last-known-good state has no data for it .* take it out of rcptsync_sources/);
    expect(run(lastGood, failure('lists1', 1))).toThrow(/no data for it/);
    expect(run(lastGood, failure('lists1', 0, { type: 'aliases' }))).toThrow(/no data for it/);
  });

  it('applies each failure\'s own limit and reports every refusal at once', () => {
    let error: unknown;
    try {
      carryForward({
        snapshot: snapshot([]),
        failures: [failure('lists1', 0), failure('lists2', 0), failure('lists3', 0)],
        lastGood,
        maxStaleHours: (f) => (f.host === 'lists1' ? 4 : 72),
        now: NOW,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StaleSourcesError);
    const refusals = (error as StaleSourcesError).refusals;
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toMatch(/^lists1: .*its last good data is from .* \(5\.0 h ago\), older than rcptsync_max_stale \(4 h\)/);
    expect(refusals[1]).toMatch(/^lists3: .*no data for it/);
    expect((error as StaleSourcesError).failures).toHaveLength(3);
  });

  it('falls back to the state file\'s time for a state written without collection times', () => {
    const old = snapshot([record('lists1', 0, ['a@lists.example.org'])]);
    const within = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood: old, lastGoodWritten: new Date(hours(2)), maxStaleHours: () => 72, now: NOW });
    expect(within.carried[0]!.since).toBe(hours(2));
    expect(() => carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood: old, maxStaleHours: () => 72, now: NOW })).toThrow(
      /cannot be carried forward: its last-known-good data has no collection time, so its age is unknown/,
    );
  });

  it('does not carry held removals as if they were the source', () => {
    const withHeld = snapshot([
      record('lists1', 0, ['a@lists.example.org'], { collectedAt: hours(1) }),
      record('lists1', 0, ['gone@lists.example.org'], { held: true }),
    ]);
    const result = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood: withHeld, maxStaleHours: () => 72, now: NOW });
    expect(result.snapshot.sources.map((s) => s.addresses)).toEqual([['a@lists.example.org']]);
  });
});

describe('stampCollectedAt', () => {
  it('stamps the sources collected now and leaves carried and held ones as they are', () => {
    const stamped = stampCollectedAt(
      snapshot([
        record('lists1', 0, []),
        record('lists2', 0, [], { collectedAt: hours(9), carriedForward: { reason: 'down', hostKey: false } }),
        record('lists2', 0, [], { held: true }),
      ]),
      NOW,
    );
    expect(stamped.sources.map((s) => s.collectedAt)).toEqual([NOW.toISOString(), hours(9), undefined]);
  });
});

describe('carryForward at the edges', () => {
  const lastGood = snapshot([record('lists1', 0, ['a@lists.example.org'], { collectedAt: hours(72) })]);

  it('carries a source exactly at its limit, and not a second past it', () => {
    expect(carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood, maxStaleHours: () => 72, now: NOW }).carried).toHaveLength(1);
    expect(() => carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0)], lastGood, maxStaleHours: () => 71.999, now: NOW })).toThrow(/\(72\.0 h ago\), older than rcptsync_max_stale \(71\.999 h\)/);
  });

  it('keeps carried records in snapshot order among the collected ones', () => {
    const fresh = snapshot([record('lists0', 0, ['x@lists.example.org']), record('lists2', 0, ['y@lists.example.org'])]);
    const result = carryForward({ snapshot: fresh, failures: [failure('lists1', 0)], lastGood, maxStaleHours: () => 100, now: NOW });
    expect(result.snapshot.sources.map((s) => s.host)).toEqual(['lists0', 'lists1', 'lists2']);
  });

  it('stores the reason as one line of at most 2,000 characters', () => {
    const long = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0, { message: `lists1: first\nsecond\u2028third ${'x'.repeat(3000)}` })], lastGood, maxStaleHours: () => 100, now: NOW });
    const reason = long.snapshot.sources[0]!.carriedForward!.reason;
    expect(reason.startsWith('lists1: first second third xxx')).toBe(true);
    expect(reason).toHaveLength(2000);
    expect(reason.endsWith('...')).toBe(true);
    const spaced = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0, { message: 'lists1: one\n\r\ntwo' })], lastGood, maxStaleHours: () => 100, now: NOW });
    expect(spaced.snapshot.sources[0]!.carriedForward!.reason).toBe('lists1: one two');
    const exact = 'y'.repeat(2000);
    const fits = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0, { message: exact })], lastGood, maxStaleHours: () => 100, now: NOW });
    expect(fits.snapshot.sources[0]!.carriedForward!.reason).toBe(exact);
    const blank = carryForward({ snapshot: snapshot([]), failures: [failure('lists1', 0, { message: '\n\n' })], lastGood, maxStaleHours: () => 100, now: NOW });
    expect(blank.snapshot.sources[0]!.carriedForward!.reason).toBe('failed');
  });

  it('names how many sources it could not carry when there are several', () => {
    let error: StaleSourcesError | undefined;
    try {
      carryForward({ snapshot: snapshot([]), failures: [failure('lists8', 0), failure('lists9', 0)], lastGood, maxStaleHours: () => 100, now: NOW });
    } catch (e) {
      error = e as StaleSourcesError;
    }
    expect(error?.message).toBe('nothing rendered: 2 failed sources cannot be carried forward');
    expect(error?.name).toBe('StaleSourcesError');
    expect(error?.detail?.split('\n')).toHaveLength(2);
    expect(error?.exitCode).toBe(1);
  });

  it('puts a single refusal in the message itself', () => {
    expect(() => carryForward({ snapshot: snapshot([]), failures: [failure('lists8', 0)], lastGood, maxStaleHours: () => 100, now: NOW })).toThrow(
      /^nothing rendered: lists8: sources\[0\] \(mailman3\): failed /,
    );
  });

  it('stamps a source that already has a collection time with that time, carried or not', () => {
    const stamped = stampCollectedAt(snapshot([record('lists1', 0, [], { collectedAt: hours(3) })]), NOW);
    expect(stamped.sources[0]!.collectedAt).toBe(hours(3));
  });
});

describe('withCarriedSources', () => {
  it('holds a failed source to 72 hours when no limit is given', () => {
    const stale = snapshot([record('lists1', 0, ['a@lists.example.org'], { collectedAt: hours(73) })]);
    expect(() => withCarriedSources(snapshot([]), { snapshot: stale }, { failures: [failure('lists1', 0)], now: NOW })).toThrow(/older than rcptsync_max_stale \(72 h\)/);
    const fresh = snapshot([record('lists1', 0, ['a@lists.example.org'], { collectedAt: hours(71) })]);
    expect(withCarriedSources(snapshot([]), { snapshot: fresh }, { failures: [failure('lists1', 0)], now: NOW }).carried).toHaveLength(1);
  });
});

describe('carryForward of a snapshot that carries sources already (collect -o/--state-dir)', () => {
  const carriedRecord = (collectedAt: string | undefined, hostKey = false): SourceRecord =>
    record('lists1', 0, ['a@lists.example.org', 'b@lists.example.org'], {
      ...(collectedAt !== undefined ? { collectedAt } : {}),
      carriedForward: { reason: 'lists1: SSH connection to 127.0.0.1:1 refused', hostKey },
    });

  it('reports them as carried, with their own collection time and the limit now, and leaves the snapshot as it is', () => {
    const given = snapshot([carriedRecord(hours(5)), record('lists2', 0, ['c@lists.example.org'])]);
    const result = carryForward({ snapshot: given, failures: [], lastGood: undefined, maxStaleHours: () => 72, now: NOW });
    expect(result.snapshot).toBe(given);
    expect(result.carried).toEqual([
      {
        host: 'lists1',
        label: 'sources[0] (mailman3)',
        reason: 'lists1: SSH connection to 127.0.0.1:1 refused',
        hostKey: false,
        addresses: 2,
        since: hours(5),
        staleHours: 5,
        maxStaleHours: 72,
      },
    ]);
  });

  it('keeps a host key problem a host key problem', () => {
    const result = carryForward({ snapshot: snapshot([carriedRecord(hours(1), true)]), failures: [], lastGood: undefined, maxStaleHours: () => 72, now: NOW });
    expect(result.carried[0]!.hostKey).toBe(true);
  });

  it('asks the limit of the source itself', () => {
    const asked: string[] = [];
    carryForward({ snapshot: snapshot([carriedRecord(hours(1))]), failures: [], lastGood: undefined, maxStaleHours: (f) => (asked.push(`${f.host}/${f.index}/${f.type}`), 72), now: NOW });
    expect(asked).toEqual(['lists1/0/mailman3']);
  });

  it('refuses them once they are older than the limit, counting from their first collection, with every failure for the metrics', () => {
    const lists3State = snapshot([record('lists3', 0, ['d@lists.example.org'], { collectedAt: hours(2) })]);
    const run = (limit: number) => () =>
      carryForward({ snapshot: snapshot([carriedRecord(hours(73))]), failures: [failure('lists3', 0)], lastGood: lists3State, maxStaleHours: () => limit, now: NOW });
    expect(run(74)().carried.map((c) => c.host)).toEqual(['lists1', 'lists3']);
    let error: StaleSourcesError | undefined;
    try {
      run(72)();
    } catch (e) {
      error = e as StaleSourcesError;
    }
    expect(error).toBeInstanceOf(StaleSourcesError);
    expect(error!.refusals).toHaveLength(1);
    expect(error!.refusals[0]).toMatch(/^lists1: sources\[0\] \(mailman3\): failed \(lists1: SSH connection to 127\.0\.0\.1:1 refused\) and cannot be carried forward: its last good data is from \S+ \(73\.0 h ago\), older than rcptsync_max_stale \(72 h\)\. Fix the source/);
    expect(error!.failures.map((f) => f.host)).toEqual(['lists3', 'lists1']);
  });

  it('carries one exactly at its limit', () => {
    expect(carryForward({ snapshot: snapshot([carriedRecord(hours(72))]), failures: [], lastGood: undefined, maxStaleHours: () => 72, now: NOW }).carried).toHaveLength(1);
  });

  it('refuses one without a collection time: its age is unknown', () => {
    expect(() => carryForward({ snapshot: snapshot([carriedRecord(undefined)]), failures: [], lastGood: undefined, maxStaleHours: () => 72, now: NOW })).toThrow(
      /^nothing rendered: lists1: sources\[0\] \(mailman3\): failed \(lists1: SSH connection to 127\.0\.0\.1:1 refused\) and is carried forward by the snapshot without a collection time, so its age is unknown/,
    );
  });

  it('the state that follows keeps the first collection time (stampCollectedAt leaves it)', () => {
    const stamped = stampCollectedAt(snapshot([carriedRecord(hours(30))]), NOW);
    expect(stamped.sources[0]!.collectedAt).toBe(hours(30));
  });
});
