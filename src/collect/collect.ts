/**
 * The collector: the one place that joins inventory hosts, SSH sessions and
 * source parsers. Hosts run in parallel up to a bound; the sources of one host
 * run one after another on a single connection. Any failure of any source fails
 * the whole collection: a partial collection must never reach a gateway.
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import { DomainCache, normaliseAddress, printable } from '../model/address.js';
import { SNAPSHOT_FORMAT, SNAPSHOT_VERSION, type Snapshot, type SourceRecord } from '../model/snapshot.js';
import type { Inventory, ListServer } from '../inventory/model.js';
import { getSourceType } from '../sources/index.js';
import type { SourceConfig } from '../sources/types.js';
import type { RemoteSession, SshTarget } from '../transport/types.js';
import { commandFailedError, connectSsh } from '../transport/ssh.js';
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
  snapshot: Snapshot;
  refused: RefusedEntry[];
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

  const failures: HostFailure[] = [];
  const sources: SourceRecord[] = [];
  results.forEach((result, index) => {
    const server = inventory.listServers[index]!;
    if (result.status === 'fulfilled') {
      sources.push(...result.value);
      return;
    }
    const failure = result.reason instanceof HostFailure ? result.reason : new HostFailure(server.name, undefined, result.reason);
    failures.push(failure);
    emit({ event: 'host-failed', host: server.name, error: failure.message, ...(failure.detail ? { detail: failure.detail } : {}) });
  });
  if (failures.length > 0) throw new CollectionError(failures);

  sources.sort((a, b) => (a.host === b.host ? a.index - b.index : a.host < b.host ? -1 : 1));
  const gateways = [...inventory.gateways].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { snapshot: { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, sources, gateways }, refused };
}

async function collectHost(
  server: ListServer,
  options: CollectOptions,
  emit: CollectListener,
  refused: RefusedEntry[],
): Promise<SourceRecord[]> {
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
  let current: string | undefined;
  try {
    if (remote) session = await connect(server.ssh);
    const records: SourceRecord[] = [];
    for (const plan of plans) {
      current = plan.label;
      const sourceStarted = Date.now();
      const parser = plan.type.createParser(plan.config);
      if (plan.command !== null) {
        const timeoutSeconds = plan.config['timeout'];
        const result = await session!.run(plan.command, {
          timeoutMs: typeof timeoutSeconds === 'number' ? timeoutSeconds * 1000 : server.commandTimeoutMs,
          maxOutputBytes: server.maxOutputBytes,
          onLine: (text, lineNumber) => parser.line(text, lineNumber),
        });
        if (result.exitCode !== 0) throw commandFailedError(server.name, plan.command, result);
      }
      const parsed = parser.end();
      const place = { host: server.name, source: plan.label };
      let refusedCount = 0;
      const refuse = (line: number, reason: string, text: string): void => {
        refusedCount++;
        const entry: RefusedEntry = { ...place, line, reason, text: printable(text) };
        if (options.strict) {
          throw new RcptsyncError(
            `${server.name}: ${plan.label}: line ${line}: ${reason}: "${entry.text}" (refused; --strict makes this fatal)`,
            ExitCode.runtime,
          );
        }
        refused.push(entry);
        emit({ event: 'refused-entry', ...entry });
      };
      for (const problem of parsed.problems) refuse(problem.line, problem.message, '');
      // Grouped by domain as they come, so that sorting is by domain, then local
      // part, without a comparator that re-splits every key.
      const byDomain = new Map<string, Set<string>>();
      for (const candidate of parsed.candidates) {
        const result = normaliseAddress(candidate.address, domains);
        if (!result.ok) {
          refuse(candidate.line, result.reason, candidate.address);
          continue;
        }
        const { local, domain } = result.address;
        let locals = byDomain.get(domain);
        if (!locals) byDomain.set(domain, (locals = new Set()));
        locals.add(local);
      }
      const addresses: string[] = [];
      for (const domain of [...byDomain.keys()].sort()) {
        for (const local of [...byDomain.get(domain)!].sort()) addresses.push(`${local}@${domain}`);
      }
      records.push({ host: server.name, index: plan.index, type: plan.config.type, label: plan.label, addresses, refused: refusedCount });
      emit({
        event: 'source-done',
        host: server.name,
        source: plan.label,
        addresses: addresses.length,
        refused: refusedCount,
        ms: Date.now() - sourceStarted,
      });
    }
    emit({ event: 'host-done', host: server.name, addresses: records.reduce((n, r) => n + r.addresses.length, 0), ms: Date.now() - started });
    return records;
  } catch (error) {
    throw new HostFailure(server.name, current, error);
  } finally {
    session?.close();
  }
}

/** One host that failed, and the source it was working on (none: connecting). */
export class HostFailure extends Error {
  readonly detail: string | undefined;
  constructor(
    readonly host: string,
    readonly source: string | undefined,
    readonly reason: unknown,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.detail = reason instanceof RcptsyncError ? reason.detail : undefined;
  }
}

/** The whole collection failed: nothing may be rendered from it. */
export class CollectionError extends RcptsyncError {
  override name = 'CollectionError';
  constructor(readonly failures: HostFailure[]) {
    super(
      failures.length === 1
        ? `collection failed, nothing rendered: ${failures[0]!.message}`
        : `collection failed on ${failures.length} hosts, nothing rendered`,
      // A usage-class cause (e.g. an unknown source type) keeps its exit code.
      failures.every((f) => f.reason instanceof RcptsyncError && f.reason.exitCode === ExitCode.usage) ? ExitCode.usage : ExitCode.runtime,
      failures.length === 1
        ? failures[0]!.detail
        : failures.map((f) => (f.detail ? `${f.message}\n${indent(f.detail)}` : f.message)).join('\n'),
    );
  }
}

function indent(text: string): string {
  return text.replace(/^/gm, '  ');
}
