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
    for (const raw of ["o'brien@example.org", 'a+b@example.org', 'x_y-z.w@example.org', "a#$&'*+-/=?^_`{|}~@example.org"]) {
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
    ['...@example.org', /dot-atom/],
    ['a%b@example.org', /source routing/],
    ['host!user@example.org', /source routing/],
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
    [`${'x'.repeat(10_000)}@example.org`, /longer than/],
  ])('refuses %j', (raw, why) => {
    expect(reason(raw)).toMatch(why);
  });

  it('a DomainCache keeps at most its limit of domains, and serves the ones it kept', () => {
    const cache = new DomainCache(3);
    const first = cache.normalise('a.example');
    expect(cache.normalise('a.example')).toBe(first);
    cache.normalise('b.example');
    const third = cache.normalise('c.example');
    expect(cache.normalise('c.example')).toBe(third);
    // Full: a fourth domain is normalised each time, never kept.
    const fourth = cache.normalise('d.example');
    expect(fourth).toEqual({ ok: true, domain: 'd.example' });
    expect(cache.normalise('d.example')).not.toBe(fourth);
    expect(cache.normalise('d.example')).toEqual(fourth);
    expect(cache.normalise('a.example')).toBe(first);
  });

  it('a DomainCache keeps 10,000 domains by default', () => {
    const cache = new DomainCache();
    for (let i = 0; i < 10_000; i++) cache.normalise(`d${i}.example`);
    const last = cache.normalise('d9999.example');
    expect(cache.normalise('d9999.example')).toBe(last);
    expect(cache.normalise('d10000.example')).not.toBe(cache.normalise('d10000.example'));
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
    for (const raw of ['exa mple.org', 'example.org\t', 'exa\u0000mple.org', 'exa\u007fmple.org', 'exa\u001fmple.org', 'b\u00fccher.example\u00a0']) {
      expect(normaliseDomain(raw), JSON.stringify(raw)).toEqual({ ok: false, reason: 'domain contains whitespace or control characters' });
    }
    expect(normaliseDomain('')).toEqual({ ok: false, reason: 'empty domain' });
  });

  it('refuses a domain over 253 characters, counted on the A-label form', () => {
    const domain = (length: number): string => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(length - 192)}`;
    expect(domain(253)).toHaveLength(253);
    expect(normaliseDomain(domain(253))).toEqual({ ok: true, domain: domain(253) });
    expect(normaliseDomain(domain(254))).toEqual({ ok: false, reason: 'domain longer than 253 characters' });
    // 231 characters written in Unicode, 255 once each label is an A-label (61 characters each).
    const unicode = [...Array.from({ length: 4 }, () => '\u00fc'.repeat(55)), 'example'].join('.');
    expect(unicode).toHaveLength(231);
    expect(normaliseDomain(unicode)).toEqual({ ok: false, reason: 'domain longer than 253 characters' });
  });

  it('refuses a label over 63 characters, and accepts one of 63', () => {
    expect(normaliseDomain(`${'a'.repeat(63)}.example`)).toEqual({ ok: true, domain: `${'a'.repeat(63)}.example` });
    expect(normaliseDomain(`${'a'.repeat(64)}.example`).ok).toBe(false);
    expect(normaliseDomain(`example.${'a'.repeat(64)}`).ok).toBe(false);
  });

  it('refuses a label with a leading or trailing hyphen, an empty label, or a non-LDH character', () => {
    for (const raw of ['bad-.example.org', 'example.org-', '-bad.example.org', 'example.-org', 'a..example.org', '.example.org', 'example.org.', 'ex_ample.org', 'ex*ample.org', 'ex@ample.org']) {
      expect(normaliseDomain(raw), raw).toEqual({ ok: false, reason: `invalid domain "${raw}"` });
    }
    for (const raw of ['a-b.example.org', 'a--b.example.org', '0.example.org', 'a.b', 'x.y-z', 'example.1a', 'example.a1']) {
      expect(normaliseDomain(raw), raw).toEqual({ ok: true, domain: raw });
    }
  });

  it('refuses an all-numeric last label, however long', () => {
    for (const raw of ['example.1', 'example.123', '192.0.2.1']) expect(normaliseDomain(raw).ok, raw).toBe(false);
  });

  it('refuses a domain without a dot, an address literal, or an invalid IDN, naming each', () => {
    expect(normaliseDomain('localhost')).toEqual({ ok: false, reason: 'domain "localhost" has no dot' });
    expect(normaliseDomain('[192.0.2.1]')).toEqual({ ok: false, reason: 'address literals are not accepted' });
    expect(normaliseDomain('a\u0080b.example')).toEqual({ ok: false, reason: 'invalid internationalised domain "a\u0080b.example"' });
    expect(normaliseDomain('B\u00dcCHER.Example')).toEqual({ ok: true, domain: 'xn--bcher-kva.example' });
  });

  it('accepts a valid A-label as it is and refuses one that does not decode, naming it', () => {
    expect(normaliseDomain('XN--BCHER-KVA.example')).toEqual({ ok: true, domain: 'xn--bcher-kva.example' });
    for (const raw of ['xn--a.example', 'lists.xn--.example', 'xn--zz.example']) {
      expect(normaliseDomain(raw), raw).toEqual({ ok: false, reason: `invalid A-label in domain "${raw}"` });
    }
    expect(normaliseAddress('list@xn--a.example').ok).toBe(false);
  });
});

describe('the 254-character address limit', () => {
  // Local parts stay short here: the limit under test is the whole key's.
  const domainOfLength = (length: number): string => `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(length - 192)}`;

  it('accepts a key of exactly 254 characters and refuses one of 255, though each part is valid', () => {
    const fits = `xy@${domainOfLength(251)}`;
    expect(fits).toHaveLength(254);
    expect(key(fits)).toBe(fits);
    const over = `xyz@${domainOfLength(251)}`;
    expect(normaliseDomain(domainOfLength(251)).ok).toBe(true);
    expect(reason(over)).toBe('longer than 254 characters');
  });

  it('counts the normalised key: an IDN domain is measured as its A-label', () => {
    // 15 x "\u00fc" is a label of 21 characters as an A-label: the domain is 247
    // characters as written and 253 (the most a domain may have) as A-labels.
    const domain = `${'\u00fc'.repeat(15)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(39)}`;
    expect(domain).toHaveLength(247);
    const alabel = normaliseDomain(domain);
    expect(alabel.ok && alabel.domain.length).toBe(253);
    expect(reason(`x@${domain}`)).toBe('longer than 254 characters');
  });

  it('refuses far longer raw input outright, before looking at its characters', () => {
    expect(reason(`${'x'.repeat(10_000)}@example.org`)).toMatch(/^longer than \d+ characters$/);
    // Over four times the limit: refused for its length alone, though it has a space too.
    expect(reason(`${'x'.repeat(2000)} y@example.org`)).toBe('longer than 254 characters');
    // Exactly four times: the characters are looked at.
    const at1016 = `${'x'.repeat(1016 - ' y@example.org'.length)} y@example.org`;
    expect(at1016).toHaveLength(1016);
    expect(reason(at1016)).toBe('contains whitespace or control characters');
  });
});

describe('quoted local parts', () => {
  it('are refused as quoted, before any character check', () => {
    expect(reason('"quoted"@example.org')).toBe('quoted local parts cannot be carried in a Postfix table');
    expect(reason('"a.b"@example.org')).toBe('quoted local parts cannot be carried in a Postfix table');
  });
});

describe('dot-atom warnings', () => {
  const warnings = (raw: string): string[] | undefined => {
    const result = normaliseAddress(raw);
    if (!result.ok) throw new Error(`refused ${raw}: ${result.reason}`);
    return result.warnings;
  };
  it('warn only about a dot at an edge or two dots in a row', () => {
    for (const raw of ['first.last@example.org', 'a.bc.def@example.org', 'x.y-z+tag@example.org', 'o.k@example.org']) expect(warnings(raw), raw).toBeUndefined();
    // No warnings is no "warnings" key at all, not one that is undefined.
    expect(normaliseAddress('First.Last@example.org')).toStrictEqual({ ok: true, address: { key: 'first.last@example.org', local: 'first.last', domain: 'example.org' } });
  });
});

describe('compareAddressKeys', () => {
  it('returns -1, 0 or 1', () => {
    expect(compareAddressKeys('a@x.example', 'a@x.example')).toBe(0);
    expect(compareAddressKeys('b@x.example', 'a@x.example')).toBe(1);
    expect(compareAddressKeys('a@x.example', 'b@x.example')).toBe(-1);
    expect(compareAddressKeys('a@y.example', 'b@x.example')).toBe(1);
    expect(compareAddressKeys('b@x.example', 'a@y.example')).toBe(-1);
  });

  it('orders by domain, then local part, in code-unit order (a prefix first)', () => {
    const keys = ['team-request@b.example', 'team@b.example', 'zed@a.example', 'a.b@b.example', 'a@b.example'];
    expect([...keys].sort(compareAddressKeys)).toEqual(['zed@a.example', 'a@b.example', 'a.b@b.example', 'team@b.example', 'team-request@b.example']);
  });
});

describe('printable', () => {
  it('shows untrusted text on one line, escaped and shortened', () => {
    expect(printable('a\nb\u001b[31m')).toBe('a\\nb\\u001b[31m');
    expect(printable('x'.repeat(100), 10)).toBe(`${'x'.repeat(10)}…`);
    expect(printable('x'.repeat(10), 10)).toBe('x'.repeat(10));
    expect(printable('x'.repeat(11), 10)).toBe(`${'x'.repeat(10)}…`);
  });
});
