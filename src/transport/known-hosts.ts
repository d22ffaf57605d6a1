/**
 * OpenSSH known_hosts checking, so that rcptsync trusts exactly the keys an
 * administrator pinned and never a key offered on first contact.
 *
 * Supported, as in sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT":
 * - host patterns: plain names, comma lists, `*` and `?` wildcards, `!negation`;
 * - `[host]:port` for ports other than 22 (the port is part of the name);
 * - hashed names `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (`ssh-keygen -H`);
 * - `@revoked` lines: that key is refused for every host, whatever its patterns
 *   (stricter than OpenSSH, which only looks at lines matching the host);
 * - `@cert-authority` lines are skipped: rcptsync does not verify host
 *   certificates, so a host known only through a CA is "unknown" to it.
 * Comment lines, blank lines and lines that do not parse are ignored, as OpenSSH does.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RcptsyncError } from '../errors.js';

export type HostKeyStatus = 'match' | 'unknown' | 'changed' | 'revoked';

export interface HostKeyCheck {
  status: HostKeyStatus;
  /** `SHA256:` + unpadded base64 of the key blob's SHA-256, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** Key type named inside the offered blob, e.g. `ssh-ed25519`. */
  keyType: string;
}

export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | undefined;
  /** Raw pattern field: a comma list or one hashed name. */
  hosts: string;
  keyType: string;
  key: Buffer;
  line: number;
}

export interface KnownHosts {
  file: string;
  entries: KnownHostEntry[];
}

/** Reads and parses a known_hosts file; a missing or unreadable file is a user error naming it. */
export function readKnownHosts(file: string): KnownHosts {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new RcptsyncError(`cannot read known_hosts file ${file}: ${reason}`);
  }
  return { file, entries: parseKnownHosts(text) };
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fields = lines[i]!.trim().split(/[ \t]+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) continue;
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const name = fields.shift()!;
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else continue; // unknown marker: OpenSSH ignores the line too
    }
    const [hosts, keyType, keyBase64] = fields;
    if (!hosts || !keyType || !keyBase64) continue;
    const key = Buffer.from(keyBase64, 'base64');
    // A blob whose embedded type disagrees with the type field is corrupt.
    if (blobKeyType(key) !== keyType) continue;
    entries.push({ marker, hosts, keyType, key, line: i + 1 });
  }
  return entries;
}

/** The name OpenSSH looks up: `host`, or `[host]:port` when the port is not 22. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** Does this entry's host field name `name` (already in knownHostsName form)? */
export function entryMatchesHost(hosts: string, name: string): boolean {
  if (hosts.startsWith('|1|')) return hashedNameMatches(hosts, name);
  let matched = false;
  for (const raw of hosts.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (!wildcardMatch(pattern, name)) continue;
    if (negated) return false; // a matching negation vetoes the whole line
    matched = true;
  }
  return matched;
}

function hashedNameMatches(field: string, name: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4) return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const expected = Buffer.from(parts[3]!, 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** OpenSSH's match_pattern: `*` any run, `?` one character, everything else literal. */
function wildcardMatch(pattern: string, text: string): boolean {
  const regex = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.+()[\]{}|]/g, '\\$&')))
        .join('') +
      '$',
    's',
  );
  return regex.test(text);
}

export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** The first string of an SSH public key blob is its type (RFC 4253 §6.6). */
export function blobKeyType(keyBlob: Buffer): string | undefined {
  if (keyBlob.length < 4) return undefined;
  const length = keyBlob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > keyBlob.length) return undefined;
  return keyBlob.subarray(4, 4 + length).toString('latin1');
}

/** Checks an offered host key against already parsed entries. */
export function lookupHostKey(
  knownHosts: KnownHosts,
  host: string,
  port: number,
  keyBlob: Buffer,
): HostKeyCheck {
  const fingerprint = fingerprintOf(keyBlob);
  const keyType = blobKeyType(keyBlob) ?? 'unknown';
  const name = knownHostsName(host, port);
  let hostKnown = false;
  let matched = false;
  for (const entry of knownHosts.entries) {
    const sameKey = entry.key.equals(keyBlob);
    if (entry.marker === 'revoked') {
      if (sameKey) return { status: 'revoked', fingerprint, keyType };
      continue;
    }
    if (entry.marker === 'cert-authority') continue;
    if (!entryMatchesHost(entry.hosts, name)) continue;
    hostKnown = true;
    if (sameKey) matched = true;
  }
  // Like OpenSSH, any pinned key for the host that differs from the offered
  // one (of whatever type) means the offered key is not trusted.
  const status = matched ? 'match' : hostKnown ? 'changed' : 'unknown';
  return { status, fingerprint, keyType };
}

/** Reads `file` and checks the key `host:port` offered. */
export function checkHostKey(file: string, host: string, port: number, keyBlob: Buffer): HostKeyCheck {
  return lookupHostKey(readKnownHosts(file), host, port, keyBlob);
}

/** Key types pinned for the host, in file order, so the client can ask the server for one of them first. */
export function pinnedKeyTypes(knownHosts: KnownHosts, host: string, port: number): string[] {
  const name = knownHostsName(host, port);
  const types: string[] = [];
  for (const entry of knownHosts.entries) {
    if (entry.marker !== undefined) continue;
    if (entryMatchesHost(entry.hosts, name) && !types.includes(entry.keyType)) types.push(entry.keyType);
  }
  return types;
}
