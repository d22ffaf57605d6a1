// The checks a rendered file goes through on its way to disk, each reached on
// its own: writeRenderedFile is called with output that only the check under
// test can catch, so that an earlier check firing first cannot hide a missing
// one. (render.test.ts covers the same checks end to end through templates.)
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import { countEntries, writeRenderedFile, type FileKind } from '../../../src/render/output.js';
import { loadTemplates, trustAddressList, type PendingTable } from '../../../src/render/templates.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rcptsync-line-checks-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;
const marker = (n: number): string => `\u0000rcptsync-table:${n}\u0000`;
const table = (addresses: string[], value = 'OK'): PendingTable => ({ addresses, value });

interface Options {
  kind?: FileKind;
  refuseCatchAll?: boolean;
}

/** Writes `output` as a fresh file; returns the figures and the bytes on disk. */
function write(output: string, tables: PendingTable[] = [], options: Options = {}) {
  const file = path.join(work, `file-${++counter}`);
  const figures = writeRenderedFile(file, output, tables, {
    kind: options.kind ?? 'postfix-table',
    refuseCatchAll: options.refuseCatchAll ?? true,
    where: 'test.hbs',
  });
  return { figures, text: readFileSync(file, 'utf8'), bytes: readFileSync(file) };
}

/** The message writeRenderedFile refuses `output` with. */
function refusal(output: string, tables: PendingTable[] = [], options: Options = {}): string {
  try {
    write(output, tables, options);
  } catch (error) {
    expect(error).toBeInstanceOf(RcptsyncError);
    expect((error as RcptsyncError).exitCode).toBe(2);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(output)}`);
}

const NUL = 'template test.hbs: output contains a NUL character';
const CR = 'template test.hbs: output contains a carriage return (rendered files use LF line ends only)';
const ALONE = 'template test.hbs: {{table}} must stand alone on its line';
const MARKER = 'template test.hbs: output contains a table marker that no {{table}} call produced';
const WHITESPACE = 'template test.hbs: a line starts with whitespace, which continues the previous entry in a Postfix table';
const CATCH_ALL = 'template test.hbs: a line starts with "@": a catch-all never goes into relay_recipients';

describe('each line check, reached on its own', () => {
  test('a NUL that is not a table marker', () => {
    expect(refusal('a@x.example OK\nb@x.example\u0000 OK\n')).toBe(NUL);
    expect(refusal('\u0000rcptsync-table:x\u0000\n')).toBe(NUL);
    expect(refusal('\u0000', [], { kind: 'yaml' })).toBe(NUL);
  });

  test('a carriage return, in a table or in YAML', () => {
    expect(refusal('a@x.example OK\r\n')).toBe(CR);
    expect(refusal('a: 1\r\n', [], { kind: 'yaml' })).toBe(CR);
    // After a table too: every text part is checked.
    expect(refusal(`${marker(0)}\nb@x.example OK\r\n`, [table(['a@x.example'])])).toBe(CR);
  });

  test('a table marker that no table call produced', () => {
    expect(refusal(`# header\n${marker(0)}\n`)).toBe(MARKER);
    expect(refusal(`${marker(0)}\n${marker(1)}\n`, [table(['a@x.example'])])).toBe(MARKER);
  });

  test('a line that starts with whitespace, which Postfix reads as a continuation', () => {
    for (const line of [' b@x.example OK', '\tb@x.example OK', '\u000bb@x.example OK', '\u000cb@x.example OK', '  # indented comment']) {
      expect(refusal(`a@x.example OK\n${line}\n`), JSON.stringify(line)).toBe(WHITESPACE);
    }
    // As the first line of a file, and in text after a table.
    expect(refusal(' a@x.example OK\n')).toBe(WHITESPACE);
    expect(refusal(`${marker(0)}\n b@x.example OK\n`, [table(['a@x.example'])])).toBe(WHITESPACE);
    // In relay_domains and transport as well (no catch-all rule there).
    expect(refusal(' x.example OK\n', [], { refuseCatchAll: false })).toBe(WHITESPACE);
  });

  test('an entry line with a key and no value, which postmap leaves out of the table with only a warning', () => {
    for (const line of ['b@x.example', 'b@x.example ', 'b@x.example\t \u000b']) {
      expect(refusal(`a@x.example OK\n${line}\n`), JSON.stringify(line)).toBe('template test.hbs: the entry "b@x.example" has no value (postmap would leave it out of the table)');
    }
    // At the very end of the file (no final newline), after a table, and in relay_domains too.
    expect(refusal('a@x.example OK\nb@x.example')).toMatch(/the entry "b@x\.example" has no value/);
    expect(refusal(`${marker(0)}\nb@x.example\n`, [table(['a@x.example'])])).toMatch(/the entry "b@x\.example" has no value/);
    expect(refusal('x.example\n', [], { refuseCatchAll: false })).toMatch(/the entry "x\.example" has no value/);
    // A key needs only one character of value after any whitespace.
    expect(write('a@x.example \t x\n').figures.entries).toBe(1);
  });

  test('a file that starts with an empty line is checked from its second line on', () => {
    expect(refusal('\n@x.example OK\n')).toBe(CATCH_ALL);
    expect(refusal('\n b@x.example OK\n')).toBe(WHITESPACE);
  });

  test('a catch-all line in relay_recipients, but not elsewhere', () => {
    expect(refusal('a@x.example OK\n@x.example OK\n')).toBe(CATCH_ALL);
    expect(refusal(`${marker(0)}\n@x.example OK\n`, [table(['a@x.example'])])).toBe(CATCH_ALL);
    expect(write('@x.example OK\n', [], { refuseCatchAll: false }).figures.entries).toBe(1);
    // An "@" later in a line, or in a comment, is not a catch-all.
    expect(write('# @x.example OK\na@x.example OK\n').figures.entries).toBe(1);
  });

  test('a table call that does not stand alone on its line', () => {
    const t = [table(['a@x.example'])];
    expect(refusal(`x ${marker(0)}\n`, t)).toBe(ALONE);
    expect(refusal(`${marker(0)} OK\n`, t)).toBe(ALONE);
    expect(refusal(`${marker(0)}${marker(1)}\n`, [...t, table(['b@x.example'])])).toBe(ALONE);
    // On its own line it is fine, first, last or between others.
    expect(write(`${marker(0)}\n# between\n${marker(1)}`, [...t, table(['b@x.example'])]).text).toBe('a@x.example OK\n# between\nb@x.example OK\n');
    expect(write(`# first\n${marker(0)}\n${marker(1)}\n`, [...t, table(['b@x.example'])]).text).toBe('# first\na@x.example OK\nb@x.example OK\n');
  });
});

describe('what passes the checks, and how it is counted', () => {
  test('comments, blank and whitespace-only lines are no entries; every other line is one', () => {
    const { figures, text } = write('# header\n\n   \n\t\na@x.example OK\n#b@x.example OK\nc@x.example OK\n');
    expect(figures.entries).toBe(2);
    expect(text).toBe('# header\n\n   \n\t\na@x.example OK\n#b@x.example OK\nc@x.example OK\n');
    expect(countEntries(Buffer.from(text))).toBe(2);
  });

  test('YAML is not scanned as a table: indentation and "@" are its own business', () => {
    const { figures, text } = write('rcptsync_rendered:\n  gateway: "@x"\n', [], { kind: 'yaml' });
    expect(figures.entries).toBe(0);
    expect(text).toBe('rcptsync_rendered:\n  gateway: "@x"\n');
  });

  test('the figures are those of the bytes on disk, and a missing final newline is added', () => {
    const { figures, bytes, text } = write('# h\na@x.example OK');
    expect(text).toBe('# h\na@x.example OK\n');
    expect(figures).toMatchObject({ sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length, entries: 1 });
    const after = write(`# h\n${marker(0)}`, [table(['a@x.example', 'b@x.example'], 'RELAY')]);
    expect(after.text).toBe('# h\na@x.example RELAY\nb@x.example RELAY\n');
    expect(after.figures.entries).toBe(2);
    expect(write('').text).toBe('');
  });

  test('a table of many chunks and a text larger than the write buffer arrive whole', () => {
    const addresses = Array.from({ length: 10_001 }, (_, i) => `m${String(i).padStart(5, '0')}@x.example`);
    const big = `# ${'x'.repeat(3 << 20)}\n`;
    const { figures, text, bytes } = write(`${big}${marker(0)}\nz@y.example OK\n`, [table(addresses)]);
    const expected = `${big}${addresses.map((a) => `${a} OK\n`).join('')}z@y.example OK\n`;
    expect(text.length).toBe(expected.length);
    expect(text === expected).toBe(true);
    expect(figures).toMatchObject({ sha256: createHash('sha256').update(expected).digest('hex'), bytes: Buffer.byteLength(expected), entries: 10_002 });
    expect(bytes.length).toBe(figures.bytes);
  });

  test('a table of exactly one chunk, and tables overflowing a half-full write buffer, arrive whole', () => {
    const keys = (n: number, domain: string): string[] => Array.from({ length: n }, (_, i) => `member.${String(i).padStart(6, '0')}@${domain}`);
    const chunk = keys(4096, 'one.example');
    expect(write(`${marker(0)}\n`, [table(chunk)]).text).toBe(chunk.map((k) => `${k} OK\n`).join(''));
    // About 3 MiB in 4096-line pieces after a header that fills most of the 1 MiB write buffer:
    // the first piece does not fit in what is left, and later ones keep not fitting.
    const many = keys(100_000, 'many.example');
    const header = `# ${'h'.repeat(1_000_000)}\n`;
    const { text, figures } = write(`${header}${marker(0)}\n# footer\n`, [table(many, 'RELAY')]);
    const expected = `${header}${many.map((k) => `${k} RELAY\n`).join('')}# footer\n`;
    expect(text.length).toBe(expected.length);
    expect(text === expected).toBe(true);
    expect(figures.entries).toBe(100_000);
  });

  test('says which address lists it wrote and how many entry lines the template wrote itself', () => {
    const a = ['a@x.example'];
    const b = ['b@x.example', 'c@x.example'];
    const { figures } = write(`# h\nz@x.example OK\n${marker(0)}\ny@x.example OK\n${marker(1)}\n`, [table(a), table(b)]);
    expect(figures.tables).toHaveLength(2);
    expect(figures.tables[0]).toBe(a);
    expect(figures.tables[1]).toBe(b);
    expect(figures.literalEntries).toBe(2);
    expect(figures.entries).toBe(5);
    expect(write('# only a comment\n').figures).toMatchObject({ tables: [], literalEntries: 0, entries: 0 });
  });

  test('leaves no file descriptor open, written or refused', () => {
    const open = (): number => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 20; i++) {
      write('a@x.example OK\n');
      refusal('a@x.example OK\n@x.example OK\n');
      refusal(`${marker(0)}\n`);
    }
    expect(open()).toBe(before);
  });

  test('an existing file is never overwritten', () => {
    const file = path.join(work, 'existing');
    writeFileSync(file, 'old\n');
    expect(() => writeRenderedFile(file, 'a@x.example OK\n', [], { kind: 'postfix-table', refuseCatchAll: true, where: 't' })).toThrow(/EEXIST/);
    expect(readFileSync(file, 'utf8')).toBe('old\n');
  });
});

describe('countEntries, as the Ansible role counts', () => {
  test('the first non-blank character of a line decides', () => {
    expect(countEntries(Buffer.from(''))).toBe(0);
    expect(countEntries(Buffer.from('a\nb\n'))).toBe(2);
    expect(countEntries(Buffer.from('a'))).toBe(1);
    expect(countEntries(Buffer.from(' \t\r\u000b\u000c\n#x\n  #y\n  z\n'))).toBe(1);
    expect(countEntries(Buffer.from('a #b\n# a\nx#\n'))).toBe(2);
    expect(countEntries(Buffer.from('\n\n\n'))).toBe(0);
  });
});

describe('the table helper', () => {
  function render(template: string): string {
    const dir = mkdtempSync(path.join(work, 'templates-'));
    writeFileSync(path.join(dir, 'relay_recipients.hbs'), template);
    const templates = loadTemplates(dir);
    const addresses = trustAddressList(['a@x.example']);
    const { output, tables } = templates.render('relay_recipients', { domains: [{ addresses, other: ['a@x.example'] }] });
    const file = path.join(work, `helper-${++counter}`);
    writeRenderedFile(file, output, tables, { kind: 'postfix-table', refuseCatchAll: true, where: 'x' });
    return readFileSync(file, 'utf8');
  }
  const VALUE = /the table helper needs a value of one printable token/;

  test('refuses a value that starts with "#", which would turn the lines into comments', () => {
    expect(() => render('{{#each domains}}\n{{table addresses "#OK"}}\n{{/each}}\n')).toThrow(VALUE);
    expect(render('{{#each domains}}\n{{table addresses "OK#"}}\n{{/each}}\n')).toBe('a@x.example OK#\n');
  });

  test('refuses an empty value, a space, a non-ASCII character or more than 256 characters', () => {
    for (const value of ['', 'O K', 'OK\u00e9', 'x'.repeat(257), 'OK\u007f']) {
      expect(() => render(`{{#each domains}}\n{{table addresses "${value}"}}\n{{/each}}\n`), JSON.stringify(value)).toThrow(VALUE);
    }
    expect(() => render('{{#each domains}}\n{{table addresses 1}}\n{{/each}}\n')).toThrow(VALUE);
    expect(render(`{{#each domains}}\n{{table addresses "${'x'.repeat(256)}"}}\n{{/each}}\n`)).toBe(`a@x.example ${'x'.repeat(256)}\n`);
    expect(render('{{#each domains}}\n{{table addresses "smtp:[h]:25"}}\n{{/each}}\n')).toBe('a@x.example smtp:[h]:25\n');
  });

  test('refuses a list that render did not build, even with the same content', () => {
    expect(() => render('{{#each domains}}\n{{table other "OK"}}\n{{/each}}\n')).toThrow(/the table helper takes a domain's "addresses" list and nothing else/);
  });

  test('an empty list gives no line and no marker', () => {
    const dir = mkdtempSync(path.join(work, 'templates-'));
    writeFileSync(path.join(dir, 'relay_recipients.hbs'), '{{#each domains}}\n{{table addresses "OK"}}\n{{/each}}\n');
    const { output, tables } = loadTemplates(dir).render('relay_recipients', { domains: [{ addresses: trustAddressList([]) }] });
    expect(output).toBe('\n');
    expect(tables).toEqual([]);
  });
});
