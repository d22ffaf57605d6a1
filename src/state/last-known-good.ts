/**
 * The last-known-good state: the snapshot of the last run that rendered
 * successfully for an output tree. The next run's plan and safety rails compare
 * against it, so it is only ever replaced whole (atomically) and a damaged one is
 * an error, never a silent first run (which would disable the removal rules).
 */
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import type { Snapshot } from '../model/snapshot.js';
import { readSnapshot, writeSnapshot } from '../model/snapshot-io.js';

export const STATE_DIR_NAME = '.rcptsync-state';

/** `<dirname(outDir)>/.rcptsync-state`: next to the output tree, outside it (the tree is swapped whole). */
export function defaultStateDir(outDir: string): string {
  return path.join(path.dirname(path.resolve(outDir)), STATE_DIR_NAME);
}

/** `<stateDir>/<basename(outDir)>.snapshot.json`; several output trees can share one state directory. */
export function stateFileFor(stateDir: string | undefined, outDir: string): string {
  const base = path.basename(path.resolve(outDir));
  return path.join(stateDir ?? defaultStateDir(outDir), `${base}.snapshot.json`);
}

/** A damaged state stops the run (exit 1) and says how to recover. */
function unusableState(file: string, why: string, detail?: string): RcptsyncError {
  const hint =
    'The safety rails compare every run with this file. Restore it, or move it aside to start over (the next run is then a first run: removals cannot be checked).';
  return new RcptsyncError(`${file}: not a usable last-known-good state: ${why}`, ExitCode.runtime, detail ? `${detail}\n${hint}` : hint);
}

/** The last-known-good snapshot for `outDir`, or undefined when there is none yet (a first run). */
export async function loadLastKnownGood(stateDir: string | undefined, outDir: string): Promise<Snapshot | undefined> {
  const file = stateFileFor(stateDir, outDir);
  try {
    await access(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RcptsyncError(`${file}: cannot read last-known-good state: ${(error as Error).message}`, ExitCode.runtime);
  }
  try {
    // readSnapshot checks every address again: a hand-edited state cannot smuggle a catch-all in.
    return await readSnapshot(file);
  } catch (error) {
    const message = (error as Error).message.replace(`snapshot ${file}: `, '').replace(`snapshot ${file} is `, '');
    throw unusableState(file, message, (error as RcptsyncError).detail);
  }
}

/** Replace the last-known-good snapshot for `outDir` atomically. Call only after the render succeeded. */
export async function saveLastKnownGood(stateDir: string | undefined, outDir: string, snapshot: Snapshot): Promise<string> {
  const file = stateFileFor(stateDir, outDir);
  await mkdir(path.dirname(file), { recursive: true });
  await writeSnapshot(file, snapshot);
  return file;
}
