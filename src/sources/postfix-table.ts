/**
 * The source format of a Postfix lookup table, as postmap(1) reads it:
 *
 *   - `key whitespace value`; the key ends at the first whitespace.
 *   - Empty lines, whitespace-only lines and lines whose first non-whitespace
 *     character is `#` are ignored.
 *   - A logical line starts with non-whitespace text; a line that starts with
 *     whitespace continues the previous logical line (so it can carry the value
 *     of a key written alone on the line before).
 *   - postmap warns "expected format: key whitespace value" and skips a logical
 *     line without a value: such a key is not in the table, so we report it.
 *
 * Shared by the sources that read tables (postfix_map, Mailman's postfix_lmtp and
 * postfix_vmap, Mailman 2's virtual-mailman). What to make of a key is theirs.
 */
import type { ResultBuilder } from './result.js';

// Postfix splits and trims on ASCII whitespace only (ISSPACE): a no-break space
// (U+00A0) or an ideographic space is part of the key, and so is refused with it.
const ASCII_SPACE = /[ \t\n\v\f\r]/;
const LEADING_SPACE = /^[ \t\n\v\f\r]/;
const ONLY_SPACE = /^[ \t\n\v\f\r]*$/;
const TRAILING_SPACE = /[ \t\n\v\f\r]+$/;
const LEADING_SPACE_RUN = /^[ \t\n\v\f\r]+/;

export class PostfixTableReader {
  /** A key seen alone on its line, waiting for a continuation to give it a value. */
  private pending: { key: string; line: number } | undefined;
  private seenEntry = false;

  constructor(
    private readonly out: ResultBuilder,
    private readonly onKey: (key: string, line: number) => void,
  ) {}

  line(text: string, lineNumber: number): void {
    if (ONLY_SPACE.test(text) || text.replace(LEADING_SPACE_RUN, '').startsWith('#')) return;
    if (LEADING_SPACE.test(text)) {
      if (!this.seenEntry) {
        this.out.problemWithText(lineNumber, 'continuation line before any entry', text);
      } else if (this.pending) {
        this.emit(this.pending.key, this.pending.line);
        this.pending = undefined;
      }
      // Otherwise it continues the previous entry's value, which we ignore.
      return;
    }
    this.flushPending();
    this.seenEntry = true;
    const trimmed = text.replace(TRAILING_SPACE, '');
    const space = trimmed.search(ASCII_SPACE);
    const key = space < 0 ? trimmed : trimmed.slice(0, space);
    if (space < 0) {
      this.pending = { key, line: lineNumber };
      return;
    }
    this.emit(key, lineNumber);
  }

  end(): void {
    this.flushPending();
  }

  private flushPending(): void {
    if (!this.pending) return;
    this.out.problemWithText(
      this.pending.line,
      'key without a value (postmap skips it: "expected format: key whitespace value")',
      this.pending.key,
    );
    this.pending = undefined;
  }

  private emit(key: string, line: number): void {
    if (key.startsWith('/')) {
      // regexp:/pcre: tables match patterns; no list of keys can stand for them.
      this.out.problemWithText(line, 'pattern key (regexp or pcre table); only literal keys can be listed', key);
      return;
    }
    this.onKey(key, line);
  }
}
