import { withCarriedSources } from '../apply/apply.js';
import { StaleSourcesError, type CarriedSource } from '../apply/carry-forward.js';
import { collect, type SourceFailure } from '../collect/collect.js';
import { ExitCode, RcptsyncError } from '../errors.js';
import { loadInventory, maxStaleHoursOf } from '../inventory/load.js';
import type { Inventory } from '../inventory/model.js';
import { writeMetrics } from '../metrics/textfile.js';
import type { Snapshot } from '../model/snapshot.js';
import { writeSnapshot } from '../model/snapshot-io.js';
import { loadLastKnownGoodFile, stateFileFor } from '../state/last-known-good.js';
import type { Io } from './io.js';
import { collectOptions, helpText, integerOption, inventoryOptions, inventorySource, parseOptions, stringOption, type OptionSet } from './options.js';
import { outcomeOf, reportCarried } from './publish.js';
import { collectionSummary, createReporter } from './reporter.js';

const snapshotOption: OptionSet = {
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'snapshot file to write (atomically)', default: 'snapshot.json' },
  'metrics-file': { type: 'string', value: 'FILE', help: 'Prometheus textfile: a failed source counts in rcptsync_source_errors_total (what was published stays as it is)' },
};
// No defaults here: giving either option is what asks for carrying forward.
const carryOptions: OptionSet = {
  output: {
    type: 'string',
    short: 'o',
    value: 'DIR',
    help: 'carry failed sources forward from the last-known-good state of this rendered tree, as sync does (nothing is rendered; default with --state-dir: rendered)',
  },
  'state-dir': {
    type: 'string',
    value: 'DIR',
    help: 'carry failed sources forward from the last-known-good state kept here by sync and render (default with -o: .rcptsync-state beside the output)',
  },
};
const sets = [inventoryOptions, collectOptions, snapshotOption, carryOptions];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText(
        'collect',
        '-i INV [-s FILE] [-o DIR] [--state-dir DIR]',
        'Connect to every list server, collect every valid address, and write a snapshot with where each came from. Nothing is rendered. ' +
          'A failed source stops it (exit 1, no snapshot), unless -o or --state-dir names the last-known-good state that sync and render keep: ' +
          'then a failed source is carried forward from it within rcptsync_max_stale, exactly as sync does, the snapshot records it as carried forward, ' +
          'and collect exits 5 (6 for a host key problem) after writing it; render and plan of that snapshot name it and exit the same way.',
        sets,
      ),
    );
    return 0;
  }
  const reporter = createReporter(io, Boolean(values['json']));
  const metricsFile = stringOption(values, 'metrics-file');
  const started = Date.now();
  const metrics = async (success: boolean, sourceErrors: { host: string; source: string }[]): Promise<void> => {
    if (metricsFile) await writeMetrics(metricsFile, { success, collectOnly: true, durationSeconds: (Date.now() - started) / 1000, sourceErrors });
  };
  const inventory = await loadInventory(inventorySource(values));
  const { snapshot: collected, refused, failures } = await collect(inventory, {
    concurrency: integerOption(values, 'concurrency', 1)!,
    strict: Boolean(values['strict']),
    onEvent: (event) => reporter.event(event),
  });
  const file = stringOption(values, 'snapshot')!;
  const errorsOf = (list: SourceFailure[]) => list.map((f) => ({ host: f.host, source: f.label }));
  let snapshot = collected;
  let carried: CarriedSource[] = [];
  if (failures.length > 0) {
    const outDir = stringOption(values, 'output') ?? (stringOption(values, 'state-dir') !== undefined ? 'rendered' : undefined);
    // A snapshot is complete or not written: rendered as it is, a missing source would be a shrink.
    if (outDir === undefined) {
      await metrics(false, errorsOf(failures));
      throw notWritten(failures, 'A snapshot holds every source or is not written; with -o DIR (or --state-dir DIR) collect carries failed sources forward from the last-known-good state, as `rcptsync sync` does.');
    }
    try {
      ({ snapshot, carried } = await carry(collected, failures, inventory, outDir, stringOption(values, 'state-dir')));
    } catch (error) {
      await metrics(false, errorsOf(failures));
      throw error;
    }
  }
  await writeSnapshot(file, snapshot);
  await metrics(true, carried.map((c) => ({ host: c.host, source: c.label })));
  const summary = collectionSummary(snapshot, refused.length);
  const outcome = outcomeOf(carried, []);
  reporter.result(`${summary.text}\nSnapshot written to ${file}`, { ...summary.data, snapshot: file, outcome: outcome.name, carriedForward: carried });
  reportCarried(reporter, carried, 'snapshot written');
  return outcome.code;
}

/** The collection with its failed sources carried forward from the state of `outDir`, as sync carries them; or the reason it may not be. */
async function carry(
  snapshot: Snapshot,
  failures: SourceFailure[],
  inventory: Inventory,
  outDir: string,
  stateDir: string | undefined,
): Promise<{ snapshot: Snapshot; carried: CarriedSource[] }> {
  const lastGood = await loadLastKnownGoodFile(stateDir, outDir);
  try {
    return withCarriedSources(snapshot, lastGood ?? {}, {
      failures,
      maxStaleHours: (failure) => maxStaleHoursOf(inventory, failure.host, failure.index),
    });
  } catch (error) {
    if (!(error instanceof StaleSourcesError)) throw error;
    const where = lastGood
      ? `Carried from the last-known-good state ${lastGood.file}.`
      : `There is no last-known-good state for ${outDir} (looked for ${stateFileFor(stateDir, outDir)}): sync or render of that output writes it; check -o and --state-dir.`;
    throw new RcptsyncError(
      error.refusals.length === 1 ? `snapshot not written: ${error.refusals[0]}` : `snapshot not written: ${error.refusals.length} failed sources cannot be carried forward`,
      ExitCode.runtime,
      [...(error.refusals.length === 1 ? [] : error.refusals), where].join('\n'),
    );
  }
}

function notWritten(failures: SourceFailure[], hint: string): RcptsyncError {
  return new RcptsyncError(
    failures.length === 1 ? `snapshot not written: ${failures[0]!.message}` : `snapshot not written: ${failures.length} sources failed`,
    ExitCode.runtime,
    [...(failures.length === 1 ? (failures[0]!.detail ? [failures[0]!.detail] : []) : failures.map((f) => f.message)), hint].join('\n'),
  );
}
