import { collect } from '../collect/collect.js';
import { loadInventory } from '../inventory/load.js';
import type { Io } from './io.js';
import { collectOptions, helpText, integerOption, inventoryOptions, inventorySource, parseOptions, renderOptions, safetyOptions } from './options.js';
import { publish, withMetrics } from './publish.js';
import { collectionSummary, createReporter } from './reporter.js';

const sets = [inventoryOptions, collectOptions, renderOptions, safetyOptions];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText(
        'sync',
        '-i INV -o DIR',
        'Collect every address from the list servers, compare with the last-known-good state, refuse a shrink over the safety thresholds, and render the per-gateway tree atomically. Any source failure aborts before anything is written.',
        sets,
      ),
    );
    return 0;
  }
  const reporter = createReporter(io, Boolean(values['json']));
  await withMetrics(values, async () => {
    const inventory = await loadInventory(inventorySource(values));
    const { snapshot, refused } = await collect(inventory, {
      concurrency: integerOption(values, 'concurrency', 1)!,
      strict: Boolean(values['strict']),
      onEvent: (event) => reporter.event(event),
    });
    const summary = collectionSummary(snapshot, refused.length);
    reporter.result(summary.text, summary.data);
    return publish(snapshot, inventory.policies, values, reporter);
  });
  return 0;
}
