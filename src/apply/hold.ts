/**
 * Held removals: when a run's removals break a safety threshold, the additions
 * still ship and the removals wait for review. Every address that the breach
 * would remove is kept, in a `held` record of the source that had it at the last
 * publish, so the gateways get (last published ∪ new) in the breaching scope and
 * the new collection everywhere else. The state then records what was published,
 * so the next run sees the same removals again: a held removal stays held (and
 * reported) until a reviewed run (--force, --allow-removals N) lets it go, or
 * the source gives the addresses back.
 *
 * Scopes, from the violations: a domain over its threshold or under its minimum
 * holds that domain's removals (on every gateway that relays it: keeping more is
 * the safe side); a gateway over its own threshold holds the removals of each of
 * its domains; a source gone empty holds what that source had.
 */
import type { Snapshot, SourceRecord } from '../model/snapshot.js';
import { domainOf } from '../model/address.js';
import { sortAddressKeys } from '../model/address-keys.js';
import { compareSources, sourceId } from '../model/snapshot-io.js';
import type { Plan } from '../plan/diff.js';
import type { Violation } from '../plan/guard.js';

/** How many addresses of each held group a report lists. */
export const HELD_LISTED = 5;

/** One source's held removals in one domain, for every report. */
export interface HeldRemoval {
  host: string;
  label: string;
  domain: string;
  /** Gateways where the removal would have happened. */
  gateways: string[];
  count: number;
  /** The first few, sorted. */
  first: string[];
}

export interface HoldResult {
  /** The snapshot to publish: the new one plus a held record per source that lost addresses. */
  snapshot: Snapshot;
  held: HeldRemoval[];
}

/**
 * Keep, from `lastPublished`, every address that `plan` removes in a scope one of
 * `violations` breaks. `plan` compares `lastPublished`'s tables with `snapshot`'s.
 */
export function holdRemovals(lastPublished: Snapshot, snapshot: Snapshot, plan: Plan, violations: Violation[]): HoldResult {
  const heldDomains = new Set<string>();
  const emptiedSources = new Set<string>();
  for (const v of violations) {
    // A domain no longer relayed cannot be held: the gateway no longer has a table for it (the run stops instead).
    if (v.rule === 'domain-unrelayed') continue;
    // Source rules name their source; the others a domain, or their whole gateway.
    if (v.rule === 'source-empty') emptiedSources.add(sourceId({ host: v.host!, index: v.index! }));
    else if (v.domain !== undefined) heldDomains.add(v.domain);
    else for (const d of plan.gateways.find((g) => g.gateway === v.gateway)!.domains) heldDomains.add(d.domain);
  }

  // What the plan removes, per domain, and where.
  const removed = new Map<string, { keys: Set<string>; gateways: Set<string> }>();
  for (const gateway of plan.gateways) {
    for (const d of gateway.domains) {
      // Every domain that loses something: what is held of it is decided per source below.
      if (d.removed.length === 0) continue;
      let entry = removed.get(d.domain);
      if (!entry) removed.set(d.domain, (entry = { keys: new Set(), gateways: new Set() }));
      for (const key of d.removed) entry.keys.add(key);
      entry.gateways.add(gateway.gateway);
    }
  }

  const labels = new Map(snapshot.sources.map((s) => [sourceId({ host: s.host, index: s.index }), s.label]));
  const keptBySource = new Map<string, { record: SourceRecord; keys: string[] }>();
  for (const record of lastPublished.sources) {
    const id = sourceId({ host: record.host, index: record.index });
    const wholeSource = emptiedSources.has(id);
    for (const key of record.addresses) {
      const domain = domainOf(key);
      if (!wholeSource && !heldDomains.has(domain)) continue;
      if (!removed.get(domain)?.keys.has(key)) continue;
      let kept = keptBySource.get(id);
      if (!kept) keptBySource.set(id, (kept = { record, keys: [] }));
      kept.keys.push(key);
    }
  }

  const heldRecords: SourceRecord[] = [];
  const held: HeldRemoval[] = [];
  for (const [id, { record, keys }] of keptBySource) {
    const addresses = sortAddressKeys(keys);
    const label = labels.get(id) ?? record.label;
    heldRecords.push({ host: record.host, index: record.index, type: record.type, label, addresses, refused: 0, held: true });
    let start = 0;
    while (start < addresses.length) {
      const domain = domainOf(addresses[start]!);
      let end = start + 1;
      while (end < addresses.length && domainOf(addresses[end]!) === domain) end++;
      held.push({
        host: record.host,
        label,
        domain,
        // plan.gateways is sorted, and so is each set in the order it was filled.
        gateways: [...removed.get(domain)!.gateways],
        count: end - start,
        first: addresses.slice(start, Math.min(end, start + HELD_LISTED)),
      });
      start = end;
    }
  }
  // By domain; within one, the sources stay in snapshot order (host, then index): the sort is stable.
  held.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  // The new snapshot's own held records (none from collect) give way to these.
  const sources = [...snapshot.sources.filter((s) => !s.held), ...heldRecords].sort(compareSources);
  return { snapshot: { ...snapshot, sources }, held };
}
