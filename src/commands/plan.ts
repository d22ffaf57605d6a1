import { planAgainst, loadBaseline } from '../apply/apply.js';
import { collect } from '../collect/collect.js';
import { ExitCode, UsageError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { readSnapshot } from '../model/snapshot-io.js';
import { formatPlan, type PlanFormat } from '../plan/format.js';
import type { Io } from './io.js';
import {
  collectOptions,
  helpText,
  integerOption,
  inventoryOptions,
  inventorySource,
  parseOptions,
  renderOptions,
  safetyOptions,
  stringOption,
  type OptionSet,
} from './options.js';
import { createReporter } from './reporter.js';

const planOptions: OptionSet = {
  against: { type: 'string', value: 'DIR|REV', help: 'compare with this rendered tree, or this git revision of the output tree (e.g. HEAD)' },
  format: { type: 'string', value: 'FORMAT', help: 'text, markdown (for a pull request) or json', default: 'text' },
  'max-listed': { type: 'string', value: 'N', help: 'addresses listed per domain and direction', default: '50' },
  'expect-no-changes': { type: 'boolean', help: 'exit 4 when there are changes (drift check)' },
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'plan from this snapshot instead of collecting' },
};
const sets = [inventoryOptions, collectOptions, renderOptions, safetyOptions, planOptions];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText(
        'plan',
        '-i INV -o DIR [--against DIR|REV]',
        'Collect (or read --snapshot) and show what `sync` with the same arguments would change, per gateway and per domain, and whether the safety thresholds would refuse it. Writes nothing.',
        sets,
      ),
    );
    return 0;
  }
  const format = stringOption(values, 'format')!;
  if (!['text', 'markdown', 'json'].includes(format)) throw new UsageError(`--format must be text, markdown or json, got "${format}"`);
  // With --json the events go to stderr so that stdout holds only the plan.
  const reporter = createReporter({ ...io, stdout: io.stderr }, Boolean(values['json']));
  const inventory = await loadInventory(inventorySource(values));
  const snapshotFile = stringOption(values, 'snapshot');
  const snapshot = snapshotFile
    ? await readSnapshot(snapshotFile)
    : (
        await collect(inventory, {
          concurrency: integerOption(values, 'concurrency', 1)!,
          strict: Boolean(values['strict']),
          onEvent: (event) => reporter.event(event),
        })
      ).snapshot;
  const outDir = stringOption(values, 'output')!;
  const stateDir = stringOption(values, 'state-dir');
  const against = stringOption(values, 'against');
  const baseline = await loadBaseline({ outDir, ...(stateDir ? { stateDir } : {}), ...(against ? { against } : {}) });
  const allowRemovals = integerOption(values, 'allow-removals', 0);
  const { plan, violations } = planAgainst(baseline, snapshot, {
    policies: inventory.policies,
    force: Boolean(values['force']),
    ...(allowRemovals !== undefined ? { allowRemovals } : {}),
  });
  const maxListed = integerOption(values, 'max-listed', 0)!;
  const text = formatPlan(plan, format as PlanFormat, { maxListed });
  if (format === 'json') {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    io.stdout.write(`${JSON.stringify({ ...parsed, baseline: baseline.description, refusals: violations.map((v) => v.message) }, null, 2)}\n`);
  } else {
    const heading = format === 'markdown' ? `Compared with ${baseline.description}.\n\n` : `Compared with ${baseline.description}.\n`;
    io.stdout.write(heading + text + (text.endsWith('\n') ? '' : '\n'));
    if (violations.length > 0) {
      const bullet = format === 'markdown' ? '- ' : '  ';
      io.stdout.write(`\n${format === 'markdown' ? '**' : ''}sync would refuse this plan:${format === 'markdown' ? '**' : ''}\n${violations.map((v) => bullet + v.message).join('\n')}\n`);
    }
  }
  if (violations.length > 0) return ExitCode.refused;
  if (values['expect-no-changes'] && plan.hasChanges) return ExitCode.changes;
  return ExitCode.ok;
}
