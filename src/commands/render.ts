import { loadInventory } from '../inventory/load.js';
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
        'Render a snapshot into the per-gateway tree, after the same safety checks as sync. The inventory is optional and only supplies the safety thresholds; without it the defaults apply (30% removal share, floor 10).',
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
    if (values['inventory'] || values['inventory-json']) policies = (await loadInventory(inventorySource(values))).policies;
    else reporter.info('no inventory given: the default safety thresholds apply');
    const outcome = await publish(snapshot, policies, values, reporter);
    exitCode = outcome.exitCode;
    return outcome;
  });
  return exitCode;
}
