/**
 * How a run shows itself: progress per host on a terminal, one JSON object per
 * event with --json (for cron and log shippers), and a closing summary.
 */
import type { CollectEvent } from '../collect/events.js';
import { checkedRunsOf, domainRuns } from '../model/address-keys.js';
import type { Snapshot } from '../model/snapshot.js';
import { formatCount } from '../plan/guard.js';
import type { Io } from './io.js';

export interface Reporter {
  event(event: CollectEvent | Record<string, unknown>): void;
  info(text: string): void;
  /** Everything after the run: summary tables, plan, final line. */
  result(text: string, data?: Record<string, unknown>): void;
}

export function createReporter(io: Io, json: boolean): Reporter {
  if (json) {
    const write = (object: Record<string, unknown>): void => {
      io.stdout.write(`${JSON.stringify(object)}\n`);
    };
    return {
      event: (event) => write(event as Record<string, unknown>),
      info: (text) => write({ event: 'info', message: text }),
      result: (_text, data) => write({ event: 'result', ...(data ?? {}) }),
    };
  }
  return {
    event: (event) => {
      const line = describeEvent(event as CollectEvent);
      if (line && (io.isTTY || event.event !== 'host-start')) io.stderr.write(`${line}\n`);
    },
    info: (text) => io.stderr.write(`${text}\n`),
    result: (text) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

function describeEvent(event: CollectEvent): string | undefined {
  switch (event.event) {
    case 'host-start':
      return `${event.host}: ${event.remote ? 'connecting' : 'static sources only, no connection'} (${event.sources} source${event.sources === 1 ? '' : 's'})`;
    case 'source-done':
      return `${event.host}: ${event.source}: ${fmt(event.addresses)} addresses${event.refused ? `, ${fmt(event.refused)} refused` : ''} (${(event.ms / 1000).toFixed(1)} s)`;
    case 'host-done':
      return `${event.host}: done, ${fmt(event.addresses)} addresses${event.failed ? `, ${event.failed} source${event.failed === 1 ? '' : 's'} FAILED` : ''} (${(event.ms / 1000).toFixed(1)} s)`;
    case 'host-failed':
      return `FAILED: ${event.error.startsWith(`${event.host}: `) ? event.error : `${event.host}: ${event.error}`}`;
    case 'source-failed':
      return `FAILED: ${event.error.startsWith(`${event.host}: `) ? event.error : `${event.host}: ${event.error}`}${event.detail ? `\n${event.detail.replace(/^/gm, '  ')}` : ''}`;
    case 'address-warning':
      return `warning: ${event.host}: ${event.source}: line ${event.line}: ${event.message}`;
    case 'refused-entry':
      return `warning: ${event.host}: ${event.source}: line ${event.line}: ${event.reason}${event.text ? `: "${event.text}"` : ''} (skipped)`;
    default:
      return undefined;
  }
}

/** Thousands separators, independent of the locale (and of ICU's slow first call). */
export const fmt = formatCount;

/** Addresses per source and per domain, from a snapshot; stable order. */
export function collectionSummary(snapshot: Snapshot, refusedCount: number): { text: string; data: Record<string, unknown> } {
  const perSource = snapshot.sources.map((s) => ({ host: s.host, source: s.label, addresses: s.addresses.length, refused: s.refused }));
  const domains = addressesPerDomain(snapshot).map(([domain, addresses]) => ({ domain, addresses }));
  const lines = ['Addresses per source:'];
  for (const s of perSource) lines.push(`  ${s.host} ${s.source}: ${fmt(s.addresses)}${s.refused ? ` (${fmt(s.refused)} refused)` : ''}`);
  lines.push('Addresses per domain:');
  for (const d of domains) lines.push(`  ${d.domain}: ${fmt(d.addresses)}`);
  lines.push(`Warnings: ${fmt(refusedCount)} refused entr${refusedCount === 1 ? 'y' : 'ies'}`);
  return { text: lines.join('\n'), data: { sources: perSource, domains, refused: refusedCount } };
}

/**
 * Unique addresses per domain across all sources. Each source's list is sorted by
 * domain and unique, so a domain that one source alone provides is counted by its
 * run length; only domains shared by several sources need a set.
 */
function addressesPerDomain(snapshot: Snapshot): [string, number][] {
  const runs = new Map<string, { source: string[]; start: number; end: number }[]>();
  for (const source of snapshot.sources) {
    const list = source.addresses;
    for (const run of checkedRunsOf(list) ?? domainRuns(list)) {
      let domainRunsOf = runs.get(run.domain);
      if (!domainRunsOf) runs.set(run.domain, (domainRunsOf = []));
      domainRunsOf.push({ source: list, start: run.from, end: run.to });
    }
  }
  return [...runs.entries()]
    .map(([domain, domainRuns]): [string, number] => {
      if (domainRuns.length === 1) return [domain, domainRuns[0]!.end - domainRuns[0]!.start];
      const union = new Set<string>();
      for (const run of domainRuns) for (let i = run.start; i < run.end; i++) union.add(run.source[i]!);
      return [domain, union.size];
    })
    .sort(([a], [b]) => (a < b ? -1 : 1));
}
