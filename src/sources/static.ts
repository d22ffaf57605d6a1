/**
 * Addresses written in the inventory (`addresses: [...]`). No command and no
 * connection: the collector calls end() on a fresh parser, which yields the
 * configured addresses with line = index + 1.
 */
import { ResultBuilder } from './result.js';
import type { SourceConfig, SourceType } from './types.js';

export interface StaticConfig extends SourceConfig {
  type: 'static';
  addresses: string[];
}

export const staticSource: SourceType<StaticConfig> = {
  type: 'static',
  command: () => null,
  createParser(config) {
    const out = new ResultBuilder();
    return {
      line(_text, lineNumber) {
        // There is no command, so there is no output to read.
        out.problem(lineNumber, 'a static source reads no command output');
      },
      end() {
        config.addresses.forEach((address, index) => out.candidate(address, index + 1));
        return out.result();
      },
    };
  },
};
