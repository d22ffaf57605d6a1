import { collect } from '../collect/collect.js';
import { loadInventory, maxStaleHoursOf, unboundListServerWarnings } from '../inventory/load.js';
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
        'Collect every address from the list servers, compare with the last-known-good state and render the per-gateway tree atomically. A failed source is carried forward from the last-known-good state within rcptsync_max_stale (exit 5, or 6 for a host key problem); removals over a safety threshold are held while the rest is published (exit 3).',
        sets,
      ),
    );
    return 0;
  }
  const reporter = createReporter(io, Boolean(values['json']));
  let exitCode = 0;
  await withMetrics(values, async () => {
    const inventory = await loadInventory(inventorySource(values));
    const { snapshot, refused, failures } = await collect(inventory, {
      concurrency: integerOption(values, 'concurrency', 1)!,
      strict: Boolean(values['strict']),
      onEvent: (event) => reporter.event(event),
    });
    const summary = collectionSummary(snapshot, refused.length);
    reporter.result(summary.text, summary.data);
    for (const warning of unboundListServerWarnings(inventory)) reporter.info(`warning: ${warning}`);
    const outcome = await publish(snapshot, inventory.policies, values, reporter, {
      failures,
      maxStaleHours: (failure) => maxStaleHoursOf(inventory, failure.host, failure.index),
    });
    exitCode = outcome.exitCode;
    return outcome;
  });
  return exitCode;
}
