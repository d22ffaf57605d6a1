/**
 * Which source added and removed what: a reviewer of a big shrink needs
 * "lists3 mailman3: -812" at once, not a domain table to reverse-engineer. An
 * added address is credited to every source that has it now, a removed one to
 * every source that had it in the baseline's snapshot; role addresses and a
 * baseline without sources (a rendered tree) have their own rows.
 */
import type { Snapshot } from '../model/snapshot.js';
import type { Plan } from './diff.js';
import type { SourceChange } from './format.js';
import { compareCodeUnits } from './tables.js';

/** Rows for what no source holds: postmaster@/abuse@ and the U-label forms of SMTPUTF8 gateways. */
export const ROLE_ROW = { host: '(rendered)', label: 'role addresses and U-label forms' };
/** Removals when the baseline is a rendered tree, which does not say where its addresses came from. */
export const UNKNOWN_ROW = { host: '(baseline)', label: 'source unknown (no last-known-good state)' };

export function attributeChanges(plan: Plan, before: Snapshot | undefined, after: Snapshot): SourceChange[] {
  const added = new Set<string>();
  const removed = new Set<string>();
  for (const gateway of plan.gateways) {
    for (const d of gateway.domains) {
      for (const key of d.added) added.add(key);
      for (const key of d.removed) removed.add(key);
    }
  }
  const rows = new Map<string, SourceChange>();
  const row = (host: string, label: string): SourceChange => {
    const id = `${host}\0${label}`;
    let r = rows.get(id);
    if (!r) rows.set(id, (r = { host, label, added: 0, removed: 0 }));
    return r;
  };
  const credit = (snapshot: Snapshot, wanted: Set<string>, field: 'added' | 'removed'): Set<string> => {
    const found = new Set<string>();
    if (wanted.size === 0) return found;
    for (const source of snapshot.sources) {
      let n = 0;
      for (const key of source.addresses) {
        if (wanted.has(key)) {
          n++;
          found.add(key);
        }
      }
      if (n > 0) row(source.host, source.held ? `${source.label} (held removals)` : source.label)[field] += n;
    }
    return found;
  };
  const creditedAdded = credit(after, added, 'added');
  if (creditedAdded.size < added.size) row(ROLE_ROW.host, ROLE_ROW.label).added += added.size - creditedAdded.size;
  if (before) {
    const creditedRemoved = credit(before, removed, 'removed');
    if (creditedRemoved.size < removed.size) row(ROLE_ROW.host, ROLE_ROW.label).removed += removed.size - creditedRemoved.size;
  } else if (removed.size > 0) {
    row(UNKNOWN_ROW.host, UNKNOWN_ROW.label).removed += removed.size;
  }
  return [...rows.values()].sort((a, b) => (a.host !== b.host ? compareCodeUnits(a.host, b.host) : compareCodeUnits(a.label, b.label)));
}
