/**
 * The per-gateway tables, built once from a snapshot: for each gateway and each
 * domain it relays, the sorted unique recipients (collected, plus postmaster@
 * and abuse@ where on) and which sources filled them, with the domain's next
 * hop and settings. The plan compares them, the renderer writes them, and the
 * metrics and summaries count them.
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import { normaliseDomain, printable } from '../model/address.js';
import { checkedRunsOf, compareLocals, domainKeyPattern, isKeyOf, keyProblem, sortUniqueLocals } from '../model/address-keys.js';
import type { DomainSettings, Snapshot, SourceRecord } from '../model/snapshot.js';

export interface DomainTable extends DomainSettings {
  /** Collected keys of this domain (role addresses not included), sorted by local part, unique. */
  collected: string[];
  /** What the gateway's table holds for this domain: collected plus role addresses where on; sorted, unique. */
  addresses: string[];
  /** Indices into `snapshot.sources` of the sources that contributed, ascending. */
  sources: number[];
}

export interface GatewayTable {
  gateway: string;
  smtputf8: boolean;
  /** The gateway's relayed domains (A-labels), sorted. */
  domains: DomainTable[];
  /** Indices into `snapshot.sources` of every source that contributed to this gateway, ascending. */
  sources: number[];
}

interface BucketRun {
  source: number;
  from: number;
  to: number;
  checked: boolean;
}

interface DomainBucket {
  pattern: RegExp;
  runs: BucketRun[];
  collected?: string[];
  sources?: number[];
}

/**
 * Per gateway, per relayed domain, the sorted unique address list and which
 * sources filled it. Every key that lands in a table is checked here against
 * its domain's pattern, so a snapshot built in memory gets the same guarantee
 * as one read from a file. Addresses of domains no gateway relays are skipped.
 */
export function buildGatewayTables(snapshot: Snapshot): GatewayTable[] {
  const buckets = new Map<string, DomainBucket>();
  for (const gateway of snapshot.gateways) {
    for (const settings of gateway.domains) {
      if (!buckets.has(settings.domain)) {
        const normal = normaliseDomain(settings.domain);
        if (!normal.ok || normal.domain !== settings.domain) {
          throw new RcptsyncError(`gateway ${gateway.name}: relayed domain "${printable(settings.domain)}" is not a normalised domain`, ExitCode.usage);
        }
        buckets.set(settings.domain, { pattern: domainKeyPattern(settings.domain), runs: [] });
      }
    }
  }
  snapshot.sources.forEach((source, s) => {
    const addresses = source.addresses;
    const checkedRuns = checkedRunsOf(addresses);
    if (checkedRuns) {
      // Checked and in contract order: each domain's keys are one run, sorted and unique.
      for (const run of checkedRuns) buckets.get(run.domain)?.runs.push({ source: s, from: run.from, to: run.to, checked: true });
      return;
    }
    const n = addresses.length;
    let i = 0;
    while (i < n) {
      const key = addresses[i];
      const at = typeof key === 'string' ? key.lastIndexOf('@') : -1;
      const domain = at >= 0 ? key!.slice(at + 1) : '';
      const bucket = buckets.get(domain);
      let j = i;
      if (bucket) {
        while (j < n && isKeyOf(addresses[j]!, bucket.pattern)) j++;
        if (j === i) {
          throw new RcptsyncError(
            `${source.host} ${source.label}: address ${i}: "${printable(String(key))}": ${keyProblem(key) ?? 'invalid'}`,
            ExitCode.usage,
          );
        }
        bucket.runs.push({ source: s, from: i, to: j, checked: false });
      } else {
        // Not relayed anywhere: never rendered, so only the run boundary matters.
        const suffix = at >= 0 ? key!.slice(at) : null;
        j = i + 1;
        if (suffix !== null) while (j < n && addresses[j]!.endsWith(suffix)) j++;
      }
      i = j;
    }
  });
  for (const [domain, bucket] of buckets) {
    const runs = bucket.runs;
    if (runs.length === 1 && runs[0]!.checked) {
      const run = runs[0]!;
      bucket.collected = snapshot.sources[run.source]!.addresses.slice(run.from, run.to);
      bucket.sources = [run.source];
      continue;
    }
    bucket.collected = mergeRuns(snapshot.sources, runs, domain.length + 1);
    bucket.sources = [...new Set(runs.map((run) => run.source))].sort((a, b) => a - b);
  }
  return snapshot.gateways.map((gateway) => {
    const contributing = new Set<number>();
    const domains = gateway.domains.map((settings): DomainTable => {
      const bucket = buckets.get(settings.domain)!;
      for (const s of bucket.sources!) contributing.add(s);
      const collected = bucket.collected!;
      return {
        ...settings,
        collected,
        addresses: settings.roleAddresses ? withRoleAddresses(collected, settings.domain) : collected,
        sources: bucket.sources!,
      };
    });
    return { gateway: gateway.name, smtputf8: gateway.smtputf8, domains, sources: [...contributing].sort((a, b) => a - b) };
  });
}

/** RFC 5321 4.5.1 and RFC 2142: postmaster@ and abuse@ are always accepted. */
export const ROLE_LOCAL_PARTS = ['abuse', 'postmaster'] as const;

function withRoleAddresses(keys: string[], domain: string): string[] {
  const suffixLength = domain.length + 1;
  const inserts: Array<{ at: number; key: string }> = [];
  for (const local of ROLE_LOCAL_PARTS) {
    const key = `${local}@${domain}`;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareLocals(keys[mid]!, key, suffixLength) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (keys[lo] !== key) inserts.push({ at: lo, key });
  }
  if (inserts.length === 0) return keys;
  // One copy with the role keys in place (ROLE_LOCAL_PARTS is sorted, so are the positions): slice plus splice cost three times as much on a large list.
  const out: string[] = new Array(keys.length + inserts.length);
  let from = 0;
  let n = 0;
  for (const { at, key } of inserts) {
    while (from < at) out[n++] = keys[from++]!;
    out[n++] = key;
  }
  while (from < keys.length) out[n++] = keys[from++]!;
  return out;
}

/**
 * For two distinct keys of one domain: does `a` come before `b` in contract
 * order (compareLocals < 0)? The engine's string order agrees with it except
 * where one local part is a proper prefix of the other and the longer one goes
 * on with a character below "@" ("a1@d" < "a@d" as strings, after it here), so
 * only that case is compared by hand.
 */
function localsBefore(a: string, b: string, suffixLength: number): boolean {
  if (a < b) return !(a.length > b.length && a.charCodeAt(b.length - suffixLength) < 64 && startsWithLocal(a, b, b.length - suffixLength));
  return b.length > a.length && b.charCodeAt(a.length - suffixLength) < 64 && startsWithLocal(b, a, a.length - suffixLength);
}

/** True when the first `length` code units of `long` and `short` are equal. */
function startsWithLocal(long: string, short: string, length: number): boolean {
  for (let i = 0; i < length; i++) if (long.charCodeAt(i) !== short.charCodeAt(i)) return false;
  return true;
}

/**
 * The keys of several runs of one domain, sorted by local part and unique. A
 * checked run is already in that order and an unchecked one (a snapshot built
 * in memory) is sorted on its own; then the runs are merged pairwise between
 * two buffers allocated once. Lists this long live in V8's large-object space,
 * where every allocation (array growth, sort buffers, copies) is expensive, and
 * a merge with an inlined comparison does a third of what a sort with a
 * comparator callback does.
 */
function mergeRuns(sources: readonly SourceRecord[], runs: readonly BucketRun[], suffixLength: number): string[] {
  let total = 0;
  for (const run of runs) total += run.to - run.from;
  let a: string[] = new Array(total);
  let bounds: number[] = [0];
  let n = 0;
  for (const run of runs) {
    const addresses = sources[run.source]!.addresses;
    const start = n;
    for (let k = run.from; k < run.to; k++) a[n++] = addresses[k]!;
    if (!run.checked && !isStrictlyAscending(a, start, n, suffixLength)) {
      const part = sortUniqueLocals(a.slice(start, n), suffixLength);
      for (let k = 0; k < part.length; k++) a[start + k] = part[k]!;
      n = start + part.length;
    }
    bounds.push(n);
  }
  let b: string[] = bounds.length > 2 ? new Array(n) : [];
  while (bounds.length > 2) {
    const next = [0];
    let out = 0;
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      if (r + 2 < bounds.length) out = mergeInto(a, bounds[r]!, bounds[r + 1]!, bounds[r + 2]!, b, out, suffixLength);
      else for (let k = bounds[r]!; k < bounds[r + 1]!; k++) b[out++] = a[k]!;
      next.push(out);
    }
    [a, b] = [b, a];
    bounds = next;
  }
  a.length = bounds[bounds.length - 1]!;
  return a;
}

/** Merge the sorted unique ranges [i, mid) and [mid, end) of `src` into `dst` from `out`, dropping keys in both; returns the new end. */
function mergeInto(src: string[], i: number, mid: number, end: number, dst: string[], out: number, suffixLength: number): number {
  let j = mid;
  while (i < mid && j < end) {
    const x = src[i]!;
    const y = src[j]!;
    if (x === y) {
      dst[out++] = x;
      i++;
      j++;
    } else if (localsBefore(x, y, suffixLength)) {
      dst[out++] = x;
      i++;
    } else {
      dst[out++] = y;
      j++;
    }
  }
  while (i < mid) dst[out++] = src[i++]!;
  while (j < end) dst[out++] = src[j++]!;
  return out;
}

function isStrictlyAscending(keys: readonly string[], from: number, to: number, suffixLength: number): boolean {
  for (let i = from + 1; i < to; i++) if (compareLocals(keys[i - 1]!, keys[i]!, suffixLength) >= 0) return false;
  return true;
}
