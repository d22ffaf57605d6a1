/**
 * Faults and bad input (issue 4): every case must end with a clear error naming
 * the place, a non-zero exit, and the previous rendered tree and last-known-good
 * state untouched. Runs the real CLI against a real sshd on loopback. The cases
 * where gateways take part (a list server down while Postfix keeps answering)
 * are in test/e2e/.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { BIN, rcptsync, sshdHostVars, tableKeys, treeDigest, writeInventoryJson } from '../helpers/cli.js';

let sshd: Sshd;
let other: Sshd;
let dir: string;
let out: string;
let state: string;
let goodTree: Record<string, string>;
let goodState: Record<string, string>;

const LISTS = ['announce', 'board', 'dev', 'general', 'staff', 'users'];

function listsOutput(names: string[]): string {
  return `${names.length} matching mailing lists found:\n${names.map((n) => `${n}@lists.example.test`).join('\n')}\n`;
}

type Vars = Record<string, unknown>;

function inv(name: string, sources: unknown[], listVars: Vars = {}, gatewayVars: Vars = {}): string {
  return writeInventoryJson(join(dir, `${name}.json`), {
    list_servers: {
      lists1: {
        ...sshdHostVars(sshd),
        rcptsync_connect_timeout: 5,
        rcptsync_command_timeout: 2,
        rcptsync_sources: sources,
        ...listVars,
      },
    },
    mail_gateways: {
      mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' }, ...gatewayVars },
    },
  });
}

function mailman(command: string): unknown[] {
  return [{ type: 'mailman3', command }];
}

function sync(inv: string, ...extra: string[]) {
  return rcptsync(['sync', '--inventory-json', inv, '-o', out, '--state-dir', state, ...extra]);
}

/** The fault's promise: a non-zero exit, a message naming the place, and nothing touched. */
function expectRefusedAndUntouched(result: { status: number; stderr: string }, status: number, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.status).toBe(status);
  expect(treeDigest(out)).toEqual(goodTree);
  expect(treeDigest(state)).toEqual(goodState);
}

beforeAll(async () => {
  sshd = await startSshd();
  other = await startSshd(); // a different host key, for the "changed key" case
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-faults-'));
  out = join(dir, 'rendered');
  state = join(dir, 'state');
  writeFileSync(join(dir, 'lists.txt'), listsOutput(LISTS));
  const result = sync(inv('good', mailman(`cat ${join(dir, 'lists.txt')}`)));
  expect(result.stderr).not.toMatch(/error/);
  expect(result.status).toBe(0);
  goodTree = treeDigest(out);
  goodState = treeDigest(state);
  expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toHaveLength(LISTS.length * 9 + 2);
});

afterAll(async () => {
  await sshd?.stop();
  await other?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});


describe('the list server or SSH fails', () => {
  it('list server unreachable', () => {
    const result = sync(inv('unreachable', mailman('true'), { ansible_port: 1 }));
    expectRefusedAndUntouched(result, 1, /lists1: .*(refused|unreachable|connect).*127\.0\.0\.1:1/i);
  });

  it('SSH authentication refused', () => {
    const result = sync(inv('auth', mailman('true'), { ansible_ssh_private_key_file: other.privateKeyFile }));
    expectRefusedAndUntouched(result, 1, /lists1: SSH authentication failed for .*@127\.0\.0\.1/);
  });

  it('host key changed', () => {
    // known_hosts pins the other instance's key for this address and port.
    const known = sshd.writeKnownHosts('changed', [`[${sshd.host}]:${sshd.port} ${other.hostPublicKey}`]);
    const result = sync(inv('hostkey', mailman('true'), { rcptsync_known_hosts_file: known }));
    expectRefusedAndUntouched(result, 1, new RegExp(`lists1: HOST KEY CHANGED.*${sshd.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}`));
  });

  it('host key unknown (no trust on first use)', () => {
    const known = sshd.writeKnownHosts('empty', []);
    const result = sync(inv('unknown-key', mailman('true'), { rcptsync_known_hosts_file: known }));
    expectRefusedAndUntouched(result, 1, /lists1: host key for 127\.0\.0\.1:\d+ is not in .*SHA256:/);
  });
});

describe('the remote command fails or misbehaves', () => {
  it('command missing', () => {
    const result = sync(inv('missing', mailman('/nonexistent/mailman lists')));
    expectRefusedAndUntouched(result, 1, /lists1: command failed with exit code 127: \/nonexistent\/mailman lists\n[\s\S]*No such file or directory/);
  });

  it('command exits non-zero, with its stderr', () => {
    const result = sync(inv('exit1', mailman('echo "database is locked" >&2; exit 1')));
    expectRefusedAndUntouched(result, 1, /lists1: command failed with exit code 1: .*\n[\s\S]*database is locked/);
  });

  it('command hangs past the timeout', () => {
    const result = sync(inv('hang', mailman('sleep 20')));
    expectRefusedAndUntouched(result, 1, /lists1: command timed out after 2 s: sleep 20/);
  });

  it('output truncated mid-line', () => {
    const result = sync(inv('truncated', mailman(`printf '2 matching mailing lists found:\\nannounce@lists.example.test\\nboa'`)));
    expectRefusedAndUntouched(result, 1, /lists1: .*(middle of line|truncated)/);
  });

  it('output over the size cap', () => {
    const result = sync(inv('flood', mailman('yes announce@lists.example.test'), { rcptsync_max_output_bytes: 100000 }));
    expectRefusedAndUntouched(result, 1, /lists1: command output exceeded 100000 bytes/);
  });

  it('output not UTF-8', () => {
    const result = sync(inv('latin1', mailman(`printf '1 matching mailing lists found:\\ncaf\\351@lists.example.test\\n'`)));
    expectRefusedAndUntouched(result, 1, /lists1: .*not valid UTF-8 at line 2/);
  });
});

describe('a source shrinks', () => {
  it('a source suddenly returning zero entries', () => {
    writeFileSync(join(dir, 'none.txt'), 'No matching mailing lists found\n');
    const result = sync(inv('zero', mailman(`cat ${join(dir, 'none.txt')}`)));
    expectRefusedAndUntouched(result, 3, /lists1: sources\[0\] \(mailman3\): returned no entries, 54 last time; run with --force to accept/);
  });

  it('a source suddenly returning a third of its entries', () => {
    writeFileSync(join(dir, 'third.txt'), listsOutput(LISTS.slice(0, 2)));
    const result = sync(inv('third', mailman(`cat ${join(dir, 'third.txt')}`)));
    expectRefusedAndUntouched(result, 3, /mx1: lists\.example\.test: 36 of 56 entries \(64\.3%\) would be removed, over 30%; run with --force to accept/);
  });

  it('--allow-removals too small still refuses; --force is needed', () => {
    const result = sync(inv('third-allow', mailman(`cat ${join(dir, 'third.txt')}`)), '--allow-removals', '10');
    expectRefusedAndUntouched(result, 3, /over 30%/);
  });
});

describe('hostile data', () => {
  const hostile = [
    'x OK',
    '@lists.example.test',
    'sp ace@lists.example.test',
    'ok@lists.example.test OK',
    '#comment@lists.example.test',
    'co:lon@lists.example.test',
    '"quoted"@lists.example.test',
    'semi;rm -rf /@lists.example.test',
    '$(touch /tmp/rcptsync-pwned)@lists.example.test',
    '`id`@lists.example.test',
    'a@b@lists.example.test',
    `${'x'.repeat(10000)}@lists.example.test`,
  ];

  function hostileFile(): string {
    const file = join(dir, 'hostile.txt');
    const lines = [...LISTS.map((n) => `${n}@lists.example.test`), ...hostile];
    writeFileSync(file, `${lines.length} matching mailing lists found:\n${lines.join('\n')}\n`);
    return file;
  }

  it('are refused with a warning naming host, source and line, and never reach a map', () => {
    const scratch = join(dir, 'hostile-out');
    const result = rcptsync(['sync', '--inventory-json', inv('hostile', mailman(`cat ${hostileFile()}`)), '-o', scratch]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/warning: lists1: sources\[0\] \(mailman3\): line 8: .*"x OK"/);
    expect(result.stderr).toMatch(/catch-all/);
    expect(result.stdout).toMatch(/Warnings: \d+ refused entries/);
    const lines = tableKeys(join(scratch, 'mx1', 'relay_recipients'));
    for (const key of lines) {
      expect(key).toMatch(/^[a-z0-9!#$%&'*+\-/=?^_`{|}~.]+@lists\.example\.test$/);
      expect(key.startsWith('@')).toBe(false);
    }
    expect(existsSync('/tmp/rcptsync-pwned')).toBe(false);
  });

  it('--strict makes a refused entry fatal and writes nothing', () => {
    const result = sync(inv('hostile-strict', mailman(`cat ${hostileFile()}`)), '--strict');
    expectRefusedAndUntouched(result, 1, /lists1: sources\[0\] \(mailman3\): line 8: .*--strict/);
  });
});

describe('invalid inventory', () => {
  it('wrong types and unknown rcptsync_ variables, all reported at once', () => {
    const result = sync(
      inv('bad-types', [{ type: 'mailman3', from: 'nowhere' }], { rcptsync_command_timeout: 'soon', rcptsync_sourcse: [] }),
    );
    expectRefusedAndUntouched(result, 2, /rcptsync_command_timeout[\s\S]*rcptsync_sourcse[\s\S]*(did you mean|rcptsync_sources)/);
    expect(result.stderr).toMatch(/rcptsync_sources\[0\]\.from/);
  });

  it('a gateway relaying a domain nobody provides', () => {
    const result = sync(
      inv('orphan', mailman(`cat ${join(dir, 'lists.txt')}`), {}, {
        rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25', 'orphan.example.test': 'smtp:[10.0.0.1]:25' },
      }),
    );
    expectRefusedAndUntouched(result, 2, /mx1: rcptsync_relay_domains\.orphan\.example\.test: no source provides any address/);
  });

  it('a next hop with a newline cannot inject a map line', () => {
    const result = sync(inv('nexthop', mailman('true'), {}, { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[x]\n@lists.example.test OK' } }));
    expectRefusedAndUntouched(result, 2, /mx1: .*rcptsync_relay_domains/);
  });
});

describe('an interrupted render', () => {
  beforeEach(() => {
    // Many addresses, so that the render takes long enough to be killed in the middle.
    writeFileSync(join(dir, 'big.sh'), 'i=0; echo "20000 matching mailing lists found:"; seq 1 20000 | sed "s/.*/list&@lists.example.test/"\n');
  });

  it('a process killed mid-write leaves the old tree whole, and the next run recovers', async () => {
    const big = inv('big', mailman(`sh ${join(dir, 'big.sh')}`));
    const child = spawn(process.execPath, [BIN, 'sync', '--inventory-json', big, '-o', out, '--state-dir', state, '--force'], {
      stdio: 'ignore',
      env: { ...process.env, SSH_AUTH_SOCK: '' },
    });
    // Kill it as soon as its staging tree appears beside the old one.
    const staged = await new Promise<boolean>((resolve) => {
      const started = Date.now();
      const timer = setInterval(() => {
        const staging = readdirSync(dir).some((name) => name.startsWith('.rendered.new'));
        if (staging || Date.now() - started > 30_000) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve(staging);
        }
      }, 5);
    });
    await new Promise((resolve) => child.once('exit', resolve));
    expect(staged).toBe(true);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(treeDigest(state)).toEqual(goodState);
    // The next run clears the leftover staging tree and is otherwise unaffected.
    const again = sync(inv('good-again', mailman(`cat ${join(dir, 'lists.txt')}`)));
    expect(again.status).toBe(0);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(readdirSync(dir).some((name) => name.startsWith('.rendered.'))).toBe(false);
  });
});
