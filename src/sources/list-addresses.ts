import { PostfixTableReader } from './postfix-table.js';
import { ResultBuilder } from './result.js';
import type { SourceParser } from './types.js';

/**
 * Shared by the Mailman sources. A list's posting address and its sub-addresses. Anything that is not exactly
 * `name@domain` is passed on alone, so that validation refuses and reports it
 * once, and no sub-address is ever derived from it (an empty name would give a
 * valid-looking `-bounces@domain`).
 */
export function listAddresses(posting: string, subaddresses: readonly string[]): string[] {
  const at = posting.indexOf('@');
  if (at <= 0 || at !== posting.lastIndexOf('@') || at === posting.length - 1) return [posting];
  const local = posting.slice(0, at);
  const domain = posting.slice(at + 1);
  return [posting, ...subaddresses.map((sub) => `${local}-${sub}@${domain}`)];
}

/** Site addresses Mailman uses but does not list (site owner, noreply@, mailman-loop@); line 0: from the inventory. */
export function addSiteAddresses(out: ResultBuilder, config: { site_addresses?: string[] }): void {
  for (const address of config.site_addresses ?? []) out.candidate(address, 0);
}

/**
 * A parser for a map Mailman generates (Mailman 3's postfix_lmtp/postfix_vmap,
 * Mailman 2's virtual-mailman): every key is already a full address, sub-addresses
 * included. `mapName` names the map in problems.
 */
export function mailmanMapParser(config: { site_addresses?: string[] }, mapName: string): SourceParser {
  const out = new ResultBuilder();
  const table = new PostfixTableReader(out, (key, line) => {
    if (key.includes('@')) out.candidate(key, line);
    else out.problemWithText(line, `key without "@domain" in ${mapName}`, key);
  });
  return {
    line: (text, lineNumber) => table.line(text, lineNumber),
    end() {
      table.end();
      addSiteAddresses(out, config);
      return out.result();
    },
  };
}
