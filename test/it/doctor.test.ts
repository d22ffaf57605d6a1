/**
 * `rcptsync doctor` against a real OpenSSH sshd on loopback: one inventory with
 * a good host and one host per failure kind (missing key, key readable by
 * others, no known_hosts entry, a key the server does not accept, nothing
 * listening), and a non-root collector whose `sudo -n -u list mailman lists`
 * fails without the sudoers rule of docs/production.md and passes with it,
 * against the real Mailman 3 of this machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rcptsync, REPO, sshdHostVars, writeInventoryJson } from '../helpers/cli.js';
import { freePort, startSshd, type Sshd } from '../helpers/sshd.js';

/** A collector account that is not root (sshd's AuthorizedKeysFile is the test key for every user). */
const COLLECTOR = 'rcptsync-doctest';
const SUDOERS_DROPIN = '/etc/sudoers.d/zz-rcptsync-doctest';

let sshd: Sshd;
let dir: string;

function cleanup(): void {
  rmSync(SUDOERS_DROPIN, { force: true });
  if (spawnSync('getent', ['passwd', COLLECTOR]).status === 0) spawnSync('userdel', [COLLECTOR]);
}

function lines(stdout: string, host: string): string[] {
  return stdout.split('\n').filter((line) => line.split(' ')[1] === host);
}

beforeAll(async () => {
  cleanup();
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-doctor-'));
});

afterAll(async () => {
  cleanup();
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('rcptsync doctor', () => {
  let result: ReturnType<typeof rcptsync>;
  let aliases: string;
  let wrongKey: string;
  let looseKey: string;
  let closedPort: number;

  beforeAll(async () => {
    aliases = join(dir, 'aliases');
    writeFileSync(aliases, 'helpdesk: root\nsales: bob\n');
    wrongKey = join(dir, 'wrong_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey]);
    looseKey = join(dir, 'loose_key');
    copyFileSync(sshd.privateKeyFile, looseKey);
    chmodSync(looseKey, 0o644);
    closedPort = await freePort();
    const good = sshdHostVars(sshd);
    const sources = [
      { type: 'aliases', path: aliases, domains: ['lists.example.test'] },
      { type: 'command', command: "printf 'a@lists.example.test\\nb@lists.example.test\\n'" },
    ];
    const inv = writeInventoryJson(join(dir, 'inventory.json'), {
      list_servers: {
        good: { ...good, rcptsync_sources: sources },
        onlystatic: { rcptsync_sources: [{ type: 'static', addresses: ['x@lists.example.test'] }] },
        nokey: { ...good, ansible_ssh_private_key_file: join(dir, 'absent_key'), rcptsync_sources: sources },
        loosekey: { ...good, ansible_ssh_private_key_file: looseKey, rcptsync_sources: sources },
        unknownhost: { ...good, rcptsync_known_hosts_file: sshd.writeKnownHosts('other_known_hosts', ['[127.0.0.1]:1 ' + sshd.hostPublicKey]), rcptsync_sources: sources },
        wrongkey: { ...good, ansible_ssh_private_key_file: wrongKey, rcptsync_sources: sources },
        unreachable: { ...good, ansible_port: closedPort, rcptsync_connect_timeout: 3, rcptsync_sources: sources },
      },
      mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
    });
    result = rcptsync(['doctor', '--inventory-json', inv]);
  });

  it('passes every check of a good host, running each source command', () => {
    expect(lines(result.stdout, 'good')).toEqual([
      `PASS good key: ${sshd.privateKeyFile} (ssh-ed25519, mode 0600)`,
      `PASS good known_hosts: ${sshd.knownHostsFile} pins ssh-ed25519 for [127.0.0.1]:${sshd.port}`,
      expect.stringMatching(new RegExp(`^PASS good tcp: 127\\.0\\.0\\.1:${sshd.port} answers SSH-2\\.0-OpenSSH_`)),
      `PASS good ssh: authenticated as ${sshd.user}@127.0.0.1:${sshd.port}, host key matches ${sshd.knownHostsFile}`,
      `PASS good sources[0] (aliases): cat -- '${aliases}': exit 0, 2 lines`,
      `PASS good sources[1] (command): printf 'a@lists.example.test\\nb@lists.example.test\\n': exit 0, 2 lines`,
    ]);
  });

  it('connects to nothing for static sources', () => {
    expect(lines(result.stdout, 'onlystatic')).toEqual(['PASS onlystatic sources: static sources only: no connection needed']);
  });

  it('names a missing key file and how to make one, and skips what depends on it', () => {
    const out = lines(result.stdout, 'nokey');
    const key = join(dir, 'absent_key');
    expect(out[0]).toBe(`FAIL nokey key: ${key}: ENOENT; fix: create it (ssh-keygen -t ed25519 -N '' -f ${key}) and authorize ${key}.pub on the list server (docs/production.md)`);
    expect(out).toContain('SKIP nokey ssh: not tried: fix the checks above first');
    expect(out).toContain(`SKIP nokey sources[0] (aliases): not run: cat -- '${aliases}'`);
  });

  it('refuses a key readable by others', () => {
    expect(lines(result.stdout, 'loosekey')[0]).toMatch(new RegExp(`^FAIL loosekey key: ${looseKey} is accessible to group or others \\(mode 0644\\); fix: chmod 600 `));
  });

  it('names a host without a known_hosts entry, with the ssh-keyscan fix', () => {
    const out = lines(result.stdout, 'unknownhost');
    expect(out[1]).toBe(
      `FAIL unknownhost known_hosts: no key for [127.0.0.1]:${sshd.port} in ${join(sshd.dir, 'other_known_hosts')}; fix: check the fingerprint out of band, then \`ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${join(sshd.dir, 'other_known_hosts')}\``,
    );
    expect(out).toContain('SKIP unknownhost ssh: not tried: fix the checks above first');
  });

  it('reports a key the server does not accept, after TCP passed', () => {
    const out = lines(result.stdout, 'wrongkey');
    expect(out[0]).toMatch(/^PASS wrongkey key: /);
    expect(out[2]).toMatch(/^PASS wrongkey tcp: /);
    expect(out[3]).toBe(
      `FAIL wrongkey ssh: SSH authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}; fix: add ${wrongKey}.pub to ~${sshd.user}/.ssh/authorized_keys on the list server (with the restrict,from= options of docs/production.md), or fix ansible_user`,
    );
    expect(out[4]).toMatch(/^SKIP wrongkey sources\[0\]/);
  });

  it('reports a host where nothing listens', () => {
    const out = lines(result.stdout, 'unreachable');
    expect(out[2]).toBe(`FAIL unreachable tcp: 127.0.0.1:${closedPort}: ECONNREFUSED; fix: check that sshd runs there, ansible_host/ansible_port, the route and firewalls from this control node`);
    expect(out[3]).toBe('SKIP unreachable ssh: not tried: fix the checks above first');
  });

  it('ends with a count and exits 1 when any check failed', () => {
    const all = result.stdout.trim().split('\n');
    expect(all.at(-1)).toBe(`doctor: 7 list servers, ${all.length - 1} checks, ${all.filter((line) => line.startsWith('FAIL')).length} failed`);
    // In host name order; the closed port has no known_hosts entry either.
    expect(all.filter((line) => line.startsWith('FAIL')).map((line) => line.split(' ').slice(1, 3).join(' '))).toEqual([
      'loosekey key:',
      'nokey key:',
      'unknownhost known_hosts:',
      'unreachable known_hosts:',
      'unreachable tcp:',
      'wrongkey ssh:',
    ]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(1);
  });
});

describe('rcptsync doctor with a non-root collector and the default mailman3 source', () => {
  let inv: string;
  beforeAll(() => {
    // A system account with a shell for commands, no password (not locked: sshd without PAM refuses locked accounts).
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', COLLECTOR]);
    execFileSync('usermod', ['-p', '*', COLLECTOR]);
    // sshd reads authorized_keys as the user logging in: let it through the test sshd's directory.
    chmodSync(sshd.dir, 0o711);
    chmodSync(join(sshd.dir, 'authorized_keys'), 0o644);
    const key = join(dir, 'collector_key');
    copyFileSync(sshd.privateKeyFile, key);
    chmodSync(key, 0o600);
    inv = writeInventoryJson(join(dir, 'collector.json'), {
      list_servers: {
        lists1: { ...sshdHostVars(sshd), ansible_user: COLLECTOR, ansible_ssh_private_key_file: key, rcptsync_sources: [{ type: 'mailman3' }] },
      },
      mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
    });
  });

  it('fails the source without the sudoers rule and says which rule is missing', () => {
    const result = rcptsync(['doctor', '--inventory-json', inv]);
    expect(result.stdout).toContain(`PASS lists1 ssh: authenticated as ${COLLECTOR}@127.0.0.1:${sshd.port}`);
    const line = result.stdout.split('\n').find((text) => text.includes('sources[0]'));
    expect(line).toBe(
      `FAIL lists1 sources[0] (mailman3): sudo -n -u list mailman lists: exit code 1: sudo: a password is required; fix: allow ${COLLECTOR} exactly this command in /etc/sudoers.d on the list server (examples/production/sudoers, docs/production.md)`,
    );
    expect(result.status).toBe(1);
  });

  it('passes with the rule of examples/production/sudoers, running the real mailman lists as list', () => {
    const rule = readFileSync(join(REPO, 'examples', 'production', 'sudoers'), 'utf8').replace(/^(Defaults:)?rcptsync\b/gm, `$1${COLLECTOR}`);
    writeFileSync(SUDOERS_DROPIN, rule, { mode: 0o440 });
    const result = rcptsync(['doctor', '--inventory-json', inv]);
    expect(result.stdout).toMatch(/^PASS lists1 sources\[0\] \(mailman3\): sudo -n -u list mailman lists: exit 0, \d+ lines$/m);
    expect(result.stdout).toMatch(/^doctor: 1 list servers, 5 checks, 0 failed$/m);
    expect(result.status).toBe(0);
  });
});

describe('rcptsync doctor behind the forced-command wrapper', () => {
  it('names the exact line the allowlist lacks', () => {
    const allowlist = join(dir, 'allowed-commands');
    writeFileSync(allowlist, '# nothing allowed yet\n');
    const publicKey = readFileSync(`${sshd.privateKeyFile}.pub`, 'utf8').trim();
    const wrapper = join(REPO, 'examples', 'production', 'rcptsync-forced-command');
    writeFileSync(join(sshd.dir, 'authorized_keys'), `restrict,from="127.0.0.1",command="${wrapper} ${allowlist}" ${publicKey}\n`, { mode: 0o644 });
    const inv = writeInventoryJson(join(dir, 'forced.json'), {
      list_servers: { lists1: { ...sshdHostVars(sshd), rcptsync_sources: [{ type: 'aliases', domains: ['lists.example.test'] }] } },
      mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
    });
    const result = rcptsync(['doctor', '--inventory-json', inv]);
    expect(result.stdout).toContain(
      `FAIL lists1 sources[0] (aliases): cat -- '/etc/aliases': exit code 126: rcptsync-forced-command: refused: not in ${allowlist}; fix: add the line \`cat -- '/etc/aliases'\` to the forced command's allowlist on the list server`,
    );
    expect(result.status).toBe(1);

    writeFileSync(allowlist, "cat -- '/etc/aliases'\n");
    const allowed = rcptsync(['doctor', '--inventory-json', inv]);
    expect(allowed.stdout).toMatch(/^PASS lists1 sources\[0\] \(aliases\): cat -- '\/etc\/aliases': exit 0, \d+ lines$/m);
    expect(allowed.status).toBe(0);
  });
});
