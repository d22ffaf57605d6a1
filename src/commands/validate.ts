import { loadInventory, unboundListServerWarnings } from '../inventory/load.js';
import type { Io } from './io.js';
import { helpText, inventoryOptions, inventorySource, parseOptions } from './options.js';

const sets = [inventoryOptions];

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(helpText('validate', '-i INV', 'Check the inventory and every rcptsync_ variable against the schemas. Connects to nothing.', sets));
    return 0;
  }
  const inventory = await loadInventory(inventorySource(values));
  const sources = inventory.listServers.reduce((n, s) => n + s.sources.length, 0);
  const domains = inventory.gateways.reduce((n, g) => n + g.domains.length, 0);
  for (const warning of unboundListServerWarnings(inventory)) io.stderr.write(`warning: ${warning}\n`);
  io.stdout.write(
    `inventory valid: ${inventory.listServers.length} list servers with ${sources} sources, ${inventory.gateways.length} gateways relaying ${domains} domains\n`,
  );
  return 0;
}
