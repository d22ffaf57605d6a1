/**
 * Metrics for monitoring, as a Prometheus textfile for node_exporter's textfile
 * collector. Written atomically (node_exporter may read at any moment). The
 * previous file is read back so that counters keep counting across runs and a
 * failed run keeps the last success timestamp and the last good entry counts.
 */
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../state/atomic.js';

export interface EntryCount {
  gateway: string;
  domain: string;
  count: number;
}

export interface SourceError {
  host: string;
  /** The source's label, e.g. `sources[0] (mailman3)`. */
  source: string;
}

export interface RunReport {
  success: boolean;
  /**
   * A run that does not publish (`collect`): it counts its source errors and
   * sets the last-run gauges, and keeps everything that describes what was
   * published (last success, entries, carried and held) as the last publishing
   * run left it.
   */
  collectOnly?: boolean;
  /** When the run ended, in seconds since the epoch (default: now). */
  finishedAt?: number;
  durationSeconds: number;
  /** A safety threshold refused the run. */
  refused?: boolean;
  /** Entries now rendered (successful runs); a failed run keeps the previous counts. */
  entries?: EntryCount[];
  /** One item per source failure in this run. */
  sourceErrors?: SourceError[];
  /** Sources published from the last-known-good state because they failed (a published, degraded run). */
  carried?: CarriedMetric[];
  /** Removals held for review, per gateway and domain (a published run with held removals). */
  held?: EntryCount[];
}

export interface CarriedMetric extends SourceError {
  /** Seconds since the carried addresses were collected. */
  staleSeconds: number;
  hostKey: boolean;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRICS: Record<string, { type: 'gauge' | 'counter'; help: string }> = {
  rcptsync_last_success_timestamp_seconds: { type: 'gauge', help: 'Unix time of the last run that published (0: never).' },
  rcptsync_last_run_timestamp_seconds: { type: 'gauge', help: 'Unix time of the last run, successful or not.' },
  rcptsync_last_run_duration_seconds: { type: 'gauge', help: 'Duration of the last run in seconds.' },
  rcptsync_last_run_success: { type: 'gauge', help: '1 if the last run published (also when degraded or holding removals), else 0.' },
  rcptsync_entries: { type: 'gauge', help: 'Entries in the last successfully rendered relay_recipients, per gateway and domain.' },
  rcptsync_refused_runs_total: { type: 'counter', help: 'Runs that broke a safety threshold (removals held, or nothing published).' },
  rcptsync_source_errors_total: { type: 'counter', help: 'Failed collections, per list server and source.' },
  rcptsync_carried_forward_stale_seconds: {
    type: 'gauge',
    help: 'Sources the last run published from the last-known-good state because they failed: seconds since their addresses were collected (host_key="true": a host key problem).',
  },
  rcptsync_held_removals: { type: 'gauge', help: 'Removals the last run held for review, per gateway and domain (still accepted until a reviewed run).' },
};

/** Escape a label value per the text exposition format: backslash, double quote, line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function unescapeLabelValue(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatSample(sample: Sample): string {
  const labels = Object.keys(sample.labels)
    .map((k) => `${k}="${escapeLabelValue(sample.labels[k]!)}"`)
    .join(',');
  return `${sample.name}${labels ? `{${labels}}` : ''} ${formatValue(sample.value)}`;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?\s*$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

/** Parse the samples of a text exposition file; comments and unparsable lines are skipped. */
export function parseTextfile(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    LABEL.lastIndex = 0;
    let consumed = 0;
    let label: RegExpExecArray | null;
    while ((label = LABEL.exec(body))) {
      labels[label[1]!] = unescapeLabelValue(label[2]!);
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) continue;
    const value = Number(match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : match[3]);
    if (Number.isNaN(value) && match[3] !== 'NaN') continue;
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

function compareSamples(a: Sample, b: Sample): number {
  const ka = JSON.stringify(Object.entries(a.labels));
  const kb = JSON.stringify(Object.entries(b.labels));
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The new file's text, given the previous file's samples (empty when there is none). */
export function renderMetrics(previous: Sample[], run: RunReport): string {
  const now = run.finishedAt ?? Date.now() / 1000;
  const before = (name: string) => previous.filter((s) => s.name === name);
  const lastSuccess = before('rcptsync_last_success_timestamp_seconds')[0]?.value ?? 0;
  const refusedBefore = before('rcptsync_refused_runs_total')[0]?.value ?? 0;

  const byName = new Map<string, Sample[]>();
  const put = (name: string, labels: Record<string, string>, value: number) => {
    const list = byName.get(name) ?? [];
    list.push({ name, labels, value });
    byName.set(name, list);
  };
  const published = run.success && !run.collectOnly;
  put('rcptsync_last_success_timestamp_seconds', {}, published ? now : lastSuccess);
  put('rcptsync_last_run_timestamp_seconds', {}, now);
  put('rcptsync_last_run_duration_seconds', {}, run.durationSeconds);
  put('rcptsync_last_run_success', {}, run.success ? 1 : 0);

  const entries =
    published && run.entries
      ? run.entries.map((e) => ({ labels: { gateway: e.gateway, domain: e.domain }, value: e.count }))
      : before('rcptsync_entries').map((s) => ({ labels: { gateway: s.labels.gateway ?? '', domain: s.labels.domain ?? '' }, value: s.value }));
  for (const e of entries) put('rcptsync_entries', e.labels, e.value);

  put('rcptsync_refused_runs_total', {}, refusedBefore + (run.refused ? 1 : 0));

  const errors = new Map<string, { host: string; source: string; value: number }>();
  for (const s of before('rcptsync_source_errors_total')) {
    const host = s.labels.host ?? '';
    const source = s.labels.source ?? '';
    errors.set(JSON.stringify([host, source]), { host, source, value: s.value });
  }
  for (const e of run.sourceErrors ?? []) {
    const key = JSON.stringify([e.host, e.source]);
    const current = errors.get(key) ?? { host: e.host, source: e.source, value: 0 };
    current.value += 1;
    errors.set(key, current);
  }
  for (const e of errors.values()) put('rcptsync_source_errors_total', { host: e.host, source: e.source }, e.value);

  // Gauges of the last publishing run: a failed run, or a collect, keeps what that run said.
  const carried = published
    ? (run.carried ?? []).map((c) => ({ labels: { host: c.host, source: c.source, host_key: String(c.hostKey) }, value: c.staleSeconds }))
    : before('rcptsync_carried_forward_stale_seconds');
  for (const c of carried) put('rcptsync_carried_forward_stale_seconds', c.labels, c.value);
  const held = published
    ? (run.held ?? []).map((h) => ({ labels: { gateway: h.gateway, domain: h.domain }, value: h.count }))
    : before('rcptsync_held_removals');
  for (const h of held) put('rcptsync_held_removals', h.labels, h.value);

  const lines: string[] = [];
  for (const [name, meta] of Object.entries(METRICS)) {
    const samples = (byName.get(name) ?? []).sort(compareSamples);
    // A counter with no series yet still gets its HELP/TYPE, so dashboards find the name.
    lines.push(`# HELP ${name} ${meta.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${meta.type}`);
    for (const sample of samples) lines.push(formatSample(sample));
  }
  return `${lines.join('\n')}\n`;
}

/** Read the previous file (if any), and replace it atomically with this run's metrics. */
export async function writeMetrics(file: string, run: RunReport): Promise<void> {
  let previous: Sample[] = [];
  try {
    previous = parseTextfile(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await writeFileAtomic(file, renderMetrics(previous, run));
}
