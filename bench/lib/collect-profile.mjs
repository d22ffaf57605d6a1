/**
 * Where a `node --cpu-prof` run spent its time: self time per function and per
 * part of rcptsync (SSH, parsing, normalisation, snapshot writing, ...), read
 * from the .cpuprofile that V8 writes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** Parts of the collect run, first match wins. */
const PARTS = [
  ['ssh2 (handshake, crypto, channel)', (url) => url.includes('/node_modules/ssh2/')],
  ['transport (line splitter, session)', (url) => url.includes('/dist/transport/')],
  ['parsing (source parsers)', (url) => url.includes('/dist/sources/')],
  ['normalisation and sorting (model/address)', (url) => url.includes('/dist/model/address')],
  ['snapshot writing (model/snapshot-io)', (url) => url.includes('/dist/model/snapshot')],
  ['collector (collect/)', (url) => url.includes('/dist/collect/')],
  ['inventory (resolve, validate, ajv)', (url) => url.includes('/dist/inventory/') || url.includes('/node_modules/ajv')],
  ['rest of rcptsync (cli, commands)', (url) => url.includes('/dist/')],
  ['other node_modules', (url) => url.includes('/node_modules/')],
  ['node internals (streams, net, crypto glue)', (url) => url.startsWith('node:')],
];

/**
 * @param {string} dir where --cpu-prof-dir wrote exactly one .cpuprofile
 * @returns {{ totalMs: number, parts: Array<[string, number]>, functions: Array<[string, number]> }}
 */
export function summariseCpuProfile(dir) {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  /** @type {Map<number, any>} */
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  /** @type {Map<number, number>} self time per node id, in microseconds */
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));

  const parts = new Map();
  const functions = new Map();
  let totalUs = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    totalUs += us;
    const special = functionName.startsWith('(') ? functionName : null; // (garbage collector), (idle), (program)
    const part = special ?? PARTS.find(([, test]) => test(url))?.[0] ?? 'other';
    parts.set(part, (parts.get(part) ?? 0) + us);
    const where = url ? `${url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = special ?? `${functionName || '(anonymous)'} ${where}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const sorted = (map) => [...map].sort((a, b) => b[1] - a[1]).map(([key, us]) => [key, us / 1000]);
  return { totalMs: totalUs / 1000, parts: sorted(parts), functions: sorted(functions).slice(0, 15) };
}
