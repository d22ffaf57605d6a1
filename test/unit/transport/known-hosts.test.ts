// known_hosts parsing and lookup, with keys and hashed names made by the real
// ssh-keygen so that the format is OpenSSH's, not our idea of it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import {
  checkHostKey,
  fingerprintOf,
  knownHostsName,
  lookupHostKey,
  parseKnownHosts,
  pinnedKeyTypes,
  readKnownHosts,
} from '../../../src/transport/known-hosts.js';
import { hostKeyAlgorithmOrder } from '../../../src/transport/ssh.js';

let dir: string;
const keys: Record<string, { line: string; blob: Buffer; fingerprint: string }> = {};

function makeKey(name: string, type: string): void {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', 'c', '-f', file]);
  const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  // What ssh-keygen itself prints as the fingerprint: the oracle for ours.
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1]!;
  keys[name] = { line: `${keyType} ${base64}`, blob: Buffer.from(base64!, 'base64'), fingerprint };
}

function write(name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Hashes every host name in the file with the real `ssh-keygen -H`. */
function hashed(name: string, lines: string[]): string {
  const file = write(name, lines);
  execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
  return file;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-kh-'));
  makeKey('a', 'ed25519');
  makeKey('b', 'ed25519');
  makeKey('ecdsa', 'ecdsa');
  makeKey('rsa', 'rsa');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fingerprints', () => {
  it('match ssh-keygen -l for every key type', () => {
    for (const key of Object.values(keys)) {
      expect(fingerprintOf(key.blob)).toBe(key.fingerprint);
      expect(fingerprintOf(key.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    }
  });
});

describe('knownHostsName', () => {
  it('uses the bare name on port 22 and [host]:port elsewhere, lower-cased', () => {
    expect(knownHostsName('Lists1.Example.ORG', 22)).toBe('lists1.example.org');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });
});

describe('plain entries', () => {
  it('matches a host, a comma list, and is case-insensitive', () => {
    const file = write('plain', [
      '# comment line',
      '',
      `lists1.example.org ${keys.a!.line} lists1 key`,
      `lists2.example.org,10.0.0.2 ${keys.b!.line}`,
    ]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, 'LISTS1.example.org', 22, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, '10.0.0.2', 22, keys.b!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists2.example.org', 22, keys.b!.blob)).toEqual({
      status: 'match',
      fingerprint: keys.b!.fingerprint,
      keyType: 'ssh-ed25519',
    });
  });

  it('reports a different key for a known host as changed, and an unlisted host as unknown', () => {
    const file = write('changed', [`lists1.example.org ${keys.a!.line}`]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.b!.blob)).toEqual({
      status: 'changed',
      fingerprint: keys.b!.fingerprint,
      keyType: 'ssh-ed25519',
    });
    expect(checkHostKey(file, 'lists9.example.org', 22, keys.a!.blob).status).toBe('unknown');
  });

  it('accepts any of several keys pinned for one host', () => {
    const file = write('several', [`lists1.example.org ${keys.ecdsa!.line}`, `lists1.example.org ${keys.rsa!.line}`]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.rsa!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.ecdsa!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('changed');
  });

  it('keeps ports apart: [host]:port entries only match that port', () => {
    const file = write('ports', [`[127.0.0.1]:2222 ${keys.a!.line}`, `127.0.0.1 ${keys.b!.line}`]);
    expect(checkHostKey(file, '127.0.0.1', 2222, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, '127.0.0.1', 2222, keys.b!.blob).status).toBe('changed');
    expect(checkHostKey(file, '127.0.0.1', 22, keys.b!.blob).status).toBe('match');
    expect(checkHostKey(file, '127.0.0.1', 22, keys.a!.blob).status).toBe('changed');
    expect(checkHostKey(file, '127.0.0.1', 2223, keys.a!.blob).status).toBe('unknown');
  });

  it('supports * and ? wildcards and !negation', () => {
    const file = write('wild', [`*.example.org,!evil.example.org ${keys.a!.line}`, `lists?.example.net ${keys.b!.line}`]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, 'evil.example.org', 22, keys.a!.blob).status).toBe('unknown');
    expect(checkHostKey(file, 'lists7.example.net', 22, keys.b!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists10.example.net', 22, keys.b!.blob).status).toBe('unknown');
    // Dots are literal, not regex wildcards.
    expect(checkHostKey(file, 'listsXexampleYnet', 22, keys.b!.blob).status).toBe('unknown');
  });

  it('ignores lines that do not parse, including a blob that disagrees with its type', () => {
    const [, base64] = keys.a!.line.split(' ');
    const entries = parseKnownHosts(
      [`only-a-host`, `h ssh-ed25519`, `h ssh-rsa ${base64}`, `@bogus h ${keys.a!.line}`, `h ${keys.b!.line}`].join('\n'),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]!.line).toBe(5);
  });
});

describe('hashed entries (ssh-keygen -H)', () => {
  it('matches hashed names on port 22 and [host]:port, and agrees with ssh-keygen -F', () => {
    const file = hashed('hashed', [`lists1.example.org ${keys.a!.line}`, `[127.0.0.1]:2222 ${keys.b!.line}`]);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('example.org');
    expect(text.split('\n').filter((l) => l.startsWith('|1|'))).toHaveLength(2);

    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.b!.blob).status).toBe('changed');
    expect(checkHostKey(file, '127.0.0.1', 2222, keys.b!.blob).status).toBe('match');
    expect(checkHostKey(file, '127.0.0.1', 22, keys.b!.blob).status).toBe('unknown');
    expect(checkHostKey(file, 'lists2.example.org', 22, keys.a!.blob).status).toBe('unknown');

    // ssh-keygen -F finds exactly the names we find (it exits 1 when none).
    const known = readKnownHosts(file);
    for (const [host, port] of [['lists1.example.org', 22], ['127.0.0.1', 2222], ['127.0.0.1', 22], ['lists2.example.org', 22]] as const) {
      let found: boolean;
      try {
        execFileSync('ssh-keygen', ['-F', port === 22 ? host : `[${host}]:${port}`, '-f', file], { stdio: 'pipe' });
        found = true;
      } catch {
        found = false;
      }
      expect(pinnedKeyTypes(known, host, port).length > 0).toBe(found);
    }
  });

  it('splits a comma list into one hashed line per name', () => {
    const file = hashed('hashed_list', [`lists1.example.org,192.0.2.1 ${keys.a!.line}`]);
    expect(checkHostKey(file, '192.0.2.1', 22, keys.a!.blob).status).toBe('match');
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('match');
  });

  it('rejects a hashed entry whose salt or hash was tampered with', () => {
    const file = hashed('tampered', [`lists1.example.org ${keys.a!.line}`]);
    const line = readFileSync(file, 'utf8').trim();
    const [, , salt, rest] = line.split('|');
    const flipped = (salt!.startsWith('A') ? 'B' : 'A') + salt!.slice(1);
    const bad = write('tampered2', [`|1|${flipped}|${rest}`]);
    expect(checkHostKey(bad, 'lists1.example.org', 22, keys.a!.blob).status).toBe('unknown');
  });
});

describe('markers', () => {
  it('refuses a key marked @revoked, even where another line pins it', () => {
    const file = write('revoked', [`@revoked * ${keys.a!.line}`, `lists1.example.org ${keys.a!.line}`]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob)).toEqual({
      status: 'revoked',
      fingerprint: keys.a!.fingerprint,
      keyType: 'ssh-ed25519',
    });
  });

  it('skips @cert-authority lines: without certificate support such a host is unknown', () => {
    const file = write('ca', [`@cert-authority *.example.org ${keys.a!.line}`]);
    expect(checkHostKey(file, 'lists1.example.org', 22, keys.a!.blob).status).toBe('unknown');
    expect(pinnedKeyTypes(readKnownHosts(file), 'lists1.example.org', 22)).toEqual([]);
  });
});

describe('errors', () => {
  it('names a missing known_hosts file', () => {
    const file = join(dir, 'missing');
    expect(() => checkHostKey(file, 'h', 22, keys.a!.blob)).toThrow(RcptsyncError);
    expect(() => checkHostKey(file, 'h', 22, keys.a!.blob)).toThrow(`cannot read known_hosts file ${file}: ENOENT`);
  });

  it('names a known_hosts path that is a directory', () => {
    expect(() => readKnownHosts(dir)).toThrow(`cannot read known_hosts file ${dir}: EISDIR`);
  });
});

describe('host key algorithm order', () => {
  it('puts the pinned key types first, like OpenSSH', () => {
    const file = write('order', [`lists1.example.org ${keys.rsa!.line}`, `lists1.example.org ${keys.ecdsa!.line}`]);
    const types = pinnedKeyTypes(readKnownHosts(file), 'lists1.example.org', 22);
    expect(types).toEqual(['ssh-rsa', 'ecdsa-sha2-nistp256']);
    const order = hostKeyAlgorithmOrder(types);
    expect(order.slice(0, 4)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256']);
    expect(new Set(order).size).toBe(order.length);
    expect(order).toContain('ssh-ed25519');
    expect(hostKeyAlgorithmOrder([])[0]).toBe('ssh-ed25519');
  });

  it('lookupHostKey works on parsed entries without touching the disk', () => {
    const known = { file: 'inline', entries: parseKnownHosts(`h ${keys.a!.line}\n`) };
    expect(lookupHostKey(known, 'h', 22, keys.a!.blob).status).toBe('match');
  });
});
