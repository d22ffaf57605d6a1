/** Test helpers: feed text to a parser the way the collector does, line by line. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { normaliseAddress } from '../../../src/model/address.js';
import { getSourceType } from '../../../src/sources/index.js';
import type { ParseResult, SourceConfig, SourceParser } from '../../../src/sources/types.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/sources/', import.meta.url));

export function fixture(path: string): string {
  return readFileSync(FIXTURES + path, 'utf8');
}

/** Split like a stream of output: LF ends a line, a final LF opens no extra line. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

export function feed(parser: SourceParser, text: string | string[]): ParseResult {
  const lines = typeof text === 'string' ? splitLines(text) : text;
  lines.forEach((line, index) => parser.line(line, index + 1));
  return parser.end();
}

export function parse(config: SourceConfig, text: string | string[]): ParseResult {
  return feed(getSourceType(config.type).createParser(config), text);
}

export function addresses(result: ParseResult): string[] {
  return result.candidates.map((candidate) => candidate.address);
}

/** The keys validation accepts from a result, and the candidates it refuses. */
export function normalised(result: ParseResult): { keys: string[]; refused: string[] } {
  const keys: string[] = [];
  const refused: string[] = [];
  for (const candidate of result.candidates) {
    const outcome = normaliseAddress(candidate.address);
    if (outcome.ok) keys.push(outcome.address.key);
    else refused.push(candidate.address);
  }
  return { keys, refused };
}
