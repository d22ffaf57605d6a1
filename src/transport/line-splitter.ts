/**
 * Splits a command's stdout into UTF-8 lines as it streams in, without ever
 * holding more than the current line. Anything doubtful is an error rather
 * than a guess, because a half-read list must never become a smaller map:
 * - more than maxOutputBytes in total;
 * - bytes that are not UTF-8 (the error names the line);
 * - output that stops in the middle of a line (no final LF): the command was
 *   cut off, or it is not the line-oriented output we expected.
 * A CR before the LF is data, not part of the line ending: it is handed on so
 * that address validation refuses it loudly instead of us hiding it.
 */

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

export class LineSplitter {
  #bytes = 0;
  #lines = 0;
  #failed: OutputError | undefined;
  /** True while bytes of an unfinished line are held in the decoder. */
  #midLine = false;
  // Stream mode keeps a multi-byte character split across chunks intact;
  // ignoreBOM keeps a U+FEFF as data so it is refused rather than dropped.
  readonly #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #pending = '';

  constructor(
    readonly maxOutputBytes: number,
    private readonly onLine: (text: string, lineNumber: number) => void,
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
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      if (lf === -1) {
        this.#pending += this.#decode(chunk.subarray(start), true);
        this.#midLine = true;
        return;
      }
      // LF (0x0A) never occurs inside a multi-byte UTF-8 sequence, so
      // splitting on the byte before decoding is safe.
      const text = this.#pending + this.#decode(chunk.subarray(start, lf), false);
      this.#pending = '';
      this.#midLine = false;
      this.#lines++;
      this.onLine(text, this.#lines);
      start = lf + 1;
    }
  }

  /** Call once the stream has ended; throws if the output stopped mid-line. */
  end(): { bytes: number; lines: number } {
    if (this.#failed) throw this.#failed;
    if (this.#midLine) {
      this.#fail('truncated', 'output ended in the middle of a line (no final newline): it may be truncated');
    }
    return { bytes: this.#bytes, lines: this.#lines };
  }

  #decode(bytes: Uint8Array, stream: boolean): string {
    try {
      return this.#decoder.decode(bytes, { stream });
    } catch {
      this.#fail('not-utf8', 'output is not valid UTF-8');
    }
  }

  #fail(kind: OutputErrorKind, what: string): never {
    const lineNumber = this.#lines + 1;
    this.#failed = new OutputError(kind, `${what} (at line ${lineNumber})`, lineNumber);
    throw this.#failed;
  }
}
