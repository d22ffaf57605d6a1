/**
 * The keys of a Postfix lookup table's source file on the list server (for
 * example its virtual_alias_maps source), read with `cat`. Format: postmap(1),
 * see ./postfix-table.ts.
 *
 * A key with `@` is taken as-is; that includes a catch-all `@domain`, which is
 * passed on so that validation refuses and reports it (never dropped unseen). A
 * bare key (a local part, as in an alias-style table) becomes `key@domain` for
 * every configured domain.
 */
import { PostfixTableReader } from './postfix-table.js';
import { ResultBuilder, withDomains } from './result.js';
import { catCommand } from './shell.js';
import type { SourceConfig, SourceType } from './types.js';

export interface PostfixMapConfig extends SourceConfig {
  type: 'postfix_map';
  path: string;
  domains?: string[];
  command?: string;
}

export const postfixMap: SourceType<PostfixMapConfig> = {
  type: 'postfix_map',
  command: (config) => config.command ?? catCommand(config.path),
  createParser(config) {
    const out = new ResultBuilder();
    const domains = config.domains ?? [];
    const table = new PostfixTableReader(out, (key, line) => {
      if (key.includes('@')) out.candidate(key, line);
      else if (domains.length === 0) out.problemWithText(line, 'bare key without domains', key);
      else for (const address of withDomains(key, domains)) out.candidate(address, line);
    });
    return {
      line: (text, lineNumber) => table.line(text, lineNumber),
      end() {
        table.end();
        return out.result();
      },
    };
  },
};
