/**
 * Gateway tables: what each gateway's relay_recipients holds, per domain, as
 * sorted unique address lists. A plan compares two of them; they can come from a
 * snapshot (through a builder the caller passes in, owned by render/), from a
 * rendered tree on disk, or from a git revision of that tree.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import { unicodeDomain } from '../model/address.js';
import type { Snapshot } from '../model/snapshot.js';
import { buildGatewayTables, type GatewayTable } from '../tables/gateway-tables.js';

/** gateway -> domain -> addresses, sorted (compareAddresses) and unique. */
export type GatewayTables = Map<string, Map<string, string[]>>;

/** Builds tables from a snapshot (render/ owns the real one: role addresses, U-labels). */
export type TablesFromSnapshot = (snapshot: Snapshot) => GatewayTables;

export const RELAY_RECIPIENTS = 'relay_recipients';

/**
 * The order of every table: by local part in code-unit order (a shorter local
 * part that is a prefix of a longer one comes first), then by domain. Within one
 * domain this is the renderer's order (snapshot-io), so lists built there need
 * no sorting here.
 */
export function compareAddresses(a: string, b: string): number {
  if (a === b) return 0;
  const la = a.lastIndexOf('@');
  const lb = b.lastIndexOf('@');
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  if (la !== lb) return la - lb;
  const da = a.slice(la);
  const db = b.slice(lb);
  return da < db ? -1 : da > db ? 1 : 0;
}

/** Plain code-unit order, for gateway and domain names. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Lists known to be sorted and unique: checked once here, or built by the
 * renderer's builder, whose contract is this order. diffTables skips the check
 * for them, which is a fifth of a plan's time on a million entries.
 */
const verified = new WeakSet<readonly string[]>();

/** Record that `list` is sorted and unique (it must not be changed afterwards). */
export function markSortedUnique<T extends readonly string[]>(list: T): T {
  verified.add(list);
  return list;
}

/** True when the list is strictly ascending (sorted and unique). */
export function isSortedUnique(list: readonly string[]): boolean {
  if (verified.has(list)) return true;
  for (let i = 1; i < list.length; i++) {
    if (compareAddresses(list[i - 1]!, list[i]!) >= 0) return false;
  }
  verified.add(list);
  return true;
}

/** The list itself when already sorted and unique, else a sorted unique copy. */
export function sortedUnique(list: readonly string[]): string[] {
  if (isSortedUnique(list)) return list as string[];
  const sorted = [...list].sort(compareAddresses);
  const out: string[] = [];
  for (const item of sorted) if (out.length === 0 || out[out.length - 1] !== item) out.push(item);
  return markSortedUnique(out);
}

/**
 * Parse a relay_recipients map: `address OK` lines, `#` comments and blank lines
 * skipped; the domain is what follows the last `@`. `where` names the file in errors.
 */
export function parseRelayRecipients(text: string, where: string): Map<string, string[]> {
  const byDomain = new Map<string, string[]>();
  let domain = '';
  let list: string[] | undefined;
  let lineNo = 0;
  let start = 0;
  const length = text.length;
  const odd = text.includes('\t') || text.includes('\r');
  // Index arithmetic instead of split/trim/regex: a million lines are read in a blink.
  while (start < length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = length;
    lineNo++;
    let from = start;
    start = end + 1;
    let c = text.charCodeAt(from);
    while (from < end && (c === 32 || c === 9 || c === 13)) c = text.charCodeAt(++from);
    if (from === end || c === 35 /* # */) continue;
    let to = text.indexOf(' ', from);
    if (to < 0 || to > end) to = end;
    if (odd) {
      // A tab or CR ends the key too (hand-edited maps); rendered ones use one space.
      for (let i = from; i < to; i++) {
        c = text.charCodeAt(i);
        if (c === 9 || c === 13) {
          to = i;
          break;
        }
      }
    }
    const key = text.slice(from, to);
    const at = key.lastIndexOf('@');
    if (at <= 0 || at === key.length - 1) {
      throw new RcptsyncError(`${where}:${lineNo}: not an address: ${JSON.stringify(key.slice(0, 80))}`, ExitCode.runtime);
    }
    if (list === undefined || key.length - at - 1 !== domain.length || !key.endsWith(domain)) {
      domain = key.slice(at + 1);
      list = byDomain.get(domain);
      if (!list) byDomain.set(domain, (list = []));
    }
    list.push(key);
  }
  for (const [name, keys] of byDomain) byDomain.set(name, sortedUnique(keys));
  return byDomain;
}

/** Tables with every list sorted and unique, and gateways and domains in sorted order. */
export function normaliseTables(tables: GatewayTables): GatewayTables {
  const out: GatewayTables = new Map();
  for (const gateway of [...tables.keys()].sort(compareCodeUnits)) {
    const domains = tables.get(gateway)!;
    const sorted = new Map<string, string[]>();
    for (const domain of [...domains.keys()].sort(compareCodeUnits)) sorted.set(domain, sortedUnique(domains.get(domain)!));
    out.set(gateway, sorted);
  }
  return out;
}

/** Read `<dir>/<gateway>/relay_recipients` for every gateway directory of a rendered tree. */
export async function tablesFromRenderedTree(dir: string): Promise<GatewayTables> {
  const tables: GatewayTables = new Map();
  for (const [gateway, file] of await filesOfRenderedTree(dir, RELAY_RECIPIENTS)) tables.set(gateway, parseRelayRecipients(file.text, file.where));
  return tables;
}

/** A file of each gateway directory of a rendered tree (gateways without it are left out), sorted by gateway. */
export async function filesOfRenderedTree(dir: string, name: string): Promise<Map<string, { text: string; where: string }>> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new RcptsyncError(`${dir}: cannot read rendered tree: ${(error as Error).message}`, ExitCode.runtime);
  }
  const files = new Map<string, { text: string; where: string }>();
  // Hidden directories are staging areas of an atomic render, never gateways.
  const gateways = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  for (const gateway of gateways.sort(compareCodeUnits)) {
    const file = path.join(dir, gateway, name);
    try {
      if (!(await stat(file)).isFile()) continue;
      // One decode of the whole buffer: readFile with an encoding decodes in chunks, several times slower for 50 MB.
      files.set(gateway, { text: (await readFile(file)).toString('utf8'), where: file });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new RcptsyncError(`${file}: ${(error as Error).message}`, ExitCode.runtime);
    }
  }
  return files;
}

function git(repoDir: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd: repoDir, maxBuffer: 2 * 1024 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const code = typeof error.code === 'number' ? ` with exit code ${error.code}` : '';
        reject(new RcptsyncError(`git ${args.join(' ')} failed${code} in ${repoDir}`, ExitCode.runtime, stderr.trim() || error.message));
      } else resolve(stdout);
    });
  });
}

/**
 * Read the rendered tree at `treePath` as it was in git revision `rev` (e.g. HEAD).
 * `treePath` may be absolute or relative to `repoDir`; it is resolved against the
 * repository's top level, because `REV:path` is relative to it.
 */
export async function tablesFromGitRevision(repoDir: string, rev: string, treePath: string): Promise<GatewayTables> {
  const tables: GatewayTables = new Map();
  for (const [gateway, file] of await filesOfGitRevision(repoDir, rev, treePath, RELAY_RECIPIENTS)) tables.set(gateway, parseRelayRecipients(file.text, file.where));
  return tables;
}

/** A file of each gateway directory of the rendered tree at `treePath` in git revision `rev`, sorted by gateway. */
export async function filesOfGitRevision(repoDir: string, rev: string, treePath: string, name: string): Promise<Map<string, { text: string; where: string }>> {
  if (rev.startsWith('-')) throw new RcptsyncError(`invalid git revision "${rev}"`, ExitCode.usage);
  const top = (await git(repoDir, ['rev-parse', '--show-toplevel'])).trim();
  const absolute = path.resolve(repoDir, treePath);
  let relative = path.relative(top, absolute).split(path.sep).join('/');
  if (relative.startsWith('..')) throw new RcptsyncError(`${treePath} is outside the git repository ${top}`, ExitCode.usage);
  if (relative === '') relative = '.';
  const spec = relative === '.' ? `${rev}:` : `${rev}:${relative}`;
  let listing: string;
  try {
    listing = await git(top, ['ls-tree', '-z', spec]);
  } catch (error) {
    throw new RcptsyncError(`${spec}: no such rendered tree in git revision ${rev}`, ExitCode.runtime, (error as RcptsyncError).detail);
  }
  const gateways: string[] = [];
  for (const entry of listing.split('\0')) {
    // `<mode> <type> <object>\t<name>`
    const tab = entry.indexOf('\t');
    if (tab < 0) continue;
    const [, type] = entry.slice(0, tab).split(' ');
    const entryName = entry.slice(tab + 1);
    if (type === 'tree' && !entryName.startsWith('.')) gateways.push(entryName);
  }
  const files = new Map<string, { text: string; where: string }>();
  for (const gateway of gateways.sort(compareCodeUnits)) {
    const filePath = relative === '.' ? `${gateway}/${name}` : `${relative}/${gateway}/${name}`;
    const names = await git(top, ['ls-tree', '--name-only', `${rev}:${relative === '.' ? gateway : `${relative}/${gateway}`}`]);
    if (!names.split('\n').includes(name)) continue;
    files.set(gateway, { text: await git(top, ['cat-file', 'blob', `${rev}:${filePath}`]), where: `${rev}:${filePath}` });
  }
  return files;
}

/** Entry counts per gateway and domain, sorted (for metrics and summaries). */
export function countTables(tables: GatewayTables): Array<{ gateway: string; domain: string; count: number }> {
  const out: Array<{ gateway: string; domain: string; count: number }> = [];
  for (const gateway of [...tables.keys()].sort(compareCodeUnits)) {
    const domains = tables.get(gateway)!;
    for (const domain of [...domains.keys()].sort(compareCodeUnits)) out.push({ gateway, domain, count: domains.get(domain)!.length });
  }
  return out;
}

/**
 * The tables a snapshot renders to, from the renderer's own builder: role
 * addresses included; on SMTPUTF8 gateways an IDN domain is listed twice, as its
 * A-label and as its U-label form, as relay_recipients carries both.
 */
export function tablesFromSnapshot(snapshot: Snapshot): GatewayTables {
  return tablesFromGatewayTables(buildGatewayTables(snapshot));
}

/** The same, from tables the caller already built (sync builds them once for both plan and render). */
export function tablesFromGatewayTables(built: readonly GatewayTable[]): GatewayTables {
  const tables: GatewayTables = new Map();
  for (const gateway of built) {
    const domains = new Map<string, string[]>();
    for (const domain of gateway.domains) {
      // The builder's contract is this order (sorted by local part, unique); trust it rather than check a million entries again.
      domains.set(domain.domain, markSortedUnique(domain.addresses));
      const unicode = unicodeDomain(domain.domain);
      if (gateway.smtputf8 && unicode !== domain.domain) {
        const suffix = `@${unicode}`;
        domains.set(unicode, markSortedUnique(domain.addresses.map((key) => `${key.slice(0, key.lastIndexOf('@'))}${suffix}`)));
      }
    }
    tables.set(gateway.gateway, domains);
  }
  return normaliseTables(tables);
}
