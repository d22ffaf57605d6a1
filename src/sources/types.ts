/**
 * The contract every source type follows. A source is two pure pieces:
 * the fixed command it runs on the list server (from configuration only, never
 * from collected data) and a streaming parser that turns that command's output,
 * line by line, into candidate addresses. No parser ever touches a socket, so each
 * is unit-tested on captured real output.
 */

/** An address as a source saw it, not yet validated or normalised (see model/address). */
export interface Candidate {
  address: string;
  /** 1-based line of the command output (or index+1 in an inventory list) it came from. */
  line: number;
}

/** A line the parser could not understand: reported with host, source and line. */
export interface ParseProblem {
  line: number;
  message: string;
}

export interface ParseResult {
  candidates: Candidate[];
  problems: ParseProblem[];
  /**
   * The output as a whole cannot be trusted (e.g. fewer lists than the header
   * announced: a truncated listing). The source then fails like a command
   * that failed, and is carried forward; its candidates are not used.
   */
  failure?: string;
}

/** Feed it lines (without their LF) in order, then call end() once. */
export interface SourceParser {
  line(text: string, lineNumber: number): void;
  /** A line the collector refused before parsing (not UTF-8): it still counts where lines are counted. */
  skippedLine?(lineNumber: number): void;
  end(): ParseResult;
}

/** A validated source object from `rcptsync_sources` (keys as in the inventory). */
export interface SourceConfig {
  type: string;
  [key: string]: unknown;
}

export interface SourceType<C extends SourceConfig = SourceConfig> {
  type: C['type'];
  /** The remote command to run, or null when the source needs no connection (static). */
  command(config: C): string | null;
  createParser(config: C): SourceParser;
}
