import { describe, expect, it } from 'vitest';
import { DomainCache, compareAddressKeys, normaliseAddress, normaliseDomain, printable, unicodeDomain } from '../../../src/model/address.js';

const key = (raw: string): string => {
  const result = normaliseAddress(raw);
  if (!result.ok) throw new Error(`refused ${raw}: ${result.reason}`);
  return result.address.key;
};
const reason = (raw: string): string => {
  const result = normaliseAddress(raw);
  if (result.ok) throw new Error(`accepted ${raw} as ${result.address.key}`);
  return result.reason;
};

describe('normaliseAddress', () => {
  it('lower-cases local part and domain (Postfix lookups are case-insensitive)', () => {
    expect(key('Announce-Bounces@Lists.Example.ORG')).toBe('announce-bounces@lists.example.org');
  });

  it('turns IDN domains into A-labels, and back with unicodeDomain', () => {
    expect(key('info@Bücher.example')).toBe('info@xn--bcher-kva.example');
    expect(unicodeDomain('xn--bcher-kva.example')).toBe('bücher.example');
    expect(unicodeDomain('lists.example.org')).toBe('lists.example.org');
  });

  it('accepts the RFC 5321 dot-atom characters, +extensions and Mailman sub-addresses', () => {
    for (const raw of ["o'brien@example.org", 'a+b@example.org', 'x_y-z.w@example.org', "!#$%&'*+-/=?^_`{|}~@example.org"]) {
      expect(key(raw)).toBe(raw);
    }
  });

  it.each([
    ['x OK', /whitespace/],
    ['x OK\n@example.org', /whitespace/],
    ['ok@example.org OK', /whitespace/],
    ['a\tb@example.org', /whitespace/],
    ['a\r@example.org', /whitespace/],
    ['nul\u0000@example.org', /control/],
    ['@example.org', /catch-all/],
    ['"a b"@example.org', /whitespace/],
    ['"quoted"@example.org', /quoted/],
    ['#comment@example.org', /#/],
    ['co:lon@example.org', /dot-atom/],
    ['a@b@example.org', /more than one/],
    ['.lead@example.org', /dot-atom/],
    ['trail.@example.org', /dot-atom/],
    ['two..dots@example.org', /dot-atom/],
    ['$(reboot)@example.org', /dot-atom/],
    ['semi;colon@example.org', /dot-atom/],
    ['café@example.org', /non-ASCII/],
    ['user@localhost', /no dot/],
    ['user@[192.0.2.1]', /literal/],
    ['user@-bad.example.org', /invalid domain/],
    ['user@example.123', /invalid domain/],
    ['user@exa_mple.org', /invalid domain/],
    ['no-at-sign', /no "@domain"/],
    ['', /empty/],
    [`${'x'.repeat(65)}@example.org`, /local part longer than 64/],
    [`${'x'.repeat(10_000)}@example.org`, /longer than/],
  ])('refuses %j', (raw, why) => {
    expect(reason(raw)).toMatch(why);
  });

  it('gives the same answers with a DomainCache, and the cache stays bounded', () => {
    const cache = new DomainCache(3);
    const inputs = ['A@Example.org', 'b@EXAMPLE.org', 'c@bücher.example', 'd@bad_domain.org', 'e@localhost', 'f@x.example', 'g@y.example', 'h@Example.org'];
    for (const raw of inputs) expect(normaliseAddress(raw, cache)).toEqual(normaliseAddress(raw));
  });
});

describe('normaliseDomain', () => {
  it('refuses whitespace and control characters before any conversion', () => {
    expect(normaliseDomain('example.org\n@evil.org').ok).toBe(false);
    expect(normaliseDomain('Example.ORG')).toEqual({ ok: true, domain: 'example.org' });
  });
});

describe('compareAddressKeys', () => {
  it('orders by domain, then local part, in code-unit order (a prefix first)', () => {
    const keys = ['team-request@b.example', 'team@b.example', 'zed@a.example', 'a.b@b.example', 'a@b.example'];
    expect([...keys].sort(compareAddressKeys)).toEqual(['zed@a.example', 'a@b.example', 'a.b@b.example', 'team@b.example', 'team-request@b.example']);
  });
});

describe('printable', () => {
  it('shows untrusted text on one line, escaped and shortened', () => {
    expect(printable('a\nb\u001b[31m')).toBe('a\\nb\\u001b[31m');
    expect(printable('x'.repeat(100), 10)).toBe(`${'x'.repeat(10)}…`);
  });
});
