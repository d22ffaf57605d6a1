import { collect } from '../collect/collect.js';
import { ExitCode, RcptsyncError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { writeMetrics } from '../metrics/textfile.js';
import { writeSnapshot } from '../model/snapshot-io.js';
import type { Io } from './io.js';
import { collectOptions, helpText, integerOption, inventoryOptions, inventorySource, parseOptions, stringOption, type OptionSet } from './options.js';
import { collectionSummary, createReporter } from './reporter.js';

const snapshotOption: OptionSet = {
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'snapshot file to write (atomically)', default: 'snapshot.json' },
  'metrics-file': { type: 'string', value: 'FILE', help: 'Prometheus textfile: a failed source counts in rcptsync_source_errors_total (what was published stays as it is)' },
};
const sets = [inventoryOptions, collectOptions, snapshotOption];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText('collect', '-i INV [-s FILE]', 'Connect to every list server, collect every valid address, and write a snapshot with where each came from. Nothing is rendered.', sets),
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
  const { snapshot, refused, failures } = await collect(inventory, {
    concurrency: integerOption(values, 'concurrency', 1)!,
    strict: Boolean(values['strict']),
    onEvent: (event) => reporter.event(event),
  });
  const file = stringOption(values, 'snapshot')!;
  // A snapshot is complete or not written: rendered as it is, a missing source would be a shrink.
  if (failures.length > 0) {
    await metrics(false, failures.map((f) => ({ host: f.host, source: f.label })));
    throw new RcptsyncError(
      failures.length === 1
        ? `snapshot not written: ${failures[0]!.message}`
        : `snapshot not written: ${failures.length} sources failed`,
      ExitCode.runtime,
      [
        ...(failures.length === 1 ? (failures[0]!.detail ? [failures[0]!.detail] : []) : failures.map((f) => f.message)),
        'A snapshot holds every source or is not written; `rcptsync sync` carries failed sources forward from its last-known-good state instead.',
      ].join('\n'),
    );
  }
  await writeSnapshot(file, snapshot);
  await metrics(true, []);
  const summary = collectionSummary(snapshot, refused.length);
  reporter.result(`${summary.text}\nSnapshot written to ${file}`, { ...summary.data, snapshot: file });
  return 0;
}
