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
  // Distinct domains: two gateways relaying one domain relay one domain.
  const domains = new Set(inventory.gateways.flatMap((g) => g.domains.map((d) => d.domain))).size;
  const count = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
  for (const warning of unboundListServerWarnings(inventory)) io.stderr.write(`warning: ${warning}\n`);
  io.stdout.write(
    `inventory valid: ${count(inventory.listServers.length, 'list server', 'list servers')} with ${count(sources, 'source', 'sources')}, ${count(inventory.gateways.length, 'gateway', 'gateways')} relaying ${count(domains, 'domain', 'domains')}\n`,
  );
  return 0;
}
