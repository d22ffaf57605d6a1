/**
 * The collector: the one place that joins inventory hosts, SSH sessions and
 * source parsers. Hosts run in parallel up to a bound; the sources of one host
 * run one after another on a single connection. A source that fails (the host
 * unreachable, a host key problem, a command failing, hanging, truncated or over
 * its cap) is reported as a failure beside the sources that worked, so that the
 * run can carry it forward (src/apply/carry-forward.ts) instead of stopping the
 * whole fleet; it never reaches the snapshot with partial output. Only problems
 * of configuration, and refusals under --strict, stop the collection.
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import { DomainCache, normaliseAddress, printable } from '../model/address.js';
import { KeysByDomain, trustCheckedList } from '../model/address-keys.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type Snapshot, type SourceRecord } from '../model/snapshot.js';
import { compareSources } from '../model/snapshot-io.js';
import type { Inventory, ListServer } from '../inventory/model.js';
import { getSourceType } from '../sources/index.js';
import type { SourceConfig } from '../sources/types.js';
import type { RemoteSession, SshTarget } from '../transport/types.js';
import { commandFailedError, connectSsh, HostKeyError } from '../transport/ssh.js';
import type { CollectListener, RefusedEntry } from './events.js';
import { runBounded } from './pool.js';

export interface CollectOptions {
  concurrency: number;
  /** Refused entries are fatal instead of skipped with a warning. */
  strict: boolean;
  onEvent?: CollectListener;
  /** Injectable for tests of the collector itself; defaults to real SSH. */
  connect?: (target: SshTarget) => Promise<RemoteSession>;
}

export interface CollectResult {
  /** The sources that were collected in full; a failed source is not in it. */
  snapshot: Snapshot;
  refused: RefusedEntry[];
  /** The sources that could not be collected, in host and source order. */
  failures: SourceFailure[];
}

/** One source that could not be collected in this run. */
export interface SourceFailure {
  host: string;
  /** Index in the host's `rcptsync_sources`. */
  index: number;
  type: string;
  label: string;
  /** One line naming the host, e.g. `lists1: command failed with exit code 1: mailman lists`. */
  message: string;
  /** stderr of the command, or a hint. */
  detail?: string;
  /** An unknown, changed or revoked host key. */
  hostKey: boolean;
}

export function sourceLabel(config: SourceConfig, index: number): string {
  const name = typeof config['name'] === 'string' ? ` "${config['name']}"` : '';
  return `sources[${index}]${name} (${config.type})`;
}

export async function collect(inventory: Inventory, options: CollectOptions): Promise<CollectResult> {
  const emit: CollectListener = options.onEvent ?? (() => {});
  const refused: RefusedEntry[] = [];
  const results = await runBounded(inventory.listServers, options.concurrency, (server) =>
    collectHost(server, options, emit, refused),
  );

  const fatal: RcptsyncError[] = [];
  const failures: SourceFailure[] = [];
  const sources: SourceRecord[] = [];
  results.forEach((result, index) => {
    const server = inventory.listServers[index]!;
    if (result.status === 'fulfilled') {
      sources.push(...result.value.records);
      failures.push(...result.value.failures);
      return;
    }
    // Only configuration problems and --strict refusals get here (collectHost catches the rest).
    const error = result.reason instanceof RcptsyncError ? result.reason : new RcptsyncError(`${server.name}: ${String(result.reason)}`);
    fatal.push(error);
    emit({ event: 'host-failed', host: server.name, error: error.message, ...(error.detail ? { detail: error.detail } : {}) });
  });
  if (fatal.length > 0) throw new CollectionError(fatal);

  sources.sort(compareSources);
  const gateways = [...inventory.gateways].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { snapshot: { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, sources, gateways }, refused, failures };
}

/** A problem that no carrying forward can cover: the inventory is wrong, or --strict was asked for. */
function isFatal(error: unknown): boolean {
  return error instanceof StrictRefusalError || (error instanceof RcptsyncError && error.exitCode === ExitCode.usage);
}

async function collectHost(
  server: ListServer,
  options: CollectOptions,
  emit: CollectListener,
  refused: RefusedEntry[],
): Promise<{ records: SourceRecord[]; failures: SourceFailure[] }> {
  const started = Date.now();
  const domains = new DomainCache();
  const plans = server.sources.map((config, index) => {
    const type = getSourceType(config.type);
    return { config, index, type, label: sourceLabel(config, index), command: type.command(config) };
  });
  const remote = plans.some((plan) => plan.command !== null);
  emit({ event: 'host-start', host: server.name, sources: plans.length, remote });

  // A host with only static sources is never connected to.
  const connect = options.connect ?? connectSsh;
  let session: RemoteSession | undefined;
  let connectError: unknown;
  const records: SourceRecord[] = [];
  const failures: SourceFailure[] = [];
  try {
    if (remote) {
      try {
        session = await connect(server.ssh);
      } catch (error) {
        if (isFatal(error)) throw error;
        connectError = error;
        const failure = failureOf(server.name, { index: 0, type: '', label: '' }, error);
        emit({ event: 'host-failed', host: server.name, error: failure.message, ...(failure.detail ? { detail: failure.detail } : {}) });
      }
    }
    for (const plan of plans) {
      if (plan.command !== null && session === undefined) {
        // Static sources of an unreachable host still count; the others fail with the connection.
        failures.push(failureOf(server.name, { index: plan.index, type: plan.config.type, label: plan.label }, connectError));
        continue;
      }
      try {
        const record = await collectSource(server, plan, session, domains, options, emit);
        refused.push(...record.refusedEntries);
        records.push(record.source);
      } catch (error) {
        if (isFatal(error)) throw error;
        const failure = failureOf(server.name, { index: plan.index, type: plan.config.type, label: plan.label }, error);
        failures.push(failure);
        emit({ event: 'source-failed', host: server.name, source: plan.label, error: failure.message, ...(failure.detail ? { detail: failure.detail } : {}) });
      }
    }
    emit({
      event: 'host-done',
      host: server.name,
      addresses: records.reduce((n, r) => n + r.addresses.length, 0),
      ...(failures.length > 0 ? { failed: failures.length } : {}),
      ms: Date.now() - started,
    });
    return { records, failures };
  } finally {
    session?.close();
  }
}

interface SourcePlan {
  config: SourceConfig;
  index: number;
  type: ReturnType<typeof getSourceType>;
  label: string;
  command: string | null;
}

/** Run one source's command (if any) and parse, validate and sort what it printed. */
async function collectSource(
  server: ListServer,
  plan: SourcePlan,
  session: RemoteSession | undefined,
  domains: DomainCache,
  options: CollectOptions,
  emit: CollectListener,
): Promise<{ source: SourceRecord; refusedEntries: RefusedEntry[] }> {
  const sourceStarted = Date.now();
  const parser = plan.type.createParser(plan.config);
  const place = { host: server.name, source: plan.label };
  const refusedEntries: RefusedEntry[] = [];
  const refuse = (line: number, reason: string, text: string, shown = printable(text)): void => {
    const entry: RefusedEntry = { ...place, line, reason, text: shown };
    if (options.strict) {
      throw new StrictRefusalError(`${server.name}: ${plan.label}: line ${line}: ${reason}${entry.text ? `: "${entry.text}"` : ''} (refused; --strict makes this fatal)`);
    }
    refusedEntries.push(entry);
    emit({ event: 'refused-entry', ...entry });
  };
  if (plan.command !== null) {
    const timeoutSeconds = plan.config['timeout'];
    const result = await session!.run(plan.command, {
      timeoutMs: typeof timeoutSeconds === 'number' ? timeoutSeconds * 1000 : server.commandTimeoutMs,
      maxOutputBytes: server.maxOutputBytes,
      onLine: (text, lineNumber) => parser.line(text, lineNumber),
      // Refused like any invalid entry, and skipped: the parser never sees it (nor counts it).
      onBadLine: (escaped, lineNumber) => {
        refuse(lineNumber, 'not valid UTF-8', '', escaped.length > 80 ? `${escaped.slice(0, 77)}...` : escaped);
        parser.skippedLine?.(lineNumber);
      },
    });
    if (result.exitCode !== 0) throw commandFailedError(server.name, plan.command, result);
  }
  const parsed = parser.end();
  if (parsed.failure !== undefined) throw new RcptsyncError(`${server.name}: ${plan.label}: ${parsed.failure}`);
  for (const problem of parsed.problems) refuse(problem.line, problem.message, '');
  const byDomain = new KeysByDomain();
  for (const candidate of parsed.candidates) {
    const result = normaliseAddress(candidate.address, domains);
    if (!result.ok) {
      refuse(candidate.line, result.reason, candidate.address);
      continue;
    }
    if (result.warnings) for (const message of result.warnings) emit({ event: 'address-warning', ...place, line: candidate.line, message });
    const { key, domain } = result.address;
    // A list server speaks only for its own domains, when it declares them.
    if (server.domains && !server.domains.has(domain)) {
      refuse(candidate.line, `domain ${domain} is not one of ${server.name}'s rcptsync_domains`, candidate.address);
      continue;
    }
    byDomain.add(key, domain);
  }
  const { keys: addresses, runs } = byDomain.sortedRuns();
  // Every key is normaliseAddress's own output: checked, so the gateway tables and the
  // summary take the list by its domain runs instead of testing each key again.
  trustCheckedList(addresses, runs);
  emit({
    event: 'source-done',
    host: server.name,
    source: plan.label,
    addresses: addresses.length,
    refused: refusedEntries.length,
    ms: Date.now() - sourceStarted,
  });
  return {
    source: { host: server.name, index: plan.index, type: plan.config.type, label: plan.label, addresses, refused: refusedEntries.length },
    refusedEntries,
  };
}

function failureOf(host: string, source: Pick<SourceFailure, 'index' | 'type' | 'label'>, error: unknown): SourceFailure {
  const message = error instanceof Error ? error.message : String(error);
  const detail = error instanceof RcptsyncError ? error.detail : undefined;
  return {
    host,
    ...source,
    message: message.startsWith(`${host}: `) ? message : `${host}: ${message}`,
    ...(detail ? { detail } : {}),
    hostKey: error instanceof HostKeyError,
  };
}

/** A line refused under --strict: fatal by the operator's choice, never carried forward. */
export class StrictRefusalError extends RcptsyncError {
  override name = 'StrictRefusalError';
}

/** The collection cannot be used: nothing may be rendered from it. */
export class CollectionError extends RcptsyncError {
  override name = 'CollectionError';
  constructor(readonly errors: RcptsyncError[]) {
    super(
      errors.length === 1 ? `collection failed, nothing rendered: ${errors[0]!.message}` : `collection failed on ${errors.length} hosts, nothing rendered`,
      // A usage-class cause (e.g. an unknown source type) keeps its exit code.
      errors.every((e) => e.exitCode === ExitCode.usage) ? ExitCode.usage : ExitCode.runtime,
      errors.length === 1 ? errors[0]!.detail : errors.map((e) => (e.detail ? `${e.message}\n${indent(e.detail)}` : e.message)).join('\n'),
    );
  }
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}
