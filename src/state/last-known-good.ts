/**
 * The last-known-good state: the snapshot of the last run that rendered
 * successfully for an output tree. The next run's plan and safety rails compare
 * against it, so it is only ever replaced whole (atomically) and a damaged one is
 * an error, never a silent first run (which would disable the removal rules).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type Snapshot } from '../model/snapshot.js';
import { writeFileAtomic } from './atomic.js';

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

/** Check the shape a plan relies on; `file` names the place in errors. */
function unusableState(file: string, why: string): RcptsyncError {
  return new RcptsyncError(
    `${file}: not a usable last-known-good state: ${why}`,
    ExitCode.runtime,
    'The safety rails compare every run with this file. Restore it, or move it aside to start over (the next run is then a first run: removals cannot be checked).',
  );
}

export function checkSnapshotShape(value: unknown, file: string): Snapshot {
  const fail = (why: string): never => {
    throw unusableState(file, why);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('not a JSON object');
  const v = value as Record<string, unknown>;
  if (v.format !== SNAPSHOT_FORMAT) return fail(`format is ${JSON.stringify(v.format)}, expected "${SNAPSHOT_FORMAT}"`);
  if (v.version !== SNAPSHOT_VERSION) return fail(`version ${JSON.stringify(v.version)} is not supported (expected ${SNAPSHOT_VERSION})`);
  if (!Array.isArray(v.sources)) return fail('"sources" is not a list');
  if (!Array.isArray(v.gateways)) return fail('"gateways" is not a list');
  v.sources.forEach((s: unknown, i) => {
    const source = s as Record<string, unknown> | null;
    if (typeof source !== 'object' || source === null) return fail(`sources[${i}] is not an object`);
    if (typeof source.host !== 'string' || typeof source.index !== 'number' || !Array.isArray(source.addresses)) {
      return fail(`sources[${i}] lacks host, index or addresses`);
    }
  });
  v.gateways.forEach((g: unknown, i) => {
    const gateway = g as Record<string, unknown> | null;
    if (typeof gateway !== 'object' || gateway === null || typeof gateway.name !== 'string' || !Array.isArray(gateway.domains)) {
      return fail(`gateways[${i}] lacks name or domains`);
    }
  });
  return value as Snapshot;
}

/** The last-known-good snapshot for `outDir`, or undefined when there is none yet (a first run). */
export async function loadLastKnownGood(stateDir: string | undefined, outDir: string): Promise<Snapshot | undefined> {
  const file = stateFileFor(stateDir, outDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new RcptsyncError(`${file}: cannot read last-known-good state: ${(error as Error).message}`, ExitCode.runtime);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw unusableState(file, `invalid JSON (${(error as Error).message})`);
  }
  return checkSnapshotShape(value, file);
}

/** Replace the last-known-good snapshot for `outDir` atomically. Call only after the render succeeded. */
export async function saveLastKnownGood(stateDir: string | undefined, outDir: string, snapshot: Snapshot): Promise<string> {
  const file = stateFileFor(stateDir, outDir);
  checkSnapshotShape(snapshot, '(snapshot to save)');
  await writeFileAtomic(file, `${JSON.stringify(snapshot)}\n`, { mode: 0o600 });
  return file;
}
