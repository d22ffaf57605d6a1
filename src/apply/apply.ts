/**
 * Applying a new collection to an output tree, safely: compare it with what it
 * replaces (the last-known-good state of that tree, or the tree on disk when
 * there is no state yet), refuse a shrink over the thresholds, then render
 * atomically and only then record the new last-known-good state. Any error
 * before the swap leaves the tree and the state exactly as they were.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import type { GatewayPolicy } from '../inventory/model.js';
import type { Snapshot } from '../model/snapshot.js';
import { diffTables, withRoutes, type Plan } from '../plan/diff.js';
import { diffRoutes, routesFromGitRevision, routesFromRenderedTree, routesFromSnapshot, type Routes } from '../plan/routes.js';
import { checkSafety, findViolations, SafetyRefusedError, sourceCountsOf, type Violation } from '../plan/guard.js';
import { tablesFromGatewayTables, tablesFromGitRevision, tablesFromRenderedTree, tablesFromSnapshot, type GatewayTables } from '../plan/tables.js';
import { buildGatewayTables, type GatewayTable } from '../tables/gateway-tables.js';
import type { SourceFailure } from '../collect/collect.js';
import { carryForward, DEFAULT_MAX_STALE_HOURS, stampCollectedAt, type CarriedSource, type CarryForwardResult } from './carry-forward.js';
import { holdRemovals, type HeldRemoval } from './hold.js';
import { renderTree, type RenderSummary } from '../render/index.js';
import { loadLastKnownGoodFile, saveLastKnownGood } from '../state/last-known-good.js';

export interface Baseline {
  /** What the plan compares with, for the user: `last-known-good state <file>`, `rendered tree <dir>`, ... */
  description: string;
  tables: GatewayTables;
  /** The snapshot behind it, when it is a state (for the source-gone-empty rule, holding and carrying forward). */
  snapshot?: Snapshot;
  /** When that state was written. */
  writtenAt?: Date;
  /** Its relayed domains and next hops (transport). */
  routes: Routes;
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
  const lastGood = await loadLastKnownGoodFile(options.stateDir, options.outDir);
  if (lastGood) {
    return {
      description: 'the last-known-good state',
      tables: tablesFromSnapshot(lastGood.snapshot),
      routes: routesFromSnapshot(lastGood.snapshot),
      snapshot: lastGood.snapshot,
      writtenAt: lastGood.writtenAt,
    };
  }
  if (await isDirectory(options.outDir)) {
    return {
      description: `the rendered tree ${options.outDir} (no last-known-good state yet)`,
      tables: await tablesFromRenderedTree(options.outDir),
      routes: await routesFromRenderedTree(options.outDir),
    };
  }
  return { description: 'nothing (first run)', tables: new Map(), routes: new Map() };
}

async function loadExplicitBaseline(against: string, outDir: string): Promise<Baseline> {
  if (await isDirectory(against)) {
    return { description: `the rendered tree ${against}`, tables: await tablesFromRenderedTree(against), routes: await routesFromRenderedTree(against) };
  }
  // Anything else is a git revision of the output tree, e.g. HEAD or origin/main.
  if (!(await isGitRevision(outDir, against))) {
    throw new RcptsyncError(`--against ${against}: neither a directory nor a git revision of the repository that holds ${outDir}`, ExitCode.usage);
  }
  return {
    description: `${outDir} at git revision ${against}`,
    tables: await tablesFromGitRevision(outDir, against, '.'),
    routes: await routesFromGitRevision(outDir, against, '.'),
  };
}

/** True when `rev` names a commit in the git repository around `dir` (false outside a repository). */
function isGitRevision(dir: string, rev: string): Promise<boolean> {
  if (rev.startsWith('-')) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd: existsSync(dir) ? dir : path.dirname(path.resolve(dir)) }, (error) => resolve(!error));
  });
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
  /**
   * What a breached threshold does: `hold` (default) publishes the additions and
   * keeps the breaching removals for review; `stop` publishes nothing (all or
   * nothing, as before).
   */
  onRefusal?: RefusalPolicy;
}

export type RefusalPolicy = 'hold' | 'stop';

export interface PlanResult {
  baseline: Baseline;
  /** The collection against the baseline: every change, the held removals included. */
  plan: Plan;
  /** Violations of the collection (empty with --force): what is held, or refuses the run. */
  violations: Violation[];
  /** What the run publishes: the collection, plus the held removals when there are any. */
  snapshot: Snapshot;
  built: GatewayTable[];
  /** The plan of what is published (equal to `plan` unless removals are held). */
  publishedPlan: Plan;
  held: HeldRemoval[];
  /** Set when nothing may be published: --on-refusal stop, no state to hold from, or a rule holding cannot satisfy. */
  refusal?: SafetyRefusedError;
  /** Breaches that --force or --allow-removals accepted: still shown, in every report. */
  accepted: Violation[];
}

/**
 * Everything a run decides before it writes: the plan against the baseline, the
 * violations, and what to publish. `plan` shows it, `sync` and `render` apply it.
 */
export function planAgainst(baseline: Baseline, snapshot: Snapshot, safety: SafetySettings): PlanResult {
  const built = buildGatewayTables(snapshot);
  // Settings do not change by holding removals: one route comparison serves both plans.
  const routes = diffRoutes(baseline.routes, routesFromSnapshot(snapshot));
  const plan = withRoutes(diffTables(baseline.tables, tablesFromGatewayTables(built)), routes);
  const options = safetyOptions(baseline, snapshot, safety);
  const violations = checkSafety(plan, options);
  const refusing = new Set(violations.map((v) => v.message));
  const accepted = safety.force || safety.allowRemovals !== undefined ? findViolations(plan, options).filter((v) => !refusing.has(v.message)) : [];
  const unchanged = { baseline, plan, violations, snapshot, built, publishedPlan: plan, held: [], accepted };
  if (violations.length === 0) return unchanged;
  // Holding needs the sources behind the baseline: a rendered tree alone has none.
  if ((safety.onRefusal ?? 'hold') === 'stop' || !baseline.snapshot) return { ...unchanged, refusal: new SafetyRefusedError(violations) };
  const holding = holdRemovals(baseline.snapshot, snapshot, plan, violations);
  const heldBuilt = buildGatewayTables(holding.snapshot);
  const publishedPlan = withRoutes(diffTables(baseline.tables, tablesFromGatewayTables(heldBuilt)), routes);
  // What holding cannot cure (e.g. a domain under its minimum with nothing removed) still stops the run.
  const remaining = checkSafety(publishedPlan, safetyOptions(baseline, holding.snapshot, safety));
  return {
    baseline,
    plan,
    violations,
    snapshot: holding.snapshot,
    built: heldBuilt,
    publishedPlan,
    held: holding.held,
    accepted,
    ...(remaining.length > 0 ? { refusal: new SafetyRefusedError(remaining) } : {}),
  };
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

export interface ApplyOptions extends SafetySettings, CarryOptions {
  outDir: string;
  stateDir?: string;
  templatesDir?: string;
}

export interface CarryOptions {
  /** Sources that failed in this run: carried forward from the last-known-good state, or the run fails. */
  failures?: SourceFailure[];
  /** `rcptsync_max_stale` of a failed source (default 72 h). */
  maxStaleHours?: (failure: SourceFailure) => number;
  /** This run's time: for staleness, and recorded for the sources collected now (default now). */
  now?: Date;
}

/** The collection with its failed sources carried forward from `lastGood` (throws StaleSourcesError when it may not). */
export function withCarriedSources(snapshot: Snapshot, lastGood: Pick<Baseline, 'snapshot' | 'writtenAt'>, options: CarryOptions): CarryForwardResult {
  return carryForward({
    snapshot,
    failures: options.failures ?? [],
    lastGood: lastGood.snapshot,
    ...(lastGood.writtenAt ? { lastGoodWritten: lastGood.writtenAt } : {}),
    maxStaleHours: options.maxStaleHours ?? (() => DEFAULT_MAX_STALE_HOURS),
    now: options.now ?? new Date(),
  });
}

export interface ApplyResult {
  /** What was published, against the baseline. */
  plan: Plan;
  baseline: Baseline;
  render: RenderSummary;
  stateFile: string;
  /** What each gateway's relay_recipients now holds. */
  tables: GatewayTables;
  /** Removals kept for review (empty when none were held). */
  held: HeldRemoval[];
  /** The violations that caused the hold. */
  violations: Violation[];
  /** Failed sources published from the last-known-good state. */
  carried: CarriedSource[];
  /** Breaches accepted by --force or --allow-removals. */
  accepted: Violation[];
}

/**
 * Guard, render, then record the state. A breached threshold holds its removals
 * and publishes the rest; when it may not (see planAgainst), SafetyRefusedError
 * (exit 3) is thrown before anything is written.
 */
export async function applySnapshot(snapshot: Snapshot, options: ApplyOptions): Promise<ApplyResult> {
  const baseline = await loadBaseline({ outDir: options.outDir, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const { snapshot: collected, carried } = withCarriedSources(snapshot, baseline, options);
  const decided = planAgainst(baseline, collected, options);
  // The one guard before anything is written.
  if (decided.refusal) throw decided.refusal;
  const render = await renderTree(decided.snapshot, {
    outDir: options.outDir,
    ...(options.templatesDir ? { templatesDir: options.templatesDir } : {}),
    tables: decided.built,
  });
  // The state follows the tree: written only once the new tree is in place, and
  // it records what was published (held removals included).
  const stateFile = await saveLastKnownGood(options.stateDir, options.outDir, stampCollectedAt(decided.snapshot, options.now ?? new Date()));
  return {
    plan: decided.publishedPlan,
    baseline,
    render,
    stateFile,
    tables: tablesFromGatewayTables(decided.built),
    held: decided.held,
    violations: decided.violations,
    carried,
    accepted: decided.accepted,
  };
}
