/**
 * A source that failed in this run is carried forward: its addresses from the
 * last-known-good state stand in for it, so that one list server down does not
 * stop every other server's changes from reaching the gateways, and nothing it
 * provided is removed meanwhile. Within a limit only (`rcptsync_max_stale`,
 * hours): past it, or with no last-known-good data for the source, the run fails
 * and nothing is written, as it would without this module. A snapshot that
 * `collect --state-dir` wrote with sources carried already is held to the same
 * limit again whenever it is planned or rendered.
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import type { SourceFailure } from '../collect/collect.js';
import type { Snapshot, SourceRecord } from '../model/snapshot.js';
import { compareSources, sourceId } from '../model/snapshot-io.js';

/** The default of `rcptsync_max_stale`, in hours: a long weekend. */
export const DEFAULT_MAX_STALE_HOURS = 72;

/** A source whose last-known-good addresses were used in this run, for every report. */
export interface CarriedSource {
  host: string;
  label: string;
  /** Why it failed in this run. */
  reason: string;
  hostKey: boolean;
  addresses: number;
  /** When its addresses were last collected (ISO 8601). */
  since: string;
  /** Hours since then, one decimal. */
  staleHours: number;
  maxStaleHours: number;
}

export interface CarryForwardInput {
  /** The sources collected in full in this run. */
  snapshot: Snapshot;
  failures: SourceFailure[];
  /** The last-known-good state (undefined on a first run). */
  lastGood: Snapshot | undefined;
  /** When the state was written: the collection time of sources it holds without collectedAt (older states). */
  lastGoodWritten?: Date;
  /** `rcptsync_max_stale` for one source (per source, per list server, or the default). */
  maxStaleHours: (failure: SourceFailure) => number;
  now: Date;
}

export interface CarryForwardResult {
  /** The collected sources plus the carried ones, in snapshot order. */
  snapshot: Snapshot;
  carried: CarriedSource[];
}

export function carryForward(input: CarryForwardInput): CarryForwardResult {
  const already = input.snapshot.sources.filter((s) => s.carriedForward);
  // Held records have ids of their own (sourceId): a failed source's id finds only its collection.
  const previous = new Map(input.lastGood ? input.lastGood.sources.map((s) => [sourceId(s), s]) : []);
  const carried: CarriedSource[] = [];
  const records: SourceRecord[] = [];
  const refusals: string[] = [];
  const failures = [...input.failures];
  // A snapshot written by `collect --state-dir` carries its failed sources already: the
  // same limit applies now, to the same collection time, so rendering a snapshot later
  // (or again) never makes old data young.
  for (const record of already) {
    const failure: SourceFailure = {
      host: record.host,
      index: record.index,
      type: record.type,
      label: record.label,
      message: record.carriedForward!.reason,
      hostKey: record.carriedForward!.hostKey,
    };
    failures.push(failure);
    const maxStaleHours = input.maxStaleHours(failure);
    const name = `${record.host}: ${record.label}`;
    if (record.collectedAt === undefined) {
      refusals.push(`${name}: failed (${failure.message}) and is carried forward by the snapshot without a collection time, so its age is unknown. Fix the source and collect again.`);
      continue;
    }
    const staleHours = (input.now.getTime() - Date.parse(record.collectedAt)) / 3_600_000;
    if (staleHours > maxStaleHours) {
      refusals.push(staleRefusal(name, failure.message, record.collectedAt, staleHours, maxStaleHours));
      continue;
    }
    carried.push(carriedSource(failure, record.addresses.length, record.collectedAt, staleHours, maxStaleHours));
  }
  for (const failure of input.failures) {
    const maxStaleHours = input.maxStaleHours(failure);
    const last = previous.get(sourceId({ host: failure.host, index: failure.index }));
    const name = `${failure.host}: ${failure.label}`;
    // Same host and index but another type is another source: its old addresses say nothing.
    if (!last || last.type !== failure.type) {
      refusals.push(
        `${name}: failed (${failure.message}) and cannot be carried forward: the last-known-good state has no data for it (a first run, or a source added since). Fix the source, or take it out of rcptsync_sources until it works.`,
      );
      continue;
    }
    const since = last.collectedAt ?? input.lastGoodWritten?.toISOString();
    if (since === undefined) {
      refusals.push(`${name}: failed (${failure.message}) and cannot be carried forward: its last-known-good data has no collection time, so its age is unknown. Fix the source.`);
      continue;
    }
    const staleHours = (input.now.getTime() - Date.parse(since)) / 3_600_000;
    if (staleHours > maxStaleHours) {
      refusals.push(staleRefusal(name, failure.message, since, staleHours, maxStaleHours));
      continue;
    }
    records.push({
      host: last.host,
      index: last.index,
      type: last.type,
      label: failure.label,
      addresses: last.addresses,
      refused: last.refused,
      collectedAt: since,
      carriedForward: { reason: oneLine(failure.message), hostKey: failure.hostKey },
    });
    carried.push(carriedSource(failure, last.addresses.length, since, staleHours, maxStaleHours));
  }
  if (refusals.length > 0) throw new StaleSourcesError(refusals, failures);
  // Nothing failed now: the collection as it is (the same object).
  if (records.length === 0) return { snapshot: input.snapshot, carried };
  const sources = [...input.snapshot.sources, ...records].sort(compareSources);
  return { snapshot: { ...input.snapshot, sources }, carried };
}

function staleRefusal(name: string, reason: string, since: string, staleHours: number, maxStaleHours: number): string {
  return (
    `${name}: failed (${reason}) and cannot be carried forward: its last good data is from ${since} (${staleHours.toFixed(1)} h ago), older than rcptsync_max_stale (${maxStaleHours} h). ` +
    'Fix the source, or raise rcptsync_max_stale for it after checking that its lists did not change.'
  );
}

function carriedSource(failure: SourceFailure, addresses: number, since: string, staleHours: number, maxStaleHours: number): CarriedSource {
  return {
    host: failure.host,
    label: failure.label,
    reason: failure.message,
    hostKey: failure.hostKey,
    addresses,
    since,
    staleHours: Math.round(staleHours * 10) / 10,
    maxStaleHours,
  };
}

/** The sources of a snapshot that were collected now get this run's time; carried ones keep theirs. */
export function stampCollectedAt(snapshot: Snapshot, now: Date): Snapshot {
  const at = now.toISOString();
  return {
    ...snapshot,
    sources: snapshot.sources.map((s) => (s.collectedAt !== undefined || s.carriedForward || s.held ? s : { ...s, collectedAt: at })),
  };
}

/** Sources that failed and may not be carried forward: the run stops before anything is written. */
export class StaleSourcesError extends RcptsyncError {
  override name = 'StaleSourcesError';
  constructor(
    readonly refusals: string[],
    /** Every source that failed in the run, carried or not. */
    readonly failures: SourceFailure[],
  ) {
    super(
      refusals.length === 1 ? `nothing rendered: ${refusals[0]}` : `nothing rendered: ${refusals.length} failed sources cannot be carried forward`,
      ExitCode.runtime,
      refusals.length === 1 ? undefined : refusals.join('\n'),
    );
  }
}

/** A failure message as one line (it is stored in the state and shown in reports). */
function oneLine(text: string): string {
  const line = text.replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ').trim();
  return line.length > 2000 ? `${line.slice(0, 1997)}...` : line || 'failed';
}
