import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SYMPA_ALIASES_PATH, SYMPA_TRANSPORT_PATH, sympa, sympaRobotAddresses, type SympaConfig } from '../../../src/sources/sympa.js';
import { sympaFileCommand } from '../../../src/sources/sympa-read.js';
import { FIXTURES, addresses, fixture, normalised, parse } from './feed.js';

const transport: SympaConfig = { type: 'sympa' };
const aliases: SympaConfig = { type: 'sympa', from: 'aliases' };

/** What Sympa's list_aliases.tt2 (Debian's and the Postfix guide's) gives a list: -subscribe is commented out. */
function listAddresses(posting: string): string[] {
  const [local, domain] = posting.split('@') as [string, string];
  return [posting, ...['request', 'editor', 'unsubscribe', 'owner'].map((sub) => `${local}-${sub}@${domain}`)];
}

// The fixtures: announce, dev.team (main domain lists.sympa.test) and staff (robot
// groups.sympa.test) created, news created and then closed (capture.sh).
const OPEN_LISTS = ['announce@lists.sympa.test', 'staff@groups.sympa.test', 'dev.team@lists.sympa.test'];

describe('sympa from transport (captured sympa_transport, virtual-domain setting)', () => {
  it('yields each open list with the service addresses its template defines, in file order', () => {
    const result = parse(transport, fixture('sympa/sympa_transport'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(OPEN_LISTS.flatMap(listAddresses));
    expect(normalised(result).refused).toEqual([]);
  });

  it('accepts no commented-out -subscribe line and nothing of the closed list', () => {
    const text = fixture('sympa/sympa_transport');
    expect(text).toContain('#announce-subscribe@lists.sympa.test sympa:announce-subscribe@lists.sympa.test');
    const found = addresses(parse(transport, text));
    expect(found.filter((a) => a.includes('-subscribe@'))).toEqual([]);
    expect(found.filter((a) => a.startsWith('news'))).toEqual([]);
  });

  it('keeps the line each address came from', () => {
    const result = parse(transport, fixture('sympa/sympa_transport'));
    expect(result.candidates.find((c) => c.address === 'staff-owner@groups.sympa.test')?.line).toBe(12);
  });

  it('adds every robot\'s site addresses with line 0, robot by robot', () => {
    const result = parse({ ...transport, domains: ['lists.sympa.test', 'groups.sympa.test'] }, fixture('sympa/sympa_transport'));
    const site = result.candidates.filter((c) => c.line === 0).map((c) => c.address);
    expect(site).toEqual(
      ['lists.sympa.test', 'groups.sympa.test'].flatMap((d) =>
        ['sympa', 'sympa-request', 'sympa-owner', 'listmaster', 'bounce', 'abuse-feedback-report'].map((l) => `${l}@${d}`),
      ),
    );
  });

  it('reports keys without a domain, with their line, and keeps the rest', () => {
    const text = `${fixture('sympa/sympa_transport')}lists.sympa.test error:User unknown in recipient table\nbare-key\n`;
    const result = parse(transport, text);
    expect(result.problems).toEqual([
      { line: 19, message: 'key without "@domain" in a Sympa transport map: "lists.sympa.test"' },
      { line: 20, message: 'key without a value (postmap skips it: "expected format: key whitespace value"): "bare-key"' },
    ]);
    expect(addresses(result)).toHaveLength(15);
  });

  it('reads an empty map (no lists yet) as no addresses, no problems', () => {
    expect(parse(transport, '')).toEqual({ candidates: [], problems: [] });
  });
});

describe('sympa from aliases (captured /etc/mail/sympa/aliases, Debian\'s default)', () => {
  it('yields the same addresses as the transport map: robot-prefixed names mapped back to their robot', () => {
    const result = parse(aliases, fixture('sympa/aliases'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(OPEN_LISTS.flatMap(listAddresses));
    expect(normalised(result).refused).toEqual([]);
  });

  it('takes the return path from the alias name, not the bouncequeue argument', () => {
    const result = parse(aliases, fixture('sympa/aliases'));
    const owner = result.candidates.find((c) => c.address === 'staff-owner@groups.sympa.test');
    expect(owner?.line).toBe(13);
    expect(fixture('sympa/aliases').split('\n')[12]).toBe('groups.sympa.test-staff-owner: "| /usr/lib/sympa/bin/bouncequeue staff@groups.sympa.test"');
  });

  it('accepts a site\'s own template: a -subscribe uncommented, another return_path_suffix', () => {
    const text = [
      'team-subscribe: "| /usr/lib/sympa/bin/queue team-subscribe@lists.example.org"',
      'team-return: "| /usr/lib/sympa/bin/bouncequeue team@lists.example.org"',
      'lists.other.example-team-return: "|/usr/lib/sympa/bin/bouncequeue team@lists.other.example"',
    ];
    const result = parse(aliases, text);
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(['team-subscribe@lists.example.org', 'team-return@lists.example.org', 'team-return@lists.other.example']);
  });

  it('reports every line that is not one of Sympa\'s, with its line, and skips it', () => {
    const text = [
      '## List aliases used for the sympa mailing-list manager', // 1: comment
      'sympa-request: postmaster', // 2: hand-added, not a pipe into Sympa
      'announce: "| /usr/lib/sympa/bin/queue other@lists.sympa.test"', // 3: name and address disagree
      'announce-owner: "| /usr/lib/sympa/bin/bouncequeue staff@lists.sympa.test"', // 4: not that list's return path
      'announce: "| /usr/lib/sympa/bin/bouncequeue announce@lists.sympa.test"', // 5: no suffix
      'x: "| /usr/lib/sympa/bin/queue a@b@c"', // 6: two @
      'y: "| /usr/lib/sympa/bin/queue nodomain"', // 7: no @
      'no colon here', // 8
      '  continued, value', // 9: continuation
      'z: "| /usr/lib/sympa/bin/queue z@lists.sympa.test" extra', // 10: more than one argument
      'dev: "| /usr/lib/sympa/bin/queue dev@lists.sympa.test"', // 11: fine
    ];
    const result = parse(aliases, text);
    expect(result.problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(result.problems[0]!.message).toBe('not a pipe into Sympa\'s queue or bouncequeue: "sympa-request: postmaster"');
    expect(result.problems[1]!.message).toContain('alias name does not match its queue address other@lists.sympa.test');
    expect(result.problems[2]!.message).toContain('alias name is not list staff@lists.sympa.test with a return_path_suffix');
    expect(result.problems[4]!.message).toContain('queue argument is not one list@domain');
    expect(result.problems[7]!.message).toContain('continuation line');
    expect(addresses(result)).toEqual(['dev@lists.sympa.test']);
  });

  it('reads the pipe as list_aliases.tt2 may write it: quoted or not, with or without the path, spaces around the argument', () => {
    const text = [
      'dev: | /usr/lib/sympa/bin/queue dev@lists.sympa.test',
      'dev-request: "|queue dev-request@lists.sympa.test"',
      'dev-editor: "| /usr/lib/sympa/bin/queue  dev-editor@lists.sympa.test "',
      'dev-owner: |bouncequeue dev@lists.sympa.test',
    ];
    const result = parse(aliases, text);
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(['dev@lists.sympa.test', 'dev-request@lists.sympa.test', 'dev-editor@lists.sympa.test', 'dev-owner@lists.sympa.test']);
  });

  it('refuses an argument that is not one list@domain, a line that is no alias, and a value that is more than the pipe', () => {
    const text = [
      'x: "| /usr/lib/sympa/bin/queue @lists.sympa.test"',
      'x-owner: "| /usr/lib/sympa/bin/bouncequeue @lists.sympa.test"',
      'dev: "| /usr/lib/sympa/bin/queue dev@"',
      'dev-owner: "| /usr/lib/sympa/bin/bouncequeue dev@"',
      'no colon here',
      'dev: postmaster, "| /usr/lib/sympa/bin/queue dev@lists.sympa.test"',
    ];
    // A problem shows its line as printable() does: in double quotes, a quote in it escaped.
    const shown = (line: string) => `"${line.replaceAll('"', '\\"')}"`;
    const result = parse(aliases, text);
    expect(result.problems).toEqual([
      { line: 1, message: `queue argument is not one list@domain: ${shown(text[0]!)}` },
      { line: 2, message: `bouncequeue argument is not one list@domain: ${shown(text[1]!)}` },
      { line: 3, message: `queue argument is not one list@domain: ${shown(text[2]!)}` },
      { line: 4, message: `bouncequeue argument is not one list@domain: ${shown(text[3]!)}` },
      { line: 5, message: 'no "name: value": "no colon here"' },
      { line: 6, message: `not a pipe into Sympa's queue or bouncequeue: ${shown(text[5]!)}` },
    ]);
    expect(result.candidates).toEqual([]);
  });

  it('passes a hostile argument on to validation, which refuses it', () => {
    const result = parse(aliases, ['"x%y": "| /usr/lib/sympa/bin/queue x%y@lists.sympa.test"']);
    expect(result.problems).toEqual([]);
    expect(normalised(result).refused).toEqual(['x%y@lists.sympa.test']);
  });
});

describe('sympa site addresses', () => {
  it('follows sympa.conf\'s email, listmaster_email, return_path_suffix and bounce_email_prefix', () => {
    const config: SympaConfig = { type: 'sympa', email: 'lists', listmaster_email: 'admin', return_path_suffix: '-return', bounce_email_prefix: 'bnc' };
    expect(sympaRobotAddresses(config, 'example.org')).toEqual([
      'lists@example.org',
      'lists-request@example.org',
      'lists-return@example.org',
      'admin@example.org',
      'bnc@example.org',
      'abuse-feedback-report@example.org',
    ]);
  });

  it('adds site_addresses after the robots', () => {
    const result = parse({ ...transport, domains: ['example.org'], site_addresses: ['sympa-loop@example.org'] }, '');
    expect(addresses(result).at(-1)).toBe('sympa-loop@example.org');
    expect(addresses(result)).toHaveLength(7);
  });
});

describe('sympa command', () => {
  it('reads the transport map by default, the aliases file with from: aliases, or the path given, never during a rewrite', () => {
    expect(sympa.command(transport)).toBe(sympaFileCommand('/etc/sympa/sympa_transport'));
    expect(sympa.command(aliases)).toBe(sympaFileCommand('/etc/mail/sympa/aliases'));
    expect(sympa.command(transport)).toContain("f='/etc/sympa/sympa_transport'; l='/etc/sympa/sympa_transport,lock';");
    expect([SYMPA_TRANSPORT_PATH, SYMPA_ALIASES_PATH]).toEqual(['/etc/sympa/sympa_transport', '/etc/mail/sympa/aliases']);
    expect(sympa.command({ ...aliases, path: "/srv/it's/aliases" })).toContain(`f='/srv/it'\\''s/aliases';`);
    expect(sympa.command({ ...transport, command: 'sudo -n -u sympa cat /etc/sympa/sympa_transport' })).toBe(
      'sudo -n -u sympa cat /etc/sympa/sympa_transport',
    );
  });

  it('prints the captured file unchanged when run with sh', () => {
    const out = execFileSync('sh', ['-c', sympa.command({ ...transport, path: `${FIXTURES}sympa/sympa_transport` })!], { encoding: 'utf8' });
    expect(out).toBe(fixture('sympa/sympa_transport'));
  });
});
