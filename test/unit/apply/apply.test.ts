// applySnapshot's order: guard, then render, then state. Each test here fails
// when one step is skipped or moved: without the guard a shrink over the
// threshold reaches relay_recipients; with the state written before the tree a
// failed render would still move the last-known-good state.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { applySnapshot, loadBaseline, planAgainst, type ApplyOptions } from '../../../src/apply/apply.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { SafetyRefusedError } from '../../../src/plan/guard.js';
import { loadLastKnownGoodFile, saveLastKnownGood } from '../../../src/state/last-known-good.js';

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

  test('a shrink over the threshold against a tree without a state is refused even when holding: nothing to hold from', async () => {
    const { outDir, stateDir } = await firstRun();
    rmSync(stateDir, { recursive: true, force: true });
    const tree = readTree(outDir);
    const error = await applySnapshot(snapshot(members(0, 50)), { ...safety, outDir, stateDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetyRefusedError);
    expect(readTree(outDir)).toEqual(tree);
    expect(existsSync(stateDir)).toBe(false);
  });

  test('held removals stay published and stay held on the next run, until a forced run lets them go', async () => {
    const { outDir, stateDir } = await firstRun();
    const shrunk = snapshot(members(0, 50), ['new@lists.example.org']);
    const first = await applySnapshot(shrunk, { ...safety, outDir, stateDir });
    expect(first.violations.map((v) => v.rule)).toEqual(['removal-percent']);
    expect(first.held.map((h) => [h.domain, h.count, h.gateways])).toEqual([[DOMAIN, 50, ['mx1']]]);
    // Published: what is kept, plus the addition.
    expect(published(outDir)).toEqual([...members(0, 100), 'new@lists.example.org'].sort());
    expect(first.plan.totals).toMatchObject({ added: 1, removed: 0 });
    // The same collection again: the same removals, still held.
    const again = await applySnapshot(shrunk, { ...safety, outDir, stateDir });
    expect(again.held.map((h) => h.count)).toEqual([50]);
    expect(published(outDir)).toEqual([...members(0, 100), 'new@lists.example.org'].sort());
    const forced = await applySnapshot(shrunk, { ...safety, force: true, outDir, stateDir });
    expect(forced.held).toEqual([]);
    expect(published(outDir)).toEqual([...members(0, 50), 'new@lists.example.org'].sort());
  });

  test('a rule that holding cannot cure still stops the run', async () => {
    const { outDir, stateDir } = await firstRun();
    const tree = readTree(outDir);
    // Nothing is removed, but the domain is under its minimum: holding has nothing to keep.
    const minimum = [{ gateway: 'mx1', thresholds: { maxRemovalPercent: 30, removalFloor: 10, minEntries: 0 }, domains: { [DOMAIN]: { minEntries: 200 } } }];
    const error = await applySnapshot(snapshot(members(0, 100)), { ...safety, policies: minimum, outDir, stateDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SafetyRefusedError);
    expect((error as Error).message).toBe(`refused: mx1: ${DOMAIN}: 100 entries would remain, under the minimum of 200; run with --force to accept`);
    expect(readTree(outDir)).toEqual(tree);
  });

  test('a failed source is carried forward from the state, and stamped with when it was collected', async () => {
    const where = dirs();
    const at = new Date('2026-12-01T00:00:00Z');
    await applySnapshot(snapshot(members(0, 100), ['x@lists.example.org']), { ...safety, ...where, now: at });
    const withoutExtra = snapshot(members(0, 100));
    withoutExtra.sources.pop();
    const failure = { host: 'lists1', index: 1, type: 'static', label: 'extra', message: 'lists1: command failed with exit code 1: cat extra', hostKey: false };
    const result = await applySnapshot(withoutExtra, { ...safety, ...where, failures: [failure], now: new Date('2026-12-01T06:00:00Z') });
    expect(result.carried.map((c) => [c.host, c.label, c.addresses, c.since, c.staleHours])).toEqual([['lists1', 'extra', 1, at.toISOString(), 6]]);
    expect(published(where.outDir)).toContain('x@lists.example.org');
    // Past rcptsync_max_stale: nothing is written.
    const tree = readTree(where.outDir);
    await expect(applySnapshot(withoutExtra, { ...safety, ...where, failures: [failure], maxStaleHours: () => 5, now: new Date('2026-12-01T06:00:00Z') })).rejects.toThrow(
      /cannot be carried forward: its last good data is from 2026-12-01T00:00:00.000Z \(6.0 h ago\), older than rcptsync_max_stale \(5 h\)/,
    );
    expect(readTree(where.outDir)).toEqual(tree);
  });
});

describe('a state from before collectedAt', () => {
  test("a failed source is carried forward as collected when the state was written", async () => {
    const where = dirs();
    await applySnapshot(snapshot(members(0, 10), ['x@lists.example.org']), { ...safety, ...where });
    // As rcptsync 0.1 wrote it: no collectedAt on any source.
    await saveLastKnownGood(where.stateDir, where.outDir, snapshot(members(0, 10), ['x@lists.example.org']));
    const { writtenAt } = (await loadLastKnownGoodFile(where.stateDir, where.outDir))!;
    const withoutExtra = snapshot(members(0, 10));
    withoutExtra.sources.pop();
    const failure = { host: 'lists1', index: 1, type: 'static', label: 'extra', message: 'lists1: connection refused', hostKey: false };
    const result = await applySnapshot(withoutExtra, { ...safety, ...where, failures: [failure] });
    expect(result.carried.map((c) => [c.label, c.since])).toEqual([['extra', writtenAt.toISOString()]]);
    expect(published(where.outDir)).toContain('x@lists.example.org');
  });
});

describe('loadBaseline and planAgainst', () => {
  test('the baseline is the state, else the tree on disk, else nothing; or the tree asked for', async () => {
    const where = dirs();
    expect(await loadBaseline(where)).toEqual({ description: 'nothing (first run)', tables: new Map(), routes: new Map() });
    await applySnapshot(snapshot(members(0, 20)), { ...safety, ...where });
    const fromState = await loadBaseline(where);
    expect(fromState.description).toBe('the last-known-good state');
    expect(fromState.snapshot?.sources.map((s) => s.addresses.length)).toEqual([20, 0]);
    expect(fromState.tables.get('mx1')?.get(DOMAIN)).toEqual(members(0, 20));
    rmSync(where.stateDir, { recursive: true, force: true });
    const fromTree = await loadBaseline(where);
    expect(fromTree.description).toBe(`the rendered tree ${where.outDir} (no last-known-good state yet)`);
    expect(fromTree.snapshot).toBeUndefined();
    expect(fromTree.tables.get('mx1')?.get(DOMAIN)).toEqual(members(0, 20));
    const asked = await loadBaseline({ ...where, against: where.outDir });
    expect(asked.description).toBe(`the rendered tree ${where.outDir}`);
    expect(asked.tables).toEqual(fromTree.tables);
  });

  test('planAgainst publishes the collection as it is when nothing is breached, and passes --allow-removals on', async () => {
    const where = await firstRun();
    const baseline = await loadBaseline(where);
    const within = planAgainst(baseline, snapshot(members(0, 80)), safety);
    expect(within.violations).toEqual([]);
    expect(within.held).toEqual([]);
    expect(within.refusal).toBeUndefined();
    expect(within.publishedPlan).toBe(within.plan);
    expect(within.plan.totals).toMatchObject({ removed: 20, before: 100, after: 80 });
    const allowed = planAgainst(baseline, snapshot(members(0, 50)), { ...safety, allowRemovals: 50 });
    expect(allowed.violations).toEqual([]);
    expect(planAgainst(baseline, snapshot(members(0, 50)), { ...safety, allowRemovals: 49 }).violations).toHaveLength(1);
    // The source-gone-empty rule needs the sources of the state.
    const emptied = planAgainst({ ...baseline, snapshot: snapshot(members(0, 100), ['gone@lists.example.org']) }, snapshot(members(0, 100)), { ...safety, ...stop });
    expect(emptied.violations.map((v) => v.rule)).toEqual(['source-empty']);
    expect(planAgainst({ ...baseline, snapshot: undefined }, snapshot(members(0, 100)), safety).violations).toEqual([]);
  });
});

describe('baselines from git, accepted breaches, domains no longer relayed', () => {
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  test('--against a git revision reads the tree committed there; anything else is refused', async () => {
    const where = await firstRun(members(0, 30));
    // The repository holds the output tree (which a render replaces whole) as a subfolder.
    const repo = path.dirname(where.outDir);
    git(repo, 'init', '-q');
    git(repo, 'add', 'rendered');
    git(repo, 'commit', '-q', '-m', 'rendered');
    await applySnapshot(snapshot(members(0, 40)), { ...safety, ...where });
    const atHead = await loadBaseline({ ...where, against: 'HEAD' });
    expect(atHead.description).toBe(`${where.outDir} at git revision HEAD`);
    expect(atHead.tables.get('mx1')?.get(DOMAIN)).toEqual(members(0, 30));
    for (const against of ['nosuchrev', '--output=x']) {
      await expect(loadBaseline({ ...where, against })).rejects.toThrow(`--against ${against}: neither a directory nor a git revision of the repository that holds ${where.outDir}`);
    }
  });

  test('breaches accepted by --force or --allow-removals are reported as accepted, the others are not', async () => {
    const baseline = await loadBaseline(await firstRun());
    const shrunk = snapshot(members(0, 50));
    expect(planAgainst(baseline, shrunk, safety).accepted).toEqual([]);
    for (const accepting of [{ force: true }, { allowRemovals: 50 }]) {
      const result = planAgainst(baseline, shrunk, { ...safety, ...accepting });
      expect(result.violations).toEqual([]);
      expect(result.accepted.map((v) => v.message)).toEqual([`mx1: ${DOMAIN}: 50 of 100 entries (50.0%) would be removed, over 30%; run with --force to accept`]);
    }
    // Partly accepted: what still refuses is not listed as accepted.
    const emptied = planAgainst({ ...baseline, snapshot: snapshot(members(0, 100), ['gone@lists.example.org']) }, snapshot(members(0, 50)), { ...safety, allowRemovals: 50 });
    expect(emptied.violations.map((v) => v.rule)).toEqual(['source-empty']);
    expect(emptied.accepted.map((v) => v.rule)).toEqual(['removal-percent']);
  });

  test('a domain a gateway stops relaying is a breach of its own, on that gateway only', async () => {
    const two = (domains: string[][]): Snapshot => ({
      ...snapshot([]),
      sources: [{ host: 'lists1', index: 0, type: 'static', label: 'members', addresses: ['a@one.example.org', 'b@two.example.org', 'c@two.example.org'], refused: 0 }],
      gateways: domains.map((names, g) => ({
        name: `mx${g + 1}`,
        smtputf8: false,
        domains: names.map((domain) => ({ domain, nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: false, allowEmpty: false })),
      })),
    });
    const where = dirs();
    await applySnapshot(two([['one.example.org', 'two.example.org'], ['one.example.org', 'two.example.org']]), { ...safety, ...where });
    const baseline = await loadBaseline(where);
    const mx1Drops = planAgainst(baseline, two([['one.example.org'], ['one.example.org', 'two.example.org']]), { ...safety, ...stop });
    expect(mx1Drops.violations.map((v) => [v.rule, v.gateway, v.domain])).toEqual([['domain-unrelayed', 'mx1', 'two.example.org']]);
    expect(mx1Drops.violations[0]!.message).toBe(
      'mx1: two.example.org: no longer relayed: its 2 entries go and its mail will be refused (554 Relay access denied); run with --force to accept',
    );
    // A new next hop is a route change, not a domain going away.
    const moved = two([['one.example.org', 'two.example.org'], ['one.example.org', 'two.example.org']]);
    moved.gateways[0]!.domains[1]!.nextHop = 'smtp:[lists2.example.org]:25';
    const hopChanged = planAgainst(baseline, moved, { ...safety, ...stop });
    expect(hopChanged.plan.routes.map((r) => [r.gateway, r.domain, r.change === 'no longer relayed'])).toEqual([['mx1', 'two.example.org', false]]);
    expect(hopChanged.violations).toEqual([]);
    // A domain that had no entries (declared empty) may go without a word.
    const empty = two([['one.example.org', 'two.example.org'], ['one.example.org', 'two.example.org']]);
    empty.gateways[0]!.domains.push({ domain: 'zero.example.org', nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: false, allowEmpty: true });
    const withEmpty = dirs();
    await applySnapshot(empty, { ...safety, ...withEmpty });
    const dropsEmpty = planAgainst(await loadBaseline(withEmpty), two([['one.example.org', 'two.example.org'], ['one.example.org', 'two.example.org']]), { ...safety, ...stop });
    expect(dropsEmpty.plan.routes.map((r) => [r.gateway, r.domain, r.change])).toEqual([['mx1', 'zero.example.org', 'no longer relayed']]);
    expect(dropsEmpty.violations).toEqual([]);
    const bothDropOne = planAgainst(baseline, two([['two.example.org'], ['two.example.org']]), { ...safety, ...stop });
    expect(bothDropOne.violations.map((v) => v.message)).toEqual([
      'mx1: one.example.org: no longer relayed: its 1 entry goes and its mail will be refused (554 Relay access denied); run with --force to accept',
      'mx2: one.example.org: no longer relayed: its 1 entry goes and its mail will be refused (554 Relay access denied); run with --force to accept',
    ]);
  });
});

