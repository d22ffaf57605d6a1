/**
 * Errors that reach the user. Every error carries the exit code the CLI ends
 * with, so commands never call process.exit themselves (see docs/exit-codes in
 * the README).
 */
export const ExitCode = {
  ok: 0,
  /** SSH, I/O, a failed remote command, bad command output. */
  runtime: 1,
  /** Bad arguments or an invalid inventory/configuration. */
  usage: 2,
  /**
   * A safety threshold was breached (too many removals, a source gone empty):
   * review needed. By default the additions were published and the removals
   * held; with --on-refusal stop, nothing was written.
   */
  refused: 3,
  /** `--expect-no-changes` and the plan has changes; `status`: a gateway not in sync. */
  changes: 4,
  /** Published, degraded: failed sources were carried forward from the last-known-good state. */
  degraded: 5,
  /** Published, degraded by a HOST KEY problem (unknown, changed or revoked key) among the carried sources. */
  hostKey: 6,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Where a problem sits: a file position, a host, a variable path, a source line. */
export interface Place {
  host?: string;
  /** e.g. `rcptsync_sources[2].path` */
  path?: string;
  file?: string;
  line?: number;
  column?: number;
  /** e.g. `sources[0] (mailman3)` */
  source?: string;
}

export function formatPlace(place: Place): string {
  const parts: string[] = [];
  if (place.file) {
    let at = place.file;
    if (place.line !== undefined) at += `:${place.line}`;
    if (place.column !== undefined) at += `:${place.column}`;
    parts.push(at);
  }
  if (place.host) parts.push(place.host);
  if (place.source) parts.push(place.source);
  if (place.path) parts.push(place.path);
  if (!place.file && place.line !== undefined) parts.push(`line ${place.line}`);
  return parts.join(': ');
}

export class RcptsyncError extends Error {
  override name = 'RcptsyncError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.runtime,
    /** Longer detail printed under the message (stderr of a command, list of problems). */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** One problem in the configuration; many are collected and reported at once. */
export interface ConfigProblem extends Place {
  message: string;
}

export class ConfigError extends RcptsyncError {
  override name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(
      problems.length === 1
        ? `invalid configuration: ${formatProblem(problems[0]!)}`
        : `invalid configuration: ${problems.length} problems`,
      ExitCode.usage,
      problems.length === 1 ? undefined : problems.map(formatProblem).join('\n'),
    );
  }
}

export function formatProblem(problem: ConfigProblem): string {
  const where = formatPlace(problem);
  return where ? `${where}: ${problem.message}` : problem.message;
}

export class UsageError extends RcptsyncError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}
