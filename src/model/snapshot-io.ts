/**
 * Reading and writing snapshot files, and the per-gateway tables that plan and
 * render both build from a snapshot.
 *
 * A snapshot file is JSON with a fixed key order and one address per line, so
 * the same snapshot is the same bytes and a diff of two snapshots is readable.
 * Reading trusts nothing: a hand-edited snapshot must not be able to put a
 * catch-all or a second token on a map line, so every address is checked again
 * (a per-domain regular expression that only accepts what normaliseAddress
 * leaves unchanged; about 50 ns an address, fast enough for a million).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import { normaliseAddress, normaliseDomain, printable } from './address.js';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  type DomainSettings,
  type GatewaySettings,
  type Snapshot,
  type SourceRecord,
} from './snapshot.js';

// ---------------------------------------------------------------- checks

const MAX_LOCAL = 64;
const MAX_ADDRESS = 254;
const ATEXT = "[a-z0-9!#$%&'*+\\-/=?^_`{|}~]";
/** Gateway names become directory names: no slash, no leading dot. */
const GATEWAY_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/;
/** Printable ASCII without space, not a comment: a transport(5) next hop is one token. */
const NEXT_HOP = /^(?!#)[\x21-\x7e]{1,1024}$/;
/** Labels and host names only ever appear in comments, but must not end the comment line. */
const SAFE_TEXT = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,255}$/u;

/** A regular expression that matches exactly the valid normalised keys of one (validated) domain. */
export function domainKeyPattern(domain: string): RegExp {
  return new RegExp(`^(?!#)${ATEXT}+(?:\\.${ATEXT}+)*@${domain.replace(/[.-]/g, '\\$&')}$`);
}

/** True when `key` is a normalised address of `domain`, as normaliseAddress would produce it. */
function isKeyOf(key: string, pattern: RegExp, domainLength: number): boolean {
  return key.length <= MAX_ADDRESS && key.length - domainLength - 1 <= MAX_LOCAL && pattern.test(key);
}

/** Why `key` is not a normalised address, or null when it is one. */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return 'not a string';
  const result = normaliseAddress(key);
  if (!result.ok) return result.reason;
  if (result.address.key !== key) return `not normalised (would be "${printable(result.address.key)}")`;
  return null;
}

/** Order of every table: by domain, then local part, both in code-unit order (see compareAddressKeys). */
function compareLocals(a: string, b: string, suffixLength: number): number {
  const la = a.length - suffixLength;
  const lb = b.length - suffixLength;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return la - lb;
}

/** Code-point order (= UTF-8 byte order, = `LC_ALL=C sort`), which differs from code units only beyond the BMP. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
const SURROGATE = /[\uD800-\uDFFF]/;

/** Sort keys of one domain by local part and drop duplicates, in place when possible. */
function sortUniqueLocals(keys: string[], suffixLength: number): string[] {
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (compareLocals(keys[i - 1]!, keys[i]!, suffixLength) >= 0) {
      sorted = false;
      break;
    }
  }
  if (sorted) return keys;
  // TimSort: already-sorted runs (one per contributing source) merge in near-linear time.
  keys.sort((a, b) => compareLocals(a, b, suffixLength));
  let out = 0;
  for (let i = 0; i < keys.length; i++) {
    if (out === 0 || keys[out - 1] !== keys[i]) keys[out++] = keys[i]!;
  }
  keys.length = out;
  return keys;
}

// ---------------------------------------------------------------- reading

class Problems {
  readonly list: string[] = [];
  count = 0;
  add(where: string, message: string): void {
    this.count++;
    if (this.list.length < 20) this.list.push(`${where}: ${message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read and check a snapshot file; errors name the file and the place in it. */
export async function readSnapshot(file: string): Promise<Snapshot> {
  let text: string;
  try {
    // One read and one decode: fs/promises' readFile decodes in chunks, several times slower for 50 MB.
    text = readFileSync(file).toString('utf8');
  } catch (error) {
    throw new RcptsyncError(`cannot read snapshot ${file}: ${(error as Error).message}`, ExitCode.runtime);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RcptsyncError(`snapshot ${file} is not valid JSON: ${(error as Error).message}`, ExitCode.usage);
  }
  text = '';
  return validateSnapshot(value, `snapshot ${file}`);
}

/**
 * Check the shape and every value of a parsed snapshot and return a clean copy
 * (known keys only; sources, gateways, domains and addresses in contract order).
 * `where` starts every message, e.g. `snapshot /path/to/file`.
 */
export function validateSnapshot(value: unknown, where = 'snapshot'): Snapshot {
  const problems = new Problems();
  const fail = (): never => {
    const first = problems.list[0] ?? 'invalid';
    const more = problems.count > 1 ? ` (and ${problems.count - 1} more problems)` : '';
    throw new RcptsyncError(`${where}: ${first}${more}`, ExitCode.usage, problems.list.map((p) => `${where}: ${p}`).join('\n'));
  };
  if (!isRecord(value)) {
    problems.add('(top level)', 'not a JSON object');
    return fail();
  }
  if (value['format'] !== SNAPSHOT_FORMAT) {
    problems.add('format', `expected "${SNAPSHOT_FORMAT}", found ${printable(JSON.stringify(value['format']) ?? 'nothing')}`);
    return fail();
  }
  if (value['version'] !== SNAPSHOT_VERSION) {
    problems.add('version', `version ${printable(String(value['version']))} is not supported (this rcptsync reads version ${SNAPSHOT_VERSION})`);
    return fail();
  }
  const sources = Array.isArray(value['sources']) ? value['sources'] : null;
  const gateways = Array.isArray(value['gateways']) ? value['gateways'] : null;
  if (!sources) problems.add('sources', 'must be a list');
  if (!gateways) problems.add('gateways', 'must be a list');
  if (!sources || !gateways) return fail();

  const outSources = sources.map((source, i) => validateSource(source, `sources[${i}]`, problems));
  const outGateways = gateways.map((gateway, i) => validateGateway(gateway, `gateways[${i}]`, problems));
  const seenSources = new Set<string>();
  for (const source of outSources) {
    const id = `${source.host}\u0000${source.index}`;
    if (seenSources.has(id)) problems.add(`sources (${source.host} ${source.label})`, 'the same host and source index appear twice');
    seenSources.add(id);
  }
  const seenGateways = new Set<string>();
  for (const gateway of outGateways) {
    if (seenGateways.has(gateway.name)) problems.add(`gateways (${gateway.name})`, 'gateway appears twice');
    seenGateways.add(gateway.name);
  }
  if (problems.count > 0) return fail();
  outSources.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index - b.index));
  outGateways.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, sources: outSources, gateways: outGateways };
}

function checkText(value: unknown, where: string, problems: Problems): string {
  if (typeof value === 'string' && SAFE_TEXT.test(value)) return value;
  problems.add(where, 'must be a non-empty string without control characters (at most 255 characters)');
  return '';
}

function checkCount(value: unknown, where: string, problems: Problems): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  problems.add(where, 'must be a non-negative integer');
  return 0;
}

function checkBoolean(value: unknown, where: string, problems: Problems): boolean {
  if (typeof value === 'boolean') return value;
  problems.add(where, 'must be true or false');
  return false;
}

function validateSource(value: unknown, where: string, problems: Problems): SourceRecord {
  if (!isRecord(value)) {
    problems.add(where, 'must be an object');
    return { host: '', index: 0, type: '', label: '', addresses: [], refused: 0 };
  }
  const host = checkText(value['host'], `${where}.host`, problems);
  const label = checkText(value['label'], `${where}.label`, problems);
  const source: SourceRecord = {
    host,
    index: checkCount(value['index'], `${where}.index`, problems),
    type: checkText(value['type'], `${where}.type`, problems),
    label,
    addresses: [],
    refused: checkCount(value['refused'], `${where}.refused`, problems),
  };
  const addresses = value['addresses'];
  if (!Array.isArray(addresses)) {
    problems.add(`${where}.addresses`, 'must be a list');
    return source;
  }
  source.addresses = checkAddresses(addresses, `${where} (${host} ${label}).addresses`, problems);
  return source;
}

/**
 * Check every key and return them in contract order. The fast path tests each
 * key against the pattern of the previous key's domain; a key of a new domain
 * goes through normaliseAddress once, which also validates that domain.
 */
function checkAddresses(addresses: unknown[], where: string, problems: Problems): string[] {
  const patterns = new Map<string, RegExp>();
  let pattern: RegExp | null = null;
  let domain = '';
  let ordered = true;
  let previous = '';
  for (let i = 0; i < addresses.length; i++) {
    const key = addresses[i];
    if (pattern !== null && typeof key === 'string' && isKeyOf(key, pattern, domain.length)) {
      if (ordered && compareLocals(previous, key, domain.length + 1) >= 0) ordered = false;
      previous = key;
      continue;
    }
    const problem = keyProblem(key);
    if (problem !== null) {
      problems.add(`${where}[${i}]`, `"${printable(String(key))}": ${problem}`);
      continue;
    }
    const keyString = key as string;
    const keyDomain = keyString.slice(keyString.lastIndexOf('@') + 1);
    if (ordered && previous !== '' && keyDomain <= domain) ordered = false;
    domain = keyDomain;
    pattern = patterns.get(domain) ?? domainKeyPattern(domain);
    patterns.set(domain, pattern);
    previous = keyString;
  }
  const keys = ordered ? (addresses as string[]) : sortAddressKeys(addresses as string[]);
  if (problems.count === 0) trustCheckedList(keys);
  return keys;
}

/**
 * Address lists that validateSnapshot checked, frozen so that nobody can slip an
 * unchecked key in afterwards; buildGatewayTables skips the per-key check for
 * them (a million regular expression tests fewer on the way from file to maps).
 */
const checkedLists = new WeakSet<readonly string[]>();

function trustCheckedList(keys: string[]): void {
  Object.freeze(keys);
  checkedLists.add(keys);
}

/** Sort normalised keys by domain, then local part, and drop duplicates (a new array). */
export function sortAddressKeys(keys: readonly string[]): string[] {
  const byDomain = new Map<string, string[]>();
  for (const key of keys) {
    const domain = key.slice(key.lastIndexOf('@') + 1);
    let list = byDomain.get(domain);
    if (!list) byDomain.set(domain, (list = []));
    list.push(key);
  }
  const out: string[] = [];
  for (const domain of [...byDomain.keys()].sort()) {
    for (const key of sortUniqueLocals(byDomain.get(domain)!, domain.length + 1)) out.push(key);
  }
  return out;
}

function validateGateway(value: unknown, where: string, problems: Problems): GatewaySettings {
  if (!isRecord(value)) {
    problems.add(where, 'must be an object');
    return { name: '', domains: [], smtputf8: false };
  }
  const name = value['name'];
  if (typeof name !== 'string' || !GATEWAY_NAME.test(name) || name === '..' || name === '.') {
    problems.add(`${where}.name`, `"${printable(String(name))}" is not a usable gateway name (letters, digits, ".", "_", "-")`);
  }
  const gateway: GatewaySettings = {
    name: typeof name === 'string' ? name : '',
    domains: [],
    smtputf8: checkBoolean(value['smtputf8'], `${where}.smtputf8`, problems),
  };
  const domains = value['domains'];
  if (!Array.isArray(domains)) {
    problems.add(`${where}.domains`, 'must be a list');
    return gateway;
  }
  const seen = new Set<string>();
  domains.forEach((entry, i) => {
    const at = `${where} (${gateway.name}).domains[${i}]`;
    if (!isRecord(entry)) {
      problems.add(at, 'must be an object');
      return;
    }
    const domain = entry['domain'];
    const normal = typeof domain === 'string' ? normaliseDomain(domain) : ({ ok: false, reason: 'not a string' } as const);
    if (!normal.ok) problems.add(`${at}.domain`, normal.reason);
    else if (normal.domain !== domain) problems.add(`${at}.domain`, `not normalised (would be "${normal.domain}")`);
    else if (seen.has(domain)) problems.add(`${at}.domain`, `"${domain}" appears twice`);
    const nextHop = entry['nextHop'];
    if (typeof nextHop !== 'string' || !NEXT_HOP.test(nextHop)) {
      problems.add(`${at}.nextHop`, `"${printable(String(nextHop))}" is not a transport(5) next hop (one token of printable ASCII)`);
    }
    const settings: DomainSettings = {
      domain: String(domain),
      nextHop: String(nextHop),
      roleAddresses: checkBoolean(entry['roleAddresses'], `${at}.roleAddresses`, problems),
      allowEmpty: checkBoolean(entry['allowEmpty'], `${at}.allowEmpty`, problems),
    };
    seen.add(settings.domain);
    gateway.domains.push(settings);
  });
  gateway.domains.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  return gateway;
}

/**
 * Check everything but the addresses of a snapshot built in memory (collect's
 * output, or a test's): names, labels and next hops end up in rendered files.
 * buildGatewayTables checks the addresses it uses.
 */
export function checkSnapshotSettings(snapshot: Snapshot, where = 'snapshot'): void {
  const problems = new Problems();
  snapshot.sources.forEach((source, i) => {
    checkText(source.host, `sources[${i}].host`, problems);
    checkText(source.label, `sources[${i}].label`, problems);
    checkText(source.type, `sources[${i}].type`, problems);
  });
  snapshot.gateways.forEach((gateway, i) => {
    if (!GATEWAY_NAME.test(gateway.name) || gateway.name === '.' || gateway.name === '..') {
      problems.add(`gateways[${i}].name`, `"${printable(gateway.name)}" is not a usable gateway name (letters, digits, ".", "_", "-")`);
    }
    gateway.domains.forEach((d, k) => {
      if (!NEXT_HOP.test(d.nextHop)) {
        problems.add(`gateways[${i}] (${gateway.name}).domains[${k}].nextHop`, `"${printable(d.nextHop)}" is not a transport(5) next hop (one token of printable ASCII)`);
      }
    });
  });
  if (problems.count > 0) {
    throw new RcptsyncError(`${where}: ${problems.list[0]}`, ExitCode.usage, problems.list.map((p) => `${where}: ${p}`).join('\n'));
  }
}

// ---------------------------------------------------------------- writing

/**
 * The snapshot as its file holds it: fixed key order, LF, trailing newline, and
 * one address per line without indentation (a quarter less to read for a million).
 */
export function* snapshotChunks(snapshot: Snapshot): Generator<string> {
  const j = (value: unknown): string => JSON.stringify(value);
  yield `{\n  "format": ${j(snapshot.format)},\n  "version": ${j(snapshot.version)},\n  "sources": [`;
  for (const [i, source] of snapshot.sources.entries()) {
    yield `${i === 0 ? '' : ','}\n    {\n      "host": ${j(source.host)},\n      "index": ${j(source.index)},\n` +
      `      "type": ${j(source.type)},\n      "label": ${j(source.label)},\n      "refused": ${j(source.refused)},\n      "addresses": [`;
    const addresses = source.addresses;
    // Joined in slices: one string per 10,000 addresses keeps memory flat for a million.
    for (let start = 0; start < addresses.length; start += 10_000) {
      const slice = addresses.slice(start, start + 10_000).map((a) => j(a));
      yield `${start === 0 ? '' : ','}\n${slice.join(',\n')}`;
    }
    yield `${addresses.length ? '\n      ' : ''}]\n    }`;
  }
  yield `${snapshot.sources.length ? '\n  ' : ''}],\n  "gateways": [`;
  for (const [i, gateway] of snapshot.gateways.entries()) {
    const domains = gateway.domains.map(
      (d) =>
        `\n        {\n          "domain": ${j(d.domain)},\n          "nextHop": ${j(d.nextHop)},\n` +
        `          "roleAddresses": ${j(d.roleAddresses)},\n          "allowEmpty": ${j(d.allowEmpty)}\n        }`,
    );
    yield `${i === 0 ? '' : ','}\n    {\n      "name": ${j(gateway.name)},\n      "smtputf8": ${j(gateway.smtputf8)},\n` +
      `      "domains": [${domains.join(',')}${domains.length ? '\n      ' : ''}]\n    }`;
  }
  yield `${snapshot.gateways.length ? '\n  ' : ''}]\n}\n`;
}

/** Write a snapshot atomically: a temporary file beside it, fsync, rename, fsync the directory. */
export async function writeSnapshot(file: string, snapshot: Snapshot): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const temporary = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(temporary, 'wx', 0o644);
    try {
      for (const chunk of snapshotChunks(snapshot)) writeSync(fd, chunk);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new RcptsyncError(`cannot write snapshot ${file}: ${(error as Error).message}`, ExitCode.runtime);
  }
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}

// ---------------------------------------------------------------- gateway tables

export interface DomainTable extends DomainSettings {
  /** Collected keys of this domain (role addresses not included), sorted by local part, unique. */
  collected: string[];
  /** What the gateway's table holds for this domain: collected plus role addresses where on; sorted, unique. */
  addresses: string[];
  /** Indices into `snapshot.sources` of the sources that contributed, ascending. */
  sources: number[];
}

export interface GatewayTable {
  gateway: string;
  smtputf8: boolean;
  /** The gateway's relayed domains (A-labels), sorted. */
  domains: DomainTable[];
  /** Indices into `snapshot.sources` of every source that contributed to this gateway, ascending. */
  sources: number[];
}

interface DomainBucket {
  pattern: RegExp;
  runs: Array<{ source: number; from: number; to: number }>;
  collected?: string[];
  sources?: number[];
}

/**
 * Per gateway, per relayed domain, the sorted unique address list and which
 * sources filled it. Every key that lands in a table is checked here against
 * its domain's pattern, so a snapshot built in memory gets the same guarantee
 * as one read from a file. Addresses of domains no gateway relays are skipped.
 */
export function buildGatewayTables(snapshot: Snapshot): GatewayTable[] {
  const buckets = new Map<string, DomainBucket>();
  for (const gateway of snapshot.gateways) {
    for (const settings of gateway.domains) {
      if (!buckets.has(settings.domain)) {
        const normal = normaliseDomain(settings.domain);
        if (!normal.ok || normal.domain !== settings.domain) {
          throw new RcptsyncError(`gateway ${gateway.name}: relayed domain "${printable(settings.domain)}" is not a normalised domain`, ExitCode.usage);
        }
        buckets.set(settings.domain, { pattern: domainKeyPattern(settings.domain), runs: [] });
      }
    }
  }
  snapshot.sources.forEach((source, s) => {
    const addresses = source.addresses;
    const checked = checkedLists.has(addresses) && Object.isFrozen(addresses);
    const n = addresses.length;
    let i = 0;
    while (i < n) {
      const key = addresses[i];
      const at = typeof key === 'string' ? key.lastIndexOf('@') : -1;
      const domain = at >= 0 ? key!.slice(at + 1) : '';
      const bucket = buckets.get(domain);
      let j = i;
      if (bucket && checked) {
        const suffix = key!.slice(at);
        j = i + 1;
        while (j < n && addresses[j]!.endsWith(suffix)) j++;
        bucket.runs.push({ source: s, from: i, to: j });
      } else if (bucket) {
        while (j < n && isKeyOf(addresses[j]!, bucket.pattern, domain.length)) j++;
        if (j === i) {
          throw new RcptsyncError(
            `${source.host} ${source.label}: address ${i}: "${printable(String(key))}": ${keyProblem(key) ?? 'invalid'}`,
            ExitCode.usage,
          );
        }
        bucket.runs.push({ source: s, from: i, to: j });
      } else {
        // Not relayed anywhere: never rendered, so only the run boundary matters.
        const suffix = at >= 0 ? key!.slice(at) : null;
        j = i + 1;
        if (suffix !== null) while (j < n && addresses[j]!.endsWith(suffix)) j++;
      }
      i = j;
    }
  });
  for (const [domain, bucket] of buckets) {
    const runs = bucket.runs;
    let keys: string[];
    if (runs.length === 1) {
      const run = runs[0]!;
      keys = snapshot.sources[run.source]!.addresses.slice(run.from, run.to);
    } else {
      keys = [];
      for (const run of runs) {
        const addresses = snapshot.sources[run.source]!.addresses;
        for (let k = run.from; k < run.to; k++) keys.push(addresses[k]!);
      }
    }
    bucket.collected = sortUniqueLocals(keys, domain.length + 1);
    bucket.sources = [...new Set(runs.map((run) => run.source))].sort((a, b) => a - b);
  }
  return snapshot.gateways.map((gateway) => {
    const contributing = new Set<number>();
    const domains = gateway.domains.map((settings): DomainTable => {
      const bucket = buckets.get(settings.domain)!;
      for (const s of bucket.sources!) contributing.add(s);
      const collected = bucket.collected!;
      return {
        ...settings,
        collected,
        addresses: settings.roleAddresses ? withRoleAddresses(collected, settings.domain) : collected,
        sources: bucket.sources!,
      };
    });
    return { gateway: gateway.name, smtputf8: gateway.smtputf8, domains, sources: [...contributing].sort((a, b) => a - b) };
  });
}

/** RFC 5321 4.5.1 and RFC 2142: postmaster@ and abuse@ are always accepted. */
export const ROLE_LOCAL_PARTS = ['abuse', 'postmaster'] as const;

function withRoleAddresses(keys: string[], domain: string): string[] {
  const suffixLength = domain.length + 1;
  let out = keys;
  for (const local of ROLE_LOCAL_PARTS) {
    const key = `${local}@${domain}`;
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareLocals(out[mid]!, key, suffixLength) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (out[lo] === key) continue;
    if (out === keys) out = keys.slice();
    out.splice(lo, 0, key);
  }
  return out;
}
