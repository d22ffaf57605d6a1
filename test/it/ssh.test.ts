// The SSH transport against a real OpenSSH sshd on loopback: host key
// pinning, authentication, and every way a remote command can go wrong.
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RcptsyncError } from '../../src/errors.js';
import { commandFailedError, connectSsh } from '../../src/transport/ssh.js';
import type { RemoteSession, RunOptions, SshTarget } from '../../src/transport/types.js';
import { freePort, startSshd, type Sshd } from '../helpers/sshd.js';

let sshd: Sshd;

beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

function target(overrides: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'lists1',
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    privateKeyFile: sshd.privateKeyFile,
    knownHostsFile: sshd.knownHostsFile,
    connectTimeoutMs: 5_000,
    ...overrides,
  };
}

function collecting(overrides: Partial<RunOptions> = {}): RunOptions & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    timeoutMs: 10_000,
    maxOutputBytes: 1024 * 1024,
    onLine: (text, n) => {
      expect(n).toBe(lines.length + 1);
      lines.push(text);
    },
    ...overrides,
  };
}

async function withSession<T>(fn: (session: RemoteSession) => Promise<T>, t: SshTarget = target()): Promise<T> {
  const session = await connectSsh(t);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<RcptsyncError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RcptsyncError);
  return err as RcptsyncError;
}

describe('commands over ssh', () => {
  it('runs a command and streams its lines', async () => {
    const options = collecting();
    const result = await withSession((s) => s.run("printf 'a@x.example\\nb@x.example\\n'; echo to-stderr >&2", options));
    expect(options.lines).toEqual(['a@x.example', 'b@x.example']);
    expect(result).toEqual({ exitCode: 0, stderr: 'to-stderr\n', bytes: 24, lines: 2 });
  });

  it('runs several commands on one session, and handles large output in many chunks', async () => {
    await withSession(async (s) => {
      const big = collecting();
      const result = await s.run('seq 1 200000', { ...big, maxOutputBytes: 10_000_000 });
      expect(result.lines).toBe(200_000);
      expect(big.lines[0]).toBe('1');
      expect(big.lines[199_999]).toBe('200000');
      const small = collecting();
      await s.run('echo again', small);
      expect(small.lines).toEqual(['again']);
    });
  });

  it('keeps multi-byte UTF-8 intact and leaves a CR as data', async () => {
    const options = collecting();
    await withSession((s) => s.run("printf 'm\\303\\274ller@b\\303\\274cher.example\\nx\\r\\n'", options));
    expect(options.lines).toEqual(['müller@bücher.example', 'x\r']);
  });

  it('reports a non-zero exit code with stderr, and formats it execa style', async () => {
    const command = "echo 'mailman: no such list' >&2; exit 1";
    const result = await withSession((s) => s.run(command, collecting()));
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe('mailman: no such list\n');
    const err = commandFailedError('lists1', command, result);
    expect(err.message).toBe(`lists1: command failed with exit code 1: ${command}`);
    expect(err.detail).toBe('mailman: no such list');
    expect(err.exitCode).toBe(1);
  });

  it('keeps only the first 64 KiB of a flood on stderr', async () => {
    const result = await withSession((s) => s.run('head -c 1000000 /dev/zero | tr "\\0" e >&2; exit 3', collecting()));
    expect(result.exitCode).toBe(3);
    expect(result.stderr.startsWith('e'.repeat(65536))).toBe(true);
    expect(result.stderr).toContain('[934464 more bytes of stderr not shown]');
  });

  it('stops a hanging command at the timeout', async () => {
    // Stopped, not finished: the line after the sleep never arrives (and a late
    // timeout would see the command end first and resolve instead).
    const command = 'echo started; sleep 30; echo finished';
    const options = collecting({ timeoutMs: 1000 });
    const err = await withSession((s) => rejection(s.run(command, options)));
    expect(err.message).toBe(`lists1: command timed out after 1 s: ${command}`);
    expect(options.lines).not.toContain('finished');
  });

  it('the session stays usable after a command timed out', async () => {
    await withSession(async (s) => {
      await rejection(s.run('sleep 30', collecting({ timeoutMs: 300 })));
      const options = collecting();
      await s.run('echo still-here', options);
      expect(options.lines).toEqual(['still-here']);
    });
  });

  it('stops a command whose output floods past the cap', async () => {
    const command = 'yes flood@x.example | head -c 50000000';
    const options = collecting({ maxOutputBytes: 1_000_000 });
    const err = await withSession((s) => rejection(s.run(command, options)));
    expect(err.message).toBe(`lists1: command output exceeded 1000000 bytes: ${command}`);
    // Nothing past the cap reached the parser (16 bytes a line with its LF).
    expect(options.lines.length * 16).toBeLessThanOrEqual(1_000_000);
    expect(new Set(options.lines)).toEqual(new Set(options.lines.length > 0 ? ['flood@x.example'] : []));
  });

  it('refuses output that is not UTF-8, naming the line', async () => {
    const err = await withSession((s) => rejection(s.run("printf 'ok@x.example\\n\\377\\n'", collecting())));
    expect(err.message).toBe("lists1: command output is not valid UTF-8 at line 2: printf 'ok@x.example\\n\\377\\n'");
  });

  it('refuses output truncated in the middle of a line', async () => {
    const options = collecting();
    const err = await withSession((s) => rejection(s.run("printf 'a@b.example\\nc@d.exa'", options)));
    expect(err.message).toBe("lists1: command output ended in the middle of line 2 (no final newline; truncated?): printf 'a@b.example\\nc@d.exa'");
    expect(options.lines).toEqual(['a@b.example']);
  });

  it('reports a command killed by a signal', async () => {
    const err = await withSession((s) => rejection(s.run('kill -9 $$', collecting())));
    expect(err.message).toBe('lists1: command killed by signal SIGKILL: kill -9 $$');
  });

  it('passes an error thrown by onLine through unchanged and stops the command', async () => {
    const own = new Error('parser gave up');
    const err = await withSession((s) =>
      s.run('seq 1 1000000', collecting({ onLine: () => { throw own; } })).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(err).toBe(own);
  });

  it('serves 50 connections at once (the collect benchmark relies on it)', async () => {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        withSession(async (s) => {
          const options = collecting();
          await s.run(`echo host${i}`, options);
          return options.lines;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 50 }, (_, i) => [`host${i}`]));
  });

  it('reports a connection dropped mid-command, and refuses later commands on it', async () => {
    const session = await connectSsh(target());
    try {
      // The command's parent is the sshd process serving this connection.
      const err = await rejection(session.run('kill -9 $PPID; sleep 5', collecting()));
      expect(err.message).toMatch(/^lists1: (SSH connection to 127\.0\.0\.1:\d+ lost|command ended without an exit status)/);
      const again = await rejection(session.run('echo hi', collecting({ timeoutMs: 2000 })));
      expect(again.message).toMatch(/^lists1: /);
      expect(again.message).not.toContain('timed out');
    } finally {
      session.close();
    }
  });

  it('fails pending commands when the session is closed under them', async () => {
    const session = await connectSsh(target());
    const pending = session.run('sleep 30', collecting());
    setTimeout(() => session.close(), 200);
    const err = await rejection(pending);
    expect(err.message).toMatch(/^lists1: /);
  });
});

describe('host keys', () => {
  it('accepts a hashed known_hosts entry made by ssh-keygen -H', async () => {
    const file = sshd.writeKnownHosts('hashed_known_hosts', [`[${sshd.host}]:${sshd.port} ${sshd.hostPublicKey}`]);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const text = execFileSync('cat', [file], { encoding: 'utf8' });
    expect(text.startsWith('|1|')).toBe(true);
    const options = collecting();
    await withSession((s) => s.run('echo ok', options), target({ knownHostsFile: file }));
    expect(options.lines).toEqual(['ok']);
  });

  it('refuses an unknown host and shows the offered fingerprint', async () => {
    const file = sshd.writeKnownHosts('other_known_hosts', [`[${sshd.host}]:1 ${sshd.hostPublicKey}`]);
    const err = await rejection(connectSsh(target({ knownHostsFile: file })));
    expect(err.message).toBe(
      `lists1: host key for ${sshd.host}:${sshd.port} is not in ${file} (offered ed25519 key ${sshd.hostKeyFingerprint})`,
    );
    expect(err.detail).toContain('ssh-keyscan');
  });

  it('refuses a changed host key and shows the offered fingerprint', async () => {
    const other = await startSshd();
    try {
      // known_hosts pins the first server's key, but the second one answers.
      const file = sshd.writeKnownHosts('pinned_to_first', [`[${other.host}]:${other.port} ${sshd.hostPublicKey}`]);
      const err = await rejection(connectSsh(target({ port: other.port, knownHostsFile: file })));
      expect(err.message).toBe(
        `lists1: HOST KEY CHANGED for ${other.host}:${other.port}: ${file} has a different key; offered ed25519 key ${other.hostKeyFingerprint}`,
      );
      expect(other.hostKeyFingerprint).not.toBe(sshd.hostKeyFingerprint);
    } finally {
      await other.stop();
    }
  });

  it('asks for the pinned key type first when the server has several', async () => {
    // A server with an ed25519 and an RSA key, pinned only by its RSA key:
    // OpenSSH would connect, and so must we.
    const rsaDir = sshd.dir;
    const rsaKey = join(rsaDir, 'second_host_key_rsa');
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsaKey], { stdio: 'ignore' });
    const dual = await startSshd({ extraConfig: [`HostKey ${rsaKey}`] });
    try {
      const rsaPublic = execFileSync('cat', [`${rsaKey}.pub`], { encoding: 'utf8' }).split(' ').slice(0, 2).join(' ');
      const file = dual.writeKnownHosts('rsa_only', [`[${dual.host}]:${dual.port} ${rsaPublic}`]);
      const options = collecting();
      const session = await connectSsh(target({ port: dual.port, knownHostsFile: file, privateKeyFile: dual.privateKeyFile }));
      try {
        await session.run('echo rsa-ok', options);
      } finally {
        session.close();
      }
      expect(options.lines).toEqual(['rsa-ok']);
    } finally {
      await dual.stop();
    }
  });

  it('refuses a key marked @revoked', async () => {
    const file = sshd.writeKnownHosts('revoked', [
      `@revoked * ${sshd.hostPublicKey}`,
      `[${sshd.host}]:${sshd.port} ${sshd.hostPublicKey}`,
    ]);
    const err = await rejection(connectSsh(target({ knownHostsFile: file })));
    expect(err.message).toBe(
      `lists1: host key for ${sshd.host}:${sshd.port} is marked @revoked in ${file} (offered ed25519 key ${sshd.hostKeyFingerprint})`,
    );
  });

  it('names a missing known_hosts file', async () => {
    const file = join(sshd.dir, 'no_such_known_hosts');
    const err = await rejection(connectSsh(target({ knownHostsFile: file })));
    expect(err.message).toBe(`cannot read known_hosts file ${file}: ENOENT`);
  });
});

describe('authentication and connecting', () => {
  it('refuses a key the server does not know', async () => {
    const wrongKey = join(sshd.dir, 'wrong_user_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrongKey], { stdio: 'ignore' });
    const err = await rejection(connectSsh(target({ privateKeyFile: wrongKey })));
    expect(err.message).toBe(`lists1: SSH authentication failed for ${sshd.user}@${sshd.host}:${sshd.port}`);
  });

  it('authenticates through an ssh-agent', async () => {
    const socket = join(sshd.dir, 'agent.sock');
    const agent = execFileSync('ssh-agent', ['-a', socket, '-s'], { encoding: 'utf8' });
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent)?.[1]);
    try {
      execFileSync('ssh-add', ['-q', sshd.privateKeyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const options = collecting();
      await withSession((s) => s.run('echo agent-ok', options), target({ privateKeyFile: undefined, agentSocket: socket }));
      expect(options.lines).toEqual(['agent-ok']);
    } finally {
      process.kill(pid);
    }
  });

  it('names an unreadable private key file', async () => {
    const file = join(sshd.dir, 'no_such_key');
    const err = await rejection(connectSsh(target({ privateKeyFile: file })));
    expect(err.message).toBe(`lists1: cannot read SSH private key ${file}: ENOENT`);
  });

  it('names a passphrase-protected private key it cannot use', async () => {
    const file = join(sshd.dir, 'encrypted_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', file], { stdio: 'ignore' });
    const err = await rejection(connectSsh(target({ privateKeyFile: file })));
    expect(err.message).toMatch(new RegExp(`^lists1: cannot use SSH private key ${file}: .*passphrase`));
  });

  it('refuses to connect with no key and no agent', async () => {
    const err = await rejection(connectSsh(target({ privateKeyFile: undefined })));
    expect(err.message).toBe(
      `lists1: no SSH credentials for ${sshd.user}@${sshd.host}:${sshd.port}: set ansible_ssh_private_key_file or SSH_AUTH_SOCK`,
    );
  });

  it('fails fast and clearly on a closed port', async () => {
    const port = await freePort();
    // "refused", not "timed out": the refusal is reported as it comes, without waiting for the connect timeout.
    const err = await rejection(connectSsh(target({ port, connectTimeoutMs: 30_000 })));
    expect(err.message).toBe(`lists1: SSH connection to ${sshd.host}:${port} refused`);
  });

  it('times out on a server that accepts but never speaks SSH', async () => {
    const sockets: import('node:net').Socket[] = [];
    // Reads (and drops) what the client sends, so that its end of the connection is seen.
    const silent: Server = createServer((s) => sockets.push(s.resume()));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const err = await rejection(connectSsh(target({ port, connectTimeoutMs: 500 })));
      expect(err.message).toBe(`lists1: SSH connection to ${sshd.host}:${port} timed out after 0.5 s`);
      // The one connection it made is closed by the client, not left hanging.
      expect(sockets).toHaveLength(1);
      await new Promise<void>((resolve) => (sockets[0]!.closed ? resolve() : sockets[0]!.once('close', () => resolve())));
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
