#!/usr/bin/env node
/**
 * The floor of any Node implementation of the sync path (bench/sync.mjs): read
 * the address lines, group them per domain, sort each group in rcptsync's
 * table order with its own sort (sortUniqueLocals), and write `address OK`
 * lines. No validation, no state, no plan, no fsync: what a JavaScript program
 * cannot avoid doing.
 *
 *   node bench/lib/sort-floor.mjs INPUT OUTPUT
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const { sortUniqueLocals } = await import(path.join(dist, 'model/address-keys.js'));
const [input, output] = process.argv.slice(2);

const groups = new Map();
for (const key of readFileSync(input, 'utf8').split('\n')) {
  if (key === '') continue;
  const domain = key.slice(key.lastIndexOf('@') + 1);
  let list = groups.get(domain);
  if (!list) groups.set(domain, (list = []));
  list.push(key);
}
const out = [];
for (const domain of [...groups.keys()].sort()) {
  out.push(`${sortUniqueLocals(groups.get(domain), domain.length + 1).join(' OK\n')} OK\n`);
}
writeFileSync(output, out.join(''));
