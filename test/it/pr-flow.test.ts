/**
 * examples/pr-flow/nightly.sh end to end (issue 8), with no network: the remote
 * is a local bare git repository, the inventory has only static sources (no SSH),
 * and `gh` and `ansible-playbook` are stand-ins on PATH that record how they were
 * called. Git, rcptsync and the script itself are the real ones.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO, staticInventoryYaml } from '../helpers/cli.js';

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
