/**
 * A throwaway OpenSSH sshd on loopback for the benchmarks: the plain-JavaScript
 * twin of test/helpers/sshd.ts (which is TypeScript, and the benches run on
 * plain node without a TypeScript loader). Fresh host and user keys in a temp
 * dir, key-only auth, its own port.
 *
 *   const sshd = await startBenchSshd();
 *   ... ssh -i sshd.privateKeyFile -p sshd.port -o UserKnownHostsFile=sshd.knownHostsFile root@127.0.0.1 ...
 *   await sshd.stop();
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd'; // sshd refuses to re-exec itself from a relative path

/** @returns {Promise<number>} a port on 127.0.0.1 that was free a moment ago */
function freePort() {
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

/** @param {string} file @param {string} type */
function keygen(file, type) {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'rcptsync-bench', '-f', file], { stdio: 'ignore' });
}

/** `type base64` of a key pair's .pub file, without the comment. @param {string} privateKeyFile */
function publicKeyOf(privateKeyFile) {
  const [type, blob] = readFileSync(`${privateKeyFile}.pub`, 'utf8').trim().split(/\s+/);
  return `${type} ${blob}`;
}

/**
 * @param {number} port @param {import('node:child_process').ChildProcess} child
 * @param {number} timeoutMs @param {() => string} log
 */
function waitForPort(port, child, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
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

/**
 * @typedef {object} BenchSshd
 * @property {string} host
 * @property {number} port
 * @property {string} user
 * @property {string} dir temp dir with keys and config; removed by stop()
 * @property {string} privateKeyFile the user's key
 * @property {string} knownHostsFile one `[127.0.0.1]:port` line
 * @property {() => number} cpuSeconds CPU time (user + system) of sshd and every connection it has served so far
 * @property {() => string} log sshd's stderr, last 64 KiB
 * @property {() => Promise<void>} stop
 */

/** @returns {Promise<BenchSshd>} */
export async function startBenchSshd() {
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  const dir = mkdtempSync(join(tmpdir(), 'rcptsync-bench-sshd-'));
  const hostKeyFile = join(dir, 'host_key');
  keygen(hostKeyFile, 'ed25519');
  const privateKeyFile = join(dir, 'user_key');
  keygen(privateKeyFile, 'ed25519');
  const authorizedKeys = join(dir, 'authorized_keys');
  writeFileSync(authorizedKeys, `${publicKeyOf(privateKeyFile)}\n`, { mode: 0o600 });

  const port = await freePort();
  const host = '127.0.0.1';
  const config = [
    `ListenAddress ${host}`,
    `Port ${port}`,
    `HostKey ${hostKeyFile}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'PrintMotd no',
    // bash reads ~/.bashrc for ssh commands only when SHLVL < 2; root's dotfiles
    // would otherwise add their start-up time to every command of both sides.
    'SetEnv SHLVL=1',
    // Up to --concurrency handshakes at once; the default 10:30:100 drops some at random.
    'MaxStartups 200',
    'MaxSessions 50',
    'LogLevel ERROR',
  ];
  const configFile = join(dir, 'sshd_config');
  writeFileSync(configFile, `${config.join('\n')}\n`);
  execFileSync(SSHD, ['-t', '-f', configFile], { stdio: 'pipe' });
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[${host}]:${port} ${publicKeyOf(hostKeyFile)}\n`);

  const child = spawn(SSHD, ['-D', '-e', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let logTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    logTail = (logTail + text).slice(-64 * 1024); // always drained: a full pipe would block sshd
  });
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, 10_000, () => logTail);
  } catch (error) {
    await stop();
    throw error;
  }
  // The listener reaps each connection's sshd, which reaps the session's shell:
  // its children's times (cutime, cstime) hold every finished connection's CPU.
  const cpuSeconds = () => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0); // utime stime cutime cstime
    return ticks / 100; // USER_HZ, 100 on Linux
  };
  return { host, port, user: userInfo().username, dir, privateKeyFile, knownHostsFile, cpuSeconds, log: () => logTail, stop };
}
