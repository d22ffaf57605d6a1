import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escapeLabelValue, parseTextfile, renderMetrics, writeMetrics } from '../../../src/metrics/textfile.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rcptsync-metrics-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sample = (text: string, name: string, labels: Record<string, string> = {}) =>
  parseTextfile(text).find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

describe('renderMetrics', () => {
  it('writes every metric with HELP and TYPE, sorted series, for a first successful run', () => {
    const text = renderMetrics([], {
      success: true,
      finishedAt: 1700000000,
      durationSeconds: 12.5,
      entries: [
        { gateway: 'mx2', domain: 'a.example.org', count: 3 },
        { gateway: 'mx1', domain: 'b.example.org', count: 2 },
        { gateway: 'mx1', domain: 'a.example.org', count: 2340 },
      ],
    });
    expect(text).toBe(`# HELP rcptsync_last_success_timestamp_seconds Unix time of the last run that published (0: never).
# TYPE rcptsync_last_success_timestamp_seconds gauge
rcptsync_last_success_timestamp_seconds 1700000000
# HELP rcptsync_last_run_timestamp_seconds Unix time of the last run, successful or not.
# TYPE rcptsync_last_run_timestamp_seconds gauge
rcptsync_last_run_timestamp_seconds 1700000000
# HELP rcptsync_last_run_duration_seconds Duration of the last run in seconds.
# TYPE rcptsync_last_run_duration_seconds gauge
rcptsync_last_run_duration_seconds 12.5
# HELP rcptsync_last_run_success 1 if the last run published (also when degraded or holding removals), else 0.
# TYPE rcptsync_last_run_success gauge
rcptsync_last_run_success 1
# HELP rcptsync_entries Entries in the last successfully rendered relay_recipients, per gateway and domain.
# TYPE rcptsync_entries gauge
rcptsync_entries{gateway="mx1",domain="a.example.org"} 2340
rcptsync_entries{gateway="mx1",domain="b.example.org"} 2
rcptsync_entries{gateway="mx2",domain="a.example.org"} 3
# HELP rcptsync_refused_runs_total Runs that broke a safety threshold (removals held, or nothing published).
# TYPE rcptsync_refused_runs_total counter
rcptsync_refused_runs_total 0
# HELP rcptsync_source_errors_total Failed collections, per list server and source.
# TYPE rcptsync_source_errors_total counter
# HELP rcptsync_carried_forward_stale_seconds Sources the last run published from the last-known-good state because they failed: seconds since their addresses were collected (host_key="true": a host key problem).
# TYPE rcptsync_carried_forward_stale_seconds gauge
# HELP rcptsync_held_removals Removals the last run held for review, per gateway and domain (still accepted until a reviewed run).
# TYPE rcptsync_held_removals gauge
`);
  });

  it('a failed run keeps the last success timestamp and entries, and counters keep counting', () => {
    const first = renderMetrics([], { success: true, finishedAt: 1000, durationSeconds: 1, entries: [{ gateway: 'mx1', domain: 'a.example.org', count: 5 }] });
    const refused = renderMetrics(parseTextfile(first), {
      success: false,
      finishedAt: 2000,
      durationSeconds: 2,
      refused: true,
      entries: [{ gateway: 'mx1', domain: 'a.example.org', count: 1 }],
    });
    expect(sample(refused, 'rcptsync_last_success_timestamp_seconds')).toBe(1000);
    expect(sample(refused, 'rcptsync_last_run_timestamp_seconds')).toBe(2000);
    expect(sample(refused, 'rcptsync_last_run_success')).toBe(0);
    expect(sample(refused, 'rcptsync_entries', { gateway: 'mx1', domain: 'a.example.org' })).toBe(5);
    expect(sample(refused, 'rcptsync_refused_runs_total')).toBe(1);

    const failed = renderMetrics(parseTextfile(refused), {
      success: false,
      finishedAt: 3000,
      durationSeconds: 3,
      sourceErrors: [
        { host: 'lists1', source: 'sources[0] (mailman3)' },
        { host: 'lists1', source: 'sources[0] (mailman3)' },
        { host: 'lists2', source: 'sources[1] (aliases)' },
      ],
    });
    const again = renderMetrics(parseTextfile(failed), { success: false, finishedAt: 4000, durationSeconds: 1, sourceErrors: [{ host: 'lists2', source: 'sources[1] (aliases)' }] });
    expect(sample(again, 'rcptsync_refused_runs_total')).toBe(1);
    expect(sample(again, 'rcptsync_source_errors_total', { host: 'lists1', source: 'sources[0] (mailman3)' })).toBe(2);
    expect(sample(again, 'rcptsync_source_errors_total', { host: 'lists2', source: 'sources[1] (aliases)' })).toBe(2);
    expect(sample(again, 'rcptsync_last_success_timestamp_seconds')).toBe(1000);
    expect(sample(again, 'rcptsync_entries', { gateway: 'mx1', domain: 'a.example.org' })).toBe(5);

    const recovered = renderMetrics(parseTextfile(again), { success: true, finishedAt: 5000, durationSeconds: 1, entries: [] });
    expect(sample(recovered, 'rcptsync_last_success_timestamp_seconds')).toBe(5000);
    expect(sample(recovered, 'rcptsync_entries', { gateway: 'mx1', domain: 'a.example.org' })).toBeUndefined();
    expect(sample(recovered, 'rcptsync_source_errors_total', { host: 'lists1', source: 'sources[0] (mailman3)' })).toBe(2);
  });

  it('writes 0 for a last success that never happened', () => {
    expect(sample(renderMetrics([], { success: false, finishedAt: 10, durationSeconds: 1 }), 'rcptsync_last_success_timestamp_seconds')).toBe(0);
  });
});

describe('label escaping', () => {
  it('escapes backslash, double quote and line feed, and reads them back', () => {
    const hostile = 'src "a"\\b\nc';
    expect(escapeLabelValue(hostile)).toBe('src \\"a\\"\\\\b\\nc');
    const text = renderMetrics([], { success: false, finishedAt: 1, durationSeconds: 1, sourceErrors: [{ host: 'h,}=x', source: hostile }] });
    expect(text).toContain('rcptsync_source_errors_total{host="h,}=x",source="src \\"a\\"\\\\b\\nc"} 1\n');
    // Every sample stays on one line.
    expect(text.split('\n').filter((l) => l.startsWith('rcptsync_source_errors_total'))).toHaveLength(1);
    expect(sample(text, 'rcptsync_source_errors_total', { host: 'h,}=x', source: hostile })).toBe(1);
  });
});

describe('writeMetrics', () => {
  it('replaces the file atomically, reading the previous one for counters, leaving no temporary .prom file', async () => {
    const file = path.join(dir, 'rcptsync.prom');
    await writeMetrics(file, { success: true, durationSeconds: 1, finishedAt: 100, entries: [] });
    await writeMetrics(file, { success: false, durationSeconds: 1, finishedAt: 200, refused: true });
    await writeMetrics(file, { success: false, durationSeconds: 1, finishedAt: 300, refused: true });
    const text = await readFile(file, 'utf8');
    expect(sample(text, 'rcptsync_refused_runs_total')).toBe(2);
    expect(sample(text, 'rcptsync_last_success_timestamp_seconds')).toBe(100);
    expect(await readdir(dir)).toEqual(['rcptsync.prom']);
  });

  it('survives a previous file with garbage lines', async () => {
    const file = path.join(dir, 'rcptsync.prom');
    await writeFile(file, 'garbage here\nrcptsync_refused_runs_total 7\nrcptsync_entries{broken 3\n');
    await writeMetrics(file, { success: false, durationSeconds: 1, finishedAt: 1, refused: true });
    expect(sample(await readFile(file, 'utf8'), 'rcptsync_refused_runs_total')).toBe(8);
  });
});

describe('renderMetrics for collect', () => {
  it('counts source errors and sets the last-run gauges, and keeps what the last publishing run said', () => {
    const published = renderMetrics([], { success: true, finishedAt: 1000, durationSeconds: 1, entries: [{ gateway: 'mx1', domain: 'a.example.org', count: 5 }] });
    const failed = renderMetrics(parseTextfile(published), {
      success: false,
      collectOnly: true,
      finishedAt: 2000,
      durationSeconds: 2,
      sourceErrors: [{ host: 'lists1', source: 'sources[0] (mailman3)' }],
    });
    const collected = renderMetrics(parseTextfile(failed), { success: true, collectOnly: true, finishedAt: 3000, durationSeconds: 3 });
    const value = (text: string, name: string): number | undefined => parseTextfile(text).find((s) => s.name === name)?.value;
    expect(value(failed, 'rcptsync_last_run_success')).toBe(0);
    expect(value(failed, 'rcptsync_source_errors_total')).toBe(1);
    expect(value(collected, 'rcptsync_last_run_success')).toBe(1);
    expect(value(collected, 'rcptsync_last_run_timestamp_seconds')).toBe(3000);
    // A collect publishes nothing: the last success and the entries are the publishing run's.
    expect(value(collected, 'rcptsync_last_success_timestamp_seconds')).toBe(1000);
    expect(value(collected, 'rcptsync_entries')).toBe(5);
    expect(value(collected, 'rcptsync_source_errors_total')).toBe(1);
  });
});
