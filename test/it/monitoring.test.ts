/**
 * examples/monitoring with the real promtool (Debian's prometheus package):
 * the alert rules check, their unit tests pass, every metric they and the
 * Grafana dashboard use is one that `rcptsync sync --metrics-file` really writes,
 * that file passes `promtool check metrics`, and every dashboard query is valid
 * PromQL (checked as a recording rule).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rcptsync, REPO, staticInventoryYaml } from '../helpers/cli.js';

const MONITORING = join(REPO, 'examples', 'monitoring');
let dir: string;
let textfile: string;

function promtool(args: string[], input?: string) {
  const result = spawnSync('promtool', args, { cwd: MONITORING, encoding: 'utf8', input, timeout: 60_000 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

interface Panel {
  title: string;
  targets: { expr: string }[];
}
const rules = (parse(readFileSync(join(MONITORING, 'rcptsync.rules.yml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }).groups[0]!.rules;
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[] };
/** Dashboard queries with the template variables replaced by what Grafana sends for "All". */
const dashboardQueries = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr.replaceAll('$gateway', '.*').replaceAll('$domain', '.*')));
const metricNames = (expr: string) => [...new Set(expr.match(/\brcptsync_[a-z_]+\b/g) ?? [])];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-monitoring-'));
  mkdirSync(join(dir, 'inventory'));
  writeFileSync(join(dir, 'inventory', 'hosts.yml'), staticInventoryYaml(['announce@lists.example.org', 'press@lists.example.org']));
  textfile = join(dir, 'rcptsync.prom');
  const result = rcptsync(['sync', '-i', join(dir, 'inventory'), '-o', join(dir, 'rendered'), '--metrics-file', textfile]);
  expect(result.status, result.stderr).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the Prometheus alert rules', () => {
  it('pass promtool check rules', () => {
    const result = promtool(['check', 'rules', 'rcptsync.rules.yml']);
    expect(result.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(result.status, result.output).toBe(0);
  });

  it('pass their unit tests (promtool test rules), one test case per alert at least', () => {
    const result = promtool(['test', 'rules', 'rcptsync.rules.test.yml']);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
    const tested = readFileSync(join(MONITORING, 'rcptsync.rules.test.yml'), 'utf8');
    for (const rule of rules) expect(tested, rule.alert).toMatch(new RegExp(`alertname: ${rule.alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('cover no successful sync for 26 h, carried-forward and stale sources, a host key problem, held removals and drift', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining(['RcptsyncNoSuccessfulSync', 'RcptsyncSourceCarriedForward', 'RcptsyncSourceStale', 'RcptsyncHostKeyProblem', 'RcptsyncRemovalsHeld', 'RcptsyncEntriesDrift']),
    );
    expect(rules.find((rule) => rule.alert === 'RcptsyncNoSuccessfulSync')?.expr).toContain('26 * 3600');
  });
});

describe('the metrics they use', () => {
  it('are all written by rcptsync sync --metrics-file, in a file promtool check metrics accepts', () => {
    const text = readFileSync(textfile, 'utf8');
    const written = [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]);
    for (const expr of [...rules.map((rule) => rule.expr), ...dashboardQueries]) {
      for (const name of metricNames(expr)) expect(written, `${name} in ${expr}`).toContain(name);
    }
    expect(text).toMatch(/^rcptsync_entries\{gateway="mx1",domain="lists\.example\.org"\} 4$/m);
    const check = promtool(['check', 'metrics'], text);
    expect(check.status, check.output).toBe(0);
  });
});

describe('the Grafana dashboard', () => {
  it('shows entries per gateway and domain over time, with valid PromQL in every panel', () => {
    expect(dashboard.panels.find((panel) => panel.title === 'Entries per gateway and domain')?.targets[0]?.expr).toBe('rcptsync_entries{gateway=~"$gateway", domain=~"$domain"}');
    const file = join(dir, 'dashboard-queries.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: dashboardQueries.map((expr, i) => ({ record: `rcptsync:dashboard_query_${i}`, expr })) }] }));
    const result = promtool(['check', 'rules', file]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain(`SUCCESS: ${dashboardQueries.length} rules found`);
  });
});
