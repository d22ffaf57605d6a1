/**
 * What Postfix accepts and Mailman creates must reach the map (issue 7 §3):
 * long local parts and dots at the edges are accepted with a warning; case
 * folding and IDNA mapping never merge two different spellings silently.
 */
import { describe, expect, it } from 'vitest';
import { normaliseAddress, normaliseDomain, RFC_MAX_LOCAL } from '../../../src/model/address.js';

describe('lengths and dots Postfix accepts', () => {
  it('accepts the -unsubscribe address of a 60-character list name, with a warning', () => {
    const list = 'a'.repeat(60);
    const result = normaliseAddress(`${list}-unsubscribe@lists.example.org`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.address.local).toHaveLength(72);
    expect(result.warnings).toEqual([`local part of 72 characters, over RFC 5321's ${RFC_MAX_LOCAL} (accepted: Postfix and Mailman take it)`]);
  });

  it('gives no warning at exactly 64 characters', () => {
    const result = normaliseAddress(`${'b'.repeat(64)}@lists.example.org`);
    expect(result).toEqual({ ok: true, address: expect.anything() });
  });

  it('still refuses a key over 254 characters', () => {
    const result = normaliseAddress(`${'c'.repeat(250)}@lists.example.org`);
    expect(result).toEqual({ ok: false, reason: 'longer than 254 characters' });
  });

  it.each(['.lead@example.org', 'trail.@example.org', 'two..dots@example.org'])('accepts %s with a warning', (raw) => {
    const result = normaliseAddress(raw);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.address.key).toBe(raw);
    expect(result.warnings?.[0]).toMatch(/dot at an edge or two in a row \(accepted: Postfix takes it with strict_rfc821_envelopes = no\)/);
  });
});

describe('normalisation never merges two spellings', () => {
  it('refuses a local part with U+212A KELVIN SIGN instead of reading it as "k"', () => {
    expect(normaliseAddress('\u212Aelvin@example.org')).toEqual({ ok: false, reason: 'non-ASCII local part' });
  });

  it('refuses a domain whose non-ASCII character lower-cases to ASCII', () => {
    const result = normaliseDomain('\u212Aexample.org');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/lower-cases to ASCII/);
  });

  it.each([
    ['a soft hyphen', 'b\u00fc\u00adcher.example'],
    ['full-width letters', '\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.org'],
  ])('refuses a domain with %s (UTS #46 would map it to another domain)', (_what, raw) => {
    const result = normaliseDomain(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/changes under IDNA mapping/);
  });

  it('still accepts U-labels, upper-case ones too', () => {
    expect(normaliseDomain('Bücher.example')).toEqual({ ok: true, domain: 'xn--bcher-kva.example' });
    expect(normaliseDomain('BÜCHER.example')).toEqual({ ok: true, domain: 'xn--bcher-kva.example' });
  });
});
