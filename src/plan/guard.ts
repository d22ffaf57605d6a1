/**
 * Safety rails (issue 4): refuse a plan that would shrink a gateway's table more
 * than its owner allowed, as octoDNS's Plan.raise_if_unsafe does for zones. A
 * smaller table than reality makes Postfix answer 550 to valid recipients, so
 * every shrink beyond the thresholds needs a human to say --force (or to allow a
 * number of removals for this run). Additions never need force.
 */
import { ExitCode, RcptsyncError } from '../errors.js';
import type { GatewayPolicy, Thresholds } from '../inventory/model.js';
import type { Snapshot } from '../model/snapshot.js';
import type { DomainPlan, GatewayPlan, Plan } from './diff.js';

/** Defaults when the inventory says nothing; the share and floor are octoDNS's. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  maxRemovalPercent: 30,
  removalFloor: 10,
  minEntries: 0,
};

/** How many entries one source returned, in a previous run or this one. */
export interface SourceCount {
  host: string;
  /** Index in the host's `rcptsync_sources`. */
  index: number;
  /** e.g. `sources[0] (mailman3)` */
  label: string;
  count: number;
}

/**
 * Per-source counts of a snapshot, for the source-gone-empty rule. A source's
 * held removals count as its own: they are still published for it.
 */
export function sourceCountsOf(snapshot: Snapshot): SourceCount[] {
  const counts = new Map<string, SourceCount>();
  for (const s of snapshot.sources) {
    const id = `${s.host}\0${s.index}`;
    const count = counts.get(id);
    if (count) count.count += s.addresses.length;
    else counts.set(id, { host: s.host, index: s.index, label: s.label, count: s.addresses.length });
  }
  return [...counts.values()];
}

export type ViolationRule = 'removal-percent' | 'max-removals' | 'source-empty' | 'min-entries' | 'domain-unrelayed';

export interface Violation {
  rule: ViolationRule;
  /** The whole message, ready for the user. */
  message: string;
  gateway?: string;
  /** Absent for a rule on the gateway's whole table. */
  domain?: string;
  host?: string;
  source?: string;
  /** The source's index in the host's `rcptsync_sources` (source rules). */
  index?: number;
  /** Entries removed, existing before, left after (removal and minimum rules). */
  removed?: number;
  before?: number;
  after?: number;
  /** The threshold broken (percent, count or minimum). */
  limit?: number;
}

export interface SafetyOptions {
  policies: GatewayPolicy[];
  /** Per-source counts of the last-known-good run; absent on a first run. */
  sourcesBefore?: SourceCount[];
  sourcesAfter?: SourceCount[];
  /** Accept every violation (a reviewed change). */
  force: boolean;
  /** Accept up to this many removals per gateway in total, without force. */
  allowRemovals?: number;
  /** Thresholds of gateways without a policy (default DEFAULT_THRESHOLDS). */
  defaults?: Thresholds;
}

const FORCE_HINT = 'run with --force to accept';

/** `2340` -> `2,340`, independent of the machine's locale. */
export function formatCount(n: number): string {
  const [int, frac] = String(n).split('.');
  const grouped = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? grouped : `${grouped}.${frac}`;
}

/** The share with one decimal, or more when fewer would print the limit itself (`30.0%, over 30%`). */
function formatShare(removed: number, before: number, limit: number): string {
  const share = (removed / before) * 100;
  // A share over the limit differs from it within a dozen decimals for any real table size.
  for (let digits = 1; digits <= 12; digits++) {
    const shown = share.toFixed(digits);
    if (Number(shown) > limit) return shown;
  }
  return String(share);
}

/** Over `percent`% of `before`, compared in integers so that exactly 30% stays allowed. */
export function overShare(removed: number, before: number, percent: number): boolean {
  return removed * 100 > percent * before;
}

export function thresholdsFor(policy: GatewayPolicy | undefined, defaults: Thresholds, domain?: string): Thresholds {
  const base = policy?.thresholds ?? defaults;
  if (domain === undefined) return base;
  const override = policy?.domains[domain];
  if (!override) return base;
  const merged: Thresholds = { ...base };
  for (const [key, value] of Object.entries(override) as Array<[keyof Thresholds, number | undefined]>) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

function removalViolations(
  prefix: string,
  counts: { removed: number; before: number },
  thresholds: Thresholds,
  checkAbsolute: boolean,
): Array<Omit<Violation, 'gateway' | 'domain'>> {
  const found: Array<Omit<Violation, 'gateway' | 'domain'>> = [];
  const { removed, before } = counts;
  if (removed === 0) return found;
  if (before >= thresholds.removalFloor && overShare(removed, before, thresholds.maxRemovalPercent)) {
    const share = formatShare(removed, before, thresholds.maxRemovalPercent);
    found.push({
      rule: 'removal-percent',
      message: `${prefix}: ${formatCount(removed)} of ${formatCount(before)} entries (${share}%) would be removed, over ${formatCount(thresholds.maxRemovalPercent)}%; ${FORCE_HINT}`,
      removed,
      before,
      limit: thresholds.maxRemovalPercent,
    });
  }
  if (checkAbsolute && thresholds.maxRemovals !== undefined && removed > thresholds.maxRemovals) {
    found.push({
      rule: 'max-removals',
      message: `${prefix}: ${formatCount(removed)} of ${formatCount(before)} entries would be removed, over the limit of ${formatCount(thresholds.maxRemovals)}; ${FORCE_HINT}`,
      removed,
      before,
      limit: thresholds.maxRemovals,
    });
  }
  return found;
}

function gatewayViolations(gateway: GatewayPlan, policy: GatewayPolicy | undefined, defaults: Thresholds, unrelayed: ReadonlySet<string>): Violation[] {
  const name = gateway.gateway;
  const gatewayThresholds = thresholdsFor(policy, defaults);
  const domainFound: Violation[] = [];
  const domainPlans = new Map<string, DomainPlan>(gateway.domains.map((d) => [d.domain, d]));
  for (const domain of gateway.domains) {
    // A domain the gateway stops relaying is its own event, whatever its size: its mail will get 554.
    if (unrelayed.has(domain.domain)) {
      if (domain.before > 0) {
        domainFound.push({
          rule: 'domain-unrelayed',
          message: `${name}: ${domain.domain}: no longer relayed: its ${formatCount(domain.before)} entr${domain.before === 1 ? 'y goes' : 'ies go'} and its mail will be refused (554 Relay access denied); ${FORCE_HINT}`,
          gateway: name,
          domain: domain.domain,
          removed: domain.removed.length,
          before: domain.before,
          after: 0,
        });
      }
      continue;
    }
    const thresholds = thresholdsFor(policy, defaults, domain.domain);
    const prefix = `${name}: ${domain.domain}`;
    // The gateway's absolute limit already covers each domain; only a domain's own limit adds a rule.
    const ownLimit = policy?.domains[domain.domain]?.maxRemovals !== undefined;
    const counts = { removed: domain.removed.length, before: domain.before };
    for (const v of removalViolations(prefix, counts, thresholds, ownLimit)) domainFound.push({ ...v, gateway: name, domain: domain.domain });
    if (domain.after < thresholds.minEntries) domainFound.push(minimumViolation(name, domain.domain, domain.after, thresholds.minEntries));
  }
  // A domain the policy expects but that has no entry on either side is under its minimum too.
  for (const [domain, override] of Object.entries(policy?.domains ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (domainPlans.has(domain)) continue;
    const minimum = override.minEntries ?? 0;
    if (minimum > 0) domainFound.push(minimumViolation(name, domain, 0, minimum));
  }

  const gatewayFound: Violation[] = [];
  for (const v of removalViolations(name, gateway, gatewayThresholds, true)) {
    // A gateway with one changed domain would repeat that domain's numbers; say it once.
    const repeated = domainFound.some((d) => d.rule === v.rule && d.removed === v.removed && d.before === v.before);
    if (!repeated) gatewayFound.push({ ...v, gateway: name });
  }
  return [...gatewayFound, ...domainFound];
}

function minimumViolation(gateway: string, domain: string, after: number, minimum: number): Violation {
  const left = after === 0 ? 'no entries' : after === 1 ? '1 entry' : `${formatCount(after)} entries`;
  return {
    rule: 'min-entries',
    message: `${gateway}: ${domain}: ${left} would remain, under the minimum of ${formatCount(minimum)}; ${FORCE_HINT}`,
    gateway,
    domain,
    after,
    limit: minimum,
  };
}

function sourceViolations(before: SourceCount[], after: SourceCount[]): Violation[] {
  const now = new Map(after.map((s) => [`${s.host}\0${s.index}`, s]));
  const found: Violation[] = [];
  const sorted = [...before].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index - b.index));
  for (const previous of sorted) {
    const current = now.get(`${previous.host}\0${previous.index}`);
    // A source removed from the inventory is a configuration change, not a source gone empty.
    if (!current || previous.count === 0 || current.count > 0) continue;
    found.push({
      rule: 'source-empty',
      message: `${previous.host}: ${current.label}: returned no entries, ${formatCount(previous.count)} last time; ${FORCE_HINT}`,
      host: previous.host,
      source: current.label,
      index: previous.index,
      before: previous.count,
      after: 0,
    });
  }
  return found;
}

/** Every rule the plan breaks, ignoring --force and --allow-removals (to warn about what they accepted). */
export function findViolations(plan: Plan, options: Omit<SafetyOptions, 'force' | 'allowRemovals'>): Violation[] {
  const defaults = options.defaults ?? DEFAULT_THRESHOLDS;
  const policies = new Map(options.policies.map((p) => [p.gateway, p]));
  const found: Violation[] = [];
  if (options.sourcesBefore && options.sourcesAfter) found.push(...sourceViolations(options.sourcesBefore, options.sourcesAfter));
  for (const gateway of plan.gateways) {
    const unrelayed = new Set(plan.routes.filter((r) => r.gateway === gateway.gateway && r.change === 'no longer relayed').map((r) => r.domain));
    found.push(...gatewayViolations(gateway, policies.get(gateway.gateway), defaults, unrelayed));
  }
  return found;
}

/**
 * The violations that refuse this run: none with --force; with --allow-removals N,
 * the removal rules of a gateway removing at most N entries in total are accepted
 * (a source gone empty and a domain under its minimum still need --force).
 */
export function checkSafety(plan: Plan, options: SafetyOptions): Violation[] {
  if (options.force) return [];
  const all = findViolations(plan, options);
  const allowance = options.allowRemovals;
  if (allowance === undefined) return all;
  const removedByGateway = new Map(plan.gateways.map((g) => [g.gateway, g.removed]));
  return all.filter((v) => {
    if (v.rule !== 'removal-percent' && v.rule !== 'max-removals') return true;
    // --allow-removals accepts removals; a domain no longer relayed still needs --force.
    return (removedByGateway.get(v.gateway!) ?? 0) > allowance;
  });
}

export class SafetyRefusedError extends RcptsyncError {
  override name = 'SafetyRefusedError';
  constructor(readonly violations: Violation[]) {
    super(
      violations.length === 1
        ? `refused: ${violations[0]!.message}`
        : `refused: ${violations.length} safety thresholds would be broken`,
      ExitCode.refused,
      [
        ...violations.map((v) => v.message),
        'Nothing was rendered and the last-known-good state is unchanged. Review the plan (rcptsync plan), then run with --force, or with --allow-removals N to accept up to N removals per gateway.',
      ].join('\n'),
    );
  }
}

/** Throw SafetyRefusedError when the plan breaks a rule that was not accepted. */
export function assertSafe(plan: Plan, options: SafetyOptions): void {
  const violations = checkSafety(plan, options);
  if (violations.length > 0) throw new SafetyRefusedError(violations);
}
