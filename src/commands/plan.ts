import { planAgainst, loadBaseline, withCarriedSources } from '../apply/apply.js';
import { DEFAULT_MAX_STALE_HOURS } from '../apply/carry-forward.js';
import { collect } from '../collect/collect.js';
import { ExitCode, UsageError } from '../errors.js';
import { loadInventory, maxStaleHoursOf } from '../inventory/load.js';
import { readSnapshot } from '../model/snapshot-io.js';
import { attributeChanges } from '../plan/attribution.js';
import { formatPlan, type PlanContext, type PlanFormat } from '../plan/format.js';
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
  refusalPolicy,
  stringOption,
  type OptionSet,
} from './options.js';
import { outcomeOf } from './publish.js';
import { createReporter } from './reporter.js';

const planOptions: OptionSet = {
  against: { type: 'string', value: 'DIR|REV', help: 'compare with this rendered tree, or this git revision of the output tree (e.g. HEAD)' },
  format: { type: 'string', value: 'FORMAT', help: 'text, markdown (for a pull request) or json', default: 'text' },
  'max-listed': { type: 'string', value: 'N', help: 'addresses listed per domain and direction', default: '50' },
  'max-bytes': { type: 'string', value: 'N', help: 'markdown: never longer than N bytes (default 60000, under a GitHub comment\'s 65,536 characters)' },
  'expect-no-changes': { type: 'boolean', help: 'exit 4 when there are changes (drift check)' },
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'plan from this snapshot instead of collecting' },
  'gateways-from-inventory': {
    type: 'boolean',
    help: "with -s and -i: the inventory's gateways (relayed domains, next hops, settings) with the snapshot's addresses, to review an inventory change without connecting to anything",
  },
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
  // plan writes nothing, the metrics textfile included: say so rather than ignore the option.
  if (values['metrics-file'] !== undefined) throw new UsageError('--metrics-file is for sync and render: plan writes nothing');
  const format = stringOption(values, 'format')!;
  if (!['text', 'markdown', 'json'].includes(format)) throw new UsageError(`--format must be text, markdown or json, got "${format}"`);
  // With --json the events go to stderr so that stdout holds only the plan.
  const reporter = createReporter({ ...io, stdout: io.stderr }, Boolean(values['json']));
  const snapshotGiven = stringOption(values, 'snapshot') !== undefined;
  // With a snapshot the inventory only supplies the thresholds, as for render: without it the defaults apply.
  const inventory = snapshotGiven && !values['inventory'] && !values['inventory-json'] ? undefined : await loadInventory(inventorySource(values));
  if (!inventory) reporter.info('no inventory given: the default safety thresholds apply');
  const snapshotFile = stringOption(values, 'snapshot');
  if (values['gateways-from-inventory'] && (!snapshotFile || !inventory)) throw new UsageError('--gateways-from-inventory needs -s FILE and an inventory (-i or --inventory-json)');
  const read = snapshotFile ? await readSnapshot(snapshotFile) : undefined;
  const collected = read
    ? { snapshot: values['gateways-from-inventory'] ? { ...read, gateways: [...inventory!.gateways].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) } : read, failures: [] }
    : await collect(inventory!, {
        concurrency: integerOption(values, 'concurrency', 1)!,
        strict: Boolean(values['strict']),
        onEvent: (event) => reporter.event(event),
      });
  const outDir = stringOption(values, 'output')!;
  const stateDir = stringOption(values, 'state-dir');
  const against = stringOption(values, 'against');
  const baseline = await loadBaseline({ outDir, ...(stateDir ? { stateDir } : {}), ...(against ? { against } : {}) });
  // Failed sources are carried forward from the state, as sync would, whatever the plan compares with.
  const lastGood = against === undefined || collected.failures.length === 0 ? baseline : await loadBaseline({ outDir, ...(stateDir ? { stateDir } : {}) });
  const { snapshot, carried } = withCarriedSources(collected.snapshot, lastGood, {
    failures: collected.failures,
    // A snapshot's carried sources are checked even without an inventory: against the default limit, as render does.
    maxStaleHours: (failure) => (inventory ? maxStaleHoursOf(inventory, failure.host, failure.index) : DEFAULT_MAX_STALE_HOURS),
  });
  const allowRemovals = integerOption(values, 'allow-removals', 0);
  const { plan, violations, held, refusal, accepted } = planAgainst(baseline, snapshot, {
    policies: inventory?.policies ?? [],
    force: Boolean(values['force']),
    ...(allowRemovals !== undefined ? { allowRemovals } : {}),
    onRefusal: refusalPolicy(values),
  });
  const outcome = outcomeOf(carried, held);
  const maxListed = integerOption(values, 'max-listed', 0)!;
  const maxBytes = integerOption(values, 'max-bytes', 1);
  const strip = (message: string): string => message.replace(/; run with --force to accept$/, '');
  const context: PlanContext = {
    baseline: baseline.description,
    verdict: refusal ? 'refused' : outcome.name,
    ...(refusal ? { refusals: refusal.violations.map((v) => v.message) } : { holds: violations.map((v) => strip(v.message)) }),
    held: held.map((h) => `${h.gateways.join(', ')}: ${h.domain}: ${h.count} from ${h.host} ${h.label} (first: ${h.first.join(', ')}${h.count > h.first.length ? ', ...' : ''})`),
    accepted: accepted.map((v) => strip(v.message)),
    carried: carried.map((c) => `${c.hostKey ? 'HOST KEY problem: ' : ''}${c.host}: ${c.label}: ${c.addresses} addresses from ${c.since} (${c.staleHours} h ago, limit ${c.maxStaleHours} h): ${c.reason}`),
    attribution: attributeChanges(plan, baseline.snapshot, snapshot),
    fullDiff: `git diff -- ${outDir}`,
  };
  const text = formatPlan(plan, format as PlanFormat, { maxListed, ...(maxBytes !== undefined ? { maxBytes } : {}), context });
  if (format === 'json') {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    io.stdout.write(
      `${JSON.stringify(
        {
          ...parsed,
          baseline: baseline.description,
          outcome: refusal ? 'refused' : outcome.name,
          refusals: violations.map((v) => v.message),
          accepted: accepted.map((v) => v.message),
          carriedForward: carried,
          held,
        },
        null,
        2,
      )}\n`,
    );
  } else {
    io.stdout.write(text);
  }
  if (refusal) return ExitCode.refused;
  if (outcome.code !== ExitCode.ok) return outcome.code;
  if (values['expect-no-changes'] && plan.hasChanges) return ExitCode.changes;
  return ExitCode.ok;
}
