import { describe, expect, it } from 'vitest';
import { postfixMap, type PostfixMapConfig } from '../../../src/sources/postfix-map.js';
import { addresses, fixture, normalised, parse } from './feed.js';

const config: PostfixMapConfig = { type: 'postfix_map', path: '/etc/postfix/virtual', domains: ['lists.example.org'] };

describe('postfix_map', () => {
  it('takes full-address keys as-is and gives bare keys the domains', () => {
    const result = parse(config, fixture('postfix_map/virtual'));
    expect(result.problems).toEqual([]);
    expect(result.candidates).toEqual([
      { address: 'info@lists.example.org', line: 4 },
      { address: 'Sales@Lists.Example.Org', line: 5 },
      { address: 'support@lists.example.org', line: 7 },
      { address: 'webmaster@lists.example.org', line: 11 },
      { address: 'listmaster@lists.example.org', line: 13 },
    ]);
    expect(normalised(result).keys).toContain('sales@lists.example.org');
  });

  it('reports bare keys when no domains are configured', () => {
    const result = parse({ type: 'postfix_map', path: '/x' }, fixture('postfix_map/virtual'));
    expect(addresses(result)).toHaveLength(3);
    expect(result.problems).toEqual([
      { line: 11, message: 'bare key without domains: "webmaster"' },
      { line: 13, message: 'bare key without domains: "listmaster"' },
    ]);
  });

  it('passes a catch-all on to validation, which refuses it', () => {
    const result = parse(config, ['@lists.example.org   catchall@example.org']);
    expect(addresses(result)).toEqual(['@lists.example.org']);
    expect(normalised(result)).toEqual({ keys: [], refused: ['@lists.example.org'] });
  });

  it('reports keys postmap would skip and lines it cannot place', () => {
    const result = parse(config, [
      '   orphan continuation',
      'alone@lists.example.org',
      'next@lists.example.org  x',
      '/^re@/   x',
      'last@lists.example.org   ',
    ]);
    expect(addresses(result)).toEqual(['next@lists.example.org']);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2, 4, 5]);
  });

  it('cats the configured path', () => {
    expect(postfixMap.command(config)).toBe("cat -- '/etc/postfix/virtual'");
  });
});
