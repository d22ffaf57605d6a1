// A line that is not UTF-8 is handed over escaped and skipped when the caller
// takes such lines (issue 7 §3); without onBadLine the output fails as before.
import { describe, expect, it } from 'vitest';
import { escapeBytes, LineSplitter, OutputError } from '../../../src/transport/line-splitter.js';

function split(chunks: Uint8Array[]) {
  const lines: Array<[number, string]> = [];
  const bad: Array<[number, string]> = [];
  const splitter = new LineSplitter(1 << 20, (text, n) => lines.push([n, text]), (escaped, n) => bad.push([n, escaped]));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return { lines, bad };
}

describe('lines that are not UTF-8', () => {
  it('are reported one by one with their bytes escaped, the others go on', () => {
    const text = Buffer.concat([Buffer.from('a@x.org\n'), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]), Buffer.from('b@x.org\n')]);
    expect(split([text])).toEqual({ lines: [[1, 'a@x.org'], [3, 'b@x.org']], bad: [[2, 'caf\\xe9']] });
  });

  it('are found when the bad byte arrives in a later chunk than the line\'s start, and the next line is clean', () => {
    const result = split([Buffer.from('# caf'), Buffer.from([0xe9, 0x20, 0x31, 0x39, 0x39, 0x38, 0x0a]), Buffer.from('ok@x.org\n')]);
    expect(result).toEqual({ lines: [[2, 'ok@x.org']], bad: [[1, '# caf\\xe9 1998']] });
  });

  it('are found and numbered wherever the chunks are cut, and every good line around them is kept', () => {
    // Whole chunks of good lines are decoded at once; a bad byte anywhere sends its chunk line by line.
    const bytes = Buffer.concat([Buffer.from('a@x.org\nbü@x.org\n'), Buffer.from([0x63, 0xe9, 0x0a]), Buffer.from('c@x.org\n\nd@x.org\n')]);
    const expected = { lines: [[1, 'a@x.org'], [2, 'bü@x.org'], [4, 'c@x.org'], [5, ''], [6, 'd@x.org']], bad: [[3, 'c\\xe9']] };
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (let second = cut; second <= bytes.length; second += 3) {
        expect(split([bytes.subarray(0, cut), bytes.subarray(cut, second), bytes.subarray(second)])).toEqual(expected);
      }
    }
  });

  it('keep a multi-byte character split across chunks intact on good lines', () => {
    const bytes = Buffer.from('bücher@x.org\n');
    expect(split([bytes.subarray(0, 2), bytes.subarray(2)]).lines).toEqual([[1, 'bücher@x.org']]);
  });

  it('fail the output when the caller does not take them', () => {
    const splitter = new LineSplitter(1 << 20, () => {});
    expect(() => splitter.push(Buffer.from([0xff, 0x0a]))).toThrow(OutputError);
  });

  it('escape backslashes and control bytes too', () => {
    expect(escapeBytes([0x5c, 0x01, 0x41, 0xff])).toBe('\\x5c\\x01A\\xff');
  });
});
