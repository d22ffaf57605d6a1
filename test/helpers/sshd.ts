/**
 * A throwaway OpenSSH sshd on loopback for tests and benchmarks: fresh host
 * and user keys in a temp dir, key-only auth, its own port. Only Node built-ins
 * here (no vitest), so bench scripts can use it too.
 *
 *   const sshd = await startSshd();
 *   ... connect to sshd.host:sshd.port as sshd.user with sshd.privateKeyFile,
 *       checking the host key against sshd.knownHostsFile ...
 *   await sshd.stop();
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export interface SshdOptions {
  /** Extra sshd_config lines, appended after the defaults. */
  extraConfig?: string[];
  /** Host key type for `ssh-keygen -t` (default ed25519). */
  hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  /** Reuse an existing host private key (e.g. another instance's) instead of a fresh one. */
  hostKeyFile?: string;
  /** Reuse an existing user key pair (private key path; `.pub` beside it). */
  userKeyFile?: string;
  /** Milliseconds to wait for the port to accept connections (default 10 s). */
  startTimeoutMs?: number;
}

export interface Sshd {
  host: string;
  port: number;
  user: string;
  /** Temp dir holding keys and config; removed by stop(). */
  dir: string;
  privateKeyFile: string;
  /** A correct known_hosts for this instance: one `[127.0.0.1]:port` line. */
  knownHostsFile: string;
  /** `ssh-ed25519 AAAA...` (type and base64 blob, no comment). */
  hostPublicKey: string;
  hostKeyFile: string;
  /** `SHA256:...`, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  /** Writes a known_hosts file with the given lines into the temp dir and returns its path. */
  writeKnownHosts(name: string, lines: string[]): string;
  /** sshd's own log (stderr, last 64 KiB), for diagnosing a failed test. */
  log(): string;
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself from a relative path

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function keygen(file: string, type: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'rcptsync-test', '-f', file], { stdio: 'ignore' });
}

/** `type base64` from a .pub file, dropping the comment. */
function publicKeyOf(privateKeyFile: string): string {
  const [type, blob] = readFileSync(`${privateKeyFile}.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${blob}`;
}

export function fingerprintOfPublicKey(publicKey: string): string {
  const blob = Buffer.from(publicKey.split(' ')[1]!, 'base64');
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

function waitForPort(port: number, child: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening:\n${log()}`));
        return;
      }
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms:\n${log()}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  // sshd insists on its privilege-separation directory.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'rcptsync-sshd-'));
  const hostKeyFile = options.hostKeyFile ?? join(dir, 'host_key');
  if (!options.hostKeyFile) keygen(hostKeyFile, options.hostKeyType ?? 'ed25519');
  const privateKeyFile = options.userKeyFile ?? join(dir, 'user_key');
  if (!options.userKeyFile) keygen(privateKeyFile, 'ed25519');
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `${publicKeyOf(privateKeyFile)}\n`, { mode: 0o600 });

  const port = await freePort();
  const host = '127.0.0.1';
  const user = userInfo().username;
  const config = [
    `ListenAddress ${host}`,
    `Port ${port}`,
    `HostKey ${hostKeyFile}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password', // the tests run as root
    'UsePAM no',
    'StrictModes no', // the temp dir's permissions are not a user's home
    'PrintMotd no',
    // bash sources ~/.bashrc for ssh commands only when SHLVL < 2; root's
    // dotfiles on a dev machine (pyenv init and the like) would otherwise add
    // seconds to every command and make tests and benchmarks measure them.
    'SetEnv SHLVL=1',
    // The collect benchmark opens ~50 connections at once; the default
    // MaxStartups 10:30:100 would drop some of them at random.
    'MaxStartups 200',
    'MaxSessions 50',
    'LogLevel VERBOSE',
    ...(options.extraConfig ?? []),
  ];
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, config.join('\n') + '\n');
  execFileSync(SSHD, ['-t', '-f', configFile], { stdio: 'pipe' }); // fail early on a bad config

  const hostPublicKey = publicKeyOf(hostKeyFile);
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[${host}]:${port} ${hostPublicKey}\n`);

  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  // Always drain sshd's log: a full pipe would block sshd itself.
  let logTail = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    logTail = (logTail + text).slice(-64 * 1024);
  });
  const killOnExit = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForPort(port, child, options.startTimeoutMs ?? 10_000, () => logTail);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    host,
    port,
    user,
    dir,
    privateKeyFile,
    knownHostsFile,
    hostPublicKey,
    hostKeyFile,
    hostKeyFingerprint: fingerprintOfPublicKey(hostPublicKey),
    writeKnownHosts(name, lines) {
      const file = join(dir, name);
      writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
      return file;
    },
    log: () => logTail,
    stop,
  };
}
