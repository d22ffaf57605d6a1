/** Every source type by its `type` name, as written in `rcptsync_sources`. */
import { ExitCode, RcptsyncError } from '../errors.js';
import { aliases } from './aliases.js';
import { command } from './command.js';
import { mailman2 } from './mailman2.js';
import { mailman3 } from './mailman3.js';
import { passwd } from './passwd.js';
import { postfixMap } from './postfix-map.js';
import { staticSource } from './static.js';
import { sympa } from './sympa.js';
import type { SourceType } from './types.js';

export const sourceTypes: Readonly<Record<string, SourceType>> = Object.freeze({
  [mailman3.type]: mailman3,
  [mailman2.type]: mailman2,
  [sympa.type]: sympa,
  [aliases.type]: aliases,
  [postfixMap.type]: postfixMap,
  [passwd.type]: passwd,
  [command.type]: command,
  [staticSource.type]: staticSource,
});

/** The source type named `type`; the schema admits only known names, so an unknown one is a bug or a bypassed schema. */
export function getSourceType(type: string): SourceType {
  if (!Object.hasOwn(sourceTypes, type)) {
    throw new RcptsyncError(
      `unknown source type "${type}" (known: ${Object.keys(sourceTypes).join(', ')})`,
      ExitCode.usage,
    );
  }
  return sourceTypes[type]!;
}

export { shellQuote } from './shell.js';
export type { Candidate, ParseProblem, ParseResult, SourceConfig, SourceParser, SourceType } from './types.js';
