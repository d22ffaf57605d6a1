/**
 * Write a file so that readers see the old bytes or the new ones, never a
 * mixture: a temporary file in the same directory, fsync, rename over the
 * target, fsync the directory so that the rename survives a crash.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  /** Create the directory if missing (default true). */
  mkdir?: boolean;
}

/** A temporary name next to `file`; hidden and without `file`'s extension, so globbing readers (node_exporter's `*.prom`) skip it. */
export function temporaryNameFor(file: string): string {
  const dir = path.dirname(file);
  return path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  if (options.mkdir !== false) await mkdir(dir, { recursive: true });
  const temporary = temporaryNameFor(file);
  try {
    const handle = await open(temporary, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}
