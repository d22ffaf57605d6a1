import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { writeSnapshot } from '../../../src/model/snapshot-io.js';
import { writeFileAtomic } from '../../../src/state/atomic.js';
import { defaultStateDir, loadLastKnownGood, saveLastKnownGood, stateFileFor } from '../../../src/state/last-known-good.js';

const snapshot: Snapshot = {
  format: 'rcptsync-snapshot',
  version: 1,
  sources: [{ host: 'lists1', index: 0, type: 'mailman3', label: 'sources[0] (mailman3)', addresses: ['a@x.example.org'], refused: 0 }],
  gateways: [{ name: 'mx1', smtputf8: false, domains: [{ domain: 'x.example.org', nextHop: 'smtp:[lists1]:25', roleAddresses: true, allowEmpty: false }] }],
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rcptsync-state-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('state file location', () => {
  it('defaults to <dirname(out)>/.rcptsync-state/<basename(out)>.<hash of the full path>.snapshot.json', () => {
    const hash = (p: string): string => createHash('sha256').update(p).digest('hex').slice(0, 12);
    expect(defaultStateDir('/srv/rcptsync/rendered')).toBe('/srv/rcptsync/.rcptsync-state');
    expect(stateFileFor(undefined, '/srv/rcptsync/rendered/')).toBe(`/srv/rcptsync/.rcptsync-state/rendered.${hash('/srv/rcptsync/rendered')}.snapshot.json`);
    expect(stateFileFor('/var/lib/rcptsync', '/srv/rcptsync/rendered')).toBe(`/var/lib/rcptsync/rendered.${hash('/srv/rcptsync/rendered')}.snapshot.json`);
    expect(stateFileFor(undefined, 'rendered')).toBe(path.join(process.cwd(), '.rcptsync-state', `rendered.${hash(path.join(process.cwd(), 'rendered'))}.snapshot.json`));
  });

  it('keeps outputs of the same name apart in a shared state directory', () => {
    expect(stateFileFor('/var/lib/rcptsync', '/srv/prod/rendered')).not.toBe(stateFileFor('/var/lib/rcptsync', '/srv/staging/rendered'));
  });
});

describe('last-known-good', () => {
  it('is undefined before the first run, and round-trips after a save', async () => {
    const out = path.join(dir, 'rendered');
    expect(await loadLastKnownGood(undefined, out)).toBeUndefined();
    const file = await saveLastKnownGood(undefined, out, snapshot);
    expect(file).toBe(stateFileFor(undefined, out));
    expect(path.dirname(file)).toBe(path.join(dir, '.rcptsync-state'));
    expect(await loadLastKnownGood(undefined, out)).toEqual(snapshot);
    // No temporary file is left behind.
    expect(await readdir(path.dirname(file))).toEqual([path.basename(file)]);
  });

  it('adopts a state of rcptsync 0.1 (keyed by the basename) beside the output, and refuses one in a shared state directory', async () => {
    const out = path.join(dir, 'rendered');
    const legacyDir = path.join(dir, '.rcptsync-state');
    await mkdir(legacyDir, { recursive: true });
    await writeSnapshot(path.join(legacyDir, 'rendered.snapshot.json'), snapshot);
    expect(await loadLastKnownGood(undefined, out)).toEqual(snapshot);
    // Saving replaces it with the new name.
    await saveLastKnownGood(undefined, out, snapshot);
    expect(await readdir(legacyDir)).toEqual([path.basename(stateFileFor(undefined, out))]);

    const shared = path.join(dir, 'shared');
    await mkdir(shared);
    await writeSnapshot(path.join(shared, 'rendered.snapshot.json'), snapshot);
    await expect(loadLastKnownGood(shared, out)).rejects.toThrow(/may belong to another output named rendered/);
  });

  it('refuses a damaged state instead of treating it as a first run', async () => {
    const out = path.join(dir, 'rendered');
    const file = stateFileFor(undefined, out);
    await mkdir(path.dirname(file), { recursive: true });
    for (const [text, why] of [
      ['{"format":"rcptsync-snapshot","version":1,"sources":[', /not valid JSON/],
      ['{"format":"something-else","version":1,"sources":[],"gateways":[]}', /format: expected "rcptsync-snapshot"/],
      ['{"format":"rcptsync-snapshot","version":2,"sources":[],"gateways":[]}', /version 2 is not supported/],
      ['{"format":"rcptsync-snapshot","version":1,"sources":[{"host":"h","index":0,"type":"t","label":"l","refused":0,"addresses":["@x.example.org"]}],"gateways":[]}', /catch-all/],
      ['[]', /not a JSON object/],
    ] as const) {
      await writeFile(file, text);
      const error = await loadLastKnownGood(undefined, out).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RcptsyncError);
      expect((error as Error).message).toContain(`${file}: not a usable last-known-good state`);
      expect((error as Error).message).toMatch(why);
    }
  });
});

describe('writeFileAtomic', () => {
  it('replaces the whole file and leaves the old one whole when the write fails', async () => {
    const file = path.join(dir, 'sub', 'x.json');
    await writeFileAtomic(file, 'old\n');
    await writeFileAtomic(file, 'new\n');
    expect(await readFile(file, 'utf8')).toBe('new\n');
    // The target is a directory: rename fails, the temporary file is removed.
    const blocked = path.join(dir, 'blocked');
    await mkdir(path.join(blocked, 'inner'), { recursive: true });
    await expect(writeFileAtomic(blocked, 'x')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['blocked', 'sub']);
    expect(await readdir(path.join(dir, 'sub'))).toEqual(['x.json']);
  });
});
