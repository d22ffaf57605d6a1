/**
 * Mailman 2.1 lists, from one of two places:
 *
 * - `from: list_lists` (default): `bin/list_lists -b` prints one bare, lower-case
 *   list name per line (no domain, so the source's `domain` supplies it) and
 *   nothing at all when there are no lists. Each name yields itself and the
 *   sub-addresses of Mailman 2's `Mailman/MTA/Utils.py` (makealiases).
 * - `from: virtual_mailman`: `data/virtual-mailman`, the Postfix virtual table
 *   Mailman writes for `POSTFIX_STYLE_VIRTUAL_DOMAINS` (`list-x@vdomain   list-x`);
 *   its keys are every address as-is. `bin/genaliases` truncates it before
 *   rewriting it, so an empty read is possible: the plan's thresholds catch that.
 *
 * The site addresses (`mailman-loop@`, `mailman-bounces@`) are not per-list
 * aliases: list them in `site_addresses` (line 0).
 */
import { addSiteAddresses, listAddresses, mailmanMapParser } from './list-addresses.js';
import { PostfixTableReader } from './postfix-table.js';
import { HAS_SPACE_OR_CONTROL, ResultBuilder, isBlank } from './result.js';
import { catCommand, shellQuote } from './shell.js';
import type { SourceConfig, SourceParser, SourceType } from './types.js';

export interface Mailman2Config extends SourceConfig {
  type: 'mailman2';
  from?: 'list_lists' | 'virtual_mailman';
  /** Required for from: list_lists. */
  domain?: string;
  bin_dir?: string;
  /** The virtual-mailman file (from: virtual_mailman). */
  path?: string;
  command?: string;
  site_addresses?: string[];
}

export const MAILMAN2_SUBADDRESSES = [
  'admin',
  'bounces',
  'confirm',
  'join',
  'leave',
  'owner',
  'request',
  'subscribe',
  'unsubscribe',
] as const;

export const MAILMAN2_BIN_DIR = '/usr/lib/mailman/bin';
export const MAILMAN2_VIRTUAL_MAILMAN = '/var/lib/mailman/data/virtual-mailman';

// What list_lists prints without -b: a header, then `name - description`.
const LONG_FORMAT_HEADER = /^\d+ matching mailing lists found:$/;

function listListsParser(config: Mailman2Config): SourceParser {
  const out = new ResultBuilder();
  const domain = config.domain;
  if (domain === undefined) out.problem(0, 'mailman2 from list_lists needs "domain": list_lists -b prints bare names');
  return {
    line(text, lineNumber) {
      if (isBlank(text)) return;
      const name = text.trim();
      if (LONG_FORMAT_HEADER.test(name)) {
        out.problemWithText(lineNumber, 'list_lists output without -b (names with descriptions)', text);
      } else if (HAS_SPACE_OR_CONTROL.test(name)) {
        out.problemWithText(lineNumber, 'not a bare list name', text);
      } else if (name.includes('@')) {
        out.problemWithText(lineNumber, 'list_lists -b prints bare names, but this one contains "@"', text);
      } else if (domain !== undefined) {
        for (const address of listAddresses(`${name}@${domain}`, MAILMAN2_SUBADDRESSES)) {
          out.candidate(address, lineNumber);
        }
      }
    },
    end() {
      addSiteAddresses(out, config);
      return out.result();
    },
  };
}

export const mailman2: SourceType<Mailman2Config> = {
  type: 'mailman2',
  command(config) {
    if (config.command !== undefined) return config.command;
    if (config.from === 'virtual_mailman') return catCommand(config.path ?? MAILMAN2_VIRTUAL_MAILMAN);
    return `${shellQuote(`${config.bin_dir ?? MAILMAN2_BIN_DIR}/list_lists`)} -b`;
  },
  createParser(config) {
    return config.from === 'virtual_mailman' ? mailmanMapParser(config, 'virtual-mailman') : listListsParser(config);
  },
};
