/**
 * Writing one rendered file: the template's output streamed to disk with the
 * table markers expanded on the way, hashed while written, fsynced, and checked
 * line by line so that what the manifest counts is what Postfix will see.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { ExitCode, RcptsyncError } from '../errors.js';
import { printable } from '../model/address.js';
import { splitOnTables, type PendingTable } from './templates.js';

export interface FileFigures {
  sha256: string;
  bytes: number;
  /** Non-comment, non-blank lines (Postfix tables only). */
  entries: number;
  /** The address lists written by {{table}}, in order (identity: each is a domain's list). */
  tables: ReadonlyArray<readonly string[]>;
  /** Entry lines the template wrote itself, outside any {{table}}. */
  literalEntries: number;
  /** With `digestLiteralKeys`: an order-independent digest of those lines' keys (see keyDigest). */
  literalDigest?: KeyDigest;
}

/**
 * An order-independent digest of a multiset of keys: count, and the sum and the
 * xor of two 32-bit FNV-1a hashes of each. Equal digests of two key lists mean
 * the same keys, barring a crafted collision (templates are the operator's own
 * configuration, not hostile input): what it catches is a mistake.
 */
export class KeyDigest {
  count = 0;
  private sumA = 0;
  private sumB = 0;
  private xorA = 0;
  private xorB = 0;

  add(key: string): void {
    let a = 0x811c9dc5;
    let b = 0x01000193;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x811c9dc5) ^ (b >>> 15);
    }
    this.count++;
    this.sumA = (this.sumA + (a >>> 0)) % 0x100000000;
    this.sumB = (this.sumB + (b >>> 0)) % 0x100000000;
    this.xorA ^= a;
    this.xorB ^= b;
  }

  equals(other: KeyDigest): boolean {
    return this.count === other.count && this.sumA === other.sumA && this.sumB === other.sumB && this.xorA === other.xorA && this.xorB === other.xorB;
  }
}

export type FileKind = 'postfix-table' | 'yaml';

const CHUNK_ENTRIES = 4096;
// One write buffer for the whole run: fresh memory is slow to touch, reused memory is not.
let scratch: Buffer | null = null;

class HashingWriter {
  private readonly fd: number;
  private readonly hash: Hash = createHash('sha256');
  private readonly buffer: Buffer;
  private used = 0;
  bytes = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'wx', 0o644);
    this.buffer = scratch ??= Buffer.allocUnsafe(1 << 20);
  }

  write(text: string): void {
    const length = Buffer.byteLength(text, 'utf8');
    if (length > this.buffer.length - this.used) this.flush();
    if (length > this.buffer.length) return this.emit(Buffer.from(text, 'utf8'));
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  private flush(): void {
    if (this.used === 0) return;
    this.emit(this.buffer.subarray(0, this.used));
    this.used = 0;
  }

  private emit(bytes: Buffer): void {
    this.hash.update(bytes);
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.bytes += bytes.length;
  }

  close(): { sha256: string; bytes: number } {
    try {
      this.flush();
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
    }
    return { sha256: this.hash.digest('hex'), bytes: this.bytes };
  }

  abandon(): void {
    this.used = 0;
    closeSync(this.fd);
  }
}

/**
 * Write a template's output to `file` (which must not exist yet). `where` names
 * the template in errors. For Postfix tables every line is classified: comment,
 * blank, or entry; a line starting with whitespace (a continuation in Postfix)
 * and, in relay_recipients, a catch-all `@domain` line are refused.
 */
export function writeRenderedFile(
  file: string,
  output: string,
  tables: PendingTable[],
  options: { kind: FileKind; refuseCatchAll: boolean; where: string; digestLiteralKeys?: boolean },
): FileFigures {
  const fail = (message: string): never => {
    throw new RcptsyncError(`template ${options.where}: ${message}`, ExitCode.usage);
  };
  const parts = splitOnTables(output);
  const writer = new HashingWriter(file);
  let entries = 0;
  let literalEntries = 0;
  const literalDigest = options.digestLiteralKeys ? new KeyDigest() : undefined;
  const written: Array<readonly string[]> = [];
  let endsWithNewline = true;
  try {
    for (let p = 0; p < parts.length; p++) {
      if (p % 2 === 1) {
        const table = tables[Number(parts[p])];
        if (!table) fail('output contains a table marker that no {{table}} call produced');
        entries += writeTable(writer, table!);
        written.push(table!.addresses);
        endsWithNewline = false;
        continue;
      }
      const text = parts[p]!;
      if (text.includes('\u0000')) fail('output contains a NUL character');
      if (text.includes('\r')) fail('output contains a carriage return (rendered files use LF line ends only)');
      const afterTable = p > 0;
      const beforeTable = p < parts.length - 1;
      if ((afterTable && text !== '' && text[0] !== '\n') || (beforeTable && text !== '' && !text.endsWith('\n')) || (afterTable && beforeTable && text === '')) {
        fail('{{table}} must stand alone on its line');
      }
      if (options.kind === 'postfix-table') {
        const literal = scanTableText(text, afterTable ? 1 : 0, options.refuseCatchAll, fail, literalDigest);
        entries += literal;
        literalEntries += literal;
      }
      if (text !== '') {
        writer.write(text);
        endsWithNewline = text.endsWith('\n');
      }
    }
    if (!endsWithNewline) writer.write('\n');
  } catch (error) {
    writer.abandon();
    throw error;
  }
  return { ...writer.close(), entries, tables: written, literalEntries, ...(literalDigest ? { literalDigest } : {}) };
}

function writeTable(writer: HashingWriter, table: PendingTable): number {
  const { addresses, value } = table;
  const separator = ` ${value}\n`;
  const n = addresses.length;
  // Joined a few thousand at a time: one native join per chunk, no giant string.
  for (let start = 0; start < n; start += CHUNK_ENTRIES) {
    const end = Math.min(n, start + CHUNK_ENTRIES);
    const chunk = start === 0 && end === n ? addresses : addresses.slice(start, end);
    writer.write(chunk.join(separator) + (end === n ? ` ${value}` : separator));
  }
  return n;
}

/** Count entry lines in template text and refuse lines Postfix would read differently than we count them. */
function scanTableText(text: string, from: number, refuseCatchAll: boolean, fail: (message: string) => never, keys?: KeyDigest): number {
  let count = 0;
  let i = from;
  while (i < text.length) {
    let end = text.indexOf('\n', i);
    if (end < 0) end = text.length;
    if (end > i) {
      const first = text.charCodeAt(i);
      if (isBlank(first)) {
        if (text.slice(i, end).trim() !== '') fail('a line starts with whitespace, which continues the previous entry in a Postfix table');
      } else if (first !== 35) {
        if (refuseCatchAll && first === 64) fail('a line starts with "@": a catch-all never goes into relay_recipients');
        const key = firstToken(text, i, end);
        // postmap only warns about a key alone ("expected format: key whitespace value"),
        // exits 0 and leaves it out: the address would get 550 while we count it in.
        if (!hasValue(text, i + key.length, end)) fail(`the entry "${printable(key)}" has no value (postmap would leave it out of the table)`);
        count++;
        if (keys) keys.add(key);
      }
    }
    i = end + 1;
  }
  return count;
}

/** The key of an entry line: up to the first ASCII whitespace (Postfix splits there, and only there). */
function firstToken(text: string, from: number, end: number): string {
  let i = from;
  while (i < end && !isBlank(text.charCodeAt(i))) i++;
  return text.slice(from, i);
}

/** True when a non-blank character follows the key before the end of its line. */
function hasValue(text: string, from: number, end: number): boolean {
  for (let i = from; i < end; i++) if (!isBlank(text.charCodeAt(i))) return true;
  return false;
}

/** Whitespace as Python's bytes.strip() sees it (the Ansible role counts with that), LF aside. */
function isBlank(code: number): boolean {
  return code === 32 || code === 9 || code === 13 || code === 11 || code === 12;
}

/** Non-comment, non-blank lines of a Postfix table, counted as the Ansible role counts them. */
export function countEntries(bytes: Uint8Array): number {
  let count = 0;
  let decided = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 10) {
      decided = false;
    } else if (!decided && !isBlank(b)) {
      // The first non-blank character of a line decides: `#` is a comment, anything else an entry.
      if (b !== 35) count++;
      decided = true;
    }
  }
  return count;
}
