// Replacing the rendered tree, piece by piece: what a killed run leaves and how
// the next run repairs it, the render lock and who counts as its live holder,
// and which directories rcptsync agrees to replace. render.test.ts covers the
// same through renderTree and real killed processes; these call swap.ts itself.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ExitCode, RcptsyncError } from '../../../src/errors.js';
import { acquireRenderLock, assertReplaceable, recoverInterruptedSwap, swapInTree, syncDirectory, treePaths, type SwapStep } from '../../../src/render/swap.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rcptsync-swap-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;
/** A fresh parent directory; returns the (not yet existing) tree path in it. */
function freshTree(): string {
  const parent = path.join(work, `case-${++counter}`);
  mkdirSync(parent);
  return path.join(parent, 'rendered');
}

/** A directory holding one file `marker` with `text`. */
function treeWith(dir: string, text: string): void {
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'marker'), text);
}

const lockOf = (outDir: string): string => path.join(path.dirname(outDir), `.${path.basename(outDir)}.lock`);
const startTime = (pid: number | 'self'): string => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

/** How many file descriptors this process has open. */
const openFds = (): number => readdirSync('/proc/self/fd').length;

/** A pid that no process has now (one that just exited). */
async function deadPid(): Promise<number> {
  const child = spawn('true', { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('treePaths', () => {
  test('the new and old trees lie beside outDir, hidden, named by the pid', () => {
    expect(treePaths('/srv/x/rendered', 42)).toEqual({
      outDir: '/srv/x/rendered',
      parent: '/srv/x',
      newDir: '/srv/x/.rendered.new-42',
      oldDir: '/srv/x/.rendered.old-42',
    });
    expect(treePaths('rendered/').outDir).toBe(path.resolve('rendered'));
    expect(treePaths('rendered').newDir).toBe(path.resolve(`.rendered.new-${process.pid}`));
  });
});

describe('recoverInterruptedSwap', () => {
  test('with outDir gone, restores the most recent old tree and removes the other leftovers', () => {
    const outDir = freshTree();
    const parent = path.dirname(outDir);
    treeWith(path.join(parent, '.rendered.old-100'), 'older');
    treeWith(path.join(parent, '.rendered.old-200'), 'newer');
    treeWith(path.join(parent, '.rendered.old-300'), 'oldest');
    utimesSync(path.join(parent, '.rendered.old-100'), new Date(2_000_000_000), new Date(2_000_000_000));
    utimesSync(path.join(parent, '.rendered.old-200'), new Date(3_000_000_000), new Date(3_000_000_000));
    utimesSync(path.join(parent, '.rendered.old-300'), new Date(1_000_000_000), new Date(1_000_000_000));
    treeWith(path.join(parent, '.rendered.new-200'), 'half written');
    const actions = recoverInterruptedSwap(outDir);
    expect(readFileSync(path.join(outDir, 'marker'), 'utf8')).toBe('newer');
    expect(readdirSync(parent)).toEqual(['rendered']);
    expect(actions[0]).toBe(`restored ${outDir} from ${path.join(parent, '.rendered.old-200')} (an earlier run was interrupted during the swap)`);
    expect(actions.slice(1).sort()).toEqual(
      ['.rendered.new-200', '.rendered.old-100', '.rendered.old-300'].map((entry) => `removed ${path.join(parent, entry)} left by an interrupted run`),
    );
  });

  test('with outDir in place, keeps it and only removes the leftovers', () => {
    const outDir = freshTree();
    const parent = path.dirname(outDir);
    treeWith(outDir, 'current');
    treeWith(path.join(parent, '.rendered.old-7'), 'previous');
    treeWith(path.join(parent, '.rendered.new-8'), 'half written');
    const actions = recoverInterruptedSwap(outDir);
    expect(readFileSync(path.join(outDir, 'marker'), 'utf8')).toBe('current');
    expect(readdirSync(parent)).toEqual(['rendered']);
    expect(actions).toHaveLength(2);
    expect(actions.every((action) => action.startsWith('removed '))).toBe(true);
  });

  test("leaves alone what is not this tree's leftover, and has nothing to do in a tidy or missing parent", () => {
    const outDir = freshTree();
    const parent = path.dirname(outDir);
    treeWith(outDir, 'current');
    const others = [
      ...['.rendered.new-x', '.rendered.new-', '.rendered.newer-1', '.rendered.xnew-1', '.rendered.old-1.bak', '.rendered.old-1x'],
      ...['.rendered-new-1', '.other.new-1', 'x.rendered.new-1', '.renderedx.old-1', 'rendered.new-1'],
    ];
    for (const entry of others) mkdirSync(path.join(parent, entry));
    expect(recoverInterruptedSwap(outDir)).toEqual([]);
    expect(readdirSync(parent).sort()).toEqual([...others, 'rendered'].sort());
    expect(recoverInterruptedSwap(path.join(work, 'no-such-parent', 'rendered'))).toEqual([]);
    expect(existsSync(path.join(work, 'no-such-parent'))).toBe(false);
  });

  test('with outDir gone and no old tree, removes a half-written new one and creates nothing', () => {
    const outDir = freshTree();
    treeWith(path.join(path.dirname(outDir), '.rendered.new-9'), 'half written');
    expect(recoverInterruptedSwap(outDir)).toEqual([`removed ${path.join(path.dirname(outDir), '.rendered.new-9')} left by an interrupted run`]);
    expect(readdirSync(path.dirname(outDir))).toEqual([]);
  });

  test('takes the render lock, and refuses while a live rcptsync holds it', () => {
    const outDir = freshTree();
    treeWith(path.join(path.dirname(outDir), '.rendered.old-5'), 'previous');
    writeFileSync(lockOf(outDir), `${process.ppid} ${startTime(process.ppid)} 0123456789abcdef\n`);
    expect(() => recoverInterruptedSwap(outDir)).toThrow(/another rcptsync/);
    expect(existsSync(outDir)).toBe(false);
    rmSync(lockOf(outDir));
    recoverInterruptedSwap(outDir);
    expect(existsSync(outDir)).toBe(true);
    expect(existsSync(lockOf(outDir))).toBe(false);
  });
});

describe('the render lock', () => {
  test('names its holder by pid and start time, and release removes it', () => {
    const outDir = freshTree();
    const fds = openFds();
    const lock = acquireRenderLock(outDir);
    expect(openFds()).toBe(fds);
    expect(lock.file).toBe(lockOf(outDir));
    expect(readFileSync(lock.file, 'utf8')).toMatch(new RegExp(`^${process.pid} ${startTime('self')} [0-9a-f]{16}\\n$`));
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
    lock.release(); // already gone: nothing to do
  });

  test('release leaves a lock that another run has taken over since', () => {
    const outDir = freshTree();
    const lock = acquireRenderLock(outDir);
    writeFileSync(lock.file, '12345 678 fedcba9876543210\n');
    lock.release();
    expect(readFileSync(lock.file, 'utf8')).toBe('12345 678 fedcba9876543210\n');
  });

  test('two locks of one tree are never held at once; each takes a new token', () => {
    const outDir = freshTree();
    const first = acquireRenderLock(outDir);
    const content = readFileSync(first.file, 'utf8');
    // Our own pid in the lock counts as stale (a render of this process is never running while another starts).
    const second = acquireRenderLock(outDir);
    const taken = readFileSync(second.file, 'utf8');
    expect(taken).not.toBe(content);
    first.release();
    expect(readFileSync(second.file, 'utf8')).toBe(taken);
    second.release();
    expect(existsSync(second.file)).toBe(false);
  });

  test('a live holder refuses: named by pid, with a matching start time or none recorded', () => {
    const outDir = freshTree();
    for (const started of [startTime(process.ppid), '-']) {
      writeFileSync(lockOf(outDir), `${process.ppid} ${started} 0123456789abcdef\n`);
      let error: unknown;
      try {
        acquireRenderLock(outDir);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RcptsyncError);
      expect((error as RcptsyncError).exitCode).toBe(ExitCode.runtime);
      expect((error as Error).message).toBe(
        `another rcptsync (pid ${process.ppid}) is rendering ${outDir}: it holds ${lockOf(outDir)}; if no such process runs, remove that file`,
      );
      expect(readFileSync(lockOf(outDir), 'utf8')).toBe(`${process.ppid} ${started} 0123456789abcdef\n`);
    }
  });

  test('a stale lock is taken over: a gone holder, a reused pid, or content that names no process', async () => {
    const outDir = freshTree();
    const dead = await deadPid();
    for (const content of [`${dead} ${startTime('self')} 0123456789abcdef\n`, `${process.ppid} 1 0123456789abcdef\n`, 'garbage\n', '0 - x\n', '-1 - x\n', '1.5 - x\n', '']) {
      writeFileSync(lockOf(outDir), content);
      const lock = acquireRenderLock(outDir);
      expect(readFileSync(lock.file, 'utf8'), JSON.stringify(content)).toMatch(new RegExp(`^${process.pid} `));
      lock.release();
      expect(readdirSync(path.dirname(outDir))).toEqual([]);
    }
  });

  test('a lock that cannot be created for another reason than an existing one is an error', () => {
    expect(() => acquireRenderLock(path.join(work, 'no-such-parent', 'rendered'))).toThrow(/ENOENT/);
  });

  test('gives up after three attempts on a lock it can neither create nor read', () => {
    const outDir = freshTree();
    mkdirSync(lockOf(outDir));
    expect(() => acquireRenderLock(outDir)).toThrow(`cannot take the render lock ${lockOf(outDir)}: it keeps changing hands`);
    expect(readdirSync(path.dirname(outDir))).toEqual(['.rendered.lock']);
  });
});

describe('assertReplaceable', () => {
  test('replaces nothing, an empty directory, or a tree rcptsync rendered', () => {
    const outDir = freshTree();
    expect(() => assertReplaceable(outDir)).not.toThrow();
    mkdirSync(outDir);
    expect(() => assertReplaceable(outDir)).not.toThrow();
    writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify({ format: 'rcptsync-manifest', version: 1, gateways: {} }));
    expect(() => assertReplaceable(outDir)).not.toThrow();
  });

  test("refuses a file, or a directory without rcptsync's manifest", () => {
    const outDir = freshTree();
    writeFileSync(outDir, 'notes\n');
    expect(() => assertReplaceable(outDir)).toThrow(`${outDir} exists and is not a directory; refusing to replace it`);
    rmSync(outDir);
    mkdirSync(outDir);
    const refusal = `${outDir} is not a tree rendered by rcptsync (no manifest.json of format rcptsync-manifest); refusing to replace it`;
    writeFileSync(path.join(outDir, 'notes.txt'), 'mine\n');
    expect(() => assertReplaceable(outDir)).toThrow(refusal);
    for (const manifest of ['{not json', '{"format":"other"}', 'null', '{}']) {
      writeFileSync(path.join(outDir, 'manifest.json'), manifest);
      let error: unknown;
      try {
        assertReplaceable(outDir);
      } catch (e) {
        error = e;
      }
      expect((error as Error | undefined)?.message, manifest).toBe(refusal);
      expect((error as RcptsyncError).exitCode).toBe(ExitCode.usage);
    }
  });
});

describe('swapInTree', () => {
  test('moves the old tree aside, puts the new one in its place, and removes the old one', () => {
    const outDir = freshTree();
    const paths = treePaths(outDir);
    treeWith(outDir, 'old');
    treeWith(paths.newDir, 'new');
    const steps: SwapStep[] = [];
    swapInTree(paths, (step) => {
      steps.push(step);
      if (step === 'old-moved-aside') {
        expect(existsSync(outDir)).toBe(false);
        expect(readFileSync(path.join(paths.oldDir, 'marker'), 'utf8')).toBe('old');
      }
    });
    expect(steps).toEqual(['old-moved-aside', 'swapped']);
    expect(readFileSync(path.join(outDir, 'marker'), 'utf8')).toBe('new');
    expect(readdirSync(paths.parent)).toEqual(['rendered']);
  });

  test('with no tree yet, renames the new one into place', () => {
    const outDir = freshTree();
    const paths = treePaths(outDir);
    treeWith(paths.newDir, 'new');
    const steps: SwapStep[] = [];
    swapInTree(paths, (step) => steps.push(step));
    expect(steps).toEqual(['swapped']);
    expect(readFileSync(path.join(outDir, 'marker'), 'utf8')).toBe('new');
    expect(readdirSync(paths.parent)).toEqual(['rendered']);
    // Without a step callback too.
    treeWith(paths.newDir, 'newer');
    swapInTree(paths);
    expect(readFileSync(path.join(outDir, 'marker'), 'utf8')).toBe('newer');
    expect(readdirSync(paths.parent)).toEqual(['rendered']);
  });

  test('syncDirectory passes over a directory it cannot open, and leaves no descriptor open', () => {
    const fds = openFds();
    expect(() => syncDirectory(path.join(work, 'no-such-dir'))).not.toThrow();
    syncDirectory(work);
    expect(openFds()).toBe(fds);
  });
});
