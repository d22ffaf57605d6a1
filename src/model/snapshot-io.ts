/**
 * Reading and writing snapshot files (the per-gateway tables built from a
 * snapshot are src/tables/gateway-tables.ts).
 *
 * A snapshot file is a JSON head with a fixed key order, ended by a line that
 * is only "}", then every source's addresses, one key a line, in the order of
 * the sources; in the head, each source's `"addresses"` is the number of its
 * lines. So the same snapshot is the same bytes, a diff of two snapshots is
 * readable, and `sed '1,/^}$/d'` lists the keys. Reading a million keys from
 * lines is one decode and one split per few MB through one reused buffer: as a
 * million JSON strings (or one big JSON string) the file was read, decoded and
 * copied whole three times, and on a busy machine every page touched costs.
 * A head alone, with each source's addresses as a JSON list, is read too (a
 * snapshot written by hand, or by a test), and checked the same way.
 *
 * Reading trusts nothing: a hand-edited snapshot must not be able to put a
 * catch-all or a second token on a map line, so every address is checked again
 * (a per-domain regular expression that only accepts what normaliseAddress
 * leaves unchanged; about 50 ns an address, fast enough for a million). Lines
 * are split on LF only, so a CR, space, tab or NUL stays in its key and is
 * refused with it; a count that does not match the lines is refused too (a
 * truncated file).
 */
import { randomBytes } from 'node:crypto';
import { isAscii } from 'node:buffer';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, RcptsyncError } from '../errors.js';
import { normaliseDomain, printable } from './address.js';
import { checkedRunsOf, compareLocals, domainKeyPattern, isKeyOf, KeysByDomain, keyProblem, trustCheckedList, type DomainRun } from './address-keys.js';
import {
  SNAPSHOT_FORMAT,
  SNAPSHOT_VERSION,
  type DomainSettings,
  type GatewaySettings,
  type Snapshot,
  type SourceRecord,
} from './snapshot.js';

// ---------------------------------------------------------------- checks
/** Gateway names become directory names: no slash, no leading dot. */
const GATEWAY_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/;
/** Printable ASCII without space, not a comment: a transport(5) next hop is one token. */
const NEXT_HOP = /^(?!#)[\x21-\x7e]{1,1024}$/;
/** Labels and host names only ever appear in comments, but must not end the comment line. */
const SAFE_TEXT = /^[^\p{Cc}\p{Cf}\p{Zl}\p{Zp}]{1,255}$/u;

// ---------------------------------------------------------------- reading

class Problems {
  readonly list: string[] = [];
  count = 0;
  /** The file ends before its head says it should: an input failure (exit 1), not a malformed snapshot. */
  cutShort = false;
  add(where: string, message: string): void {
    this.count++;
    if (this.list.length < 20) this.list.push(`${where}: ${message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The last line of a snapshot file's JSON head (only the top-level object closes at column 0). */
const HEAD_END = Buffer.from('\n}\n');
const LF = 10;
/** Bytes read at a time; every piece becomes one string that its keys are slices of. */
const PIECE = 1 << 22;

/** A snapshot file split into its JSON head and its address lines (in pieces, as read). */
interface SnapshotFileParts {
  head: string;
  /** Number of the first address line in the file (1-based). */
  firstLine: number;
  lines: AddressLines;
}

/** The address lines after the head, handed out in order, a source's count at a time. */
class AddressLines {
  private piece = 0;
  private offset = 0;
  taken = 0;
  constructor(
    private readonly pieces: string[][],
    readonly total: number,
    /** The file does not end with a LF: its last line was cut. */
    readonly unterminated: boolean,
  ) {}

  /** The next `count` lines, or null when fewer are left. */
  take(count: number): string[] | null {
    if (this.total - this.taken < count) return null;
    const parts: string[][] = [];
    let left = count;
    while (left > 0) {
      const piece = this.pieces[this.piece]!;
      const n = Math.min(left, piece.length - this.offset);
      parts.push(this.offset === 0 && n === piece.length ? piece : piece.slice(this.offset, this.offset + n));
      this.offset += n;
      left -= n;
      if (this.offset === piece.length) {
        this.piece++;
        this.offset = 0;
      }
    }
    this.taken += count;
    return parts.length === 1 ? parts[0]! : ([] as string[]).concat(...parts);
  }
}

/** Read a snapshot file through one reused buffer: the head as text, the lines split per piece. */
function readSnapshotFile(fd: number): SnapshotFileParts {
  let buffer = Buffer.allocUnsafe(PIECE);
  let filled = 0;
  let position = 0;
  let eof = false;
  const fill = (): void => {
    if (filled === buffer.length) {
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger, 0, 0, filled);
      buffer = bigger;
    }
    while (filled < buffer.length) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, position);
      if (n === 0) {
        eof = true;
        return;
      }
      filled += n;
      position += n;
    }
  };
  const consume = (bytes: number): void => {
    buffer.copy(buffer, 0, bytes, filled);
    filled -= bytes;
  };

  let headEnd = -1;
  while (headEnd < 0 && !eof) {
    const from = Math.max(0, filled - HEAD_END.length + 1);
    fill();
    headEnd = buffer.subarray(0, filled).indexOf(HEAD_END, from);
  }
  if (headEnd < 0) {
    // No line that is only "}": the whole file is the head (a snapshot in plain JSON).
    return { head: buffer.toString('utf8', 0, filled), firstLine: 1, lines: new AddressLines([], 0, false) };
  }
  const head = buffer.toString('utf8', 0, headEnd + HEAD_END.length);
  consume(headEnd + HEAD_END.length);
  let firstLine = 1;
  for (let i = head.indexOf('\n'); i >= 0; i = head.indexOf('\n', i + 1)) firstLine++;

  const pieces: string[][] = [];
  let total = 0;
  for (;;) {
    if (!eof) fill();
    const end = filled === 0 ? -1 : buffer.subarray(0, filled).lastIndexOf(LF);
    if (end < 0) {
      if (eof) return { head, firstLine, lines: new AddressLines(pieces, total, filled > 0) };
      continue; // one line longer than the buffer: fill() grows it
    }
    // A LF never occurs inside a UTF-8 sequence, so a piece cut after one decodes alone.
    const bytes = buffer.subarray(0, end + 1);
    const keys = (isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')).split('\n');
    keys.pop();
    pieces.push(keys);
    total += keys.length;
    consume(end + 1);
  }
}

/** Read and check a snapshot file; errors name the file and the place in it. */
export async function readSnapshot(file: string): Promise<Snapshot> {
  let parts: SnapshotFileParts;
  try {
    const fd = openSync(file, 'r');
    try {
      parts = readSnapshotFile(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new RcptsyncError(`cannot read snapshot ${file}: ${(error as Error).message}`, ExitCode.runtime);
  }
  let value: unknown;
  try {
    value = JSON.parse(parts.head);
  } catch (error) {
    throw new RcptsyncError(`snapshot ${file} is not valid JSON: ${(error as Error).message}`, ExitCode.usage);
  }
  return checkSnapshot(value, `snapshot ${file}`, parts);
}

/**
 * Check the shape and every value of a parsed snapshot and return a clean copy
 * (known keys only; sources, gateways, domains and addresses in contract order).
 * `where` starts every message, e.g. `snapshot /path/to/file`.
 */
export function validateSnapshot(value: unknown, where = 'snapshot'): Snapshot {
  return checkSnapshot(value, where, null);
}

function checkSnapshot(value: unknown, where: string, file: SnapshotFileParts | null): Snapshot {
  const problems = new Problems();
  const fail = (): never => {
    const first = problems.list[0] ?? 'invalid';
    const more = problems.count > 1 ? ` (and ${problems.count - 1} more problems)` : '';
    const detail = problems.count > 1 ? problems.list.map((p) => `${where}: ${p}`).join('\n') : undefined;
    throw new RcptsyncError(`${where}: ${first}${more}`, problems.cutShort ? ExitCode.runtime : ExitCode.usage, detail);
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

  // A cut file first: it explains any count that does not add up.
  if (file?.lines.unterminated) {
    problems.add(`line ${file.firstLine + file.lines.total}`, 'the last address line has no LF: the file was cut short');
    problems.cutShort = true;
  }
  const outSources = sources.map((source, i) => validateSource(source, `sources[${i}]`, problems, file));
  if (file && !file.lines.unterminated && !problems.cutShort && file.lines.taken < file.lines.total) {
    problems.add(`line ${file.firstLine + file.lines.taken}`, `${file.lines.total - file.lines.taken} address lines more than the sources count`);
  }
  const outGateways = gateways.map((gateway, i) => validateGateway(gateway, `gateways[${i}]`, problems));
  const seenSources = new Set<string>();
  for (const source of outSources) {
    const id = sourceId(source);
    if (seenSources.has(id)) problems.add(`sources (${source.host} ${source.label})`, 'the same host and source index appear twice');
    seenSources.add(id);
  }
  const seenGateways = new Set<string>();
  for (const gateway of outGateways) {
    if (seenGateways.has(gateway.name)) problems.add(`gateways (${gateway.name})`, 'gateway appears twice');
    seenGateways.add(gateway.name);
  }
  if (problems.count > 0) return fail();
  outSources.sort(compareSources);
  outGateways.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, sources: outSources, gateways: outGateways };
}

/** One source record of a snapshot: its host, its index there, and whether it holds held removals. */
export function sourceId(source: Pick<SourceRecord, 'host' | 'index' | 'held'>): string {
  return `${source.host}\u0000${source.index}${source.held ? '\u0000held' : ''}`;
}

/** Snapshot order of sources: by host, then index; a source's held removals after the source itself. */
export function compareSources(a: SourceRecord, b: SourceRecord): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  if (a.index !== b.index) return a.index - b.index;
  return (a.held ? 1 : 0) - (b.held ? 1 : 0);
}

function checkText(value: unknown, where: string, problems: Problems): string {
  if (typeof value === 'string' && SAFE_TEXT.test(value)) return value;
  problems.add(where, 'must be a non-empty string without control characters (at most 255 characters)');
  return '';
}

/** An ISO 8601 UTC time as Date.prototype.toISOString writes it. */
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$/;

function checkTimestamp(value: unknown, where: string, problems: Problems): string {
  if (typeof value === 'string' && TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value))) return value;
  problems.add(where, 'must be an ISO 8601 UTC time, e.g. 2026-12-01T03:00:00.000Z');
  return '';
}

/** A failure message: one line of printable text (it is shown, never rendered into a map). */
function checkReason(value: unknown, where: string, problems: Problems): string {
  if (typeof value === 'string' && value.length > 0 && value.length <= 2000 && !/[\p{Cc}\p{Zl}\p{Zp}]/u.test(value)) return value;
  problems.add(where, 'must be one line of text (at most 2000 characters)');
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

function validateSource(value: unknown, where: string, problems: Problems, file: SnapshotFileParts | null): SourceRecord {
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
  if (value['collectedAt'] !== undefined) source.collectedAt = checkTimestamp(value['collectedAt'], `${where}.collectedAt`, problems);
  const carried = value['carriedForward'];
  if (carried !== undefined) {
    if (isRecord(carried)) {
      source.carriedForward = {
        reason: checkReason(carried['reason'], `${where}.carriedForward.reason`, problems),
        hostKey: checkBoolean(carried['hostKey'], `${where}.carriedForward.hostKey`, problems),
      };
    } else {
      problems.add(`${where}.carriedForward`, 'must be an object with reason and hostKey');
    }
  }
  if (value['held'] !== undefined) {
    if (value['held'] === true) source.held = true;
    else problems.add(`${where}.held`, 'must be true when present');
  }
  if (source.held && source.carriedForward) problems.add(where, 'a source cannot be both held and carried forward');
  const addresses = value['addresses'];
  const at = `${where} (${host} ${label}).addresses`;
  if (Array.isArray(addresses)) {
    source.addresses = checkAddresses(addresses, at, problems, 0);
  } else if (file && typeof addresses === 'number' && Number.isSafeInteger(addresses) && addresses >= 0) {
    const first = file.firstLine + file.lines.taken;
    const lines = file.lines.take(addresses);
    if (lines === null) {
      if (!problems.cutShort) {
        problems.add(`${where}.addresses`, `${addresses} address lines from line ${first}, but the file has only ${file.lines.total - file.lines.taken} more: it was cut short`);
      }
      problems.cutShort = true;
    } else {
      source.addresses = checkAddresses(lines, at, problems, first);
    }
  } else {
    problems.add(`${where}.addresses`, file ? 'must be the number of its address lines after the head (or a list of addresses)' : 'must be a list');
  }
  return source;
}

/**
 * Check every key and return them in contract order. The fast path tests each
 * key against the pattern of the previous key's domain, then against that of
 * its own domain if that domain was met before; a key of a new domain goes
 * through normaliseAddress once, which also validates that domain.
 */
function checkAddresses(addresses: unknown[], where: string, problems: Problems, firstLine: number): string[] {
  const patterns = new Map<string, RegExp>();
  const runs: DomainRun[] = [];
  let pattern: RegExp | null = null;
  let domain = '';
  let previous = '';
  // Out of contract order from the first key out of place: from then on the keys are
  // grouped by domain as they are checked (the domain string at hand, no second split).
  let unordered: KeysByDomain | null = null;
  const outOfOrder = (i: number): KeysByDomain => {
    const groups = new KeysByDomain();
    for (const run of runs) for (let k = run.from; k < Math.min(run.to, i); k++) groups.add(addresses[k] as string, run.domain);
    return groups;
  };
  for (let i = 0; i < addresses.length; i++) {
    const key = addresses[i];
    if (pattern !== null && typeof key === 'string' && isKeyOf(key, pattern)) {
      if (unordered === null && compareLocals(previous, key, domain.length + 1) >= 0) unordered = outOfOrder(i);
      unordered?.add(key, domain);
      previous = key;
      continue;
    }
    let keyDomain = typeof key === 'string' ? key.slice(key.lastIndexOf('@') + 1) : '';
    // A domain met before was validated then (below): its pattern checks the key. Unsorted
    // sources change domain at nearly every key; normaliseAddress for each was most of a read.
    const known = patterns.get(keyDomain);
    if (known === undefined || !isKeyOf(key as string, known)) {
      const problem = keyProblem(key);
      if (problem !== null) {
        problems.add(firstLine > 0 ? `line ${firstLine + i}: ${where}[${i}]` : `${where}[${i}]`, `"${printable(String(key))}": ${problem}`);
        continue;
      }
      keyDomain = (key as string).slice((key as string).lastIndexOf('@') + 1);
    }
    const keyString = key as string;
    if (unordered === null && previous !== '' && keyDomain <= domain) unordered = outOfOrder(i);
    if (unordered === null) {
      if (runs.length > 0) runs[runs.length - 1]!.to = i;
      runs.push({ domain: keyDomain, from: i, to: addresses.length });
    }
    domain = keyDomain;
    pattern = known ?? domainKeyPattern(domain);
    patterns.set(domain, pattern);
    unordered?.add(keyString, domain);
    previous = keyString;
  }
  if (problems.count > 0) return [];
  if (unordered === null) {
    trustCheckedList(addresses as string[], runs);
    return addresses as string[];
  }
  const sorted = unordered.sortedRuns();
  trustCheckedList(sorted.keys, sorted.runs);
  return sorted.keys;
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
  if (value['mta'] !== undefined) {
    if (value['mta'] === 'exim') gateway.mta = 'exim';
    else if (value['mta'] !== 'postfix') problems.add(`${where}.mta`, `must be "postfix" or "exim", not "${printable(String(value['mta']))}"`);
  }
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
 * The snapshot as its file holds it (see the top of this file): the JSON head
 * with fixed key order and each source's number of addresses, then the keys.
 */
export function* snapshotChunks(snapshot: Snapshot): Generator<string> {
  const j = (value: unknown): string => JSON.stringify(value);
  yield `{\n  "format": ${j(snapshot.format)},\n  "version": ${j(snapshot.version)},\n  "sources": [`;
  for (const [i, source] of snapshot.sources.entries()) {
    yield `${i === 0 ? '' : ','}\n    {\n      "host": ${j(source.host)},\n      "index": ${j(source.index)},\n` +
      `      "type": ${j(source.type)},\n      "label": ${j(source.label)},\n      "refused": ${j(source.refused)},\n` +
      (source.collectedAt !== undefined ? `      "collectedAt": ${j(source.collectedAt)},\n` : '') +
      (source.carriedForward !== undefined
        ? `      "carriedForward": { "reason": ${j(source.carriedForward.reason)}, "hostKey": ${j(source.carriedForward.hostKey)} },\n`
        : '') +
      (source.held ? '      "held": true,\n' : '') +
      `      "addresses": ${j(source.addresses.length)}\n    }`;
  }
  yield `${snapshot.sources.length ? '\n  ' : ''}],\n  "gateways": [`;
  for (const [i, gateway] of snapshot.gateways.entries()) {
    const domains = gateway.domains.map(
      (d) =>
        `\n        {\n          "domain": ${j(d.domain)},\n          "nextHop": ${j(d.nextHop)},\n` +
        `          "roleAddresses": ${j(d.roleAddresses)},\n          "allowEmpty": ${j(d.allowEmpty)}\n        }`,
    );
    yield `${i === 0 ? '' : ','}\n    {\n      "name": ${j(gateway.name)},\n      "smtputf8": ${j(gateway.smtputf8)},\n` +
      // Only Exim gateways carry the key: a Postfix-only fleet's snapshot keeps its bytes.
      (gateway.mta === 'exim' ? '      "mta": "exim",\n' : '') +
      `      "domains": [${domains.join(',')}${domains.length ? '\n      ' : ''}]\n    }`;
  }
  yield `${snapshot.gateways.length ? '\n  ' : ''}]\n}\n`;
  for (const source of snapshot.sources) {
    const addresses = source.addresses;
    // A checked list (collected, or read and validated) holds only valid keys: no LF to look for.
    const checked = checkedRunsOf(addresses) !== undefined;
    // Joined in slices: one string per 10,000 addresses keeps memory flat for a million.
    for (let start = 0; start < addresses.length; start += 10_000) {
      const slice = addresses.slice(start, start + 10_000);
      for (let k = 0; !checked && k < slice.length; k++) {
        // A key with a LF in it would be read back as two keys, each perhaps valid: never write one.
        if (slice[k]!.includes('\n')) {
          throw new RcptsyncError(`${source.host} ${source.label}: address ${start + k} "${printable(slice[k]!)}" contains a line feed`, ExitCode.usage);
        }
      }
      yield `${slice.join('\n')}\n`;
    }
  }
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
