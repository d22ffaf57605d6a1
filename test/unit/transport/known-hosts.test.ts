// known_hosts parsing and lookup, with keys and hashed names made by the real
// ssh-keygen so that the format is OpenSSH's, not our idea of it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import {
  blobKeyType,
  checkHostKey,
  entryMatchesHost,
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
    // The errno code alone, not Node's longer message.
    expect(() => checkHostKey(file, 'h', 22, keys.a!.blob)).toThrow(new RegExp(`^cannot read known_hosts file ${file}: ENOENT$`));
  });

  it('names a known_hosts path that is a directory', () => {
    expect(() => readKnownHosts(dir)).toThrow(new RegExp(`^cannot read known_hosts file ${dir}: EISDIR$`));
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

// Each case below fails when one part of the matching is taken away: an anchor,
// the escaping of a dot, the scope of @revoked, the case folding of a pattern.
describe('pattern matching, exactly', () => {
  const status = (lines: string[], host: string, port: number, key: string): string =>
    lookupHostKey({ file: 'inline', entries: parseKnownHosts(lines.join('\n')) }, host, port, keys[key]!.blob).status;

  it('anchors a pattern at its start: a longer name ending in it is not that host', () => {
    expect(entryMatchesHost('lists1.example.org', 'lists1.example.org')).toBe(true);
    expect(entryMatchesHost('lists1.example.org', 'evil-lists1.example.org')).toBe(false);
    expect(entryMatchesHost('lists?.example.org', 'xlists1.example.org')).toBe(false);
    expect(entryMatchesHost('[127.0.0.1]:2222', '[10.127.0.0.1]:2222')).toBe(false);
    expect(status([`lists1.example.org ${keys.a!.line}`], 'evil-lists1.example.org', 22, 'a')).toBe('unknown');
  });

  it('anchors a pattern at its end: *.example.org is not h.example.org.evil, [h]:22 is not port 2222', () => {
    expect(entryMatchesHost('*.example.org', 'h.example.org')).toBe(true);
    expect(entryMatchesHost('*.example.org', 'h.example.org.evil')).toBe(false);
    expect(entryMatchesHost('lists1.example.org', 'lists1.example.org.evil')).toBe(false);
    expect(entryMatchesHost('[127.0.0.1]:22', '[127.0.0.1]:2222')).toBe(false);
    expect(entryMatchesHost('127.0.0.1', '[127.0.0.1]:2222')).toBe(false);
    expect(status([`*.example.org ${keys.a!.line}`], 'h.example.org.evil', 22, 'a')).toBe('unknown');
    expect(status([`[127.0.0.1]:22 ${keys.a!.line}`], '127.0.0.1', 2222, 'a')).toBe('unknown');
  });

  it('treats a dot as a dot: a name with another character in its place does not match', () => {
    // Each probe matches its pattern character for character, except one dot.
    expect(entryMatchesHost('lists?.example.net', 'lists1.example.net')).toBe(true);
    expect(entryMatchesHost('lists?.example.net', 'lists1Xexample.net')).toBe(false);
    expect(entryMatchesHost('lists?.example.net', 'lists1.exampleXnet')).toBe(false);
    expect(entryMatchesHost('10.0.0.2', '10.0.0x2')).toBe(false);
    expect(entryMatchesHost('*.example.org', 'h.exampleXorg')).toBe(false);
    expect(status([`lists?.example.net ${keys.b!.line}`], 'lists1Xexample.net', 22, 'b')).toBe('unknown');
  });

  it('treats other regex characters literally too', () => {
    for (const [pattern, probe] of [
      ['a+b.example.org', 'aab.example.org'],
      ['(a|b).example.org', 'a.example.org'],
      ['[a-z].example.org', 'q.example.org'],
      ['a{2}.example.org', 'aa.example.org'],
      ['a$.example.org', 'a.example.org'],
      ['^a.example.org', 'a.example.org'],
      ['a\\d.example.org', 'a5.example.org'],
    ]) {
      expect(entryMatchesHost(pattern!, probe!), pattern).toBe(false);
      expect(entryMatchesHost(pattern!, pattern!), pattern).toBe(true);
    }
  });

  it('* matches any run, including none and dots; ? exactly one character', () => {
    expect(entryMatchesHost('lists*.example.org', 'lists.example.org')).toBe(true);
    expect(entryMatchesHost('*', 'a.b.c')).toBe(true);
    // Any run means any: OpenSSH's match_pattern has no notion of lines.
    expect(entryMatchesHost('a*b', 'a\nb')).toBe(true);
    expect(entryMatchesHost('a?b', 'a\nb')).toBe(true);
    expect(entryMatchesHost('lists?.example.org', 'lists.example.org')).toBe(false);
    expect(entryMatchesHost('lists?.example.org', 'lists12.example.org')).toBe(false);
  });

  it('folds the case of a pattern, as OpenSSH does (the name is already lower-case)', () => {
    expect(entryMatchesHost('Lists1.Example.ORG', 'lists1.example.org')).toBe(true);
    expect(entryMatchesHost('*.EXAMPLE.org', 'lists1.example.org')).toBe(true);
    expect(entryMatchesHost('lists1.example.org,!LISTS1.example.org', 'lists1.example.org')).toBe(false);
    expect(status([`Lists1.Example.ORG ${keys.a!.line}`], 'LISTS1.example.org', 22, 'a')).toBe('match');
    expect(status([`Lists1.Example.ORG ${keys.a!.line}`], 'lists1.example.org', 22, 'b')).toBe('changed');
    expect(pinnedKeyTypes({ file: 'inline', entries: parseKnownHosts(`[Lists1.Example.ORG]:2222 ${keys.rsa!.line}`) }, 'lists1.example.org', 2222)).toEqual(['ssh-rsa']);
  });

  it('a negation vetoes the line wherever it stands in the list, and only when it matches', () => {
    expect(entryMatchesHost('!evil.example.org,*.example.org', 'evil.example.org')).toBe(false);
    expect(entryMatchesHost('*.example.org,!evil.example.org', 'good.example.org')).toBe(true);
    expect(entryMatchesHost('!evil.example.org', 'good.example.org')).toBe(false);
    expect(entryMatchesHost('!evil.example.org,good.example.org', 'good.example.org')).toBe(true);
  });

  it('@revoked refuses its key for every host, whatever host the revoked line names', () => {
    const lines = [`@revoked retired.example.org ${keys.a!.line}`, `lists1.example.org ${keys.a!.line}`, `lists2.example.org ${keys.b!.line}`];
    expect(status(lines, 'lists1.example.org', 22, 'a')).toBe('revoked');
    expect(status(lines, 'nosuch.example.org', 22, 'a')).toBe('revoked');
    // The revoked key only: another host's own key is still trusted.
    expect(status(lines, 'lists2.example.org', 22, 'b')).toBe('match');
    // A revoked line after the pinning line counts as well.
    expect(status([`lists1.example.org ${keys.a!.line}`, `@revoked retired.example.org ${keys.a!.line}`], 'lists1.example.org', 22, 'a')).toBe('revoked');
  });

  it('a @revoked line neither pins its host nor revokes other keys', () => {
    expect(status([`@revoked lists1.example.org ${keys.a!.line}`], 'lists1.example.org', 22, 'b')).toBe('unknown');
    expect(status([`@revoked * ${keys.b!.line}`, `lists1.example.org ${keys.a!.line}`], 'lists1.example.org', 22, 'a')).toBe('match');
    expect(pinnedKeyTypes({ file: 'inline', entries: parseKnownHosts(`@revoked lists1.example.org ${keys.rsa!.line}`) }, 'lists1.example.org', 22)).toEqual([]);
  });

  it('a @cert-authority line neither pins its host nor makes another key changed', () => {
    expect(status([`@cert-authority lists1.example.org ${keys.a!.line}`], 'lists1.example.org', 22, 'b')).toBe('unknown');
    expect(status([`@cert-authority lists1.example.org ${keys.a!.line}`, `lists1.example.org ${keys.b!.line}`], 'lists1.example.org', 22, 'b')).toBe('match');
  });

  it('a key pinned only for another host does not match, even when it is the same key', () => {
    expect(status([`lists2.example.org ${keys.a!.line}`], 'lists1.example.org', 22, 'a')).toBe('unknown');
    expect(status([`lists2.example.org ${keys.a!.line}`, `lists1.example.org ${keys.b!.line}`], 'lists1.example.org', 22, 'a')).toBe('changed');
  });

  it('lists each pinned key type once, in file order', () => {
    const known = { file: 'inline', entries: parseKnownHosts([`h ${keys.a!.line}`, `h ${keys.rsa!.line}`, `h ${keys.b!.line}`, `other ${keys.ecdsa!.line}`].join('\n')) };
    expect(pinnedKeyTypes(known, 'h', 22)).toEqual(['ssh-ed25519', 'ssh-rsa']);
  });
});

describe('parsing, exactly', () => {
  it('reads tab-separated fields, leading and trailing blanks, and comments after blanks', () => {
    const entries = parseKnownHosts(
      [
        `\t  h1 ${keys.a!.line}  `,
        `h2\t${keys.b!.line.replace(' ', '\t')}`,
        `   # h3 ${keys.a!.line}`,
        '   ',
        `@revoked\th4 ${keys.a!.line}`,
        `h5  \t ${keys.a!.line.replace(' ', '   ')}`,
        `#h6 ${keys.a!.line}`,
      ].join('\n'),
    );
    expect(entries.map((e) => [e.hosts, e.marker, e.line])).toEqual([
      ['h1', undefined, 1],
      ['h2', undefined, 2],
      ['h4', 'revoked', 5],
      ['h5', undefined, 6],
    ]);
    expect(entries[0]!.key.equals(keys.a!.blob)).toBe(true);
    expect(entries[0]!.keyType).toBe('ssh-ed25519');
  });

  it('a marker line without a key, or an unknown marker, is skipped', () => {
    expect(parseKnownHosts(`@revoked h ssh-ed25519\n@cert-authority\n@Revoked h ${keys.a!.line}\n`)).toEqual([]);
    expect(parseKnownHosts(`@cert-authority h ${keys.a!.line}`)[0]!.marker).toBe('cert-authority');
  });

  it('rejects a hashed field of the wrong shape or a hash of the wrong length instead of throwing', () => {
    const salt = Buffer.alloc(20, 1).toString('base64');
    expect(entryMatchesHost(`|1|${salt}|${Buffer.alloc(4).toString('base64')}`, 'h')).toBe(false);
    expect(entryMatchesHost(`|1|${salt}`, 'h')).toBe(false);
    expect(entryMatchesHost(`|1|${salt}|AAAA|extra`, 'h')).toBe(false);
  });

  it('names the type of an offered key it cannot parse "unknown"', () => {
    const known = { file: 'inline', entries: parseKnownHosts(`h ${keys.a!.line}`) };
    expect(lookupHostKey(known, 'h', 22, Buffer.from('garbage'))).toEqual({ status: 'changed', fingerprint: fingerprintOf(Buffer.from('garbage')), keyType: 'unknown' });
  });

  it('knows the key type of a blob only when its length field is sane', () => {
    const blob = (declared: number, body: number): Buffer => {
      const b = Buffer.alloc(4 + body, 0x61);
      b.writeUInt32BE(declared, 0);
      return b;
    };
    expect(blobKeyType(keys.a!.blob)).toBe('ssh-ed25519');
    expect(blobKeyType(Buffer.alloc(3))).toBeUndefined();
    expect(blobKeyType(blob(0, 8))).toBeUndefined();
    expect(blobKeyType(blob(64, 64))).toBe('a'.repeat(64));
    expect(blobKeyType(blob(65, 80))).toBeUndefined();
    expect(blobKeyType(blob(10, 10))).toBe('a'.repeat(10));
    expect(blobKeyType(blob(10, 9))).toBeUndefined();
    expect(blobKeyType(blob(1, 1))).toBe('a');
  });
});
