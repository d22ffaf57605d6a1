// Address keys as lists: code point order (what `LC_ALL=C sort` gives for UTF-8),
// the reason a key is not normalised, and sorting with duplicates dropped.
import { describe, expect, it } from 'vitest';
import { compareCodePoints, keyProblem, sortAddressKeys, sortUniqueLocals } from '../../../src/model/address-keys.js';

describe('compareCodePoints', () => {
  it('orders by code point, as LC_ALL=C sort orders UTF-8 bytes, where code units disagree', () => {
    expect(compareCodePoints('a', 'a')).toBe(0);
    expect(compareCodePoints('a', 'b')).toBeLessThan(0);
    expect(compareCodePoints('b', 'a')).toBeGreaterThan(0);
    // U+FFFF before U+10000 by code point; by UTF-16 code units (0xFFFF vs 0xD800) it would be after.
    expect(compareCodePoints('\uffff', '\u{10000}')).toBeLessThan(0);
    expect(compareCodePoints('\u{10000}', '\uffff')).toBeGreaterThan(0);
    expect(compareCodePoints('x\u{1f600}', 'x\u{1f600}')).toBe(0);
    expect(compareCodePoints('\u{1f600}', 'a')).toBeGreaterThan(0);
  });
});

describe('keyProblem', () => {
  it('says what the normalised key would be', () => {
    expect(keyProblem('Info@Lists.Example.org')).toBe('not normalised (would be "info@lists.example.org")');
    expect(keyProblem('info@lists.example.org')).toBeNull();
    expect(keyProblem(7)).toBe('not a string');
  });
});

describe('sorting keys', () => {
  it('sorts by domain, then local part (shorter first), and drops duplicates', () => {
    expect(sortAddressKeys(['b@y.org', 'a-b@x.org', 'a@x.org', 'b@y.org', 'a@x.org'])).toEqual(['a@x.org', 'a-b@x.org', 'b@y.org']);
  });

  it('sorts one domain in place, keeping an already sorted list as it is', () => {
    const sorted = ['a@x.org', 'b@x.org'];
    expect(sortUniqueLocals(sorted, 6)).toBe(sorted);
    const unsorted = ['c@x.org', 'a@x.org', 'c@x.org', 'b@x.org'];
    expect(sortUniqueLocals(unsorted, 6)).toEqual(['a@x.org', 'b@x.org', 'c@x.org']);
  });
});
