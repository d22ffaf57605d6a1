import { collect } from '../collect/collect.js';
import { ExitCode, RcptsyncError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { writeSnapshot } from '../model/snapshot-io.js';
import type { Io } from './io.js';
import { collectOptions, helpText, integerOption, inventoryOptions, inventorySource, parseOptions, stringOption, type OptionSet } from './options.js';
import { collectionSummary, createReporter } from './reporter.js';

const snapshotOption: OptionSet = {
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'snapshot file to write (atomically)', default: 'snapshot.json' },
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
  const inventory = await loadInventory(inventorySource(values));
  const { snapshot, refused, failures } = await collect(inventory, {
    concurrency: integerOption(values, 'concurrency', 1)!,
    strict: Boolean(values['strict']),
    onEvent: (event) => reporter.event(event),
  });
  const file = stringOption(values, 'snapshot')!;
  // A snapshot is complete or not written: rendered as it is, a missing source would be a shrink.
  if (failures.length > 0) {
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
  const summary = collectionSummary(snapshot, refused.length);
  reporter.result(`${summary.text}\nSnapshot written to ${file}`, { ...summary.data, snapshot: file });
  return 0;
}
