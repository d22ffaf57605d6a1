/**
 * SSH to a list server with ssh2: host keys pinned by known_hosts, bounded
 * connect and command times, stdout parsed as a capped stream of lines.
 *
 * Every failure becomes an RcptsyncError that starts with the inventory name
 * of the host, and every path out of here closes its channel, its connection
 * and its timers, so a bad host can neither hang the run nor leak sockets.
 */
import { readFileSync } from 'node:fs';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { ExitCode, RcptsyncError } from '../errors.js';
import { commandOutcome, LineSplitter, OutputError } from './line-splitter.js';
import { lookupHostKey, pinnedKeyTypes, readKnownHosts, type HostKeyCheck, type KnownHosts } from './known-hosts.js';
import type { RemoteSession, RunOptions, RunResult, SshTarget } from './types.js';

/** How much stderr is kept for error messages; the rest is counted and dropped. */
export const STDERR_KEEP_BYTES = 64 * 1024;

/** What ssh2 can verify, strongest first (its defaults on Node 20). */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/** known_hosts key type → the host key algorithms that present such a key. */
function algorithmsForKeyType(keyType: string): string[] {
  return keyType === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [keyType];
}

/**
 * Like OpenSSH, ask first for the key types known_hosts pins for this host:
 * a server with both an ed25519 and an RSA key, pinned by its RSA key, must
 * not be reported as "changed" just because ed25519 is our first choice.
 */
export function hostKeyAlgorithmOrder(pinnedTypes: string[]): string[] {
  const preferred = pinnedTypes.flatMap(algorithmsForKeyType).filter((a) => HOST_KEY_ALGORITHMS.includes(a));
  return [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])];
}

function where(target: SshTarget): string {
  return `${target.host}:${target.port}`;
}

/** e.g. `ssh-ed25519` → `ed25519`, `ecdsa-sha2-nistp256` → `ecdsa-sha2-nistp256`. */
function shortKeyType(keyType: string): string {
  return keyType.startsWith('ssh-') ? keyType.slice(4) : keyType;
}

/** A host key that is unknown, changed or revoked: a security event, never a plain outage. */
export class HostKeyError extends RcptsyncError {
  override name = 'HostKeyError';
  constructor(
    message: string,
    readonly status: 'unknown' | 'changed' | 'revoked',
    detail?: string,
  ) {
    super(message, ExitCode.runtime, detail);
  }
}

function hostKeyError(target: SshTarget, file: string, check: HostKeyCheck): RcptsyncError {
  const offered = `${shortKeyType(check.keyType)} key ${check.fingerprint}`;
  const scan = `ssh-keyscan -p ${target.port} ${target.host}`;
  switch (check.status) {
    case 'unknown':
      return new HostKeyError(
        `${target.name}: host key for ${where(target)} is not in ${file} (offered ${offered})`,
        'unknown',
        `Check the fingerprint out of band, then add the key, e.g. \`${scan} >> ${file}\`. rcptsync never trusts a key on first use.`,
      );
    case 'changed':
      return new HostKeyError(
        `${target.name}: HOST KEY CHANGED for ${where(target)}: ${file} has a different key; offered ${offered}`,
        'changed',
        'Someone may be intercepting the connection, or the host was reinstalled. Verify the new key out of band before replacing the old one.',
      );
    case 'revoked':
      return new HostKeyError(`${target.name}: host key for ${where(target)} is marked @revoked in ${file} (offered ${offered})`, 'revoked');
    case 'match':
      throw new Error('a matching host key is not an error');
  }
}

/** The message the collector shows for a non-zero exit, execa style, stderr as detail. */
export function commandFailedError(host: string, command: string, result: RunResult): RcptsyncError {
  const stderr = result.stderr.trim();
  return new RcptsyncError(
    `${host}: command failed with exit code ${result.exitCode}: ${command}`,
    ExitCode.runtime,
    stderr === '' ? undefined : stderr,
  );
}

/** How long close() lets the server answer a disconnect before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;

/**
 * Destroy a client's socket, whatever state it is in. ssh2's own destroy() does
 * nothing once end() has made the socket unwritable (lib/client.js checks
 * isWritable), and a half-closed socket then lives until the server closes it.
 */
function destroySocket(client: Client): void {
  (client as unknown as { _sock?: { destroy(): void } })._sock?.destroy();
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

interface Ssh2Error extends Error {
  level?: string;
  code?: string | number;
}

function connectError(target: SshTarget, err: Ssh2Error): RcptsyncError {
  const at = where(target);
  if (err.level === 'client-authentication' || err.level === 'agent') {
    return new RcptsyncError(
      `${target.name}: SSH authentication failed for ${target.user}@${at}`,
      ExitCode.runtime,
      err.level === 'agent' ? `ssh-agent: ${err.message}` : undefined,
    );
  }
  if (err.level === 'client-timeout') {
    return new RcptsyncError(
      `${target.name}: SSH connection to ${at} timed out after ${formatSeconds(target.connectTimeoutMs)}`,
    );
  }
  if (err.code === 'ECONNREFUSED') {
    return new RcptsyncError(`${target.name}: SSH connection to ${at} refused`);
  }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
    return new RcptsyncError(`${target.name}: cannot resolve host name ${target.host}`);
  }
  return new RcptsyncError(`${target.name}: SSH connection to ${at} failed: ${err.message}`);
}

function readPrivateKey(target: SshTarget, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RcptsyncError(`${target.name}: cannot read SSH private key ${file}: ${reason}`);
  }
}

/**
 * Opens an authenticated connection. Resolves only once the host key has
 * matched known_hosts and authentication succeeded. A target with `local`
 * (ansible_connection: local) gets a session that runs its commands here.
 */
export async function connectSsh(target: SshTarget): Promise<RemoteSession> {
  // ansible_connection: local: the control node itself, no SSH.
  if (target.local) return new (await import('./local.js')).LocalSession(target);
  // Read the local files first: their errors should not wait for the network.
  const knownHosts = readKnownHosts(target.knownHostsFile);
  if (!target.privateKeyFile && !target.agentSocket) {
    throw new RcptsyncError(
      `${target.name}: no SSH credentials for ${target.user}@${where(target)}: set ansible_ssh_private_key_file or SSH_AUTH_SOCK`,
    );
  }
  const privateKey = target.privateKeyFile ? readPrivateKey(target, target.privateKeyFile) : undefined;
  const { jump } = target;
  if (!jump) return new Ssh2Session(target, await openClient(target, knownHosts, privateKey));

  // ProxyJump: authenticate to the jump host (its key pinned in the same
  // known_hosts), open a direct-tcpip channel to the host through it, and run
  // the host's own SSH session over that channel.
  const { jump: _, ...direct } = target;
  const hop: SshTarget = { ...direct, name: `${target.name} (jump host ${jump.host})`, host: jump.host, port: jump.port, user: jump.user };
  const jumpClient = await openClient(hop, knownHosts, privateKey);
  try {
    const channel = await forwardThrough(jumpClient, hop, target);
    return new Ssh2Session(target, await openClient(target, knownHosts, privateKey, channel), jumpClient);
  } catch (err) {
    jumpClient.end();
    throw err;
  }
}

/** A direct-tcpip channel from the jump host to the target's host:port. */
function forwardThrough(jumpClient: Client, hop: SshTarget, target: SshTarget): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    const failed = (reason: string): RcptsyncError =>
      new RcptsyncError(`${target.name}: jump host ${hop.user}@${where(hop)} cannot reach ${where(target)}: ${reason}`);
    const guard = setTimeout(() => reject(failed(`no answer within ${formatSeconds(target.connectTimeoutMs)}`)), target.connectTimeoutMs);
    jumpClient.forwardOut('127.0.0.1', 0, target.host, target.port, (err, channel) => {
      clearTimeout(guard);
      if (err) reject(failed(err.message));
      else resolve(channel);
    });
  });
}

/**
 * Opens an authenticated ssh2 client to `target` (over `sock` when given).
 * Resolves only once the host key has matched known_hosts and authentication succeeded.
 */
function openClient(target: SshTarget, knownHosts: KnownHosts, privateKey: Buffer | undefined, sock?: ClientChannel): Promise<Client> {
  return new Promise<Client>((resolve, reject) => {
    const client = new Client();
    let settled = false;
    let rejectedHostKey: HostKeyCheck | undefined;

    // ssh2's readyTimeout covers TCP connect, handshake and authentication;
    // this guard also covers anything it misses (e.g. a stalled DNS lookup).
    const guard = setTimeout(() => {
      fail(new RcptsyncError(`${target.name}: SSH connection to ${where(target)} timed out after ${formatSeconds(target.connectTimeoutMs)}`));
    }, target.connectTimeoutMs + 1000);

    const fail = (err: RcptsyncError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      client.end();
      destroySocket(client);
      reject(err);
    };

    client.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(guard);
      resolve(client);
    });
    client.on('error', (err: Ssh2Error) => {
      if (rejectedHostKey) fail(hostKeyError(target, knownHosts.file, rejectedHostKey));
      else fail(connectError(target, err));
    });
    // A connection that closes before 'ready' without an error (a server
    // dropping us early, e.g. over MaxStartups) must not leave us waiting.
    client.on('close', () => {
      if (rejectedHostKey) fail(hostKeyError(target, knownHosts.file, rejectedHostKey));
      else fail(new RcptsyncError(`${target.name}: SSH connection to ${where(target)} closed before authentication`));
    });

    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: target.connectTimeoutMs,
      algorithms: { serverHostKey: hostKeyAlgorithmOrder(pinnedKeyTypes(knownHosts, target.host, target.port)) as never },
      hostVerifier: (key: Buffer) => {
        const check = lookupHostKey(knownHosts, target.host, target.port, key);
        if (check.status === 'match') return true;
        rejectedHostKey = check;
        return false;
      },
    };
    if (privateKey) config.privateKey = privateKey;
    if (target.agentSocket) config.agent = target.agentSocket;
    if (sock) config.sock = sock;
    try {
      client.connect(config);
    } catch (err) {
      // ssh2 parses the private key synchronously in connect().
      const file = target.privateKeyFile ?? 'the configured key';
      fail(new RcptsyncError(`${target.name}: cannot use SSH private key ${file}: ${(err as Error).message}`));
    }
  });
}

class Ssh2Session implements RemoteSession {
  readonly #aborts = new Set<(err: RcptsyncError) => void>();
  #closed = false;
  /** Set once the connection dropped; later commands fail with it at once. */
  #lostError: RcptsyncError | undefined;

  constructor(
    private readonly target: SshTarget,
    private readonly client: Client,
    /** The jump host's connection the session runs through, closed with it. */
    private readonly jumpClient?: Client,
  ) {
    // A connection lost mid-command fails that command instead of leaving it pending.
    const lost = (reason: string) => {
      this.#lostError ??= new RcptsyncError(`${target.name}: SSH connection to ${where(target)} lost: ${reason}`);
      for (const abort of [...this.#aborts]) abort(this.#lostError);
    };
    client.on('error', (err: Error) => lost(err.message));
    client.on('close', () => {
      lost('connection closed');
      jumpClient?.end();
    });
    jumpClient?.on('error', (err: Error) => lost(`jump host: ${err.message}`));
    jumpClient?.on('close', () => lost('jump host connection closed'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.client.end();
    this.jumpClient?.end();
    // end() leaves the socket open until the server closes its side. A loaded or
    // stuck sshd must not keep a finished run (and its cron job) alive: after a
    // grace period the socket is destroyed. Unref'd: the timer keeps nothing alive.
    setTimeout(() => {
      destroySocket(this.client);
      if (this.jumpClient) destroySocket(this.jumpClient);
    }, CLOSE_GRACE_MS).unref();
  }

  run(command: string, options: RunOptions): Promise<RunResult> {
    const { name } = this.target;
    if (this.#closed) return Promise.reject(new RcptsyncError(`${name}: SSH session already closed: ${command}`));
    if (this.#lostError) return Promise.reject(this.#lostError);

    return new Promise<RunResult>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      let exitCode: number | undefined;
      let exitSignal: string | undefined;
      const stderrChunks: Buffer[] = [];
      let stderrKept = 0;
      let stderrDropped = 0;
      const splitter = new LineSplitter(options.maxOutputBytes, options.onLine, options.onBadLine);

      const timer = setTimeout(() => {
        finish(new RcptsyncError(`${name}: command timed out after ${formatSeconds(options.timeoutMs)}: ${command}`));
      }, options.timeoutMs);

      const stderrText = (): string => {
        const text = Buffer.concat(stderrChunks).toString('utf8');
        return stderrDropped > 0 ? `${text}\n[${stderrDropped} more bytes of stderr not shown]` : text;
      };

      // Single exit point: clears the timer, stops the remote command when we
      // give up on it early, and settles exactly once.
      const finish = (err: Error | undefined, result?: RunResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#aborts.delete(abort);
        if (channel && err) {
          // Best effort: ask sshd to kill the command, then close our side.
          // OpenSSH >= 7.9 honours the signal, but not for root logins (no
          // privilege separation after auth); then a command that keeps
          // writing dies of SIGPIPE, and a silent one runs on until it ends.
          // Either way we are free at once.
          try {
            channel.signal('KILL');
          } catch {}
          channel.removeAllListeners('data');
          channel.stderr.removeAllListeners('data');
          channel.on('error', () => {});
          channel.close();
        }
        if (err) {
          if (err instanceof RcptsyncError) reject(err);
          else if (err instanceof OutputError) reject(outputError(err));
          else reject(err); // thrown by onLine: the caller's own error, unchanged
        } else {
          resolve(result!);
        }
      };
      const abort = (err: RcptsyncError) => finish(err);
      this.#aborts.add(abort);

      const outputError = (err: OutputError): RcptsyncError => {
        switch (err.kind) {
          case 'too-large':
            return new RcptsyncError(`${name}: command output exceeded ${options.maxOutputBytes} bytes: ${command}`);
          case 'not-utf8':
            return new RcptsyncError(`${name}: command output is not valid UTF-8 at line ${err.lineNumber}: ${command}`);
          case 'truncated':
            return new RcptsyncError(
              `${name}: command output ended in the middle of line ${err.lineNumber} (no final newline; truncated?): ${command}`,
            );
        }
      };

      const started = (err: Error | undefined, stream: ClientChannel): void => {
        if (err) {
          finish(new RcptsyncError(`${name}: cannot start command on ${where(this.target)}: ${err.message}: ${command}`));
          return;
        }
        if (settled) {
          stream.close();
          return;
        }
        channel = stream;
        stream.on('data', (chunk: Buffer) => {
          if (settled) return;
          try {
            splitter.push(chunk);
          } catch (e) {
            finish(e as Error);
          }
        });
        stream.stderr.on('data', (chunk: Buffer) => {
          const room = STDERR_KEEP_BYTES - stderrKept;
          if (room > 0) {
            const kept = chunk.subarray(0, room);
            stderrChunks.push(kept);
            stderrKept += kept.length;
          }
          stderrDropped += Math.max(0, chunk.length - Math.max(room, 0));
        });
        stream.on('exit', (code: number | null, signal?: string) => {
          if (typeof code === 'number') exitCode = code;
          else if (signal) exitSignal = signal;
        });
        stream.on('error', (e: Error) => finish(new RcptsyncError(`${name}: SSH channel error: ${e.message}: ${command}`)));
        stream.on('close', () => {
          if (settled) return;
          if (exitSignal !== undefined) {
            finish(
              new RcptsyncError(`${name}: command killed by signal ${exitSignal}: ${command}`, ExitCode.runtime, stderrText().trim() || undefined),
            );
            return;
          }
          if (exitCode === undefined) {
            finish(new RcptsyncError(`${name}: command ended without an exit status (channel closed): ${command}`));
            return;
          }
          // A failed one becomes commandFailedError in the caller.
          try {
            finish(undefined, commandOutcome(splitter, exitCode, stderrText()));
          } catch (e) {
            finish(e as Error);
          }
        });
      };
      try {
        this.client.exec(command, started);
      } catch (err) {
        // ssh2 throws synchronously when the connection is already gone.
        finish(new RcptsyncError(`${name}: cannot start command on ${where(this.target)}: ${(err as Error).message}: ${command}`));
      }
    });
  }
}
