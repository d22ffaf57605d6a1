/**
 * `collect -o/--state-dir` (the pull-request flow's collect): a failed source is
 * carried forward from the last-known-good state exactly as `sync` carries it,
 * the snapshot records it, and `plan` and `render` of that snapshot name it, exit
 * 5 and keep its original collection time. In process, with no network: lists1
 * is static, lists2 a command on the control node (ansible_connection: local)
 * that fails once its file is gone.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../../src/cli.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { readSnapshot, writeSnapshot } from '../../../src/model/snapshot-io.js';
import { tableKeys, writeInventoryJson } from '../../helpers/cli.js';

let dir: string;
let inv: string;
let out: string;
let state: string;
let lists2File: string;

async function run(...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.stdout.push(c));
  stderr.on('data', (c: Buffer) => chunks.stderr.push(c));
  const status = await cli(argv, { stdout, stderr, env: { ...process.env, SSH_AUTH_SOCK: '' }, isTTY: false });
  return { status, stdout: Buffer.concat(chunks.stdout).toString('utf8'), stderr: Buffer.concat(chunks.stderr).toString('utf8') };
}

const stateFile = (): string => join(state, readdirSync(state).find((name) => name.endsWith('.snapshot.json'))!);
const lists2Of = (snapshot: Snapshot) => snapshot.sources.find((s) => s.host === 'lists2')!;

let inventories = 0;
function inventory(lists1: string[], extraLists2: Record<string, unknown> = {}): string {
  return writeInventoryJson(join(dir, `inventory-${++inventories}.json`), {
    list_servers: {
      lists1: { rcptsync_domains: ['lists.example.org'], rcptsync_sources: [{ type: 'static', addresses: lists1 }] },
      lists2: {
        ansible_connection: 'local',
        rcptsync_domains: ['lists.example.org'],
        rcptsync_sources: [{ type: 'command', command: `cat ${lists2File}` }],
        ...extraLists2,
      },
    },
    mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.org': 'smtp:[10.0.0.1]:25' } } },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-collect-carry-'));
  out = join(dir, 'rendered');
  state = join(dir, 'state');
  lists2File = join(dir, 'lists2.txt');
  writeFileSync(lists2File, 'board@lists.example.org\nstaff@lists.example.org\n');
  inv = inventory(['announce@lists.example.org']);
  // The last good run: both sources collected, the state written.
  const first = await run('sync', '--inventory-json', inv, '-o', out, '--state-dir', state);
  expect(first.status, first.stderr).toBe(0);
  rmSync(lists2File);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('collect with a failed source', () => {
  it('without -o or --state-dir: writes no snapshot and exits 1, as before, saying how to carry it', async () => {
    const snapshot = join(dir, 'plain.json');
    const result = await run('collect', '--inventory-json', inv, '-s', snapshot);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/rcptsync: error: snapshot not written: lists2: command failed with exit code 1: cat /);
    expect(result.stderr).toMatch(/with -o DIR \(or --state-dir DIR\) collect carries failed sources forward/);
    expect(existsSync(snapshot)).toBe(false);
  });

  it('with the state: carries it forward as sync does, writes the snapshot and exits 5', async () => {
    const before = lists2Of(await readSnapshot(stateFile()));
    inv = inventory(['announce@lists.example.org', 'newlist@lists.example.org']);
    const snapshot = join(dir, 'carried.json');
    const result = await run('collect', '--inventory-json', inv, '-s', snapshot, '-o', out, '--state-dir', state);
    expect(result.status, result.stderr).toBe(5);
    expect(result.stderr).toMatch(
      /DEGRADED, carried forward: lists2: sources\[0\] \(command\): 2 addresses from its last good collection \(\S+, [\d.]+ h ago; limit 72 h\) because: lists2: command failed with exit code 1/,
    );
    expect(result.stderr).toMatch(/snapshot written, degraded: 1 failed source carried forward \(nothing they provided is removed, nothing new from them is added\)/);
    expect(result.stdout).toContain(`Snapshot written to ${snapshot}`);
    const written = await readSnapshot(snapshot);
    expect(lists2Of(written)).toEqual({
      ...before,
      carriedForward: { reason: expect.stringMatching(/^lists2: command failed with exit code 1: cat /), hostKey: false },
    });
    // The healthy source as collected now, without a collection time (a fresh collection's bytes).
    expect(written.sources.find((s) => s.host === 'lists1')).toEqual(expect.objectContaining({ addresses: ['announce@lists.example.org', 'newlist@lists.example.org'] }));
    expect(written.sources.find((s) => s.host === 'lists1')!.collectedAt).toBeUndefined();
  });

  it('reports the carried source as a JSON event with --json, as sync does', async () => {
    const result = await run('collect', '--inventory-json', inv, '-s', join(dir, 'json.json'), '-o', out, '--state-dir', state, '--json');
    expect(result.status).toBe(5);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events).toContainEqual(expect.objectContaining({ event: 'carried-forward', host: 'lists2', label: 'sources[0] (command)', addresses: 2, hostKey: false, maxStaleHours: 72 }));
    expect(events).toContainEqual(expect.objectContaining({ event: 'result', outcome: 'degraded' }));
  });

  it('plan of that snapshot names the carried source, in Markdown too, and exits 5', async () => {
    const result = await run('plan', '--inventory-json', inv, '-s', join(dir, 'carried.json'), '-o', out, '--state-dir', state, '--format', 'markdown');
    expect(result.status, result.stderr).toBe(5);
    expect(result.stdout).toContain('**sync would publish this plan, degraded: failed sources are carried forward from their last good collection.**');
    expect(result.stdout).toMatch(/Carried forward \(failed when collected; their last good addresses are published\)/);
    expect(result.stdout).toMatch(/- lists2: sources\\\[0\\\] \(command\): 2 addresses from \S+ \([\d.]+ h ago, limit 72 h\): lists2: command failed/);
    // Without an inventory too (the default limit), as the pull-request comment job may run it.
    const bare = await run('plan', '-s', join(dir, 'carried.json'), '-o', out, '--state-dir', state);
    expect(bare.status, bare.stderr).toBe(5);
  });

  it('render of that snapshot publishes the healthy change and the carried addresses, exits 5, and keeps the staleness clock', async () => {
    const since = lists2Of(await readSnapshot(stateFile())).collectedAt!;
    const result = await run('render', '--inventory-json', inv, '-s', join(dir, 'carried.json'), '-o', out, '--state-dir', state);
    expect(result.status, result.stderr).toBe(5);
    expect(result.stderr).toMatch(/DEGRADED, carried forward: lists2: sources\[0\] \(command\): 2 addresses/);
    expect(result.stderr).toMatch(/published, degraded: 1 failed source carried forward/);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toEqual(
      expect.arrayContaining(['newlist@lists.example.org', 'announce@lists.example.org', 'board@lists.example.org', 'staff@lists.example.org']),
    );
    const recorded = lists2Of(await readSnapshot(stateFile()));
    expect(recorded.collectedAt).toBe(since);
    expect(recorded.carriedForward).toEqual(expect.objectContaining({ hostKey: false }));
    // Carried again from that state: still the first collection's time.
    const again = join(dir, 'again.json');
    expect((await run('collect', '--inventory-json', inv, '-s', again, '-o', out, '--state-dir', state)).status).toBe(5);
    expect(lists2Of(await readSnapshot(again)).collectedAt).toBe(since);
  });

  it('render refuses a snapshot whose carried source has grown older than rcptsync_max_stale, touching nothing', async () => {
    const stale = await readSnapshot(join(dir, 'carried.json'));
    lists2Of(stale).collectedAt = new Date(Date.now() - 80 * 3_600_000).toISOString();
    await writeSnapshot(join(dir, 'stale.json'), stale);
    const stateBefore = readFileSync(stateFile(), 'utf8');
    const treeBefore = readFileSync(join(out, 'mx1', 'relay_recipients'), 'utf8');
    const result = await run('render', '--inventory-json', inv, '-s', join(dir, 'stale.json'), '-o', out, '--state-dir', state);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/nothing rendered: lists2: sources\[0\] \(command\): failed \(.*\) and cannot be carried forward: .*\(80\.0 h ago\), older than rcptsync_max_stale \(72 h\)/);
    expect(readFileSync(stateFile(), 'utf8')).toBe(stateBefore);
    expect(readFileSync(join(out, 'mx1', 'relay_recipients'), 'utf8')).toBe(treeBefore);
    // The inventory's own limit applies when it is given.
    const generous = inventory(['announce@lists.example.org', 'newlist@lists.example.org'], { rcptsync_max_stale: 100 });
    expect((await run('plan', '--inventory-json', generous, '-s', join(dir, 'stale.json'), '-o', out, '--state-dir', state)).status).toBe(5);
  });

  it('with no state for the output: no snapshot, exit 1, and names the state file it looked for', async () => {
    const snapshot = join(dir, 'nostate.json');
    const result = await run('collect', '--inventory-json', inv, '-s', snapshot, '-o', join(dir, 'other'), '--state-dir', state);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/snapshot not written: lists2: sources\[0\] \(command\): failed \(.*\) and cannot be carried forward: the last-known-good state has no data for it/);
    expect(result.stderr).toContain(`There is no last-known-good state for ${join(dir, 'other')} (looked for ${state}/other.`);
    expect(existsSync(snapshot)).toBe(false);
  });

  it('past rcptsync_max_stale: no snapshot, exit 1, the same refusal as sync', async () => {
    // The last good collection of lists2 ten hours back; its limit one hour.
    const last = await readSnapshot(stateFile());
    lists2Of(last).collectedAt = new Date(Date.now() - 10 * 3_600_000).toISOString();
    await writeSnapshot(stateFile(), last);
    const strict = inventory(['announce@lists.example.org'], { rcptsync_max_stale: 1 });
    const snapshot = join(dir, 'strict.json');
    const result = await run('collect', '--inventory-json', strict, '-s', snapshot, '-o', out, '--state-dir', state);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/snapshot not written: lists2: .*\(10\.0 h ago\), older than rcptsync_max_stale \(1 h\)\. Fix the source, or raise rcptsync_max_stale/);
    expect(result.stderr).toMatch(/Carried from the last-known-good state /);
    expect(existsSync(snapshot)).toBe(false);
    const sync = await run('sync', '--inventory-json', strict, '-o', out, '--state-dir', state);
    expect(sync.status).toBe(1);
    expect(sync.stderr).toMatch(/nothing rendered: lists2: .*\(10\.0 h ago\), older than rcptsync_max_stale \(1 h\)\. Fix the source, or raise rcptsync_max_stale/);
  });

  it('--state-dir alone looks for the state of ./rendered, as render and sync do', async () => {
    const result = await run('collect', '--inventory-json', inv, '-s', join(dir, 'cwd.json'), '--state-dir', join(dir, 'empty-state'));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/There is no last-known-good state for rendered \(looked for .*empty-state\/rendered\.[0-9a-f]{12}\.snapshot\.json\)/);
  });
});
