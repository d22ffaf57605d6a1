/**
 * The part `sync` and `render` share: apply a snapshot to the output tree
 * through the safety rails, report what changed, and keep the metrics file.
 */
import { applySnapshot, type CarryOptions } from '../apply/apply.js';
import { StaleSourcesError, type CarriedSource } from '../apply/carry-forward.js';
import type { HeldRemoval } from '../apply/hold.js';
import { ExitCode } from '../errors.js';
import type { GatewayPolicy } from '../inventory/model.js';
import { writeMetrics, type EntryCount, type RunReport } from '../metrics/textfile.js';
import type { Snapshot } from '../model/snapshot.js';
import { planLine, summary } from '../plan/format.js';
import { describeRouteChange } from '../plan/routes.js';
import { countTables } from '../plan/tables.js';
import { SafetyRefusedError, type Violation } from '../plan/guard.js';
import { integerOption, refusalPolicy, stringOption, type ParsedOptions } from './options.js';
import { fmt, type Reporter } from './reporter.js';

export interface PublishOutcome {
  entries: EntryCount[];
  carried: CarriedSource[];
  held: HeldRemoval[];
  /** 0, or what the run ends with: 6 host key problem carried, 5 degraded, 3 removals held. */
  exitCode: number;
}

export async function publish(
  snapshot: Snapshot,
  policies: GatewayPolicy[],
  values: ParsedOptions,
  reporter: Reporter,
  carry: CarryOptions = {},
): Promise<PublishOutcome> {
  const outDir = stringOption(values, 'output')!;
  const stateDir = stringOption(values, 'state-dir');
  const templatesDir = stringOption(values, 'templates');
  const allowRemovals = integerOption(values, 'allow-removals', 0);
  const result = await applySnapshot(snapshot, {
    outDir,
    ...(stateDir ? { stateDir } : {}),
    ...(templatesDir ? { templatesDir } : {}),
    policies,
    force: Boolean(values['force']),
    ...(allowRemovals !== undefined ? { allowRemovals } : {}),
    onRefusal: refusalPolicy(values),
    ...carry,
  });
  for (const repaired of result.render.recovered) reporter.info(`recovered from an interrupted earlier render: ${repaired}`);
  const lines = ['Entries per gateway (compared with ' + result.baseline.description + '):'];
  const gateways = result.plan.gateways.map((g) => ({ gateway: g.gateway, entries: g.after, added: g.added, removed: g.removed, unchanged: g.unchanged }));
  for (const g of result.plan.gateways) {
    lines.push(`  ${g.gateway}: ${fmt(g.after)} entries (${summary(g)})`);
    for (const d of g.domains) lines.push(`    ${d.domain}: ${fmt(d.after)} (${summary(d)})`);
  }
  if (result.plan.routes.length > 0) lines.push('Relayed domains and next hops:', ...result.plan.routes.map((c) => `  ${describeRouteChange(c)}`));
  lines.push(planLine(result.plan).replace(/^Plan:/, 'Applied:'));
  lines.push(`Rendered tree: ${outDir}; last-known-good state: ${result.stateFile}`);
  const outcome = outcomeOf(result.carried, result.held);
  reporter.result(lines.join('\n'), {
    gateways,
    routes: result.plan.routes,
    output: outDir,
    state: result.stateFile,
    changed: result.plan.hasChanges,
    outcome: outcome.name,
    carriedForward: result.carried,
    held: result.held,
  });
  reportDegradation(reporter, result.carried, result.held, result.violations);
  for (const v of result.accepted) reporter.info(`accepted by --force or --allow-removals: ${v.message.replace(/; run with --force to accept$/, '')}`);
  return { entries: countTables(result.tables), carried: result.carried, held: result.held, exitCode: outcome.code };
}

/** The three outcomes of a run that published, for the exit code and every report. */
export function outcomeOf(carried: CarriedSource[], held: HeldRemoval[]): { name: 'applied' | 'degraded' | 'held'; code: number } {
  if (carried.some((c) => c.hostKey)) return { name: 'degraded', code: ExitCode.hostKey };
  if (carried.length > 0) return { name: 'degraded', code: ExitCode.degraded };
  if (held.length > 0) return { name: 'held', code: ExitCode.refused };
  return { name: 'applied', code: ExitCode.ok };
}

/** One line per carried source and per held group, then what to do: on stderr (or as JSON events), every run. */
export function reportDegradation(reporter: Reporter, carried: CarriedSource[], held: HeldRemoval[], violations: Violation[]): void {
  reportCarried(reporter, carried, 'published');
  reportHeld(reporter, held, violations);
}

/** The carried sources of a run that published (sync, render) or wrote a snapshot (collect): the same event and lines. */
export function reportCarried(reporter: Reporter, carried: CarriedSource[], done: 'published' | 'snapshot written'): void {
  for (const c of carried) {
    reporter.event({ event: 'carried-forward', ...c });
    reporter.info(
      `${c.hostKey ? 'HOST KEY problem, carried forward' : 'DEGRADED, carried forward'}: ${c.host}: ${c.label}: ${fmt(c.addresses)} addresses ` +
        `from its last good collection (${c.since}, ${c.staleHours} h ago; limit ${c.maxStaleHours} h) because: ${c.reason}`,
    );
  }
  if (carried.length > 0) {
    reporter.info(
      `${done}, degraded: ${carried.length} failed source${carried.length === 1 ? '' : 's'} carried forward (nothing they provided ${done === 'published' ? 'was removed, nothing new from them was added' : 'is removed, nothing new from them is added'}). ` +
        (carried.some((c) => c.hostKey)
          ? 'A HOST KEY problem is a security event: verify the key out of band before you trust the host again. '
          : '') +
        'Fix the source: each run carries it forward until its data is older than rcptsync_max_stale, then the run fails.',
    );
  }
}

function reportHeld(reporter: Reporter, held: HeldRemoval[], violations: Violation[]): void {
  for (const h of held) {
    reporter.event({ event: 'held', ...h });
    reporter.info(
      `HELD for review: ${h.gateways.join(', ')}: ${h.domain}: ${fmt(h.count)} removal${h.count === 1 ? '' : 's'} from ${h.host} ${h.label} ` +
        `(still accepted; first: ${h.first.join(', ')}${h.count > h.first.length ? ', ...' : ''})`,
    );
  }
  if (held.length > 0) {
    const total = held.reduce((n, h) => n + h.count, 0);
    reporter.info(
      `review needed: ${fmt(total)} removal${total === 1 ? '' : 's'} held because ${violations.map((v) => v.message.replace(/; run with --force to accept$/, '')).join('; ')}. ` +
        'The additions and every other change were published. Review with `rcptsync plan`, then run with --force (or --allow-removals N) to apply the removals.',
    );
  }
}

/**
 * Run a publishing command and record its outcome in the metrics textfile (when
 * asked): a failure keeps the last success time, a refusal counts as refused.
 */
export async function withMetrics(
  values: ParsedOptions,
  work: () => Promise<{ entries?: RunReport['entries']; carried?: CarriedSource[]; held?: HeldRemoval[] }>,
): Promise<void> {
  const file = stringOption(values, 'metrics-file');
  const started = Date.now();
  const duration = (): number => (Date.now() - started) / 1000;
  try {
    const { entries, carried, held } = await work();
    if (file) {
      await writeMetrics(file, {
        success: true,
        durationSeconds: duration(),
        // Held removals are a breached threshold too: the run published, and review is needed.
        refused: (held ?? []).length > 0,
        ...(entries ? { entries } : {}),
        sourceErrors: (carried ?? []).map((c) => ({ host: c.host, source: c.label })),
        carried: (carried ?? []).map((c) => ({ host: c.host, source: c.label, hostKey: c.hostKey, staleSeconds: Math.round(c.staleHours * 3600) })),
        held: heldPerGateway(held ?? []),
      });
    }
  } catch (error) {
    if (file) {
      const sourceErrors = failedSources(error);
      await writeMetrics(file, { success: false, durationSeconds: duration(), refused: error instanceof SafetyRefusedError, sourceErrors }).catch(() => {});
    }
    throw error;
  }
}

function failedSources(error: unknown): { host: string; source: string }[] {
  if (!(error instanceof StaleSourcesError)) return [];
  return error.failures.map((f) => ({ host: f.host, source: f.label }));
}

function heldPerGateway(held: HeldRemoval[]): EntryCount[] {
  const counts = new Map<string, EntryCount>();
  for (const h of held) {
    for (const gateway of h.gateways) {
      const key = `${gateway}\0${h.domain}`;
      const entry = counts.get(key) ?? { gateway, domain: h.domain, count: 0 };
      entry.count += h.count;
      counts.set(key, entry);
    }
  }
  return [...counts.values()];
}
