/**
 * Hostile output from a list server: whatever a parser emits, validation must
 * never turn into a catch-all or a key that is more than one token, and no line
 * may vanish without a candidate or a problem to show for it.
 */
import { describe, expect, it } from 'vitest';
import { normaliseAddress } from '../../../src/model/address.js';
import type { ParseResult, SourceConfig } from '../../../src/sources/types.js';
import { parse } from './feed.js';

const LONG = 'x'.repeat(10_000);

// Each line starts with non-whitespace and is no comment, so every one must be
// accounted for.
const HOSTILE = [
  '@example.org',
  '@example.org OK',
  'x OK',
  'x OK\r@example.org',
  'x\0@example.org',
  'OK',
  ':',
  '@',
  '"',
  "'",
  'a:b@example.org',
  'a#b@example.org',
  '"a b"@example.org',
  '"@example.org"',
  "'a'@example.org",
  '$(reboot)@example.org',
  '`id`@example.org',
  'a;rm -rf /@example.org',
  'a|b@example.org',
  'a@b@example.org',
  'a@example.org@',
  'a@',
  'a@.',
  'a..b@example.org',
  'ÄÖ@example.org',
  'x@exämple.org',
  'x@[127.0.0.1]',
  'x@example.org\tOK',
  'x@example.org OK extra words',
  'list@example.org   lmtp:[127.0.0.1]:8024',
  '/^.*@example\\.org$/  OK',
  LONG,
  `${LONG}@example.org`,
  `a@${LONG}.org`,
  `a@example.org ${LONG}`,
];

/** Some formats need a frame around the hostile lines. */
interface Case {
  config: SourceConfig;
  before?: string[];
  /** How each hostile line is written in this format. */
  wrap?: (line: string) => string;
}

const CASES: Record<string, Case> = {
  'mailman3 lists': { config: { type: 'mailman3' }, before: [`${HOSTILE.length} matching mailing lists found:`] },
  'mailman3 lists -q': { config: { type: 'mailman3', command: 'mailman lists -q' } },
  'mailman3 postfix_lmtp': { config: { type: 'mailman3', from: 'postfix_lmtp' }, wrap: (l) => `${l}   lmtp:[127.0.0.1]:8024` },
  'mailman3 postfix_lmtp (raw)': { config: { type: 'mailman3', from: 'postfix_lmtp' } },
  'mailman2 list_lists': { config: { type: 'mailman2', domain: 'lists.example.org' } },
  'mailman2 virtual_mailman': { config: { type: 'mailman2', from: 'virtual_mailman' }, wrap: (l) => `${l}  list` },
  'sympa transport': { config: { type: 'sympa', domains: ['example.org'] }, wrap: (l) => `${l} sympa:${l}` },
  'sympa transport (raw)': { config: { type: 'sympa' } },
  'sympa aliases (queue)': { config: { type: 'sympa', from: 'aliases' }, wrap: (l) => `${l.split('@')[0]}: "| /usr/lib/sympa/bin/queue ${l}"` },
  'sympa aliases (bouncequeue)': { config: { type: 'sympa', from: 'aliases' }, wrap: (l) => `x-owner: "| /usr/lib/sympa/bin/bouncequeue ${l}"` },
  'sympa aliases (raw)': { config: { type: 'sympa', from: 'aliases' } },
  aliases: { config: { type: 'aliases', domains: ['example.org'] }, wrap: (l) => `${l}: root` },
  'aliases (raw)': { config: { type: 'aliases', domains: ['example.org'] } },
  'postfix_map with domains': { config: { type: 'postfix_map', path: '/x', domains: ['example.org'] }, wrap: (l) => `${l} OK` },
  'postfix_map (raw)': { config: { type: 'postfix_map', path: '/x' } },
  passwd: { config: { type: 'passwd', domains: ['example.org'], min_uid: 0 } },
  'passwd (as user names)': {
    config: { type: 'passwd', domains: ['example.org'], min_uid: 0 },
    wrap: (l) => `${l}:x:1000:1000::/home/x:/bin/sh`,
  },
  'command with domains': { config: { type: 'command', command: 'x', domains: ['example.org'] } },
  command: { config: { type: 'command', command: 'x' } },
};

// A key that is exactly one token `local@domain`: no whitespace, one "@", neither side empty.
const ONE_TOKEN_KEY = /^[^\s@"#][^\s@]*@[a-z0-9-]+(\.[a-z0-9-]+)+$/;

function check(result: ParseResult, lines: number[]): void {
  for (const candidate of result.candidates) {
    const outcome = normaliseAddress(candidate.address);
    if (!outcome.ok) continue;
    expect(outcome.address.key).toMatch(ONE_TOKEN_KEY);
    expect(outcome.address.local).not.toBe('');
  }
  const seen = new Set([...result.candidates.map((c) => c.line), ...result.problems.map((p) => p.line)]);
  for (const line of lines) expect(seen, `line ${line} left no trace`).toContain(line);
  for (const problem of result.problems) {
    // Reports quote hostile text shortened and escaped: one short line each.
    expect(problem.message.length).toBeLessThan(300);
    expect(problem.message).not.toMatch(/[\x00-\x1f\x7f]/);
  }
}

describe('hostile source output', () => {
  it.each(Object.entries(CASES))('%s: no catch-all, no multi-token key, no silent drop', (_, c) => {
    const before = c.before ?? [];
    const lines = [...before, ...HOSTILE.map(c.wrap ?? ((l) => l))];
    const result = parse(c.config, lines);
    check(result, HOSTILE.map((_, index) => before.length + index + 1));
  });

  it.each(Object.entries(CASES))('%s: each hostile line alone behaves the same', (_, c) => {
    for (const hostile of HOSTILE) {
      const before = c.before?.length ? ['1 matching mailing lists found:'] : [];
      const result = parse(c.config, [...before, (c.wrap ?? ((l) => l))(hostile)]);
      check(result, [before.length + 1]);
    }
  });

  it('a catch-all line never yields a catch-all, nor a sub-address of an empty name', () => {
    const results = [
      parse({ type: 'mailman3' }, ['1 matching mailing lists found:', '@example.org']),
      parse({ type: 'mailman3', from: 'postfix_lmtp' }, ['@example.org  lmtp:[127.0.0.1]:8024']),
      parse({ type: 'mailman2', from: 'virtual_mailman' }, ['@example.org  x']),
      parse({ type: 'postfix_map', path: '/x' }, ['@example.org  x']),
      parse({ type: 'command', command: 'x' }, ['@example.org']),
      parse({ type: 'static', addresses: ['@example.org'] }, []),
    ];
    for (const result of results) {
      // Passed on alone, so that validation refuses and reports it; for a Mailman
      // list this also means no `-bounces@example.org` from an empty name.
      expect(result.candidates.map((c) => c.address)).toEqual(['@example.org']);
      const outcome = normaliseAddress('@example.org');
      expect(outcome.ok).toBe(false);
    }
    const quoted = parse({ type: 'aliases', domains: ['example.org'] }, ['"@example.org": x']);
    expect(quoted.candidates.map((c) => c.address)).toEqual(['@example.org@example.org']);
    expect(normaliseAddress('@example.org@example.org').ok).toBe(false);
  });

  it('the list name `x OK` on its own line and `x OK\\n@example.org` stay harmless', () => {
    const result = parse({ type: 'mailman2', domain: 'example.org' }, ['x OK', '@example.org']);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2]);
  });
});
