/**
 * The plan: what a sync would change in every gateway's relay_recipients, per
 * gateway and per domain. Pure; a linear merge of sorted lists, so a million
 * entries cost one pass.
 */
import type { RouteChange } from './routes.js';
import { compareAddresses, compareCodeUnits, sortedUnique, type GatewayTables } from './tables.js';

export interface Counts {
  added: number;
  removed: number;
  unchanged: number;
  /** Entries before (the state being replaced). */
  before: number;
  /** Entries after (the new collection). */
  after: number;
}

export interface DomainPlan {
  domain: string;
  /** Sorted. */
  added: string[];
  /** Sorted. */
  removed: string[];
  unchanged: number;
  before: number;
  after: number;
}

export interface GatewayPlan extends Counts {
  gateway: string;
  /** Every domain present before or after, sorted. */
  domains: DomainPlan[];
}

export interface Plan {
  /** Every gateway present before or after, sorted. */
  gateways: GatewayPlan[];
  totals: Counts;
  /** Relayed domains added or dropped and next hops changed (see routes.ts); empty when not compared. */
  routes: RouteChange[];
  /** Any recipient added or removed, or any route changed. */
  hasChanges: boolean;
}

/** The plan with the route changes of the same comparison. */
export function withRoutes(plan: Plan, routes: RouteChange[]): Plan {
  return { ...plan, routes, hasChanges: plan.hasChanges || routes.length > 0 };
}

const EMPTY: readonly string[] = [];

/** Merge two sorted unique lists (compareAddresses order) into what was added and removed. */
export function diffSorted(before: readonly string[], after: readonly string[]): { added: string[]; removed: string[]; unchanged: number } {
  const added: string[] = [];
  const removed: string[] = [];
  let unchanged = 0;
  let i = 0;
  let j = 0;
  while (i < before.length && j < after.length) {
    const a = before[i]!;
    const b = after[j]!;
    if (a === b) {
      unchanged++;
      i++;
      j++;
    } else if (compareAddresses(a, b) < 0) {
      removed.push(a);
      i++;
    } else {
      added.push(b);
      j++;
    }
  }
  while (i < before.length) removed.push(before[i++]!);
  while (j < after.length) added.push(after[j++]!);
  return { added, removed, unchanged };
}

function unionSorted(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort(compareCodeUnits);
}

export function zeroCounts(): Counts {
  return { added: 0, removed: 0, unchanged: 0, before: 0, after: 0 };
}

function addCounts(into: Counts, from: Counts | DomainPlan): void {
  into.added += typeof from.added === 'number' ? from.added : from.added.length;
  into.removed += typeof from.removed === 'number' ? from.removed : from.removed.length;
  into.unchanged += from.unchanged;
  into.before += from.before;
  into.after += from.after;
}

/**
 * Compare the tables a sync would replace (`before`; empty on a first run) with
 * the tables it would write (`after`). Lists need not be sorted: unsorted ones are
 * sorted first (a cheap check when they already are).
 */
export function diffTables(before: GatewayTables, after: GatewayTables): Plan {
  const gateways: GatewayPlan[] = [];
  const totals = zeroCounts();
  for (const gateway of unionSorted(before.keys(), after.keys())) {
    const beforeDomains = before.get(gateway) ?? new Map<string, string[]>();
    const afterDomains = after.get(gateway) ?? new Map<string, string[]>();
    const gatewayPlan: GatewayPlan = { gateway, domains: [], ...zeroCounts() };
    for (const domain of unionSorted(beforeDomains.keys(), afterDomains.keys())) {
      const old = sortedUnique(beforeDomains.get(domain) ?? EMPTY);
      const next = sortedUnique(afterDomains.get(domain) ?? EMPTY);
      const { added, removed, unchanged } = diffSorted(old, next);
      const domainPlan: DomainPlan = { domain, added, removed, unchanged, before: old.length, after: next.length };
      gatewayPlan.domains.push(domainPlan);
      addCounts(gatewayPlan, domainPlan);
    }
    gateways.push(gatewayPlan);
    addCounts(totals, gatewayPlan);
  }
  return { gateways, totals, routes: [], hasChanges: totals.added > 0 || totals.removed > 0 };
}
