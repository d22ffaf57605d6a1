// Postfix splits a table line on ASCII whitespace only (issue 7 §5): a no-break
// space belongs to the key, which is then refused as a whole.
import { describe, expect, it } from 'vitest';
import { PostfixTableReader } from '../../../src/sources/postfix-table.js';
import { ResultBuilder } from '../../../src/sources/result.js';

function read(lines: string[]) {
  const out = new ResultBuilder();
  const keys: Array<[string, number]> = [];
  const reader = new PostfixTableReader(out, (key, line) => keys.push([key, line]));
  lines.forEach((text, i) => reader.line(text, i + 1));
  reader.end();
  return { keys, problems: out.result().problems };
}

describe('PostfixTableReader whitespace', () => {
  it('keeps a no-break space inside the key instead of splitting there', () => {
    expect(read(['a\u00a0b@x.example OK']).keys).toEqual([['a\u00a0b@x.example', 1]]);
  });

  it('does not take a line of no-break spaces for a blank line, nor one starting with it for a continuation', () => {
    const { keys, problems } = read(['first@x.example OK', '\u00a0second@x.example OK']);
    expect(keys).toEqual([
      ['first@x.example', 1],
      ['\u00a0second@x.example', 2],
    ]);
    expect(problems).toEqual([]);
  });

  it('still splits on tabs, and treats tab-indented lines as continuations', () => {
    expect(read(['key@x.example\tOK', 'alone@x.example', '\tOK']).keys).toEqual([
      ['key@x.example', 1],
      ['alone@x.example', 2],
    ]);
  });
});
