// The Sympa file read: never while Sympa holds its lock, and never used when
// the file changed or the lock appeared during the read (Sympa rewrites the
// file in place when a list is closed). Run with the real /bin/sh, cat, find
// and stat; a `cat` shim first in PATH plays Sympa writing during the read.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYMPA_BUSY_EXIT, sympaFileCommand } from '../../../src/sources/sympa-read.js';

let dir: string;
const CONTENT = 'announce: "|/usr/lib/sympa/bin/queue announce@lists.example.org"\nannounce-owner: "|/usr/lib/sympa/bin/bouncequeue announce@lists.example.org"\n';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-sympa-read-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(path: string, options: { shim?: string; cwd?: string } = {}) {
  const env = { ...process.env };
  if (options.shim) {
    const bin = mkdtempSync(join(dir, 'bin-'));
    writeFileSync(join(bin, 'cat'), `#!/bin/sh\n/bin/cat "$@"\n${options.shim}\n`);
    chmodSync(join(bin, 'cat'), 0o755);
    env['PATH'] = `${bin}:${process.env['PATH']}`;
  }
  return spawnSync('/bin/sh', ['-c', sympaFileCommand(path)], { encoding: 'utf8', env, cwd: options.cwd ?? dir });
}

function aliases(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, CONTENT);
  return file;
}

describe('reading a Sympa aliases file', () => {
  it('prints the file when Sympa leaves it alone', () => {
    const result = run(aliases('quiet'));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(CONTENT);
  });

  it('does not read while Sympa holds a fresh lock', () => {
    const file = aliases('locked');
    writeFileSync(`${file},lock`, '');
    const result = run(file);
    expect(result.status).toBe(SYMPA_BUSY_EXIT);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`Sympa holds the lock ${file},lock`);
  });

  it('reads past a lock older than Sympa\'s 20-minute stale timeout', () => {
    const file = aliases('stale');
    writeFileSync(`${file},lock`, '');
    const halfAnHourAgo = new Date(Date.now() - 30 * 60_000);
    utimesSync(`${file},lock`, halfAnHourAgo, halfAnHourAgo);
    expect(run(file)).toMatchObject({ status: 0, stdout: CONTENT });
  });

  it('fails when the file is rewritten while it is read', () => {
    const file = aliases('rewritten');
    // What Sympa::Aliases::Template::del does: the other lines over the start, then truncate.
    const result = run(file, { shim: `printf 'announce: x\\n' > '${file}'` });
    expect(result.status).toBe(SYMPA_BUSY_EXIT);
    expect(result.stderr).toContain(`${file} changed while it was read`);
  });

  it('fails when Sympa takes the lock while the file is read', () => {
    const file = aliases('lock-during');
    const result = run(file, { shim: `: > '${file},lock'` });
    expect(result.status).toBe(SYMPA_BUSY_EXIT);
    expect(result.stderr).toContain('changed while it was read');
  });

  it('fails, with stat\'s message, when the file is missing', () => {
    const result = run(join(dir, 'missing'));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('No such file');
  });

  it('runs only the cat through sudo with sudo_user, so one sudoers line with fixed arguments allows it', () => {
    const file = aliases('sudo');
    const bin = mkdtempSync(join(dir, 'sudo-'));
    // A stand-in for sudo: records its arguments, then runs the command they name.
    writeFileSync(join(bin, 'sudo'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${bin}/args'\nshift 3\nexec "$@"\n`);
    chmodSync(join(bin, 'sudo'), 0o755);
    const result = spawnSync('/bin/sh', ['-c', sympaFileCommand(file, 'sympa')], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env['PATH']}` } });
    expect(result).toMatchObject({ status: 0, stdout: CONTENT });
    expect(readFileSync(join(bin, 'args'), 'utf8').split('\n').slice(0, -1)).toEqual(['-n', '-u', 'sympa', 'cat', '--', file]);
  });

  it('takes a hostile or option-like path literally', () => {
    const hostile = aliases(`it's $(touch pwned) "x"`);
    expect(run(hostile)).toMatchObject({ status: 0, stdout: CONTENT });
    expect(spawnSync('test', ['-e', join(dir, 'pwned')]).status).toBe(1);
    aliases('-maxdepth');
    expect(run('-maxdepth')).toMatchObject({ status: 0, stdout: CONTENT });
    // ... and its lock is still seen (find would take `-maxdepth,lock` for an option).
    writeFileSync(join(dir, '-maxdepth,lock'), '');
    expect(run('-maxdepth').status).toBe(SYMPA_BUSY_EXIT);
  });
});
