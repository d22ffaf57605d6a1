// The stdout line splitter: chunk boundaries anywhere, strict UTF-8, a size
// cap, and output cut off mid-line treated as an error.
import { describe, expect, it } from 'vitest';
import { LineSplitter, OutputError } from '../../../src/transport/line-splitter.js';

function split(chunks: Uint8Array[], max = 1 << 20): { lines: string[]; numbers: number[]; result: { bytes: number; lines: number } } {
  const lines: string[] = [];
  const numbers: number[] = [];
  const splitter = new LineSplitter(max, (text, n) => {
    lines.push(text);
    numbers.push(n);
  });
  for (const chunk of chunks) splitter.push(chunk);
  return { lines, numbers, result: splitter.end() };
}

function outputError(fn: () => unknown): OutputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OutputError);
    return err as OutputError;
  }
  throw new Error('expected an OutputError');
}

const b = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));

describe('LineSplitter', () => {
  it('splits LF-terminated lines and numbers them from 1', () => {
    const { lines, numbers, result } = split([b('a@x.example\nb@x.example\n')]);
    expect(lines).toEqual(['a@x.example', 'b@x.example']);
    expect(numbers).toEqual([1, 2]);
    expect(result).toEqual({ bytes: 24, lines: 2 });
  });

  it('accepts empty output and empty lines', () => {
    expect(split([]).result).toEqual({ bytes: 0, lines: 0 });
    expect(split([b('')]).lines).toEqual([]);
    expect(split([b('\n\nx\n')]).lines).toEqual(['', '', 'x']);
  });

  it('gives the same lines whatever the chunk boundaries, even inside a multi-byte character', () => {
    const text = 'müller@bücher.example\n日本@例え.テスト\n😀@x.example\nplain\n';
    const bytes = b(text);
    const expected = ['müller@bücher.example', '日本@例え.テスト', '😀@x.example', 'plain'];
    // Every single split point, and byte-at-a-time.
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(split([bytes.subarray(0, cut), bytes.subarray(cut)]).lines).toEqual(expected);
    }
    expect(split([...bytes].map((byte) => Uint8Array.of(byte))).lines).toEqual(expected);
  });

  it('keeps a CR before the LF as data, so validation can refuse it', () => {
    expect(split([b('a@x.example\r\n')]).lines).toEqual(['a@x.example\r']);
  });

  it('keeps a byte order mark as data instead of silently dropping it', () => {
    expect(split([b('\uFEFFa@x.example\n')]).lines).toEqual(['\uFEFFa@x.example']);
  });

  it('refuses invalid UTF-8 and names the line', () => {
    const err = outputError(() => split([b('ok\nok\n'), b([0x61, 0xff, 0x0a])]));
    expect(err.kind).toBe('not-utf8');
    expect(err.lineNumber).toBe(3);
    expect(err.message).toBe('output is not valid UTF-8 (at line 3)');
  });

  it('refuses a multi-byte sequence cut by a newline, and overlong or surrogate encodings', () => {
    expect(outputError(() => split([b([0xc3, 0x0a])])).kind).toBe('not-utf8'); // lead byte, then LF
    expect(outputError(() => split([b([0xc0, 0xaf, 0x0a])])).kind).toBe('not-utf8'); // overlong '/'
    expect(outputError(() => split([b([0xed, 0xa0, 0x80, 0x0a])])).kind).toBe('not-utf8'); // UTF-16 surrogate
  });

  it('refuses output that ends mid-line as truncated', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(1000, (t) => lines.push(t));
    splitter.push(b('a@b.example\nc@d.exa'));
    const err = outputError(() => splitter.end());
    expect(err.kind).toBe('truncated');
    expect(err.lineNumber).toBe(2);
    expect(lines).toEqual(['a@b.example']);
    expect(outputError(() => split([b('a@b.example')])).kind).toBe('truncated');
  });

  it('refuses output over the cap as soon as it passes it, and stays failed', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(10, (t) => lines.push(t));
    splitter.push(b('123456789\n')); // exactly 10 bytes: allowed
    expect(lines).toEqual(['123456789']);
    const err = outputError(() => splitter.push(b('x')));
    expect(err.kind).toBe('too-large');
    expect(err.message).toBe('output exceeded 10 bytes (at line 2)');
    expect(outputError(() => splitter.push(b('\n')))).toBe(err);
    expect(outputError(() => splitter.end())).toBe(err);
    expect(lines).toEqual(['123456789']);
  });

  it('does not hand on any line of a chunk that crosses the cap', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(5, (t) => lines.push(t));
    expect(outputError(() => splitter.push(b('a\nb\nc\nd\n'))).kind).toBe('too-large');
    expect(lines).toEqual([]);
  });

  it('lets an error thrown by onLine through and stops there', () => {
    const seen: string[] = [];
    const splitter = new LineSplitter(1000, (t) => {
      seen.push(t);
      if (t === 'bad') throw new Error('parser refused bad');
    });
    expect(() => splitter.push(b('ok\nbad\nnever\n'))).toThrow('parser refused bad');
    expect(seen).toEqual(['ok', 'bad']);
  });

  it('handles a large stream in small chunks', () => {
    const text = Array.from({ length: 50_000 }, (_, i) => `user${i}@d${i % 100}.example\n`).join('');
    const bytes = b(text);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 4093) chunks.push(bytes.subarray(i, i + 4093));
    const { lines, result } = split(chunks, bytes.length);
    expect(result).toEqual({ bytes: bytes.length, lines: 50_000 });
    expect(lines[49_999]).toBe('user49999@d99.example');
  });
});
