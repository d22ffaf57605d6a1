/**
 * An email address as a gateway's relay_recipients table needs it: validated
 * strictly and normalised so that two spellings of one address become one key.
 *
 * - Domain: lower-case; IDN U-labels become A-labels, because Postfix does not
 *   convert between the two forms before a table lookup.
 * - Local part: lower-case (Postfix table lookups are case-insensitive), RFC 5322
 *   atext and dots only. Quoted strings are refused: a Postfix table key ends at
 *   the first whitespace, so `"a b"@x` cannot be carried safely. What Postfix
 *   accepts and Mailman creates is accepted, with a warning where it strays from
 *   RFC 5321: local parts over 64 octets (a 60-character list name has a
 *   72-character `-unsubscribe` address), and dots at the edges or doubled
 *   (`a.@`: Postfix takes them with strict_rfc821_envelopes = no, its default).
 *   `%` and `!` are refused: with allow_untrusted_routing they route elsewhere.
 * - Case folding never turns a non-ASCII character into ASCII (U+212A KELVIN
 *   SIGN lower-cases to `k`), and a domain that UTS #46 mapping would change
 *   (a soft hyphen, full-width forms) is refused rather than merged with another.
 * - Anything that could change the meaning of a map line (whitespace, control
 *   characters, a leading `@` or `#`) is refused, so hostile input such as a list
 *   named `x OK\n@example.org` can never become a catch-all.
 *
 * This module imports nothing of ours: it is the ground floor.
 */
import { domainToASCII, domainToUnicode } from 'node:url';

export interface Address {
  /** `local@domain`, normalised */
  readonly key: string;
  readonly local: string;
  readonly domain: string;
}

/** `warnings`: accepted, but worth a line in the report (see the top of this file). */
export type AddressResult = { ok: true; address: Address; warnings?: string[] } | { ok: false; reason: string };

/** RFC 5321 4.5.3.1.1: longer local parts are accepted with a warning. */
export const RFC_MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const MAX_ADDRESS = 254; // RFC 5321 4.5.3.1.3 path limit minus the angle brackets

// RFC 5322 atext without % and ! (source routing), lower-case only (we lower-case before testing), and dots.
const LOCAL_CHARS = /^[a-z0-9#$&'*+\-/=?^_`{|}~.]+$/;
const LDH_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
// Printable ASCII without space; anything else in raw input is refused early.
const PRINTABLE = /^[\x21-\x7e]+$/;
const ASCII = /^[\x00-\x7f]*$/;

/** Validate and normalise a domain. Returns the A-label form or a refusal reason. */
export function normaliseDomain(raw: string): { ok: true; domain: string } | { ok: false; reason: string } {
  if (raw.length === 0) return { ok: false, reason: 'empty domain' };
  if (/[\s\x00-\x1f\x7f]/u.test(raw)) return { ok: false, reason: 'domain contains whitespace or control characters' };
  let domain: string;
  if (ASCII.test(raw)) {
    domain = raw.toLowerCase();
    // An ASCII label may claim to be an A-label ("xn--a"): a gateway would carry a domain no
    // one can own, so it must decode and re-encode to itself, as an IDN-aware MTA checks.
    if (domain.split('.').some((label) => label.startsWith('xn--')) && domainToASCII(domain) !== domain) {
      return { ok: false, reason: `invalid A-label in domain "${printable(domain)}"` };
    }
  } else {
    if (foldsToAscii(raw)) return { ok: false, reason: `domain "${printable(raw)}" has a character that lower-cases to ASCII` };
    const lowered = raw.toLowerCase().normalize('NFC');
    const ascii = domainToASCII(lowered);
    if (!ascii) return { ok: false, reason: `invalid internationalised domain "${printable(raw)}"` };
    // UTS #46 maps some characters away (soft hyphen) or to others (full-width forms): such a
    // domain would silently become another one, so it is refused and named.
    const back = ascii.split('.').some((label) => label.startsWith('xn--')) ? domainToUnicode(ascii) : ascii;
    if (back !== lowered) return { ok: false, reason: `domain "${printable(raw)}" changes under IDNA mapping (to "${printable(back)}")` };
    domain = ascii;
  }
  if (domain.startsWith('[')) return { ok: false, reason: 'address literals are not accepted' };
  if (domain.length > MAX_DOMAIN) return { ok: false, reason: `domain longer than ${MAX_DOMAIN} characters` };
  const labels = domain.split('.');
  if (labels.length < 2) return { ok: false, reason: `domain "${printable(domain)}" has no dot` };
  for (const label of labels) {
    if (!LDH_LABEL.test(label)) return { ok: false, reason: `invalid domain "${printable(domain)}"` };
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return { ok: false, reason: `invalid domain "${printable(domain)}"` };
  return { ok: true, domain };
}

type DomainResult = ReturnType<typeof normaliseDomain>;

/**
 * A cache of normalised domains, for collecting many addresses of few domains:
 * the domain check (IDN conversion, label by label) then runs once per domain.
 * Bounded, so hostile input with endless distinct domains cannot grow it.
 */
export class DomainCache {
  private readonly results = new Map<string, DomainResult>();
  constructor(private readonly limit = 10_000) {}
  normalise(raw: string): DomainResult {
    let result = this.results.get(raw);
    if (result === undefined) {
      result = normaliseDomain(raw);
      if (this.results.size < this.limit) this.results.set(raw, result);
    }
    return result;
  }
}

/** Validate and normalise one address (pass a DomainCache when normalising many). */
export function normaliseAddress(raw: string, domains?: DomainCache): AddressResult {
  if (raw.length === 0) return { ok: false, reason: 'empty address' };
  if (raw.length > 4 * MAX_ADDRESS) return { ok: false, reason: `longer than ${MAX_ADDRESS} characters` };
  if (/[\s\x00-\x1f\x7f]/u.test(raw)) return { ok: false, reason: 'contains whitespace or control characters' };
  if (raw.startsWith('@')) return { ok: false, reason: 'catch-all or leading "@" is never accepted' };
  if (raw.startsWith('"')) return { ok: false, reason: 'quoted local parts cannot be carried in a Postfix table' };
  const at = raw.lastIndexOf('@');
  if (at < 0) return { ok: false, reason: 'no "@domain"' };
  const localRaw = raw.slice(0, at);
  if (localRaw.includes('@')) return { ok: false, reason: 'more than one "@"' };
  // Tested before lower-casing: U+212A KELVIN SIGN lower-cases to an ASCII "k".
  if (!PRINTABLE.test(localRaw)) return { ok: false, reason: 'non-ASCII local part' };
  const local = localRaw.toLowerCase();
  if (local.startsWith('#')) return { ok: false, reason: 'local part starts with "#" (a comment in a Postfix table)' };
  if (/[%!]/.test(local)) return { ok: false, reason: `local part "${printable(local)}" has "%" or "!" (source routing: refused)` };
  if (!LOCAL_CHARS.test(local) || /^\.+$/.test(local)) return { ok: false, reason: `local part "${printable(local)}" is not an RFC 5321 dot-atom` };
  const domainRaw = raw.slice(at + 1);
  const domain = domains ? domains.normalise(domainRaw) : normaliseDomain(domainRaw);
  if (!domain.ok) return domain;
  // Input already in normal form (most of it) is its own key: no new string to build and flatten.
  const key = local === localRaw && domain.domain === domainRaw ? raw : `${local}@${domain.domain}`;
  if (key.length > MAX_ADDRESS) return { ok: false, reason: `longer than ${MAX_ADDRESS} characters` };
  let warnings: string[] | undefined;
  if (local.length > RFC_MAX_LOCAL) (warnings ??= []).push(`local part of ${local.length} characters, over RFC 5321's ${RFC_MAX_LOCAL} (accepted: Postfix and Mailman take it)`);
  // LOCAL_CHARS passed: only the dots can make it other than a dot-atom.
  if (local.charCodeAt(0) === 46 || local.charCodeAt(local.length - 1) === 46 || local.includes('..')) (warnings ??= []).push(`local part "${printable(local)}" has a dot at an edge or two in a row (accepted: Postfix takes it with strict_rfc821_envelopes = no)`);
  const ok: AddressResult = { ok: true, address: { key, local, domain: domain.domain } };
  if (warnings) ok.warnings = warnings;
  return ok;
}

/** True when a non-ASCII character of `text` lower-cases to ASCII (U+212A KELVIN SIGN to "k"). */
function foldsToAscii(text: string): boolean {
  for (const c of text) if (c.charCodeAt(0) > 0x7f && ASCII.test(c.toLowerCase())) return true;
  return false;
}

/** The U-label form of an A-label domain (for gateways with SMTPUTF8), or the domain itself. */
export function unicodeDomain(domain: string): string {
  if (!domain.split('.').some((label) => label.startsWith('xn--'))) return domain;
  return domainToUnicode(domain) || domain;
}

/** The domain of a normalised key (`local@domain`). */
export function domainOf(key: string): string {
  return key.slice(key.lastIndexOf('@') + 1);
}

/** Show untrusted text in a message without letting it break the line or the terminal. */
export function printable(text: string, max = 80): string {
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return shown.slice(1, -1);
}

/** Order of every rendered table: by domain, then local part, in plain code-unit order (as `LC_ALL=C sort`). */
export function compareAddressKeys(a: string, b: string): number {
  const da = domainOf(a);
  const db = domainOf(b);
  if (da !== db) return da < db ? -1 : 1;
  const la = a.slice(0, a.length - da.length - 1);
  const lb = b.slice(0, b.length - db.length - 1);
  return la < lb ? -1 : la > lb ? 1 : 0;
}
