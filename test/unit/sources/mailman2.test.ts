import { describe, expect, it } from 'vitest';
import { MAILMAN2_SUBADDRESSES, mailman2, type Mailman2Config } from '../../../src/sources/mailman2.js';
import { addresses, fixture, normalised, parse } from './feed.js';

const listLists: Mailman2Config = { type: 'mailman2', domain: 'lists.example.org' };
const virtual: Mailman2Config = { type: 'mailman2', from: 'virtual_mailman' };

function withSubaddresses(name: string, domain: string): string[] {
  return [`${name}@${domain}`, ...MAILMAN2_SUBADDRESSES.map((sub) => `${name}-${sub}@${domain}`)];
}

describe('mailman2 from list_lists -b', () => {
  it('yields each bare name at the configured domain with 9 sub-addresses', () => {
    const result = parse(listLists, fixture('mailman2/list_lists-b.txt'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(
      ['announce', 'dev-team', 'mailman', 'users'].flatMap((name) => withSubaddresses(name, 'lists.example.org')),
    );
    expect(result.candidates.filter((c) => c.line === 3).map((c) => c.address)[0]).toBe('mailman@lists.example.org');
    expect(normalised(result).refused).toEqual([]);
  });

  it('reads no output as zero lists', () => {
    expect(parse(listLists, fixture('mailman2/list_lists-b-empty.txt'))).toEqual({ candidates: [], problems: [] });
  });

  it('reports a missing domain instead of guessing one', () => {
    const result = parse({ type: 'mailman2' }, fixture('mailman2/list_lists-b.txt'));
    expect(result.candidates).toEqual([]);
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]!.message).toMatch(/needs "domain"/);
  });

  it('reports list_lists output without -b', () => {
    const result = parse(listLists, ['2 matching mailing lists found:', '     Announce - News', '      Mailman - [no description available]']);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2, 3]);
  });

  it('adds mailman-loop and mailman-bounces from site_addresses', () => {
    const result = parse(
      { ...listLists, site_addresses: ['mailman-loop@lists.example.org', 'mailman-bounces@lists.example.org'] },
      fixture('mailman2/list_lists-b-empty.txt'),
    );
    expect(result.candidates).toEqual([
      { address: 'mailman-loop@lists.example.org', line: 0 },
      { address: 'mailman-bounces@lists.example.org', line: 0 },
    ]);
  });

  it('runs list_lists -b from bin_dir', () => {
    expect(mailman2.command(listLists)).toBe("'/usr/lib/mailman/bin/list_lists' -b");
    expect(mailman2.command({ ...listLists, bin_dir: '/opt/mailman/bin' })).toBe("'/opt/mailman/bin/list_lists' -b");
    expect(mailman2.command({ ...listLists, command: 'sudo list_lists -b' })).toBe('sudo list_lists -b');
  });
});

describe('mailman2 from virtual-mailman', () => {
  it('takes every key as-is, loop address included', () => {
    const result = parse(virtual, fixture('mailman2/virtual-mailman'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual([
      'mailman-loop@lists.example.org',
      ...withSubaddresses('announce', 'lists.example.org'),
      ...withSubaddresses('dev-team', 'lists.example.org'),
    ]);
  });

  it('agrees with list_lists -b for the same lists', () => {
    const fromFile = addresses(parse(virtual, fixture('mailman2/virtual-mailman')));
    const fromNames = addresses(parse(listLists, ['announce', 'dev-team']));
    expect(fromFile.filter((a) => !a.startsWith('mailman-loop'))).toEqual(fromNames);
  });

  it('reads a truncated (empty) file as zero addresses', () => {
    expect(parse(virtual, fixture('mailman2/virtual-mailman-empty'))).toEqual({ candidates: [], problems: [] });
  });

  it('reports bare keys', () => {
    const result = parse(virtual, ['announce   announce']);
    expect(result.candidates).toEqual([]);
    expect(result.problems[0]!.message).toMatch(/without "@domain"/);
  });

  it('cats the Debian path by default', () => {
    expect(mailman2.command(virtual)).toBe("cat -- '/var/lib/mailman/data/virtual-mailman'");
    expect(mailman2.command({ ...virtual, path: '/srv/mm2/virtual-mailman' })).toBe("cat -- '/srv/mm2/virtual-mailman'");
  });
});
