/**
 * A list server behind a jump host, with two real OpenSSH sshds on loopback:
 * `ansible_ssh_common_args: -o ProxyJump=user@jump:port` makes rcptsync
 * authenticate to the jump host (its key pinned in the same known_hosts), open
 * a direct-tcpip channel through it and run the list server's session over
 * that. A jump host that forbids forwarding, or whose key is not pinned, stops
 * the host with a message naming the jump host.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rcptsync, tableKeys, writeInventoryJson } from '../helpers/cli.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';

let jump: Sshd;
let noForwarding: Sshd;
let target: Sshd;
let dir: string;
let knownHosts: string;

function inventory(name: string, via: Sshd, known: string = knownHosts): string {
  return writeInventoryJson(join(dir, `${name}.json`), {
    list_servers: {
      lists1: {
        ansible_host: target.host,
        ansible_port: target.port,
        ansible_user: target.user,
        ansible_ssh_private_key_file: target.privateKeyFile,
        ansible_ssh_common_args: `-o ControlMaster=auto -o ProxyJump=${via.user}@${via.host}:${via.port}`,
        rcptsync_known_hosts_file: known,
        rcptsync_connect_timeout: 5,
        rcptsync_domains: ['lists.example.test'],
        rcptsync_sources: [{ type: 'command', command: "printf 'behind@lists.example.test\\n'" }],
      },
    },
    mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
  });
}

beforeAll(async () => {
  jump = await startSshd();
  noForwarding = await startSshd({ userKeyFile: jump.privateKeyFile, extraConfig: ['AllowTcpForwarding no'] });
  target = await startSshd({ userKeyFile: jump.privateKeyFile });
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-jump-'));
  // The bastion's key line of docs/production.md: forwarding to the list server only, no shell.
  const publicKey = readFileSync(`${jump.privateKeyFile}.pub`, 'utf8').trim();
  writeFileSync(
    join(jump.dir, 'authorized_keys'),
    `restrict,port-forwarding,permitopen="${target.host}:${target.port}",command="/usr/sbin/nologin" ${publicKey}\n`,
    { mode: 0o600 },
  );
  knownHosts = target.writeKnownHosts('all_known_hosts', [
    `[${jump.host}]:${jump.port} ${jump.hostPublicKey}`,
    `[${noForwarding.host}]:${noForwarding.port} ${noForwarding.hostPublicKey}`,
    `[${target.host}]:${target.port} ${target.hostPublicKey}`,
  ]);
});

afterAll(async () => {
  await Promise.all([jump?.stop(), noForwarding?.stop(), target?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a list server behind a jump host', () => {
  it('is collected through the jump host', () => {
    const out = join(dir, 'rendered');
    const result = rcptsync(['sync', '--inventory-json', inventory('jump', jump), '-o', out]);
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toContain('behind@lists.example.test');
  });

  it('goes through the jump host: one that forbids forwarding stops the host, named', () => {
    const result = rcptsync(['sync', '--inventory-json', inventory('noforward', noForwarding), '-o', join(dir, 'refused')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      `lists1: jump host ${noForwarding.user}@127.0.0.1:${noForwarding.port} cannot reach 127.0.0.1:${target.port}: `,
    );
  });

  it("pins the jump host's key too", () => {
    const only = target.writeKnownHosts('target_only', [`[${target.host}]:${target.port} ${target.hostPublicKey}`]);
    const result = rcptsync(['sync', '--inventory-json', inventory('unpinned', jump, only), '-o', join(dir, 'unpinned')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`lists1 (jump host 127.0.0.1): host key for 127.0.0.1:${jump.port} is not in ${only}`);
  });

  it('passes doctor, which checks TCP to the jump host and both pinned keys', () => {
    const result = rcptsync(['doctor', '--inventory-json', inventory('doctor', jump)]);
    expect(result.stdout.split('\n').filter((line) => line.includes('lists1 known_hosts') || line.includes('lists1 tcp') || line.includes('lists1 ssh'))).toEqual([
      `PASS lists1 known_hosts: ${knownHosts} pins ssh-ed25519 for [127.0.0.1]:${target.port}, and the jump host's: ${knownHosts} pins ssh-ed25519 for [127.0.0.1]:${jump.port}`,
      expect.stringMatching(new RegExp(`^PASS lists1 tcp: jump host 127\\.0\\.0\\.1:${jump.port} answers SSH-2\\.0-`)),
      `PASS lists1 ssh: authenticated as ${target.user}@127.0.0.1:${target.port} via jump host ${jump.user}@127.0.0.1:${jump.port}, host key matches ${knownHosts}`,
    ]);
    expect(result.status, result.stdout).toBe(0);
  });
});
