import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  MAILMAN3_SUBADDRESSES,
  mailman3,
  postfixLmtpCommand,
  type Mailman3Config,
} from '../../../src/sources/mailman3.js';
import { FIXTURES, addresses, fixture, normalised, parse, splitLines } from './feed.js';

const lists: Mailman3Config = { type: 'mailman3' };
const listsQuiet: Mailman3Config = { type: 'mailman3', command: 'sudo -n -u list mailman lists -q' };
const lmtp: Mailman3Config = { type: 'mailman3', from: 'postfix_lmtp' };

const POSTINGS = [
  'announce@lists.example.test',
  'board@community.example.org',
  'dev-team@lists.example.test',
  'general@community.example.org',
  'staff@lists.example.net',
  'users@lists.example.test',
];

function withSubaddresses(posting: string): string[] {
  const [local, domain] = posting.split('@') as [string, string];
  return [posting, ...MAILMAN3_SUBADDRESSES.map((sub) => `${local}-${sub}@${domain}`)];
}

const tempDirs: string[] = [];
function tempDir(name = 'rcptsync-mm3-'): string {
  const dir = mkdtempSync(join(tmpdir(), name));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Run the source's real command with sh, as the list server would. */
function runCommand(config: Mailman3Config): string {
  return execFileSync('sh', ['-c', mailman3.command(config)!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('mailman3 from lists (captured `mailman lists`)', () => {
  it('yields every list with its 8 sub-addresses, trailing padding trimmed', () => {
    const result = parse(lists, fixture('mailman3/lists.txt'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(POSTINGS.flatMap(withSubaddresses));
    expect(normalised(result).refused).toEqual([]);
  });

  it('keeps the output line of each list', () => {
    const result = parse(lists, fixture('mailman3/lists.txt'));
    const general = result.candidates.filter((c) => c.address.startsWith('general'));
    expect(general).toHaveLength(9);
    expect(new Set(general.map((c) => c.line))).toEqual(new Set([5]));
  });

  it('reads -q output (no header) when the command is overridden', () => {
    const result = parse(listsQuiet, fixture('mailman3/lists-q.txt'));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).toEqual(POSTINGS.flatMap(withSubaddresses));
  });

  it('fails headerless output from the default command: it is not what mailman lists prints', () => {
    const result = parse(lists, fixture('mailman3/lists-q.txt'));
    expect(result.failure).toMatch(/no "N matching mailing lists found:" header/);
  });

  it('reads "No matching mailing lists found" as zero lists', () => {
    const result = parse(lists, fixture('mailman3/lists-empty.txt'));
    expect(result).toEqual({ candidates: [], problems: [] });
  });

  it('reads empty -q output as zero lists', () => {
    const text = fixture('mailman3/lists-q-empty.txt');
    expect(text).toBe('');
    expect(parse(listsQuiet, text)).toEqual({ candidates: [], problems: [] });
    // The default command always prints something: empty output fails the source.
    expect(parse(lists, text).failure).toMatch(/no "N matching mailing lists found:" header/);
  });

  it('fails output cut short of the count in the header: a truncated listing must not shrink the map', () => {
    const truncated = splitLines(fixture('mailman3/lists.txt')).slice(0, 4);
    const result = parse(lists, truncated);
    expect(result.failure).toBe('line 1: the header announces 6 lists but 3 followed: truncated output');
  });

  it('counts refused lines against the header, and reports more lines than announced', () => {
    const full = splitLines(fixture('mailman3/lists.txt'));
    const withHostile = [full[0]!, ...full.slice(1, 6), 'x OK'];
    const result = parse(lists, withHostile);
    expect(result.failure).toBeUndefined();
    expect(result.problems.map((p) => p.message)).toEqual(['not a list address: "x OK"']);
    const extra = parse(lists, [...full, 'extra@lists.example.test']);
    expect(extra.failure).toBeUndefined();
    expect(extra.problems).toEqual([{ line: 1, message: 'header announces 6 lists but 7 followed' }]);
  });

  it('reports anything after "No matching mailing lists found"', () => {
    const result = parse(lists, ['No matching mailing lists found', 'ghost@lists.example.test']);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([2]);
  });

  it('adds site addresses on line 0', () => {
    const result = parse(
      { ...lists, site_addresses: ['postmaster@lists.example.test', 'noreply@lists.example.test'] },
      fixture('mailman3/lists-empty.txt'),
    );
    expect(result.candidates).toEqual([
      { address: 'postmaster@lists.example.test', line: 0 },
      { address: 'noreply@lists.example.test', line: 0 },
    ]);
  });

  it('runs mailman lists as the list user, or the configured command', () => {
    expect(mailman3.command(lists)).toBe('sudo -n -u list mailman lists');
    expect(mailman3.command(listsQuiet)).toBe('sudo -n -u list mailman lists -q');
  });
});

describe('mailman3 from postfix_lmtp (captured `mailman aliases` output)', () => {
  it('takes every key of postfix_lmtp and postfix_vmap, read by the real command', () => {
    const result = parse(lmtp, runCommand({ ...lmtp, path: join(FIXTURES, 'mailman3/postfix_lmtp') }));
    expect(result.problems).toEqual([]);
    expect(normalised(result).refused).toEqual([]);
    const keys = new Set(addresses(result));
    // Every address `mailman lists` implies is there, including the alias-domain list's own ones...
    const fromLists = addresses(parse(lists, fixture('mailman3/lists.txt')));
    for (const address of fromLists) expect(keys).toContain(address);
    // ...plus the alias domain's keys, which only postfix_lmtp has.
    expect([...keys].filter((key) => !fromLists.includes(key)).sort()).toEqual(
      withSubaddresses('staff@x.lists.example.net').sort(),
    );
  });

  it('needs postfix_vmap: without it the alias-domain list would be missing', () => {
    const dir = tempDir();
    copyFileSync(join(FIXTURES, 'mailman3/postfix_lmtp'), join(dir, 'postfix_lmtp'));
    const result = parse(lmtp, runCommand({ ...lmtp, path: join(dir, 'postfix_lmtp') }));
    expect(result.problems).toEqual([]);
    expect(addresses(result)).not.toContain('staff@lists.example.net');
    expect(addresses(result)).toContain('staff@x.lists.example.net');
  });

  it('fails (non-zero exit) when postfix_lmtp is missing, rather than printing nothing', () => {
    const dir = tempDir();
    expect(() => runCommand({ ...lmtp, path: join(dir, 'postfix_lmtp') })).toThrow(/Command failed/);
  });

  it('quotes the path so the shell reads it literally', () => {
    const dir = tempDir("rcptsync it's $(x) ;");
    copyFileSync(join(FIXTURES, 'mailman3/postfix_lmtp-empty'), join(dir, 'postfix_lmtp'));
    expect(runCommand({ ...lmtp, path: join(dir, 'postfix_lmtp') })).toBe(fixture('mailman3/postfix_lmtp-empty'));
  });

  it('reads the map of an empty Mailman as zero addresses', () => {
    expect(parse(lmtp, fixture('mailman3/postfix_lmtp-empty'))).toEqual({ candidates: [], problems: [] });
  });

  it('uses the Debian path by default', () => {
    expect(mailman3.command(lmtp)).toBe(
      "cat -- '/var/lib/mailman3/data/postfix_lmtp' && if test -e '/var/lib/mailman3/data/postfix_vmap'; then cat -- '/var/lib/mailman3/data/postfix_vmap'; fi",
    );
    expect(postfixLmtpCommand('/srv/mm/data/postfix_lmtp')).toContain("'/srv/mm/data/postfix_vmap'");
  });

  it('reports regexp keys (transport_file_type: regex) and bare keys', () => {
    const result = parse(lmtp, [
      '/^announce@lists\\.example\\.test$/ lmtp:[127.0.0.1]:8024',
      'announce lmtp:[127.0.0.1]:8024',
    ]);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2]);
  });
});
