/**
 * The CLI end to end against a real OpenSSH sshd on loopback: sync, collect +
 * render, plan and the JSON event stream. Remote "list servers" print captured
 * Mailman 3 output with `cat`, so the parsers meet real bytes over real SSH.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { rcptsync, REPO, sshdHostVars, tableKeys, treeDigest, writeInventoryJson } from '../helpers/cli.js';

let sshd: Sshd;
let dir: string;

const MAILMAN_LISTS = join(REPO, 'test/fixtures/sources/mailman3/lists.txt');

function inventory(name: string, sources: unknown[], extraGateway: Record<string, unknown> = {}): string {
  return writeInventoryJson(join(dir, `${name}.json`), {
    list_servers: {
      lists1: {
        ...sshdHostVars(sshd),
        rcptsync_command_timeout: 10,
        rcptsync_sources: sources,
      },
    },
    mail_gateways: {
      mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' }, ...extraGateway },
      mx2: { rcptsync_relay_domains: { 'community.example.org': 'smtp:[10.0.0.1]:25' } },
    },
  });
}

beforeAll(async () => {
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-cli-'));
  copyFileSync(MAILMAN_LISTS, join(dir, 'lists.txt'));
  writeFileSync(join(dir, 'aliases'), '# local aliases\nhelpdesk: root\nsales: bob,\n  alice\n');
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rcptsync over a real sshd', () => {
  it('syncs Mailman lists and aliases into per-gateway tables', () => {
    const inv = inventory('basic', [
      { type: 'mailman3', command: `cat ${join(dir, 'lists.txt')}` },
      { type: 'aliases', path: join(dir, 'aliases'), domains: ['lists.example.test'] },
    ]);
    const out = join(dir, 'rendered');
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', out]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    const mx1 = tableKeys(join(out, 'mx1', 'relay_recipients'));
    expect(mx1).toContain('helpdesk@lists.example.test');
    expect(mx1).toContain('sales@lists.example.test');
    expect(mx1).toContain('postmaster@lists.example.test');
    expect(mx1).toContain('abuse@lists.example.test');
    // Every list of the captured output with its eight sub-addresses.
    const lists = readFileSync(join(dir, 'lists.txt'), 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l.endsWith('@lists.example.test'));
    expect(lists.length).toBeGreaterThan(0);
    for (const list of lists) {
      const [name, domain] = list.split('@');
      for (const suffix of ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe']) {
        expect(mx1).toContain(`${name}${suffix}@${domain}`);
      }
    }
    // mx1 holds only its own domain.
    expect(mx1.every((k) => k.endsWith('@lists.example.test'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.gateways.mx1.files.relay_recipients.entries).toBe(mx1.length);
    expect(readFileSync(join(out, 'mx1', 'transport'), 'utf8')).toMatch(/^lists\.example\.test\s+smtp:\[10\.0\.0\.1\]:25$/m);
  });

  it('collect then render gives the same bytes as sync', () => {
    const inv = inventory('split', [{ type: 'mailman3', command: `cat ${join(dir, 'lists.txt')}` }]);
    const a = join(dir, 'split-a');
    const b = join(dir, 'split-b');
    expect(rcptsync(['sync', '--inventory-json', inv, '-o', a]).status).toBe(0);
    const snapshot = join(dir, 'split.snapshot.json');
    expect(rcptsync(['collect', '--inventory-json', inv, '-s', snapshot]).status).toBe(0);
    const rendered = rcptsync(['render', '-s', snapshot, '-o', b, '--inventory-json', inv]);
    expect(rendered.status).toBe(0);
    expect(treeDigest(b)).toEqual(treeDigest(a));
  });

  it('plan shows nothing to change after a sync, and a change after a list appears', () => {
    const listsFile = join(dir, 'plan-lists.txt');
    writeFileSync(listsFile, '2 matching mailing lists found:\nannounce@lists.example.test\ngeneral@community.example.org   \n');
    const inv = inventory('plan', [{ type: 'mailman3', command: `cat ${listsFile}` }]);
    const out = join(dir, 'plan-out');
    expect(rcptsync(['sync', '--inventory-json', inv, '-o', out]).status).toBe(0);
    const same = rcptsync(['plan', '--inventory-json', inv, '-o', out, '--expect-no-changes']);
    expect(same.status).toBe(0);
    expect(same.stdout).toMatch(/Plan: 0 to add, 0 to change, 0 to remove/);

    writeFileSync(listsFile, '3 matching mailing lists found:\nannounce@lists.example.test\nstaff@lists.example.test\ngeneral@community.example.org\n');
    const before = treeDigest(out);
    const changed = rcptsync(['plan', '--inventory-json', inv, '-o', out, '--expect-no-changes', '--format', 'json']);
    expect(changed.status).toBe(4);
    const plan = JSON.parse(changed.stdout);
    expect(JSON.stringify(plan)).toContain('staff-bounces@lists.example.test');
    expect(treeDigest(out)).toEqual(before); // plan writes nothing
  });

  it('plan names a rerouted next hop and a domain no longer relayed, and --expect-no-changes fails on them', () => {
    const listsFile = join(dir, 'routes-lists.txt');
    writeFileSync(listsFile, '2 matching mailing lists found:\nannounce@lists.example.test\ngeneral@community.example.org\n');
    const sources = [{ type: 'mailman3', command: `cat ${listsFile}` }];
    const out = join(dir, 'routes-out');
    expect(rcptsync(['sync', '--inventory-json', inventory('routes', sources), '-o', out]).status).toBe(0);
    const before = treeDigest(out);

    const rerouted = inventory('routes-rerouted', sources, { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[203.0.113.9]:2525' } });
    const plan = rcptsync(['plan', '--inventory-json', rerouted, '-o', out, '--expect-no-changes']);
    expect(plan.stdout).toContain('~ mx1: lists.example.test: next hop smtp:[10.0.0.1]:25 -> smtp:[203.0.113.9]:2525');
    expect(plan.stdout).toMatch(/Plan: 0 to add, 1 to change, 0 to remove, \d+ unchanged\./);
    expect(plan.status).toBe(4);
    const json = JSON.parse(rcptsync(['plan', '--inventory-json', rerouted, '-o', out, '--format', 'json']).stdout);
    expect(json.routes).toEqual([{ gateway: 'mx1', domain: 'lists.example.test', change: 'next hop', before: 'smtp:[10.0.0.1]:25', after: 'smtp:[203.0.113.9]:2525' }]);

    // Without connecting to anything: a snapshot collected before, with the rerouted inventory's gateways.
    const snapshotFile = join(dir, 'routes-snapshot.json');
    expect(rcptsync(['collect', '--inventory-json', inventory('routes', sources), '-s', snapshotFile]).status).toBe(0);
    const offline = rcptsync(['plan', '-s', snapshotFile, '--inventory-json', rerouted, '--gateways-from-inventory', '-o', out]);
    expect(offline.stdout).toContain('~ mx1: lists.example.test: next hop smtp:[10.0.0.1]:25 -> smtp:[203.0.113.9]:2525');
    expect(offline.status).toBe(0);
    const asCollected = rcptsync(['plan', '-s', snapshotFile, '--inventory-json', rerouted, '-o', out]);
    expect(asCollected.stdout).toMatch(/Plan: 0 to add, 0 to change, 0 to remove/);

    // mx1 relays community.example.org instead: lists.example.test is dropped, a breach of its own.
    const dropped = inventory('routes-dropped', sources, { rcptsync_relay_domains: { 'community.example.org': 'smtp:[10.0.0.1]:25' } });
    const refused = rcptsync(['sync', '--inventory-json', dropped, '-o', out]);
    expect(refused.stderr).toMatch(/mx1: lists\.example\.test: no longer relayed: its 11 entries go and its mail will be refused \(554 Relay access denied\)/);
    expect(refused.status).toBe(3);
    expect(treeDigest(out)).toEqual(before);
    const forced = rcptsync(['sync', '--inventory-json', dropped, '-o', out, '--force']);
    expect(forced.status).toBe(0);
    expect(forced.stderr).toMatch(/accepted by --force or --allow-removals: mx1: lists\.example\.test: no longer relayed/);
  });

  it('emits one JSON object per event with --json', () => {
    const inv = inventory('json', [{ type: 'mailman3', command: `cat ${join(dir, 'lists.txt')}` }]);
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', join(dir, 'json-out'), '--json']);
    expect(result.status).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['host-start', 'source-done', 'host-done', 'result']));
  });

  it('does not connect to a host with only static sources', () => {
    const inv = writeInventoryJson(join(dir, 'static.json'), {
      list_servers: {
        // Port 1 on loopback: any connection attempt would fail the run.
        lists9: { ansible_host: '127.0.0.1', ansible_port: 1, rcptsync_sources: [{ type: 'static', addresses: ['Info@Lists.Example.TEST'] }] },
      },
      mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
    });
    const out = join(dir, 'static-out');
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', out, '--json']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const start = result.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === 'host-start');
    expect(start).toMatchObject({ host: 'lists9', remote: false });
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toContain('info@lists.example.test');
  });
  it('keeps a Prometheus textfile: success, a carried-forward source, a failed run, then held removals', () => {
    const listsFile = join(dir, 'metrics-lists.txt');
    writeFileSync(listsFile, '3 matching mailing lists found:\nannounce@lists.example.test\nstaff@lists.example.test\ngeneral@community.example.org\n');
    const good = inventory('metrics', [{ type: 'mailman3', command: `cat ${listsFile}` }]);
    const out = join(dir, 'metrics-out');
    const metrics = join(dir, 'rcptsync.prom');
    const text = (): string => readFileSync(metrics, 'utf8');
    const value = (name: string): number => {
      const line = text().split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
      return line === undefined ? NaN : Number(line.split(' ').pop());
    };

    expect(rcptsync(['sync', '--inventory-json', good, '-o', out, '--metrics-file', metrics]).status).toBe(0);
    expect(value('rcptsync_last_run_success')).toBe(1);
    const lastSuccess = value('rcptsync_last_success_timestamp_seconds');
    expect(lastSuccess).toBeGreaterThan(0);
    expect(text()).toContain('rcptsync_entries{gateway="mx1",domain="lists.example.test"} 20');
    expect(text()).not.toMatch(/^rcptsync_carried_forward_stale_seconds\{/m);

    // A failing source with a last-known-good state: published, degraded (exit 5).
    const failing = inventory('metrics-fail', [{ type: 'mailman3', command: 'exit 1' }]);
    expect(rcptsync(['sync', '--inventory-json', failing, '-o', out, '--metrics-file', metrics]).status).toBe(5);
    expect(value('rcptsync_last_run_success')).toBe(1);
    expect(text()).toContain('rcptsync_source_errors_total{host="lists1",source="sources[0] (mailman3)"} 1');
    expect(text()).toMatch(/^rcptsync_carried_forward_stale_seconds\{host="lists1",source="sources\[0\] \(mailman3\)",host_key="false"\} \d+$/m);
    expect(text()).toContain('rcptsync_entries{gateway="mx1",domain="lists.example.test"} 20');
    const degradedSuccess = value('rcptsync_last_success_timestamp_seconds');
    expect(degradedSuccess).toBeGreaterThanOrEqual(lastSuccess);

    // Past rcptsync_max_stale it fails: nothing published, the last success stays.
    const stale = inventory('metrics-stale', [{ type: 'mailman3', command: 'exit 1', max_stale: 0.00001 }]);
    expect(rcptsync(['sync', '--inventory-json', stale, '-o', out, '--metrics-file', metrics]).status).toBe(1);
    expect(value('rcptsync_last_run_success')).toBe(0);
    expect(value('rcptsync_last_success_timestamp_seconds')).toBe(degradedSuccess);
    expect(text()).toContain('rcptsync_source_errors_total{host="lists1",source="sources[0] (mailman3)"} 2');

    // A shrink over the threshold: held (exit 3), counted as refused, the held removals in a gauge.
    writeFileSync(listsFile, '1 matching mailing lists found:\ngeneral@community.example.org\n');
    expect(rcptsync(['sync', '--inventory-json', good, '-o', out, '--metrics-file', metrics]).status).toBe(3);
    expect(value('rcptsync_refused_runs_total')).toBe(1);
    expect(text()).toContain('rcptsync_held_removals{gateway="mx1",domain="lists.example.test"} 18');
    expect(text()).toContain('rcptsync_entries{gateway="mx1",domain="lists.example.test"} 20');
    expect(text()).not.toMatch(/^rcptsync_carried_forward_stale_seconds\{/m);
  });
});
