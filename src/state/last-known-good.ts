/**
 * The last-known-good state: the snapshot of the last run that rendered
 * successfully for an output tree. The next run's plan and safety rails compare
 * against it, so it is only ever replaced whole (atomically) and a damaged one is
 * an error, never a silent first run (which would disable the removal rules).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import type { Snapshot } from '../model/snapshot.js';
import { readSnapshot, writeSnapshot } from '../model/snapshot-io.js';

export const STATE_DIR_NAME = '.rcptsync-state';

/** `<dirname(outDir)>/.rcptsync-state`: next to the output tree, outside it (the tree is swapped whole). */
export function defaultStateDir(outDir: string): string {
  return path.join(path.dirname(path.resolve(outDir)), STATE_DIR_NAME);
}

/**
 * `<stateDir>/<basename(outDir)>.<hash>.snapshot.json`, the hash of the output's
 * full resolved path: several output trees can share one state directory, and
 * `/srv/prod/rendered` never reads the state of `/srv/staging/rendered`.
 */
export function stateFileFor(stateDir: string | undefined, outDir: string): string {
  const resolved = path.resolve(outDir);
  const hash = createHash('sha256').update(resolved).digest('hex').slice(0, 12);
  return path.join(stateDir ?? defaultStateDir(outDir), `${path.basename(resolved)}.${hash}.snapshot.json`);
}

/** Where rcptsync 0.1 kept the state: keyed by the output's basename alone. */
function legacyStateFileFor(stateDir: string | undefined, outDir: string): string {
  return path.join(stateDir ?? defaultStateDir(outDir), `${path.basename(path.resolve(outDir))}.snapshot.json`);
}

/** A damaged state stops the run (exit 1) and says how to recover. */
function unusableState(file: string, why: string, detail?: string): RcptsyncError {
  const hint =
    'The safety rails compare every run with this file. Restore it, or move it aside to start over (the next run is then a first run: removals cannot be checked).';
  return new RcptsyncError(`${file}: not a usable last-known-good state: ${why}`, ExitCode.runtime, detail ? `${detail}\n${hint}` : hint);
}

export interface LastKnownGood {
  snapshot: Snapshot;
  file: string;
  /** When the state was written (the time of sources recorded without collectedAt). */
  writtenAt: Date;
}

/** The last-known-good snapshot for `outDir`, or undefined when there is none yet (a first run). */
export async function loadLastKnownGood(stateDir: string | undefined, outDir: string): Promise<Snapshot | undefined> {
  return (await loadLastKnownGoodFile(stateDir, outDir))?.snapshot;
}

export async function loadLastKnownGoodFile(stateDir: string | undefined, outDir: string): Promise<LastKnownGood | undefined> {
  let file = stateFileFor(stateDir, outDir);
  if (!(await exists(file))) {
    const legacy = legacyStateFileFor(stateDir, outDir);
    if (!(await exists(legacy))) return undefined;
    // Beside the output (the default), a basename names one output; in a shared --state-dir it may be another's.
    if (stateDir !== undefined && path.resolve(stateDir) !== defaultStateDir(outDir)) {
      throw new RcptsyncError(
        `${legacy}: a state keyed by the output's name alone (rcptsync 0.1); in a shared --state-dir it may belong to another output named ${path.basename(legacy, '.snapshot.json')}`,
        ExitCode.runtime,
        `If it is the state of ${path.resolve(outDir)}, rename it to ${file}; otherwise move it aside (the next run is then a first run for this output).`,
      );
    }
    file = legacy;
  }
  let snapshot: Snapshot;
  try {
    // readSnapshot checks every address again: a hand-edited state cannot smuggle a catch-all in.
    snapshot = await readSnapshot(file);
  } catch (error) {
    const message = (error as Error).message.replace(`snapshot ${file}: `, '').replace(`snapshot ${file} is `, '');
    throw unusableState(file, message, (error as RcptsyncError).detail);
  }
  return { snapshot, file, writtenAt: (await stat(file)).mtime };
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new RcptsyncError(`${file}: cannot read last-known-good state: ${(error as Error).message}`, ExitCode.runtime);
  }
}

/** Replace the last-known-good snapshot for `outDir` atomically. Call only after the render succeeded. */
export async function saveLastKnownGood(stateDir: string | undefined, outDir: string, snapshot: Snapshot): Promise<string> {
  const file = stateFileFor(stateDir, outDir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeSnapshot(file, snapshot);
  // A state of rcptsync 0.1 beside the output is superseded now.
  if (stateDir === undefined || path.resolve(stateDir) === defaultStateDir(outDir)) await rm(legacyStateFileFor(stateDir, outDir), { force: true });
  return file;
}
