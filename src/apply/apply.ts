/**
 * Applying a new collection to an output tree, safely: compare it with what it
 * replaces (the last-known-good state of that tree, or the tree on disk when
 * there is no state yet), refuse a shrink over the thresholds, then render
 * atomically and only then record the new last-known-good state. Any error
 * before the swap leaves the tree and the state exactly as they were.
 */
import { stat } from 'node:fs/promises';
import type { GatewayPolicy } from '../inventory/model.js';
import type { Snapshot } from '../model/snapshot.js';
import { diffTables, type Plan } from '../plan/diff.js';
import { assertSafe, checkSafety, sourceCountsOf, type Violation } from '../plan/guard.js';
import { tablesFromGatewayTables, tablesFromGitRevision, tablesFromRenderedTree, tablesFromSnapshot, type GatewayTables } from '../plan/tables.js';
import { buildGatewayTables } from '../model/snapshot-io.js';
import { renderTree, type RenderSummary } from '../render/index.js';
import { loadLastKnownGood, saveLastKnownGood } from '../state/last-known-good.js';

export interface Baseline {
  /** What the plan compares with, for the user: `last-known-good state <file>`, `rendered tree <dir>`, ... */
  description: string;
  tables: GatewayTables;
  /** The snapshot behind it, when it is a state (for the source-gone-empty rule). */
  snapshot?: Snapshot;
}

export interface BaselineOptions {
  outDir: string;
  stateDir?: string;
  /** A rendered tree on disk, or `git:REV` / a revision of the output tree in its git repository. */
  against?: string;
}

/** What `sync` would replace: by default the last-known-good state, else the tree on disk, else nothing. */
export async function loadBaseline(options: BaselineOptions): Promise<Baseline> {
  if (options.against !== undefined) return loadExplicitBaseline(options.against, options.outDir);
  const lastGood = await loadLastKnownGood(options.stateDir, options.outDir);
  if (lastGood) return { description: 'the last-known-good state', tables: tablesFromSnapshot(lastGood), snapshot: lastGood };
  if (await isDirectory(options.outDir)) {
    return { description: `the rendered tree ${options.outDir} (no last-known-good state yet)`, tables: await tablesFromRenderedTree(options.outDir) };
  }
  return { description: 'nothing (first run)', tables: new Map() };
}

async function loadExplicitBaseline(against: string, outDir: string): Promise<Baseline> {
  if (await isDirectory(against)) return { description: `the rendered tree ${against}`, tables: await tablesFromRenderedTree(against) };
  // Anything else is a git revision of the output tree, e.g. HEAD or origin/main.
  return { description: `${outDir} at git revision ${against}`, tables: await tablesFromGitRevision(outDir, against, '.') };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export interface SafetySettings {
  policies: GatewayPolicy[];
  force: boolean;
  allowRemovals?: number;
}

export interface PlanResult {
  baseline: Baseline;
  plan: Plan;
  /** Violations this run would be refused for (empty with --force). */
  violations: Violation[];
}

export function planAgainst(baseline: Baseline, snapshot: Snapshot, safety: SafetySettings): PlanResult {
  const plan = diffTables(baseline.tables, tablesFromSnapshot(snapshot));
  const violations = checkSafety(plan, safetyOptions(baseline, snapshot, safety));
  return { baseline, plan, violations };
}

function safetyOptions(baseline: Baseline, snapshot: Snapshot, safety: SafetySettings) {
  return {
    policies: safety.policies,
    ...(baseline.snapshot ? { sourcesBefore: sourceCountsOf(baseline.snapshot) } : {}),
    sourcesAfter: sourceCountsOf(snapshot),
    force: safety.force,
    ...(safety.allowRemovals !== undefined ? { allowRemovals: safety.allowRemovals } : {}),
  };
}

export interface ApplyOptions extends SafetySettings {
  outDir: string;
  stateDir?: string;
  templatesDir?: string;
}

export interface ApplyResult {
  plan: Plan;
  baseline: Baseline;
  render: RenderSummary;
  stateFile: string;
  /** What each gateway's relay_recipients now holds. */
  tables: GatewayTables;
}

/** Guard, render, then record the state. Throws SafetyRefusedError (exit 3) before writing anything. */
export async function applySnapshot(snapshot: Snapshot, options: ApplyOptions): Promise<ApplyResult> {
  const baseline = await loadBaseline({ outDir: options.outDir, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  // Built once: the plan compares them, the renderer writes them.
  const built = buildGatewayTables(snapshot);
  const tables = tablesFromGatewayTables(built);
  const plan = diffTables(baseline.tables, tables);
  assertSafe(plan, safetyOptions(baseline, snapshot, options));
  const render = await renderTree(snapshot, {
    outDir: options.outDir,
    ...(options.templatesDir ? { templatesDir: options.templatesDir } : {}),
    tables: built,
  });
  // The state follows the tree: written only once the new tree is in place.
  const stateFile = await saveLastKnownGood(options.stateDir, options.outDir, snapshot);
  return { plan, baseline, render, stateFile, tables };
}
