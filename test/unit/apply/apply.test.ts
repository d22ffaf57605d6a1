// applySnapshot's order: guard, then render, then state. Each test here fails
// when one step is skipped or moved: without the guard a shrink over the
// threshold reaches relay_recipients; with the state written before the tree a
// failed render would still move the last-known-good state.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { applySnapshot, type ApplyOptions } from '../../../src/apply/apply.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { SafetyRefusedError } from '../../../src/plan/guard.js';

const work = mkdtempSync(path.join(tmpdir(), 'rcptsync-apply-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const DOMAIN = 'lists.example.org';
const members = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => `member${String(from + i).padStart(3, '0')}@${DOMAIN}`);

function snapshot(addresses: string[], extra: string[] = []): Snapshot {
  return {
    format: 'rcptsync-snapshot',
    version: 1,
    sources: [
      { host: 'lists1', index: 0, type: 'static', label: 'members', addresses, refused: 0 },
      { host: 'lists1', index: 1, type: 'static', label: 'extra', addresses: extra, refused: 0 },
    ],
    gateways: [{ name: 'mx1', smtputf8: false, domains: [{ domain: DOMAIN, nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: false, allowEmpty: false }] }],
  };
}

let counter = 0;
function dirs(): { outDir: string; stateDir: string } {
  const base = path.join(work, `case-${++counter}`);
  mkdirSync(base);
  return { outDir: path.join(base, 'rendered'), stateDir: path.join(base, 'state') };
}

/** Every file under `dir`, relative path -> bytes (empty when there is no such directory). */
function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!existsSync(dir)) return files;
  const walk = (sub: string): void => {
    for (const entry of readdirSync(path.join(dir, sub)).sort()) {
      const rel = path.join(sub, entry);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(rel, readFileSync(path.join(dir, rel), 'latin1'));
    }
  };
  walk('');
  return files;
}

/** The keys in mx1's relay_recipients. */
function published(outDir: string): string[] {
  return readFileSync(path.join(outDir, 'mx1/relay_recipients'), 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(' ')[0]!);
}

const safety = { policies: [], force: false } satisfies Partial<ApplyOptions>;
// "Publish nothing on a breach". Without this option (before issue 7) that is what every breach does.
const stop = { onRefusal: 'stop' as const };

async function firstRun(addresses = members(0, 100)): Promise<{ outDir: string; stateDir: string }> {
  const where = dirs();
  await applySnapshot(snapshot(addresses), { ...safety, ...where });
  expect(published(where.outDir)).toEqual(addresses);
  return where;
}

describe('applySnapshot', () => {
  test('a first run renders everything and records the state', async () => {
    const { outDir, stateDir } = await firstRun();
    expect(readTree(stateDir).size).toBeGreaterThan(0);
    expect(readTree(outDir).has('manifest.json')).toBe(true);
  });

  test('a shrink over the threshold, refused: nothing is rendered, the state is unchanged', async () => {
    const { outDir, stateDir } = await firstRun();
    const tree = readTree(outDir);
    const state = readTree(stateDir);
    const error = await applySnapshot(snapshot(members(0, 50), ['new@lists.example.org']), { ...safety, ...stop, outDir, stateDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetyRefusedError);
    expect((error as SafetyRefusedError).exitCode).toBe(3);
    expect((error as SafetyRefusedError).message).toBe(
      'refused: mx1: lists.example.org: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept',
    );
    expect(readTree(outDir)).toEqual(tree);
    expect(readTree(stateDir)).toEqual(state);
  });

  test('a shrink over the threshold never makes the published table smaller, whatever the refusal policy', async () => {
    const { outDir, stateDir } = await firstRun();
    // Default policy: refused (exit 3), or the removals held while the addition ships.
    const outcome = await applySnapshot(snapshot(members(0, 50), ['new@lists.example.org']), { ...safety, outDir, stateDir }).catch((e: unknown) => e);
    if (outcome instanceof Error) expect(outcome).toBeInstanceOf(SafetyRefusedError);
    const now = published(outDir);
    for (const key of members(0, 100)) expect(now).toContain(key);
  });

  test('a source gone empty is refused too, although the table shrinks less than the threshold', async () => {
    const where = dirs();
    await applySnapshot(snapshot(members(0, 100), ['new@lists.example.org']), { ...safety, ...where });
    const tree = readTree(where.outDir);
    const error = await applySnapshot(snapshot(members(0, 100), []), { ...safety, ...stop, ...where }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetyRefusedError);
    expect((error as Error).message).toMatch(/lists1: extra: returned no entries, 1 last time/);
    expect(readTree(where.outDir)).toEqual(tree);
  });

  test('a shrink within the threshold, or a forced one, is rendered and becomes the new state', async () => {
    const { outDir, stateDir } = await firstRun();
    await applySnapshot(snapshot(members(0, 80)), { ...safety, outDir, stateDir });
    expect(published(outDir)).toEqual(members(0, 80));
    const state = readTree(stateDir);
    // Against the new state, 80 -> 50 is 37.5%: refused unless forced.
    await expect(applySnapshot(snapshot(members(0, 50)), { ...safety, ...stop, outDir, stateDir })).rejects.toThrow(SafetyRefusedError);
    expect(readTree(stateDir)).toEqual(state);
    const result = await applySnapshot(snapshot(members(0, 50)), { ...safety, force: true, outDir, stateDir });
    expect(published(outDir)).toEqual(members(0, 50));
    expect(result.plan.gateways[0]!.removed).toBe(30);
    expect(readTree(stateDir)).not.toEqual(state);
  });

  test('--allow-removals accepts that many removals and no more', async () => {
    const { outDir, stateDir } = await firstRun();
    await expect(applySnapshot(snapshot(members(0, 50)), { ...safety, ...stop, allowRemovals: 49, outDir, stateDir })).rejects.toThrow(SafetyRefusedError);
    expect(published(outDir)).toEqual(members(0, 100));
    await applySnapshot(snapshot(members(0, 50)), { ...safety, ...stop, allowRemovals: 50, outDir, stateDir });
    expect(published(outDir)).toEqual(members(0, 50));
  });

  test('the state follows the tree: a render that fails leaves the state as it was', async () => {
    const { outDir, stateDir } = await firstRun();
    const tree = readTree(outDir);
    const state = readTree(stateDir);
    const templatesDir = path.join(work, `templates-${counter}`);
    mkdirSync(templatesDir);
    writeFileSync(path.join(templatesDir, 'transport.hbs'), '{{nosuchfield}}\n');
    await expect(applySnapshot(snapshot(members(0, 101)), { ...safety, outDir, stateDir, templatesDir })).rejects.toThrow(/nosuchfield/);
    expect(readTree(outDir)).toEqual(tree);
    expect(readTree(stateDir)).toEqual(state);
  });
});
