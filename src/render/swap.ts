/**
 * Replacing the rendered tree as a whole. The new tree is written into a
 * temporary directory beside the old one (same parent, so same filesystem) and
 * swapped in with two renames:
 *
 *   outDir            -> .<name>.old-<pid>
 *   .<name>.new-<pid> -> outDir
 *
 * Until the first rename nothing the user sees has changed, so any failure
 * before it leaves outDir byte for byte as it was. Between the two renames there
 * is a window of two system calls where outDir does not exist (Linux has
 * renameat2(RENAME_EXCHANGE) to close it, but Node offers no way to call it).
 * A crash in that window leaves `.old-<pid>` and no outDir, and the next run
 * restores it first (recoverInterruptedSwap). A crash after the second rename
 * only leaves a stale `.old-<pid>`, removed by the next run.
 *
 * Renders of one tree are serialised by a lock file `.<name>.lock` beside it,
 * naming its holder by pid and the process's start time: a holder that is gone,
 * or a pid now used by another process, is a stale lock and is taken over. With
 * the lock held, every leftover temporary tree is stale, whatever process its
 * pid now names.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'rcptsync-manifest';

export interface TreePaths {
  outDir: string;
  parent: string;
  /** Where this process writes the new tree. */
  newDir: string;
  /** Where this process moves the old tree during the swap. */
  oldDir: string;
}

export function treePaths(outDir: string, pid = process.pid): TreePaths {
  const resolved = path.resolve(outDir);
  const parent = path.dirname(resolved);
  const name = path.basename(resolved);
  return { outDir: resolved, parent, newDir: path.join(parent, `.${name}.new-${pid}`), oldDir: path.join(parent, `.${name}.old-${pid}`) };
}

function leftovers(paths: TreePaths): Array<{ kind: 'new' | 'old'; pid: number; dir: string }> {
  const name = path.basename(paths.outDir);
  const prefix = `.${name}.`;
  if (!existsSync(paths.parent)) return [];
  const found: Array<{ kind: 'new' | 'old'; pid: number; dir: string }> = [];
  for (const entry of readdirSync(paths.parent)) {
    if (!entry.startsWith(prefix)) continue;
    const match = /^(new|old)-(\d+)$/.exec(entry.slice(prefix.length));
    if (match) found.push({ kind: match[1] as 'new' | 'old', pid: Number(match[2]), dir: path.join(paths.parent, entry) });
  }
  return found;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Undo what an interrupted earlier run left behind: restore the old tree if the
 * crash fell between the two renames, and remove stale temporary trees.
 * Refuses to run while another live process is rendering the same tree.
 * Returns what it did, for the log.
 */
export function recoverInterruptedSwap(outDir: string, options: { lockHeld?: boolean } = {}): string[] {
  if (!options.lockHeld) {
    if (!existsSync(path.dirname(path.resolve(outDir)))) return [];
    const lock = acquireRenderLock(outDir);
    try {
      return recoverInterruptedSwap(outDir, { lockHeld: true });
    } finally {
      lock.release();
    }
  }
  const paths = treePaths(outDir);
  // Holding the lock, no other render of this tree runs: every leftover is stale, whatever its pid names now.
  const found = leftovers(paths);
  const actions: string[] = [];
  if (!existsSync(paths.outDir)) {
    const olds = found.filter((entry) => entry.kind === 'old').sort((a, b) => statSync(b.dir).mtimeMs - statSync(a.dir).mtimeMs);
    const restore = olds[0];
    if (restore) {
      renameSync(restore.dir, paths.outDir);
      syncDirectory(paths.parent);
      actions.push(`restored ${paths.outDir} from ${restore.dir} (an earlier run was interrupted during the swap)`);
    }
  }
  for (const entry of found) {
    if (!existsSync(entry.dir)) continue;
    rmSync(entry.dir, { recursive: true, force: true });
    actions.push(`removed ${entry.dir} left by an interrupted run`);
  }
  return actions;
}

/** The start time of a process in clock ticks since boot (Linux), to tell a reused pid from its first owner. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22, counted after the command name, which may itself hold spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface RenderLock {
  file: string;
  release(): void;
}

/**
 * Take the render lock of `outDir`; a stale one (its holder gone, or its pid now
 * another process) is taken over. Throws when a live rcptsync holds it.
 */
export function acquireRenderLock(outDir: string): RenderLock {
  const paths = treePaths(outDir);
  const file = path.join(paths.parent, `.${path.basename(paths.outDir)}.lock`);
  const token = randomBytes(8).toString('hex');
  const content = `${process.pid} ${processStartTime(process.pid) ?? '-'} ${token}\n`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      return {
        file,
        release: () => {
          try {
            if (readFileSync(file, 'utf8') === content) rmSync(file, { force: true });
          } catch {
            // Already gone.
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: string;
    try {
      holder = readFileSync(file, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    const [pidText, started] = holder.split(' ');
    const pid = Number(pidText);
    const alive = Number.isSafeInteger(pid) && pid > 0 && isAlive(pid);
    const current = alive ? processStartTime(pid) : undefined;
    const live = alive && (started === '-' || current === undefined || current === started);
    if (live) {
      throw new RcptsyncError(`another rcptsync (pid ${pid}) is rendering ${paths.outDir}: it holds ${file}; if no such process runs, remove that file`, ExitCode.runtime);
    }
    // Stale: moved aside (one process wins the rename), then the next attempt creates ours.
    try {
      renameSync(file, `${file}.stale-${token}`);
      rmSync(`${file}.stale-${token}`);
    } catch {
      // Someone else took it over first; try again.
    }
  }
  throw new RcptsyncError(`cannot take the render lock ${file}: it keeps changing hands`, ExitCode.runtime);
}

/** Refuse to replace a directory that rcptsync did not render: it may hold someone's work. */
export function assertReplaceable(outDir: string): void {
  const resolved = path.resolve(outDir);
  if (!existsSync(resolved)) return;
  if (!statSync(resolved).isDirectory()) {
    throw new RcptsyncError(`${resolved} exists and is not a directory; refusing to replace it`, ExitCode.usage);
  }
  const entries = readdirSync(resolved);
  if (entries.length === 0) return;
  let format: unknown;
  try {
    format = (JSON.parse(readFileSync(path.join(resolved, MANIFEST_FILE), 'utf8')) as { format?: unknown }).format;
  } catch {
    // No manifest, or not JSON: format stays undefined.
  }
  if (format !== MANIFEST_FORMAT) {
    throw new RcptsyncError(
      `${resolved} is not a tree rendered by rcptsync (no ${MANIFEST_FILE} of format ${MANIFEST_FORMAT}); refusing to replace it`,
      ExitCode.usage,
    );
  }
}

export type SwapStep = 'old-moved-aside' | 'swapped';

/** Put the finished tree at `paths.newDir` in place of `paths.outDir`. */
export function swapInTree(paths: TreePaths, onStep?: (step: SwapStep) => void): void {
  if (existsSync(paths.outDir)) {
    renameSync(paths.outDir, paths.oldDir);
    onStep?.('old-moved-aside');
    // The window: outDir is missing until the next rename; recoverInterruptedSwap repairs a crash here.
    renameSync(paths.newDir, paths.outDir);
    syncDirectory(paths.parent);
    onStep?.('swapped');
    try {
      rmSync(paths.oldDir, { recursive: true, force: true });
    } catch {
      // The new tree is in place; the next run removes what is left of the old one.
    }
  } else {
    renameSync(paths.newDir, paths.outDir);
    syncDirectory(paths.parent);
    onStep?.('swapped');
  }
}

export function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  } finally {
    closeSync(fd);
  }
}
