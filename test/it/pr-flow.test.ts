/**
 * examples/pr-flow/nightly.sh end to end (issue 8), with no network: the remote
 * is a local bare git repository, the inventory has only static sources (no SSH),
 * and `gh` and `ansible-playbook` are stand-ins on PATH that record how they were
 * called. Git, rcptsync and the script itself are the real ones.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, staticInventoryYaml, tableKeys } from '../helpers/cli.js';
import { readSnapshot } from '../../src/model/snapshot-io.js';

let dir: string;
let work: string;
let remote: string;
let calls: string;

const NIGHTLY = join(REPO, 'examples', 'pr-flow', 'nightly.sh');
const members = (n: number): string[] => Array.from({ length: n }, (_, i) => `member${String(i).padStart(3, '0')}@lists.example.org`);

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: work, encoding: 'utf8', env: { ...process.env, ...identity } });
}
const identity = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };

function writeInventory(addresses: string[]): void {
  writeFileSync(join(work, 'inventory', 'hosts.yml'), staticInventoryYaml(addresses));
}

function nightly(...args: string[]): { status: number; stdout: string; stderr: string } {
  return nightlyWith({}, ...args);
}

function nightlyWith(extraEnv: Record<string, string>, ...args: string[]) {
  const result = spawnSync('bash', [NIGHTLY, ...args], {
    cwd: work,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      ...identity,
      PATH: `${join(dir, 'bin')}:${process.env['PATH']}`,
      RCPTSYNC: `${process.execPath} ${BIN}`,
      INVENTORY: 'inventory',
      STATE_DIR: join(dir, 'state'),
      CALLS: calls,
      SSH_AUTH_SOCK: '',
      ...extraEnv,
    },
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

const recorded = (): string[] => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean) : []);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-prflow-'));
  work = join(dir, 'work');
  remote = join(dir, 'remote.git');
  calls = join(dir, 'calls.log');
  mkdirSync(join(dir, 'bin'));
  // Stand-ins: record the call; `gh pr view` finds no open pull request.
  for (const tool of ['gh', 'glab', 'ansible-playbook']) {
    const file = join(dir, 'bin', tool);
    writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "${tool} $*" >> "$CALLS"\n[ "$1 $2" = "pr view" ] && exit 1\n[ "$1 $2" = "mr view" ] && exit 1\nexit 0\n`);
    chmodSync(file, 0o755);
  }
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
  mkdirSync(join(work, 'inventory'), { recursive: true });
  git('init', '-q', '-b', 'main');
  git('remote', 'add', 'origin', remote);
  writeFileSync(join(work, '.gitignore'), '.rcptsync-state/\n');
  writeInventory(members(40));
  git('add', '.');
  git('commit', '-q', '-m', 'inventory');
  git('push', '-q', 'origin', 'main');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('examples/pr-flow/nightly.sh against a local bare repository', () => {
  it('within the thresholds: renders, commits rendered/ to main, pushes it and deploys', () => {
    const result = nightly();
    expect(result.stderr).toMatch(/within the safety thresholds: applying/);
    expect(result.status, result.stderr).toBe(0);
    expect(git('log', '--format=%s', '-1', 'origin/main')).toMatch(/^rcptsync: nightly render/);
    expect(git('show', 'origin/main:rendered/mx1/relay_recipients')).toContain('member039@lists.example.org OK');
    // Deployed, and any review left from an earlier night closed: nothing is left to review.
    expect(recorded()).toEqual([
      'ansible-playbook -i inventory rcptsync.rcptsync.deploy',
      expect.stringMatching(/^gh pr close rcptsync\/review --delete-branch --comment Applied within the thresholds/),
    ]);
  });

  it('removals over the threshold: deploys the rest, opens a review pull request whose plan fits, and holds the removals', () => {
    writeFileSync(calls, '');
    writeInventory([...members(10), 'newlist@lists.example.org']);
    git('commit', '-q', '-am', 'most lists gone, one new');
    const result = nightly();
    expect(result.stderr).toMatch(/removals held by a safety threshold: deploying the rest/);
    expect(result.status, result.stderr).toBe(0);
    // main: the new list, and the held removals still accepted.
    const main = git('show', 'origin/main:rendered/mx1/relay_recipients');
    expect(main).toContain('newlist@lists.example.org OK');
    expect(main).toContain('member039@lists.example.org OK');
    // The review branch: the forced render, the snapshot and the plan.
    const review = git('show', 'origin/rcptsync/review:rendered/mx1/relay_recipients');
    expect(review).toContain('newlist@lists.example.org OK');
    expect(review).not.toContain('member039@lists.example.org OK');
    const plan = git('show', 'origin/rcptsync/review:review/plan.md');
    expect(Buffer.byteLength(plan)).toBeLessThanOrEqual(60_000);
    expect(plan).toMatch(/\*\*sync would hold the removals below for review/);
    expect(plan).toContain('| lists1 sources\\[0\\] (static) | +1 | -30 |');
    const log = recorded();
    expect(log[0]).toBe('ansible-playbook -i inventory rcptsync.rcptsync.deploy');
    expect(log.some((line) => line.startsWith('gh pr create --base main --head rcptsync/review --title rcptsync: review a shrink') && line.includes('--body-file'))).toBe(true);
  });

  it('after the review is merged: checks the reviewed tree byte for byte, records it, deploys it', () => {
    writeFileSync(calls, '');
    git('fetch', '-q', 'origin');
    git('merge', '-q', '--ff-only', 'origin/rcptsync/review');
    const result = nightly('apply-reviewed');
    expect(result.status, result.stderr).toBe(0);
    expect(recorded()).toEqual(['ansible-playbook -i inventory rcptsync.rcptsync.deploy']);
    expect(readFileSync(join(work, 'rendered', 'mx1', 'relay_recipients'), 'utf8')).not.toContain('member039@');
    // The state now holds the reviewed collection: the next night is within the thresholds.
    writeFileSync(calls, '');
    const next = nightly();
    expect(next.stderr).toMatch(/within the safety thresholds: applying/);
    expect(next.status, next.stderr).toBe(0);
  });

  it('a merged tree that differs from the reviewed snapshot is not deployed, and the state is not replaced', () => {
    writeFileSync(calls, '');
    const stateBefore = execFileSync('sh', ['-c', `cat ${join(dir, 'state')}/*.snapshot.json | sha256sum`], { encoding: 'utf8' });
    const file = join(work, 'rendered', 'mx1', 'relay_recipients');
    writeFileSync(file, `${readFileSync(file, 'utf8')}intruder@lists.example.org OK\n`);
    git('commit', '-q', '-am', 'a hand edit slipped into the merge');
    const result = nightly('apply-reviewed');
    expect(result.stderr).toMatch(/the rendered tree differs from the reviewed one; not deploying, the state is unchanged/);
    expect(result.status).toBe(1);
    expect(recorded()).toEqual([]);
    expect(execFileSync('sh', ['-c', `cat ${join(dir, 'state')}/*.snapshot.json | sha256sum`], { encoding: 'utf8' })).toBe(stateBefore);
  });

  it('on GitLab the review body goes through a file, never an argument', () => {
    writeFileSync(calls, '');
    writeInventory(members(2));
    git('commit', '-q', '-am', 'a shrink on a GitLab site');
    const result = nightlyWith({ FORGE: 'gitlab' });
    expect(result.status, result.stderr).toBe(0);
    const create = recorded().find((line) => line.startsWith('glab api --method POST projects/:id/merge_requests'));
    expect(create).toMatch(/ -f source_branch=rcptsync\/review -f target_branch=main -f title=rcptsync: review a shrink .* -F description=@\S+body\.md$/);
    expect(recorded().some((line) => line.includes('--description'))).toBe(false);
  });
});

/**
 * One list server down (issue: the flow used to stop everything): lists2 is a
 * command on the control node (ansible_connection: local) that fails once its
 * file is gone. A fresh repository of its own, with the same stand-ins.
 */
describe('nightly.sh with a failed list server', () => {
  let lists2File: string;
  let state: string;

  function twoServers(lists1: string[]): string {
    return [
      'all:',
      '  children:',
      '    list_servers:',
      '      hosts:',
      '        lists1:',
      '          rcptsync_domains: [lists.example.org]',
      '          rcptsync_sources:',
      '            - type: static',
      `              addresses: ${JSON.stringify(lists1)}`,
      '        lists2:',
      '          ansible_connection: local',
      '          rcptsync_domains: [lists2.example.org]',
      '          rcptsync_sources:',
      '            - type: command',
      `              command: ${JSON.stringify(`cat ${lists2File}`)}`,
      '    mail_gateways:',
      '      hosts:',
      '        mx1:',
      '          rcptsync_relay_domains:',
      '            lists.example.org: "smtp:[lists1.example.org]:25"',
      '            lists2.example.org: "smtp:[lists2.example.org]:25"',
      '',
    ].join('\n');
  }
  const stateSnapshot = async () => readSnapshot(join(state, readdirSync(state).find((name) => name.endsWith('.snapshot.json'))!));

  beforeAll(() => {
    const base = join(dir, 'degraded');
    work = join(base, 'work');
    remote = join(base, 'remote.git');
    state = join(base, 'state');
    lists2File = join(base, 'lists2.txt');
    mkdirSync(join(work, 'inventory'), { recursive: true });
    writeFileSync(lists2File, 'board@lists2.example.org\nstaff@lists2.example.org\n');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', remote]);
    git('init', '-q', '-b', 'main');
    git('remote', 'add', 'origin', remote);
    writeFileSync(join(work, 'inventory', 'hosts.yml'), twoServers(members(20)));
    git('add', '.');
    git('commit', '-q', '-m', 'inventory');
    git('push', '-q', 'origin', 'main');
  });

  it('a night with both servers up is applied as usual', () => {
    writeFileSync(calls, '');
    const result = nightlyWith({ STATE_DIR: state });
    expect(result.status, result.stderr).toBe(0);
    expect(git('show', 'origin/main:rendered/mx1/relay_recipients')).toContain('board@lists2.example.org OK');
  });

  it('lists2 down: the new list on lists1 is committed and deployed, lists2 keeps its addresses, the fault is named, exit 5', async () => {
    const before = (await stateSnapshot()).sources.find((s) => s.host === 'lists2')!;
    rmSync(lists2File);
    writeFileSync(join(work, 'inventory', 'hosts.yml'), twoServers([...members(20), 'newlist@lists.example.org']));
    git('commit', '-q', '-am', 'a new list on lists1');
    writeFileSync(calls, '');
    const result = nightlyWith({ STATE_DIR: state, GITHUB_ACTIONS: 'true' });
    expect(result.status, result.stderr).toBe(5);
    // Named by rcptsync (collect and render) and by the script, at the end, for CI.
    expect(result.stderr).toMatch(/DEGRADED, carried forward: lists2: sources\[0\] \(command\): 2 addresses from its last good collection .* because: lists2: command failed with exit code 1: cat /);
    expect(result.stderr).toMatch(/nightly: DEGRADED \(exit 5\): failed sources carried forward from the last-known-good state: lists2 sources\[0\] \(command\)\./);
    expect(result.stdout).toMatch(/^::error title=rcptsync degraded::DEGRADED \(exit 5\): .*lists2 sources\[0\] \(command\)/m);
    // Published: the healthy server's new address, and the failed server's last good ones.
    const main = git('show', 'origin/main:rendered/mx1/relay_recipients');
    expect(main).toContain('newlist@lists.example.org OK');
    expect(main).toContain('board@lists2.example.org OK');
    expect(main).toContain('staff@lists2.example.org OK');
    expect(tableKeys(join(work, 'rendered', 'mx1', 'relay_recipients'))).toContain('newlist@lists.example.org');
    expect(git('log', '--format=%s', '-1', 'origin/main')).toMatch(/^rcptsync: nightly render, DEGRADED: carried forward: lists2 sources\[0\] \(command\) /);
    expect(recorded()).toEqual([
      'ansible-playbook -i inventory rcptsync.rcptsync.deploy',
      expect.stringMatching(/^gh pr close rcptsync\/review/),
    ]);
    // The state carries lists2 with its first collection time: staleness keeps counting.
    const after = (await stateSnapshot()).sources.find((s) => s.host === 'lists2')!;
    expect(after.collectedAt).toBe(before.collectedAt);
    expect(after.addresses).toEqual(before.addresses);
    expect(after.carriedForward).toEqual(expect.objectContaining({ reason: expect.stringContaining('lists2: command failed') }));
  });

  it('lists2 still down the next night: nothing to commit, still deployed, still exit 5, the clock not reset', async () => {
    const before = (await stateSnapshot()).sources.find((s) => s.host === 'lists2')!;
    writeFileSync(calls, '');
    const result = nightlyWith({ STATE_DIR: state });
    expect(result.status, result.stderr).toBe(5);
    expect(result.stderr).toMatch(/nothing to commit/);
    expect(recorded()[0]).toBe('ansible-playbook -i inventory rcptsync.rcptsync.deploy');
    expect((await stateSnapshot()).sources.find((s) => s.host === 'lists2')!.collectedAt).toBe(before.collectedAt);
  });

  it('lists2 down and removals over a threshold on lists1: deploys the rest, opens the review, and the merge applies it, still exit 5', () => {
    writeFileSync(join(work, 'inventory', 'hosts.yml'), twoServers(members(2)));
    git('commit', '-q', '-am', 'most lists on lists1 gone');
    writeFileSync(calls, '');
    const result = nightlyWith({ STATE_DIR: state });
    expect(result.status, result.stderr).toBe(5);
    expect(result.stderr).toMatch(/removals held by a safety threshold as well: opening a review pull request for them/);
    expect(git('show', 'origin/main:rendered/mx1/relay_recipients')).toContain('member019@lists.example.org OK');
    const plan = git('show', 'origin/rcptsync/review:review/plan.md');
    expect(plan).toMatch(/\*\*Carried forward \(failed when collected; their last good addresses are published\)\*\*\n\n- lists2: sources\\\[0\\\] \(command\): 2 addresses/);
    expect(plan).toMatch(/\*\*Held removals\*\*/);
    const review = git('show', 'origin/rcptsync/review:rendered/mx1/relay_recipients');
    expect(review).not.toContain('member019@lists.example.org OK');
    expect(review).toContain('board@lists2.example.org OK');
    expect(recorded().some((line) => line.startsWith('gh pr create --base main --head rcptsync/review'))).toBe(true);
    // Merged: the reviewed snapshot, which carries lists2, is applied and deployed, and says so.
    writeFileSync(calls, '');
    git('fetch', '-q', 'origin');
    git('merge', '-q', '--ff-only', 'origin/rcptsync/review');
    const applied = nightlyWith({ STATE_DIR: state }, 'apply-reviewed');
    expect(applied.status, applied.stderr).toBe(5);
    expect(applied.stderr).toMatch(/nightly: DEGRADED \(exit 5\)/);
    expect(recorded()).toEqual(['ansible-playbook -i inventory rcptsync.rcptsync.deploy']);
    expect(readFileSync(join(work, 'rendered', 'mx1', 'relay_recipients'), 'utf8')).not.toContain('member019@');
  });

  it('with nothing to carry (a state for another output): collect fails, nothing is deployed', () => {
    writeFileSync(calls, '');
    const result = nightlyWith({ STATE_DIR: join(dir, 'degraded', 'no-state') });
    expect(result.stderr).toMatch(/snapshot not written: lists2: sources\[0\] \(command\): failed .* the last-known-good state has no data for it/);
    expect(result.stderr).toMatch(/nightly: rcptsync collect failed \(exit 1\); nothing was deployed/);
    expect(result.status).toBe(1);
    expect(recorded()).toEqual([]);
  });
});

