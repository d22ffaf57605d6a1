import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../../src/sources/shell.js';

const dir = mkdtempSync(join(tmpdir(), 'rcptsync-quote-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('shellQuote', () => {
  const canary = join(dir, 'canary');
  const values = [
    '',
    'plain',
    "it's",
    "''",
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `; touch ${canary}`,
    `| touch ${canary}`,
    `&& touch ${canary} #`,
    '"double" \\back\\ $HOME ${x} !event * ? [a] ~ {a,b}',
    'line\nbreak\ttab',
    '-n',
    'x'.repeat(10_000),
    'äöü 𝔘',
  ];

  it.each(values.map((value) => [JSON.stringify(value).slice(0, 40), value]))('sh reads %s back literally', (_, value) => {
    const printed = execFileSync('sh', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' });
    expect(printed).toBe(value);
    expect(existsSync(canary)).toBe(false);
  });

  it('refuses NUL, which no command line can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
