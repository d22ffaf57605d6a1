import { describe, expect, it } from 'vitest';
import { command, type CommandConfig } from '../../../src/sources/command.js';
import { getSourceType, sourceTypes } from '../../../src/sources/index.js';
import { staticSource, type StaticConfig } from '../../../src/sources/static.js';
import { RcptsyncError } from '../../../src/errors.js';
import { fixture, parse } from './feed.js';

describe('command', () => {
  const config: CommandConfig = { type: 'command', command: '/usr/local/bin/export-addresses' };

  it('takes one address per line, skipping blanks and comments', () => {
    const result = parse({ ...config, domains: ['lists.example.org'] }, fixture('command/addresses.txt'));
    expect(result).toEqual({
      candidates: [
        { address: 'alice@lists.example.org', line: 2 },
        { address: 'Bob@Lists.Example.Org', line: 3 },
        { address: 'carol@lists.example.org', line: 5 },
        { address: 'helpdesk@lists.example.org', line: 6 },
      ],
      problems: [],
    });
  });

  it('reports bare local parts without domains and lines of several words', () => {
    const result = parse(config, ['helpdesk', 'a@example.org b@example.org']);
    expect(result.candidates).toEqual([]);
    expect(result.problems.map((p) => p.line)).toEqual([1, 2]);
  });

  it('runs the configured command unchanged', () => {
    expect(command.command(config)).toBe('/usr/local/bin/export-addresses');
  });
});

describe('static', () => {
  const config: StaticConfig = { type: 'static', addresses: ['postmaster@example.org', 'help@example.org'] };

  it('needs no command and yields the configured addresses on end()', () => {
    expect(staticSource.command(config)).toBeNull();
    expect(staticSource.createParser(config).end()).toEqual({
      candidates: [
        { address: 'postmaster@example.org', line: 1 },
        { address: 'help@example.org', line: 2 },
      ],
      problems: [],
    });
  });

  it('reports output it should never have been given', () => {
    expect(parse(config, ['x@example.org']).problems).toHaveLength(1);
  });
});

describe('the source registry', () => {
  it('has every source type under its own name', () => {
    expect(Object.keys(sourceTypes).sort()).toEqual(
      ['aliases', 'command', 'mailman2', 'mailman3', 'passwd', 'postfix_map', 'static', 'sympa'],
    );
    for (const [name, type] of Object.entries(sourceTypes)) expect(getSourceType(name)).toBe(type);
  });

  it('refuses unknown names, inherited ones included', () => {
    for (const name of ['mailman', 'constructor', '__proto__', 'toString']) {
      expect(() => getSourceType(name)).toThrow(RcptsyncError);
    }
  });
});
