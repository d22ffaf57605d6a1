/**
 * Splits a command's stdout into UTF-8 lines as it streams in, without ever
 * holding more than the current line. Anything doubtful is an error rather
 * than a guess, because a half-read list must never become a smaller map:
 * - more than maxOutputBytes in total;
 * - bytes that are not UTF-8, unless the caller takes such lines one by one
 *   (onBadLine: the line is handed over with its bytes escaped, and skipped;
 *   a Latin-1 comment in an aliases file must not fail the whole source);
 * - output that stops in the middle of a line (no final LF): the command was
 *   cut off, or it is not the line-oriented output we expected.
 * A CR before the LF is data, not part of the line ending: it is handed on so
 * that address validation refuses it loudly instead of us hiding it.
 */

import { isAscii } from 'node:buffer';

export type OutputErrorKind = 'too-large' | 'not-utf8' | 'truncated';

export class OutputError extends Error {
  override name = 'OutputError';
  constructor(
    readonly kind: OutputErrorKind,
    message: string,
    /** 1-based line the problem is on. */
    readonly lineNumber: number,
  ) {
    super(message);
  }
}

const LF = 0x0a;
/** Bytes of a line that is not UTF-8 kept for the report. */
const BAD_LINE_SHOWN = 200;

/** Printable ASCII as it is, every other byte as \xNN. */
export function escapeBytes(bytes: readonly number[]): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

export class LineSplitter {
  #bytes = 0;
  #lines = 0;
  #failed: OutputError | undefined;
  /** True while bytes of an unfinished line are held in the decoder. */
  #midLine = false;
  // Stream mode keeps a multi-byte character split across chunks intact;
  // ignoreBOM keeps a U+FEFF as data so it is refused rather than dropped.
  #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  /** For whole lines at once (never in stream mode, so it holds no state between calls). */
  readonly #chunkDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #pending = '';
  /** The first BAD_LINE_SHOWN raw bytes of the current line, while it spans chunks. */
  #lineStart: Uint8Array[] = [];
  /** The raw bytes of the current line once it is known not to be UTF-8 (the first BAD_LINE_SHOWN of them). */
  #badBytes: number[] | undefined;

  constructor(
    readonly maxOutputBytes: number,
    private readonly onLine: (text: string, lineNumber: number) => void,
    /** Takes a line that is not UTF-8 (its bytes escaped, e.g. `caf\xe9`); without it such a line fails the output. */
    private readonly onBadLine?: (escaped: string, lineNumber: number) => void,
  ) {}

  get bytes(): number {
    return this.#bytes;
  }

  /** Complete lines handed to onLine so far. */
  get lines(): number {
    return this.#lines;
  }

  /** Feeds one chunk; throws OutputError (or whatever onLine throws). */
  push(chunk: Uint8Array): void {
    if (this.#failed) throw this.#failed;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxOutputBytes) {
      this.#fail('too-large', `output exceeded ${this.maxOutputBytes} bytes`);
    }
    if (chunk.length === 0) return;
    const last = chunk.lastIndexOf(LF);
    if (last === -1) {
      this.#take(chunk, true);
      this.#midLine = true;
      return;
    }
    let start = 0;
    if (this.#midLine) start = this.#endLine(chunk, 0, chunk.indexOf(LF)) + 1;
    // The lines after the first LF are most often ASCII: each is then its own string, cut
    // straight from the bytes (flat strings, which compare half as fast again as slices of a
    // shared one in the sort that follows). Other UTF-8 is decoded in one call and split;
    // bytes that do not decode take the line-by-line path below, which finds the bad line.
    // (One decode per line was most of the cost of a million-line listing.)
    if (start < last && isAscii(chunk.subarray(start, last))) {
      const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      for (let lf = chunk.indexOf(LF, start); lf !== -1 && lf <= last; lf = chunk.indexOf(LF, start)) {
        this.#lines++;
        this.onLine(bytes.toString('latin1', start, lf), this.#lines);
        start = lf + 1;
      }
    } else if (start < last) {
      const text = this.#wholeLines(chunk.subarray(start, last));
      if (text !== undefined) {
        let from = 0;
        for (let lf = text.indexOf('\n'); lf !== -1; lf = text.indexOf('\n', from)) {
          this.#lines++;
          this.onLine(text.slice(from, lf), this.#lines);
          from = lf + 1;
        }
        this.#lines++;
        this.onLine(from === 0 ? text : text.slice(from), this.#lines);
        start = last + 1;
      }
    }
    while (start <= last) start = this.#endLine(chunk, start, chunk.indexOf(LF, start)) + 1;
    if (start < chunk.length) {
      this.#take(chunk.subarray(start), true);
      this.#midLine = true;
    }
  }

  /** Ends the current line with the bytes from `start` to the LF at `lf` and hands it on; returns `lf`. */
  #endLine(chunk: Uint8Array, start: number, lf: number): number {
    // LF (0x0A) never occurs inside a multi-byte UTF-8 sequence, so
    // splitting on the byte before decoding is safe.
    this.#take(chunk.subarray(start, lf), false);
    const text = this.#pending;
    const bad = this.#badBytes;
    this.#pending = '';
    this.#badBytes = undefined;
    if (this.#lineStart.length > 0) this.#lineStart = [];
    this.#midLine = false;
    this.#lines++;
    if (bad) this.onBadLine!(escapeBytes(bad), this.#lines);
    else this.onLine(text, this.#lines);
    return lf;
  }

  /** Call once the stream has ended; throws if the output stopped mid-line. */
  end(): { bytes: number; lines: number } {
    if (this.#failed) throw this.#failed;
    if (this.#midLine) {
      this.#fail('truncated', 'output ended in the middle of a line (no final newline): it may be truncated');
    }
    return { bytes: this.#bytes, lines: this.#lines };
  }

  /** `bytes` (complete lines, without the last LF) decoded, or undefined when they are not UTF-8. */
  #wholeLines(bytes: Uint8Array): string | undefined {
    try {
      return this.#chunkDecoder.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /** Adds bytes of the current line (the end of it when `stream` is false). */
  #take(bytes: Uint8Array, stream: boolean): void {
    if (this.#badBytes) {
      this.#keepBad(bytes);
      return;
    }
    try {
      this.#pending += this.#decoder.decode(bytes, { stream });
      // The line's first bytes as they came (the decoder may hold the end of one in stream
      // mode), in case a later part of the line turns out not to be UTF-8.
      if (stream && this.#shownSoFar() < BAD_LINE_SHOWN) this.#lineStart.push(Uint8Array.from(bytes.subarray(0, BAD_LINE_SHOWN)));
    } catch {
      if (!this.onBadLine) this.#fail('not-utf8', 'output is not valid UTF-8');
      // The rest of the line is kept as bytes, to be shown escaped; a fresh decoder for the next line.
      this.#decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
      this.#badBytes = [...Buffer.concat(this.#lineStart).subarray(0, BAD_LINE_SHOWN)];
      this.#lineStart = [];
      this.#pending = '';
      this.#keepBad(bytes);
    }
  }

  #shownSoFar(): number {
    let n = 0;
    for (const part of this.#lineStart) n += part.length;
    return n;
  }

  #keepBad(bytes: Uint8Array): void {
    const room = BAD_LINE_SHOWN - this.#badBytes!.length;
    if (room > 0) this.#badBytes!.push(...bytes.subarray(0, room));
  }

  #fail(kind: OutputErrorKind, what: string): never {
    const lineNumber = this.#lines + 1;
    this.#failed = new OutputError(kind, `${what} (at line ${lineNumber})`, lineNumber);
    throw this.#failed;
  }
}

/**
 * What a command that exited with `exitCode` produced. A failed command keeps
 * what it printed (the caller reports the failure; a cut last line is not the
 * point then); a successful one must have ended on a full line (OutputError).
 */
export function commandOutcome(splitter: LineSplitter, exitCode: number, stderr: string): { exitCode: number; stderr: string; bytes: number; lines: number } {
  if (exitCode !== 0) return { exitCode, stderr, bytes: splitter.bytes, lines: splitter.lines };
  return { exitCode, stderr, ...splitter.end() };
}
