/**
 * The accumulator every parser fills: candidates and problems, in input order.
 * Problem messages quote untrusted text through printable(), so a hostile line
 * cannot break the report it appears in.
 */
import { printable } from '../model/address.js';
import type { Candidate, ParseProblem, ParseResult } from './types.js';

export class ResultBuilder {
  private readonly candidates: Candidate[] = [];
  private readonly problems: ParseProblem[] = [];
  private failure: string | undefined;

  candidate(address: string, line: number): void {
    this.candidates.push({ address, line });
  }

  problem(line: number, message: string): void {
    this.problems.push({ line, message });
  }

  /** A problem that quotes the offending text, shortened and escaped. */
  problemWithText(line: number, message: string, text: string): void {
    this.problem(line, `${message}: "${printable(text)}"`);
  }

  /** The whole output is unusable (the first reason given is kept). */
  fail(message: string): void {
    this.failure ??= message;
  }

  result(): ParseResult {
    return { candidates: this.candidates, problems: this.problems, ...(this.failure !== undefined ? { failure: this.failure } : {}) };
  }
}

/** Whitespace or control characters anywhere: such a line is never one token. */
export const HAS_SPACE_OR_CONTROL = /[\s\x00-\x1f\x7f]/u;

/** Empty or whitespace-only. */
export function isBlank(text: string): boolean {
  return text.trim() === '';
}

/** First non-whitespace character is `#`. */
export function isComment(text: string): boolean {
  return text.trimStart().startsWith('#');
}

/** `local@domain` for every configured domain. */
export function withDomains(local: string, domains: readonly string[]): string[] {
  return domains.map((domain) => `${local}@${domain}`);
}
