/**
 * The part `sync` and `render` share: apply a snapshot to the output tree
 * through the safety rails, report what changed, and keep the metrics file.
 */
import { applySnapshot } from '../apply/apply.js';
import { CollectionError } from '../collect/collect.js';
import type { GatewayPolicy } from '../inventory/model.js';
import { writeMetrics, type RunReport } from '../metrics/textfile.js';
import type { Snapshot } from '../model/snapshot.js';
import { planLine, summary } from '../plan/format.js';
import { countTables } from '../plan/tables.js';
import { SafetyRefusedError } from '../plan/guard.js';
import { integerOption, stringOption, type ParsedOptions } from './options.js';
import { fmt, type Reporter } from './reporter.js';

export async function publish(snapshot: Snapshot, policies: GatewayPolicy[], values: ParsedOptions, reporter: Reporter): Promise<Record<string, unknown>> {
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
  });
  for (const repaired of result.render.recovered) reporter.info(`recovered from an interrupted earlier render: ${repaired}`);
  const lines = ['Entries per gateway (compared with ' + result.baseline.description + '):'];
  const gateways = result.plan.gateways.map((g) => ({ gateway: g.gateway, entries: g.after, added: g.added, removed: g.removed, unchanged: g.unchanged }));
  for (const g of result.plan.gateways) {
    lines.push(`  ${g.gateway}: ${fmt(g.after)} entries (${summary(g)})`);
    for (const d of g.domains) lines.push(`    ${d.domain}: ${fmt(d.after)} (${summary(d)})`);
  }
  lines.push(planLine(result.plan).replace(/^Plan:/, 'Applied:'));
  lines.push(`Rendered tree: ${outDir}; last-known-good state: ${result.stateFile}`);
  reporter.result(lines.join('\n'), { gateways, output: outDir, state: result.stateFile, changed: result.plan.hasChanges });
  return { entries: countTables(result.tables) };
}

/**
 * Run a publishing command and record its outcome in the metrics textfile (when
 * asked): a failure keeps the last success time, a refusal counts as refused.
 */
export async function withMetrics(values: ParsedOptions, work: () => Promise<{ entries?: RunReport['entries']; snapshot?: Snapshot }>): Promise<void> {
  const file = stringOption(values, 'metrics-file');
  const started = Date.now();
  const duration = (): number => (Date.now() - started) / 1000;
  try {
    const { entries } = await work();
    if (file) await writeMetrics(file, { success: true, durationSeconds: duration(), ...(entries ? { entries } : {}) });
  } catch (error) {
    if (file) {
      const sourceErrors = failedSources(error);
      await writeMetrics(file, { success: false, durationSeconds: duration(), refused: error instanceof SafetyRefusedError, sourceErrors }).catch(() => {});
    }
    throw error;
  }
}

function failedSources(error: unknown): { host: string; source: string }[] {
  if (!(error instanceof CollectionError)) return [];
  return error.failures.map((f) => ({ host: f.host, source: f.source ?? 'connection' }));
}
