import type { CarryOptions } from '../apply/apply.js';
import { loadInventory, maxStaleHoursOf } from '../inventory/load.js';
import type { GatewayPolicy } from '../inventory/model.js';
import { readSnapshot } from '../model/snapshot-io.js';
import type { Io } from './io.js';
import { helpText, inventoryOptions, parseOptions, renderOptions, safetyOptions, stringOption, inventorySource, type OptionSet } from './options.js';
import { publish, withMetrics } from './publish.js';
import { createReporter } from './reporter.js';

const snapshotOption: OptionSet = {
  snapshot: { type: 'string', short: 's', value: 'FILE', help: 'snapshot written by rcptsync collect', default: 'snapshot.json' },
  json: { type: 'boolean', help: 'one JSON object per event on stdout' },
};
const sets = [snapshotOption, renderOptions, safetyOptions, inventoryOptions];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText(
        'render',
        '-s FILE -o DIR [-i INV]',
        'Render a snapshot into the per-gateway tree, after the same safety checks as sync. The inventory is optional and only supplies the safety thresholds and rcptsync_max_stale; without it the defaults apply (30% removal share, floor 10; 72 h). ' +
          'Sources the snapshot carries forward (collect -o/--state-dir) are published as sync publishes them: named, checked against rcptsync_max_stale again with their original collection time (which the last-known-good state keeps), exit 5 (6 for a host key problem).',
        sets,
      ),
    );
    return 0;
  }
  const reporter = createReporter(io, Boolean(values['json']));
  let exitCode = 0;
  await withMetrics(values, async () => {
    const snapshot = await readSnapshot(stringOption(values, 'snapshot')!);
    let policies: GatewayPolicy[] = [];
    let carry: CarryOptions = {};
    if (values['inventory'] || values['inventory-json']) {
      const inventory = await loadInventory(inventorySource(values));
      policies = inventory.policies;
      // A source the snapshot carries forward is held to its rcptsync_max_stale again, now.
      carry = { maxStaleHours: (failure) => maxStaleHoursOf(inventory, failure.host, failure.index) };
    } else {
      reporter.info('no inventory given: the default safety thresholds apply');
    }
    const outcome = await publish(snapshot, policies, values, reporter, carry);
    exitCode = outcome.exitCode;
    return outcome;
  });
  return exitCode;
}
