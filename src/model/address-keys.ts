/**
 * Normalised address keys as lists: the exact pattern of a domain's keys (what
 * normaliseAddress leaves unchanged), the order every table uses, and a registry
 * of lists already checked, so that a million keys read from a snapshot are not
 * checked again on their way into the gateway tables.
 */
import { normaliseAddress, printable } from './address.js';

export const MAX_ADDRESS = 254;
/** What normaliseAddress leaves in a local part: atext without % and !, and dots. */
const LOCAL_CHAR = "[a-z0-9#$&'*+\\-/=?^_`{|}~.]";

/** A regular expression that matches exactly the valid normalised keys of one (validated) domain. */
export function domainKeyPattern(domain: string): RegExp {
  return new RegExp(`^(?!#)(?!\\.+@)${LOCAL_CHAR}+@${domain.replace(/[.-]/g, '\\$&')}$`);
}

/** True when `key` is a normalised address of `domain`, as normaliseAddress would produce it. */
export function isKeyOf(key: string, pattern: RegExp): boolean {
  return key.length <= MAX_ADDRESS && pattern.test(key);
}

/** Why `key` is not a normalised address, or null when it is one. */
export function keyProblem(key: unknown): string | null {
  if (typeof key !== 'string') return 'not a string';
  const result = normaliseAddress(key);
  if (!result.ok) return result.reason;
  if (result.address.key !== key) return `not normalised (would be "${printable(result.address.key)}")`;
  return null;
}

/** Order of every table: by domain, then local part, both in code-unit order (see compareAddressKeys). */
export function compareLocals(a: string, b: string, suffixLength: number): number {
  const la = a.length - suffixLength;
  const lb = b.length - suffixLength;
  const n = la < lb ? la : lb;
  for (let i = 0; i < n; i++) {
    const d = a.charCodeAt(i) - b.charCodeAt(i);
    if (d !== 0) return d;
  }
  return la - lb;
}

/** Code-point order (= UTF-8 byte order, = `LC_ALL=C sort`), which differs from code units only beyond the BMP. */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
const SURROGATE = /[\uD800-\uDFFF]/;

/** Sort keys of one domain by local part and drop duplicates, in place when possible. */
export function sortUniqueLocals(keys: string[], suffixLength: number): string[] {
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (compareLocals(keys[i - 1]!, keys[i]!, suffixLength) >= 0) {
      sorted = false;
      break;
    }
  }
  if (sorted) return keys;
  // TimSort: already-sorted runs (one per contributing source) merge in near-linear time.
  keys.sort((a, b) => compareLocals(a, b, suffixLength));
  let out = 0;
  for (let i = 0; i < keys.length; i++) {
    if (out === 0 || keys[out - 1] !== keys[i]) keys[out++] = keys[i]!;
  }
  keys.length = out;
  return keys;
}

/** Keys `from` (inclusive) to `to` (exclusive) of a checked list are the keys of `domain`, in contract order. */
export interface DomainRun {
  domain: string;
  from: number;
  to: number;
}

/** The domain runs of a list in contract order. */
export function domainRuns(keys: readonly string[]): DomainRun[] {
  const runs: DomainRun[] = [];
  let i = 0;
  while (i < keys.length) {
    const key = keys[i]!;
    const suffix = key.slice(key.lastIndexOf('@'));
    let j = i + 1;
    while (j < keys.length && keys[j]!.endsWith(suffix)) j++;
    runs.push({ domain: suffix.slice(1), from: i, to: j });
    i = j;
  }
  return runs;
}

/**
 * Address lists that validateSnapshot checked, frozen so that nobody can slip an
 * unchecked key in afterwards, with their domain runs; buildGatewayTables takes
 * them as they are (a million regular expression tests and suffix comparisons
 * fewer on the way from file to maps).
 */
const checkedLists = new WeakMap<readonly string[], readonly DomainRun[]>();

/** The domain runs of a list trustCheckedList registered (frozen), or undefined for any other list. */
export function checkedRunsOf(keys: readonly string[]): readonly DomainRun[] | undefined {
  return Object.isFrozen(keys) ? checkedLists.get(keys) : undefined;
}

export function trustCheckedList(keys: string[], runs: DomainRun[]): void {
  Object.freeze(keys);
  checkedLists.set(keys, Object.freeze(runs));
}

/**
 * Normalised keys gathered per domain as they come, then handed out in contract
 * order (by domain, then local part), without duplicates and without a
 * comparator that splits every key again.
 */
export class KeysByDomain {
  private readonly groups = new Map<string, string[]>();

  /** `domain` is the key's domain (what follows its last `@`). */
  add(key: string, domain: string): void {
    let list = this.groups.get(domain);
    if (!list) this.groups.set(domain, (list = []));
    list.push(key);
  }

  sorted(): string[] {
    return this.sortedRuns().keys;
  }

  /** The keys in contract order, with the run of each domain (as domainRuns would find them, without a second pass). */
  sortedRuns(): { keys: string[]; runs: DomainRun[] } {
    const keys: string[] = [];
    const runs: DomainRun[] = [];
    for (const domain of [...this.groups.keys()].sort()) {
      const from = keys.length;
      for (const key of sortUniqueLocals(this.groups.get(domain)!, domain.length + 1)) keys.push(key);
      runs.push({ domain, from, to: keys.length });
    }
    return { keys, runs };
  }
}

/** Sort normalised keys by domain, then local part, and drop duplicates (a new array). */
export function sortAddressKeys(keys: readonly string[]): string[] {
  const groups = new KeysByDomain();
  for (const key of keys) groups.add(key, key.slice(key.lastIndexOf('@') + 1));
  return groups.sorted();
}
