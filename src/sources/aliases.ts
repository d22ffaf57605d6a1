/**
 * The names of an aliases(5) file, each combined with every configured domain.
 *
 * Format (aliases(5), postalias(1)): `name: value1, value2, ...`; empty,
 * whitespace-only and `#` lines are ignored; a line that starts with whitespace
 * continues the previous logical line (its content is part of the values, which
 * we ignore, `:include:` files too). A name with special characters (whitespace,
 * `#`, `:`, `@`) is written in double quotes; postalias stores it unquoted, so we
 * unquote it too and let validation refuse what cannot be an address.
 */
import { HAS_SPACE_OR_CONTROL, ResultBuilder, isBlank, isComment, withDomains } from './result.js';
import { catCommand } from './shell.js';
import type { SourceConfig, SourceParser, SourceType } from './types.js';

export interface AliasesConfig extends SourceConfig {
  type: 'aliases';
  path?: string;
  domains: string[];
  command?: string;
}

export const ALIASES_PATH = '/etc/aliases';

type NameSplit = { ok: true; name: string; value: string } | { ok: false; reason: string };

/** Split a logical line's first physical line into its name and the rest after the colon. */
export function splitAliasLine(text: string): NameSplit {
  if (text.startsWith('"')) {
    let name = '';
    for (let i = 1; i < text.length; i += 1) {
      const char = text[i]!;
      if (char === '\\' && i + 1 < text.length) {
        name += text[i + 1];
        i += 1;
      } else if (char === '"') {
        const rest = text.slice(i + 1).trimStart();
        if (!rest.startsWith(':')) return { ok: false, reason: 'quoted name not followed by ":"' };
        if (name === '') return { ok: false, reason: 'empty name' };
        return { ok: true, name, value: rest.slice(1).trim() };
      } else {
        name += char;
      }
    }
    return { ok: false, reason: 'unterminated quoted name' };
  }
  const colon = text.indexOf(':');
  if (colon < 0) return { ok: false, reason: 'no "name: value"' };
  const name = text.slice(0, colon).trimEnd();
  if (name === '') return { ok: false, reason: 'empty name' };
  if (HAS_SPACE_OR_CONTROL.test(name)) return { ok: false, reason: 'name with whitespace must be quoted' };
  return { ok: true, name, value: text.slice(colon + 1).trim() };
}

function aliasesParser(config: AliasesConfig): SourceParser {
  const out = new ResultBuilder();
  const domains = config.domains;
  let pending: { name: string; line: number } | undefined;
  let seenEntry = false;

  const emit = (name: string, line: number) => {
    for (const address of withDomains(name, domains)) out.candidate(address, line);
  };
  const flushPending = () => {
    if (pending) out.problemWithText(pending.line, 'alias without a value (postalias skips it)', pending.name);
    pending = undefined;
  };

  return {
    line(text, lineNumber) {
      if (isBlank(text) || isComment(text)) return;
      if (/^\s/u.test(text)) {
        if (!seenEntry) out.problemWithText(lineNumber, 'continuation line before any alias', text);
        else if (pending) {
          emit(pending.name, pending.line);
          pending = undefined;
        }
        return;
      }
      flushPending();
      seenEntry = true;
      const split = splitAliasLine(text);
      if (!split.ok) {
        out.problemWithText(lineNumber, split.reason, text);
      } else if (split.value === '') {
        pending = { name: split.name, line: lineNumber };
      } else {
        emit(split.name, lineNumber);
      }
    },
    end() {
      flushPending();
      return out.result();
    },
  };
}

export const aliases: SourceType<AliasesConfig> = {
  type: 'aliases',
  command: (config) => config.command ?? catCommand(config.path ?? ALIASES_PATH),
  createParser: aliasesParser,
};
