// The SMTPUTF8 U-label check in gatewayContexts. Node's domainToUnicode and
// domainToASCII agree on every A-label the address model lets through, so no
// snapshot reaches this check today; it guards against a runtime (or a future
// ICU) whose U-label form is unsafe in a table line or does not map back. To
// reach it, unicodeDomain is replaced here by one that returns chosen forms.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import { gatewayContexts, renderTree } from '../../../src/render/index.js';
import { fixtureSnapshot } from './fixture-snapshot.js';

const forms = vi.hoisted(() => new Map<string, string>());
vi.mock('../../../src/model/address.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src/model/address.js')>();
  return { ...real, unicodeDomain: (domain: string): string => forms.get(domain) ?? real.unicodeDomain(domain) };
});

const IDN = 'xn--bcher-kva.example';
const REFUSAL = `gateway gw1.example.net: domain ${IDN} has no usable U-label form for SMTPUTF8`;

const work = mkdtempSync(path.join(tmpdir(), 'rcptsync-ulabel-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
afterEach(() => forms.clear());

function refusal(): RcptsyncError {
  try {
    gatewayContexts(fixtureSnapshot());
  } catch (error) {
    expect(error).toBeInstanceOf(RcptsyncError);
    return error as RcptsyncError;
  }
  throw new Error('gatewayContexts accepted the U-label form');
}

describe('the U-label form of an IDN domain', () => {
  test('is used when it is safe and maps back to the A-label', () => {
    const gw1 = gatewayContexts(fixtureSnapshot()).find((c) => c.gateway === 'gw1.example.net')!;
    const unicode = gw1.domains.find((d) => d.unicode)!;
    expect(unicode.domain).toBe('bücher.example');
    expect(unicode.alabel).toBe(IDN);
    expect(unicode.addresses).toContain('info@bücher.example');
    // gw2 has no SMTPUTF8: no U-label at all.
    expect(gatewayContexts(fixtureSnapshot()).find((c) => c.gateway === 'gw2.example.net')!.domains.some((d) => d.unicode)).toBe(false);
  });

  test.each([
    ['a space', 'bü cher.example'],
    ['a tab', 'bü\tcher.example'],
    ['a no-break space (Z)', 'bü\u00a0cher.example'],
    ['a line separator (Z)', 'bü\u2028cher.example'],
    ['a zero-width space (C)', 'bü\u200bcher.example'],
    ['a NUL (C)', 'bü\u0000cher.example'],
    ['a "#"', '#bücher.example'],
    ['an "@"', 'bü@cher.example'],
    ['a quote', 'bü"cher.example'],
    ['a backslash', 'bü\\cher.example'],
    ['nothing at all', ''],
  ])('is refused when it holds %s', (_, form) => {
    forms.set(IDN, form);
    expect(refusal().message).toBe(REFUSAL);
    expect(refusal().exitCode).toBe(2);
  });

  test('is refused when it is safe but does not map back to the same A-label', () => {
    forms.set(IDN, 'bucher.example');
    expect(refusal().message).toBe(REFUSAL);
    forms.set(IDN, 'bücher.example.org');
    expect(refusal().message).toBe(REFUSAL);
  });

  test('is left out when it is the A-label itself', () => {
    forms.set(IDN, IDN);
    const gw1 = gatewayContexts(fixtureSnapshot()).find((c) => c.gateway === 'gw1.example.net')!;
    expect(gw1.domains.filter((d) => d.alabel === IDN).map((d) => d.domain)).toEqual([IDN]);
  });

  test('a refused form stops the render before anything is written', async () => {
    forms.set(IDN, 'bü cher.example');
    const outDir = path.join(work, 'rendered');
    await expect(renderTree(fixtureSnapshot(), { outDir })).rejects.toThrow(REFUSAL);
    expect(existsSync(outDir)).toBe(false);
  });
});
