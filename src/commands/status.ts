/**
 * Drift check, as Exchange's Test-EdgeSynchronization does for its edge servers:
 * read the maps deployed on each gateway (checksums over SSH) and compare them
 * with the rendered manifest.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBounded } from '../collect/pool.js';
import { ExitCode, RcptsyncError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import { MANIFEST_FILE, type Manifest } from '../render/index.js';
import { recipientsFile, tableFiles, type Mta } from '../render/exim.js';
import { shellQuote } from '../sources/shell.js';
import { connectSsh } from '../transport/ssh.js';
import type { SshTarget } from '../transport/types.js';
import type { Io } from './io.js';
import { helpText, integerOption, inventoryOptions, inventorySource, parseOptions, stringOption, type OptionSet } from './options.js';

const statusOptions: OptionSet = {
  output: { type: 'string', short: 'o', value: 'DIR', help: 'rendered tree whose manifest is the reference', default: 'rendered' },
  'map-dir': { type: 'string', value: 'DIR', help: 'where the gateway role publishes the maps (postfix_relay_gateway_map_dir)', default: '/etc/postfix/rcptsync' },
  'exim-map-dir': { type: 'string', value: 'DIR', help: 'where exim_relay_gateway publishes the lookup files of an Exim gateway (exim_relay_gateway_data_dir)', default: '/etc/exim4/rcptsync' },
  concurrency: { type: 'string', value: 'N', help: 'gateways checked at once', default: '8' },
  json: { type: 'boolean', help: 'print the result as JSON' },
};
const sets = [inventoryOptions, statusOptions];

export type GatewayState = 'in sync' | 'drifted' | 'unreachable' | 'not rendered';

export interface GatewayStatus {
  gateway: string;
  state: GatewayState;
  detail: string;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(helpText('status', '-i INV -o DIR', 'For each gateway, compare the deployed maps (sha256 over SSH) with the rendered manifest: in sync, drifted, or unreachable. Exit 4 when any gateway is not in sync.', sets));
    return 0;
  }
  const inventory = await loadInventory(inventorySource(values));
  const outDir = stringOption(values, 'output')!;
  const manifest = await readManifest(join(outDir, MANIFEST_FILE));
  const mapDirs = { postfix: stringOption(values, 'map-dir')!, exim: stringOption(values, 'exim-map-dir')! };
  const results = await runBounded(inventory.gatewayTargets, integerOption(values, 'concurrency', 1)!, (target) => gatewayStatus(target, manifest, mapDirs));
  const statuses = results.map((r, i): GatewayStatus =>
    r.status === 'fulfilled' ? r.value : { gateway: inventory.gatewayTargets[i]!.name, state: 'unreachable', detail: (r.reason as Error).message },
  );
  if (values['json']) io.stdout.write(`${JSON.stringify({ gateways: statuses }, null, 2)}\n`);
  else for (const s of statuses) io.stdout.write(`${s.gateway}: ${s.state}${s.detail ? ` (${s.detail})` : ''}\n`);
  return statuses.every((s) => s.state === 'in sync') ? ExitCode.ok : ExitCode.changes;
}

async function readManifest(file: string): Promise<Manifest> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch (error) {
    throw new RcptsyncError(`cannot read the rendered manifest ${file}: ${(error as Error).message}`, ExitCode.runtime);
  }
}

async function gatewayStatus(target: SshTarget, manifest: Manifest, mapDirs: Record<Mta, string>): Promise<GatewayStatus> {
  const expected = manifest.gateways[target.name];
  if (!expected) return { gateway: target.name, state: 'not rendered', detail: 'the manifest has no entry for this gateway' };
  const mta: Mta = expected.mta === 'exim' ? 'exim' : 'postfix';
  const mapDir = mapDirs[mta];
  const files = tableFiles(mta);
  const session = await connectSsh(target);
  try {
    // A fixed command from configuration; a missing file prints nothing for it.
    const command = `cd ${shellQuote(mapDir)} && for f in ${files.join(' ')}; do test -f "$f" && sha256sum -- "$f"; done; true`;
    const deployed = new Map<string, string>();
    await session.run(command, {
      timeoutMs: 30_000,
      maxOutputBytes: 64 * 1024,
      onLine: (text) => {
        const match = /^([0-9a-f]{64}) [ *](\S+)$/.exec(text);
        if (match) deployed.set(match[2]!, match[1]!);
      },
    });
    const drift: string[] = [];
    for (const file of files) {
      const want = expected.files[file]?.sha256;
      const have = deployed.get(file);
      if (!have) drift.push(`${file} missing`);
      else if (have !== want) drift.push(`${file} differs`);
    }
    const entries = expected.files[recipientsFile(mta)]?.entries ?? 0;
    return drift.length === 0
      ? { gateway: target.name, state: 'in sync', detail: `${entries} ${mta === 'exim' ? 'recipients (exim)' : 'relay recipients'}` }
      : { gateway: target.name, state: 'drifted', detail: drift.join(', ') };
  } finally {
    session.close();
  }
}
