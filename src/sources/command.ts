/**
 * Any command that prints one address per line. Blank lines and `#` comments are
 * skipped; a bare local part gets each configured domain; a line of more than one
 * word is a problem, never split into several addresses.
 */
import { HAS_SPACE_OR_CONTROL, ResultBuilder, isBlank, isComment, withDomains } from './result.js';
import type { SourceConfig, SourceType } from './types.js';

export interface CommandConfig extends SourceConfig {
  type: 'command';
  command: string;
  domains?: string[];
}

export const command: SourceType<CommandConfig> = {
  type: 'command',
  command: (config) => config.command,
  createParser(config) {
    const out = new ResultBuilder();
    const domains = config.domains ?? [];
    return {
      line(text, lineNumber) {
        if (isBlank(text) || isComment(text)) return;
        const word = text.trim();
        if (HAS_SPACE_OR_CONTROL.test(word)) {
          out.problemWithText(lineNumber, 'more than one word on a line (expected one address)', text);
        } else if (word.includes('@')) {
          out.candidate(word, lineNumber);
        } else if (domains.length === 0) {
          out.problemWithText(lineNumber, 'bare local part without domains', word);
        } else {
          for (const address of withDomains(word, domains)) out.candidate(address, lineNumber);
        }
      },
      end: () => out.result(),
    };
  },
};
