/**
 * Mailman 3 lists, from one of two places:
 *
 * - `from: lists` (default): `mailman lists` (Mailman 3.3 `mailman/commands/cli_lists.py`).
 *   It prints `N matching mailing lists found:` and then one posting address per
 *   line, padded with trailing spaces to the longest; with no lists it prints
 *   `No matching mailing lists found` and exits 0; `-q` drops the header (and then
 *   prints nothing for no lists). Each list yields its posting address and the
 *   sub-addresses of `mailman/mta/aliases.py` (SUBDESTINATIONS). On Debian the
 *   command must run as the `list` user.
 * - `from: postfix_lmtp`: the transport map `mailman aliases` generates
 *   (`mailman/mta/postfix.py`), a Postfix table whose keys already are every
 *   address. For a domain with an `alias_domain` those keys use the alias domain
 *   and the list's own addresses are only the keys of `postfix_vmap` beside it,
 *   so that file is read too when it exists.
 *
 * `site_addresses` adds addresses Mailman uses but does not list (the site owner,
 * `noreply@`); they carry line 0.
 */
import { posix } from 'node:path';
import { addSiteAddresses, listAddresses, mailmanMapParser } from './list-addresses.js';
import { PostfixTableReader } from './postfix-table.js';
import { HAS_SPACE_OR_CONTROL, ResultBuilder, isBlank } from './result.js';
import { catCommand, shellQuote } from './shell.js';
import type { SourceConfig, SourceParser, SourceType } from './types.js';

export interface Mailman3Config extends SourceConfig {
  type: 'mailman3';
  from?: 'lists' | 'postfix_lmtp';
  /** The postfix_lmtp file (from: postfix_lmtp). */
  path?: string;
  command?: string;
  site_addresses?: string[];
}

export const MAILMAN3_SUBADDRESSES = [
  'bounces',
  'confirm',
  'join',
  'leave',
  'owner',
  'request',
  'subscribe',
  'unsubscribe',
] as const;

export const MAILMAN3_LISTS_COMMAND = 'sudo -n -u list mailman lists';
export const MAILMAN3_POSTFIX_LMTP = '/var/lib/mailman3/data/postfix_lmtp';

const HEADER = /^(\d+) matching mailing lists found:$/;
const NONE_FOUND = 'No matching mailing lists found';

/** Read postfix_lmtp, and postfix_vmap from the same folder when Mailman wrote one. */
export function postfixLmtpCommand(path: string): string {
  const vmap = posix.join(posix.dirname(path), 'postfix_vmap');
  return `${catCommand(path)} && if test -e ${shellQuote(vmap)}; then ${catCommand(vmap)}; fi`;
}

/** Parser for the output of `mailman lists` (with or without `-q`). */
function listsParser(config: Mailman3Config): SourceParser {
  const out = new ResultBuilder();
  // The default command always prints a header (or the no-lists line); an
  // override may add -q, which prints none.
  const headerExpected = config.command === undefined;
  let header: { count: number; line: number } | undefined;
  let noneFound = false;
  let firstLine = true;
  /** Every line after the header, refused ones too: what the header's count covers. */
  let listed = 0;
  return {
    line(text, lineNumber) {
      const trimmed = text.trimEnd();
      if (isBlank(trimmed)) return;
      const isFirst = firstLine;
      firstLine = false;
      const headerMatch = HEADER.exec(trimmed);
      if (isFirst && headerMatch) {
        header = { count: Number(headerMatch[1]), line: lineNumber };
        return;
      }
      if (isFirst && trimmed === NONE_FOUND) {
        noneFound = true;
        return;
      }
      if (noneFound) {
        out.problemWithText(lineNumber, `output after "${NONE_FOUND}"`, text);
        return;
      }
      listed += 1;
      if (headerMatch || trimmed === NONE_FOUND || HAS_SPACE_OR_CONTROL.test(trimmed)) {
        out.problemWithText(lineNumber, 'not a list address', text);
        return;
      }
      for (const address of listAddresses(trimmed, MAILMAN3_SUBADDRESSES)) out.candidate(address, lineNumber);
    },
    skippedLine() {
      firstLine = false;
      if (!noneFound) listed += 1;
    },
    end() {
      // Fewer lists than announced is a cut listing: using it would drop the rest.
      if (header && listed < header.count) {
        out.fail(`line ${header.line}: the header announces ${header.count} lists but ${listed} followed: truncated output`);
      } else if (header && listed > header.count) {
        out.problem(header.line, `header announces ${header.count} lists but ${listed} followed`);
      }
      if (headerExpected && !header && !noneFound) {
        out.fail(`no "N matching mailing lists found:" header: not the output of mailman lists`);
      }
      addSiteAddresses(out, config);
      return out.result();
    },
  };
}

export const mailman3: SourceType<Mailman3Config> = {
  type: 'mailman3',
  command(config) {
    if (config.command !== undefined) return config.command;
    if (config.from === 'postfix_lmtp') return postfixLmtpCommand(config.path ?? MAILMAN3_POSTFIX_LMTP);
    return MAILMAN3_LISTS_COMMAND;
  },
  createParser(config) {
    return config.from === 'postfix_lmtp' ? mailmanMapParser(config, 'a Mailman transport map') : listsParser(config);
  },
};
