/**
 * The least-privilege setup of docs/production.md, tried with the real tools:
 * the sudoers example checked by visudo and asked of the real sudo (exactly
 * `mailman lists` as `list`, nothing else), and the forced-command wrapper
 * behind a real sshd with `restrict,from=...,command=...`: rcptsync syncs
 * through it, a command not on the allowlist and a key used from another
 * address are refused.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rcptsync, REPO, sshdHostVars, tableKeys, writeInventoryJson } from '../helpers/cli.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

const EXAMPLES = join(REPO, 'examples', 'production');
const WRAPPER = join(EXAMPLES, 'rcptsync-forced-command');
/** Stands in for the rcptsync user of the example, which this machine may not have. */
const TEST_USER = 'rcptsync-lptest';
const SUDOERS_DROPIN = '/etc/sudoers.d/zz-rcptsync-lptest';

let dir: string;

function cleanup(): void {
  rmSync(SUDOERS_DROPIN, { force: true });
  if (spawnSync('getent', ['passwd', TEST_USER]).status === 0) spawnSync('userdel', [TEST_USER]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-lp-'));
  cleanup();
});

afterAll(() => {
  cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the sudoers example', () => {
  it('parses with visudo', () => {
    const result = spawnSync('visudo', ['-c', '-f', join(EXAMPLES, 'sudoers')], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
  });

  it('allows exactly `mailman lists` as list, and nothing else', () => {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', TEST_USER]);
    const rule = readFileSync(join(EXAMPLES, 'sudoers'), 'utf8').replace(/^(Defaults:)?rcptsync\b/gm, `$1${TEST_USER}`);
    expect(rule).toContain(`${TEST_USER} ALL = (list) NOPASSWD: /usr/bin/mailman lists`);
    writeFileSync(SUDOERS_DROPIN, rule, { mode: 0o440 });
    expect(spawnSync('visudo', ['-c'], { encoding: 'utf8' }).status).toBe(0);

    // `sudo -l -U user -u target cmd` answers whether sudo would run cmd for user.
    const allowed = (runas: string, ...command: string[]): boolean => spawnSync('sudo', ['-n', '-l', '-U', TEST_USER, '-u', runas, ...command]).status === 0;
    expect(allowed('list', 'mailman', 'lists')).toBe(true);
    expect(allowed('list', '/usr/bin/mailman', 'lists')).toBe(true);
    expect(allowed('list', 'mailman', 'lists', '--advertised')).toBe(false);
    expect(allowed('list', 'mailman')).toBe(false);
    expect(allowed('list', 'mailman', 'members', 'x@example.org')).toBe(false);
    expect(allowed('list', 'sh', '-c', 'mailman lists')).toBe(false);
    expect(allowed('root', 'mailman', 'lists')).toBe(false);
    expect(allowed('list', 'cat', '/etc/shadow')).toBe(false);

    // And the real thing as that user: no password prompt, no other command.
    const asUser = (...command: string[]) => spawnSync('setpriv', ['--reuid', TEST_USER, '--regid', TEST_USER, '--clear-groups', 'sudo', '-n', ...command], { encoding: 'utf8' });
    const other = asUser('-u', 'list', 'id');
    expect(other.status).not.toBe(0);
    expect(other.stderr).toMatch(/password is required|not allowed|may not run/);
  });
});

describe('the forced-command wrapper behind a real sshd', () => {
  let sshd: Sshd;
  let publicKey: string;

  beforeAll(async () => {
    sshd = await startSshd();
    publicKey = readFileSync(`${sshd.privateKeyFile}.pub`, 'utf8').trim();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  /** Restrict the test key the way docs/production.md does. */
  function authorize(from: string, allowlist: string[]): string {
    const file = join(dir, 'allowed-commands');
    writeFileSync(file, `# rcptsync may run exactly these\n\n${allowlist.join('\n')}\n`);
    writeFileSync(join(sshd.dir, 'authorized_keys'), `restrict,from="${from}",command="${WRAPPER} ${file}" ${publicKey}\n`, { mode: 0o600 });
    return file;
  }

  function inventory(sources: unknown[]): string {
    return writeInventoryJson(join(dir, 'inventory.json'), {
      list_servers: { lists1: { ...sshdHostVars(sshd), rcptsync_command_timeout: 10, rcptsync_sources: sources } },
      mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
    });
  }

  it('lets rcptsync run the allowed commands', () => {
    const aliases = join(dir, 'aliases');
    writeFileSync(aliases, 'helpdesk: root\nsales: bob\n');
    authorize('127.0.0.1', [`cat -- '${aliases}'`, "printf 'announce@lists.example.test\\n'"]);
    const inv = inventory([
      { type: 'aliases', path: aliases, domains: ['lists.example.test'] },
      { type: 'command', command: "printf 'announce@lists.example.test\\n'" },
    ]);
    const out = join(dir, 'rendered');
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', out]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toEqual(
      expect.arrayContaining(['helpdesk@lists.example.test', 'sales@lists.example.test', 'announce@lists.example.test']),
    );
  });

  it('refuses a command that is not on the allowlist, byte for byte', () => {
    const aliases = join(dir, 'aliases');
    authorize('127.0.0.1', [`cat -- '${aliases}'`]);
    const inv = inventory([{ type: 'aliases', path: aliases, domains: ['lists.example.test'], command: `cat -- '${aliases}' ` }]);
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', join(dir, 'refused')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/exit code 126/);
    expect(result.stderr).toContain(`rcptsync-forced-command: refused: not in ${join(dir, 'allowed-commands')}`);
  });

  it('refuses the key from another address', () => {
    const aliases = join(dir, 'aliases');
    authorize('192.0.2.10', [`cat -- '${aliases}'`]);
    const result = rcptsync(['sync', '--inventory-json', inventory([{ type: 'aliases', path: aliases, domains: ['lists.example.test'] }]), '-o', join(dir, 'from')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/authentication failed/i);
  });
});
