/**
 * The list servers of bench/fleet.mjs: one real OpenSSH sshd per inventory host,
 * each on its own loopback address (127.213.5.10, .11, ...: all of 127/8 is
 * loopback on Linux) and port 2205, so that every host is a connection of its own
 * and one host can go down alone. They share one host key (one known_hosts line
 * per address) and accept the lab's control key for root. Each command runs as
 * root in the root namespace: `cat` of a file this bench wrote.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForPort } from '../../test/lab/lab.mjs';

const SSHD = '/usr/sbin/sshd';
export const FLEET_SSH_PORT = 2205;

/** @param {number} index @returns {string} */
export const listServerAddress = (index) => `127.213.5.${10 + index}`;

/**
 * @param {{ dir: string, count: number, authorizedKeysFile: string }} options
 * @returns {Promise<{ addresses: string[], knownHosts: string, stop: (index: number) => Promise<void>, stopAll: () => Promise<void>, cpuSeconds: () => number }>}
 */
export async function startFleetSshds({ dir, count, authorizedKeysFile }) {
  if (count > 240) throw new Error(`at most 240 list servers (127.213.5.10-249), not ${count}`);
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rcptsync-fleet-list-servers', '-f', hostKey], { stdio: 'ignore' });
  const publicKey = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  /** @type {Array<import('node:child_process').ChildProcess | undefined>} */
  const children = [];
  const addresses = Array.from({ length: count }, (_, i) => listServerAddress(i));
  for (const [i, address] of addresses.entries()) {
    const config = join(dir, `sshd_config.${i}`);
    writeFileSync(
      config,
      [
        `ListenAddress ${address}:${FLEET_SSH_PORT}`,
        `HostKey ${hostKey}`,
        'PidFile none',
        `AuthorizedKeysFile ${authorizedKeysFile}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PrintMotd no',
        // root's .bashrc would otherwise run for every command (bench/lib/collect-sshd.mjs).
        'SetEnv SHLVL=1',
        'MaxStartups 200',
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: 'ignore' });
    children.push(child);
  }
  const killAll = () => children.forEach((child) => child?.kill('SIGTERM'));
  process.once('exit', killAll);
  await Promise.all(addresses.map((address) => waitForPort(address, FLEET_SSH_PORT, { open: true, timeoutMs: 15_000 })));
  const knownHosts = addresses.map((address) => `[${address}]:${FLEET_SSH_PORT} ${publicKey}\n`).join('');
  /** CPU of the listeners and of every connection they served (children's times). */
  const statTicks = (/** @type {number | undefined} */ pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      return [11, 12, 13, 14].reduce((sum, f) => sum + Number(fields[f] ?? 0), 0);
    } catch {
      return 0;
    }
  };
  let stoppedTicks = 0;
  const stop = async (/** @type {number} */ index) => {
    const child = children[index];
    if (!child || child.exitCode !== null) return;
    stoppedTicks += statTicks(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    children[index] = undefined;
    await waitForPort(/** @type {string} */ (addresses[index]), FLEET_SSH_PORT, { open: false, timeoutMs: 10_000 });
  };
  return {
    addresses,
    knownHosts,
    stop,
    stopAll: async () => {
      process.removeListener('exit', killAll);
      await Promise.all(children.map((_, i) => stop(i)));
    },
    cpuSeconds: () => (stoppedTicks + children.reduce((sum, child) => sum + (child ? statTicks(child.pid) : 0), 0)) / 100,
  };
}
