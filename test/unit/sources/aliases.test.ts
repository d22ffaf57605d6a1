import { describe, expect, it } from 'vitest';
import { aliases, splitAliasLine, type AliasesConfig } from '../../../src/sources/aliases.js';
import { addresses, fixture, normalised, parse } from './feed.js';

const config: AliasesConfig = { type: 'aliases', domains: ['lists.example.org', 'example.org'] };

describe('aliases', () => {
  it('yields every name of an aliases(5) file for every domain', () => {
    const result = parse(config, fixture('aliases/aliases'));
    expect(result.problems).toEqual([]);
    const names = [
      'postmaster',
      'abuse',
      'hostmaster',
      'MAILER-DAEMON',
      'list-admins',
      'webmaster',
      'helpdesk',
      'sales team',
      'noreply',
      'press"office',
      'security',
      'root',
    ];
    expect(addresses(result)).toEqual(names.flatMap((name) => [`${name}@lists.example.org`, `${name}@example.org`]));
  });

  it('keeps the line of each entry, also when its value is on the next line', () => {
    const result = parse(config, fixture('aliases/aliases'));
    const line = (address: string) => result.candidates.find((c) => c.address === address)?.line;
    expect(line('postmaster@example.org')).toBe(6);
    expect(line('webmaster@example.org')).toBe(15);
    expect(line('root@example.org')).toBe(24);
  });

  it('leaves names that are no address to validation, which refuses them', () => {
    const { keys, refused } = normalised(parse(config, fixture('aliases/aliases')));
    expect(refused).toEqual([
      'sales team@lists.example.org',
      'sales team@example.org',
      'press"office@lists.example.org',
      'press"office@example.org',
    ]);
    expect(keys).toContain('mailer-daemon@example.org');
  });

  it('reads the stock Debian /etc/aliases', () => {
    const result = parse({ type: 'aliases', domains: ['example.org'] }, fixture('aliases/debian-etc-aliases'));
    expect(result).toEqual({ candidates: [{ address: 'postmaster@example.org', line: 2 }], problems: [] });
  });

  it('reports lines it cannot read, and a name whose value never comes', () => {
    const result = parse(config, [
      '  orphan continuation',
      'no colon here',
      '"unterminated: x',
      '"": empty',
      'two words: x',
      'lonely:',
    ]);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('splits quoted names with escapes', () => {
    expect(splitAliasLine('"a\\"b c" : x, y')).toEqual({ ok: true, name: 'a"b c', value: 'x, y' });
    expect(splitAliasLine('"x"y: z')).toEqual({ ok: false, reason: 'quoted name not followed by ":"' });
  });

  it('cats /etc/aliases by default', () => {
    expect(aliases.command(config)).toBe("cat -- '/etc/aliases'");
    expect(aliases.command({ ...config, path: '/etc/mail/aliases' })).toBe("cat -- '/etc/mail/aliases'");
  });
});
