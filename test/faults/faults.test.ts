/**
 * Faults and bad input (issues 4 and 7), with the real CLI against a real sshd
 * on loopback. Each case ends in one of three outcomes, and the tests prove which:
 * - carried forward (exit 5, 6 for a host key problem): the failed source's
 *   last-known-good addresses are published, so the tree stays byte-identical,
 *   and the state records the source as carried; with no state for it, or past
 *   rcptsync_max_stale, the run fails (exit 1) and nothing is touched;
 * - held (exit 3): removals over a threshold stay in the tables, additions ship;
 * - refused (exit 1 or 2, or 3 with --on-refusal stop): nothing is touched.
 * The cases where gateways take part are in test/e2e/.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { BIN, rcptsync, sshdHostVars, tableKeys, treeDigest, writeInventoryJson } from '../helpers/cli.js';

let sshd: Sshd;
let other: Sshd;
let dir: string;
/** This case's output tree and state directory, filled by a good run before each case. */
let out: string;
let state: string;
let goodTree: Record<string, string>;
let goodState: Record<string, string>;
let cases = 0;

const LISTS = ['announce', 'board', 'dev', 'general', 'staff', 'users'];

function listsOutput(names: string[]): string {
  return `${names.length} matching mailing lists found:\n${names.map((n) => `${n}@lists.example.test`).join('\n')}\n`;
}

type Vars = Record<string, unknown>;

function inv(name: string, sources: unknown[], listVars: Vars = {}, gatewayVars: Vars = {}): string {
  return writeInventoryJson(join(dir, `${name}.json`), {
    list_servers: {
      lists1: {
        ...sshdHostVars(sshd),
        rcptsync_connect_timeout: 5,
        rcptsync_command_timeout: 2,
        rcptsync_sources: sources,
        ...listVars,
      },
    },
    mail_gateways: {
      mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' }, ...gatewayVars },
    },
  });
}

function mailman(command: string): unknown[] {
  return [{ type: 'mailman3', command }];
}

function sync(inv: string, ...extra: string[]) {
  return rcptsync(['sync', '--inventory-json', inv, '-o', out, '--state-dir', state, ...extra]);
}

/** The same sync into an output that has never been rendered: no last-known-good state to carry from. */
function firstSync(inv: string) {
  const fresh = join(dir, `first-${++cases}`);
  const result = rcptsync(['sync', '--inventory-json', inv, '-o', join(fresh, 'rendered'), '--state-dir', join(fresh, 'state')]);
  return { ...result, wrote: existsSync(fresh) };
}

/** A refusal's promise: a non-zero exit, a message naming the place, and nothing touched. */
function expectRefusedAndUntouched(result: { status: number; stderr: string }, status: number, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.status).toBe(status);
  expect(treeDigest(out)).toEqual(goodTree);
  expect(treeDigest(state)).toEqual(goodState);
}

/** The state file of this case's output (one per output tree). */
function stateFile(): string {
  const files = readdirSync(state).filter((name) => name.endsWith('.snapshot.json'));
  expect(files).toHaveLength(1);
  return join(state, files[0]!);
}

/**
 * A carried-forward source: the run names the failure and exits 5 (6 for a host
 * key problem), the gateways keep every address (the tree is byte-identical),
 * and the state records the source as carried, with its old collection time.
 */
function expectCarriedForward(result: { status: number; stderr: string }, status: 5 | 6, message: RegExp): void {
  expect(result.stderr).toMatch(message);
  expect(result.stderr).toMatch(status === 6 ? /HOST KEY problem, carried forward: lists1: sources\[0\] \(mailman3\): 54 addresses/ : /DEGRADED, carried forward: lists1: sources\[0\] \(mailman3\): 54 addresses/);
  expect(result.stderr).toMatch(/published, degraded: 1 failed source carried forward/);
  expect(result.status).toBe(status);
  expect(treeDigest(out)).toEqual(goodTree);
  const head = readFileSync(stateFile(), 'utf8');
  expect(head).toMatch(new RegExp(`"carriedForward": \\{ "reason": "lists1: (?:[^"\\\\]|\\\\.)*", "hostKey": ${status === 6} \\}`));
  const before = /"collectedAt": "([^"]+)"/.exec(Object.values(goodStateHead)[0]!)![1];
  expect(head).toContain(`"collectedAt": "${before}"`);
}

let goodStateHead: Record<string, string>;

beforeAll(async () => {
  sshd = await startSshd();
  other = await startSshd(); // a different host key, for the "changed key" case
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-faults-'));
  writeFileSync(join(dir, 'lists.txt'), listsOutput(LISTS));
});

beforeEach(() => {
  const caseDir = join(dir, `case-${++cases}`);
  out = join(caseDir, 'rendered');
  state = join(caseDir, 'state');
  const result = sync(inv('good', mailman(`cat ${join(dir, 'lists.txt')}`)));
  expect(result.stderr).not.toMatch(/error|FAILED/);
  expect(result.status).toBe(0);
  goodTree = treeDigest(out);
  goodState = treeDigest(state);
  goodStateHead = { file: readFileSync(stateFile(), 'utf8') };
  expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toHaveLength(LISTS.length * 9 + 2);
});

afterAll(async () => {
  await sshd?.stop();
  await other?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the list server or SSH fails: the source is carried forward', () => {
  it('list server unreachable', () => {
    const result = sync(inv('unreachable', mailman('true'), { ansible_port: 1 }));
    expectCarriedForward(result, 5, /lists1: .*(refused|unreachable|connect).*127\.0\.0\.1:1/i);
  });

  it('SSH authentication refused', () => {
    const result = sync(inv('auth', mailman('true'), { ansible_ssh_private_key_file: other.privateKeyFile }));
    expectCarriedForward(result, 5, /lists1: SSH authentication failed for .*@127\.0\.0\.1/);
  });

  it('host key changed: a HOST KEY problem, exit 6, on every run', () => {
    // known_hosts pins the other instance's key for this address and port.
    const known = sshd.writeKnownHosts('changed', [`[${sshd.host}]:${sshd.port} ${other.hostPublicKey}`]);
    const changed = inv('hostkey', mailman('true'), { rcptsync_known_hosts_file: known });
    const fingerprint = new RegExp(`lists1: HOST KEY CHANGED.*${sshd.hostKeyFingerprint.replace(/[+/]/g, '\\$&')}`);
    expectCarriedForward(sync(changed), 6, fingerprint);
    // The next run, carried from a carried state, says it again.
    expectCarriedForward(sync(changed), 6, fingerprint);
  });

  it('host key unknown (no trust on first use)', () => {
    const known = sshd.writeKnownHosts('empty', []);
    const result = sync(inv('unknown-key', mailman('true'), { rcptsync_known_hosts_file: known }));
    expectCarriedForward(result, 6, /lists1: host key for 127\.0\.0\.1:\d+ is not in .*SHA256:/);
  });
});

describe('the remote command fails or misbehaves: the source is carried forward', () => {
  it('command missing', () => {
    const result = sync(inv('missing', mailman('/nonexistent/mailman lists')));
    expectCarriedForward(result, 5, /lists1: command failed with exit code 127: \/nonexistent\/mailman lists\n[\s\S]*No such file or directory/);
  });

  it('command exits non-zero, with its stderr', () => {
    const result = sync(inv('exit1', mailman('echo "database is locked" >&2; exit 1')));
    expectCarriedForward(result, 5, /lists1: command failed with exit code 1: .*\n[\s\S]*database is locked/);
  });

  it('command hangs past the timeout', () => {
    const result = sync(inv('hang', mailman('sleep 20')));
    expectCarriedForward(result, 5, /lists1: command timed out after 2 s: sleep 20/);
  });

  it('output truncated mid-line', () => {
    const result = sync(inv('truncated', mailman(`printf '2 matching mailing lists found:\\nannounce@lists.example.test\\nboa'`)));
    expectCarriedForward(result, 5, /lists1: .*(middle of line|truncated)/);
  });

  it('a listing shorter than its header announces', () => {
    const result = sync(inv('short', mailman(`printf '6 matching mailing lists found:\\nannounce@lists.example.test\\nboard@lists.example.test\\n'`)));
    expectCarriedForward(result, 5, /lists1: sources\[0\] \(mailman3\): line 1: the header announces 6 lists but 2 followed: truncated output/);
  });

  it('output over the size cap', () => {
    const result = sync(inv('flood', mailman('yes announce@lists.example.test'), { rcptsync_max_output_bytes: 100000 }));
    expectCarriedForward(result, 5, /lists1: command output exceeded 100000 bytes/);
  });

  it('a healthy source on the same host still ships its new list', () => {
    writeFileSync(join(dir, 'new.txt'), listsOutput(['newlist']));
    const result = sync(inv('one-fails', [...mailman('exit 1'), { type: 'mailman3', command: `cat ${join(dir, 'new.txt')}` }]));
    expect(result.stderr).toMatch(/DEGRADED, carried forward: lists1: sources\[0\] \(mailman3\)/);
    expect(result.status).toBe(5);
    const keys = tableKeys(join(out, 'mx1', 'relay_recipients'));
    expect(keys).toContain('newlist@lists.example.test');
    expect(keys).toContain('newlist-bounces@lists.example.test');
    for (const list of LISTS) expect(keys).toContain(`${list}@lists.example.test`);
  });
});

describe('plan shows what sync would do, and writes nothing', () => {
  const plan = (inventory: string, ...extra: string[]) => rcptsync(['plan', '--inventory-json', inventory, '-o', out, '--state-dir', state, ...extra]);

  it('names a carried-forward source in text, markdown and json, and exits 5', () => {
    const failing = inv('plan-fail', mailman('exit 1'));
    const text = plan(failing);
    expect(text.stdout).toMatch(/Carried forward \(failed when collected; their last good addresses are published\):\n  lists1: sources\[0\] \(mailman3\): 54 addresses from \S+ \([\d.]+ h ago, limit 72 h\): lists1: command failed with exit code 1: exit 1/);
    expect(text.stdout).toMatch(/Plan: 0 to add, 0 to change, 0 to remove/);
    expect(text.status).toBe(5);
    const markdown = plan(failing, '--format', 'markdown');
    expect(markdown.stdout).toMatch(/\*\*sync would publish this plan, degraded[^\n]*\*\*/);
    expect(markdown.stdout).toMatch(/\*\*Carried forward [^\n]*\*\*\n\n- lists1: sources\\\[0\\\] \(mailman3\): 54 addresses/);
    const json = JSON.parse(plan(failing, '--format', 'json').stdout) as { outcome: string; carriedForward: Array<Record<string, unknown>> };
    expect(json.outcome).toBe('degraded');
    expect(json.carriedForward).toEqual([expect.objectContaining({ host: 'lists1', label: 'sources[0] (mailman3)', addresses: 54, hostKey: false, maxStaleHours: 72 })]);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(treeDigest(state)).toEqual(goodState);
  });

  it('says which removals sync would hold, and exits 3', () => {
    writeFileSync(join(dir, 'third.txt'), listsOutput(LISTS.slice(0, 2)));
    const shrunk = inv('plan-third', mailman(`cat ${join(dir, 'third.txt')}`));
    const text = plan(shrunk);
    expect(text.stdout).toMatch(/sync would hold these removals for review \(still accepted\) and publish everything else:\n  mx1: lists\.example\.test: 36 of 56 entries/);
    expect(text.stdout).toMatch(/Held:\n  mx1: lists\.example\.test: 36 from lists1 sources\[0\] \(mailman3\) \(first: /);
    expect(text.status).toBe(3);
    const json = JSON.parse(plan(shrunk, '--format', 'json').stdout) as { outcome: string; held: Array<Record<string, unknown>> };
    expect(json.outcome).toBe('held');
    expect(json.held).toEqual([expect.objectContaining({ domain: 'lists.example.test', gateways: ['mx1'], count: 36 })]);
    const stop = plan(shrunk, '--on-refusal', 'stop');
    expect(stop.stdout).toMatch(/sync would refuse this plan and publish nothing:/);
    expect(stop.status).toBe(3);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(treeDigest(state)).toEqual(goodState);
  });
});

describe('a failed source that may not be carried forward: nothing is written', () => {
  it('no last-known-good data for it (a first run)', () => {
    const result = firstSync(inv('first-fail', mailman('exit 1')));
    expect(result.stderr).toMatch(/lists1: sources\[0\] \(mailman3\): failed \(lists1: command failed with exit code 1: exit 1\) and cannot be carried forward: the last-known-good state has no data for it/);
    expect(result.status).toBe(1);
    expect(result.wrote).toBe(false);
  });

  it('its last good data is older than rcptsync_max_stale', async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const result = sync(inv('stale', mailman('exit 1'), { rcptsync_max_stale: 0.0001 }));
    expectRefusedAndUntouched(result, 1, /lists1: sources\[0\] \(mailman3\): failed .* cannot be carried forward: its last good data is from .* older than rcptsync_max_stale \(0\.0001 h\)/);
  });

  it('max_stale on the source wins over the list server', async () => {
    await new Promise((resolve) => setTimeout(resolve, 400));
    const result = sync(inv('stale-source', [{ type: 'mailman3', command: 'exit 1', max_stale: 0.0001 }], { rcptsync_max_stale: 1000 }));
    expectRefusedAndUntouched(result, 1, /older than rcptsync_max_stale \(0\.0001 h\)/);
  });
});

describe('bad lines are refused one by one', () => {
  it('a line that is not UTF-8 is refused, shown escaped, and skipped', () => {
    const lines = [...LISTS.map((n) => `${n}@lists.example.test`), 'caf\\351@lists.example.test'];
    const result = sync(inv('latin1', mailman(`printf '${lines.length} matching mailing lists found:\\n${lines.join('\\n')}\\n'`)));
    expect(result.stderr).toMatch(/warning: lists1: sources\[0\] \(mailman3\): line 8: not valid UTF-8: "caf\\xe9@lists\.example\.test" \(skipped\)/);
    expect(result.status).toBe(0);
    expect(treeDigest(out)).toEqual(goodTree);
  });

  it('with --strict it is fatal', () => {
    const result = sync(inv('latin1-strict', mailman(`printf '1 matching mailing lists found:\\ncaf\\351@lists.example.test\\n'`)), '--strict');
    expectRefusedAndUntouched(result, 1, /lists1: sources\[0\] \(mailman3\): line 2: not valid UTF-8: "caf\\xe9@lists\.example\.test" \(refused; --strict makes this fatal\)/);
  });
});

describe('a list server speaks only for its own domains', () => {
  const twoDomains = (name: string, listVars: Vars) =>
    inv(
      name,
      [...mailman(`cat ${join(dir, 'lists.txt')}`), { type: 'command', command: "printf 'ceo@corp.example.test\\nhelp@lists.example.test\\n'" }],
      listVars,
      { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25', 'corp.example.test': 'smtp:[10.0.0.2]:25' } },
    );

  it('with rcptsync_domains, an address in another domain is refused line by line', () => {
    const result = sync(twoDomains('bound', { rcptsync_domains: ['lists.example.test'] }));
    expect(result.stderr).toMatch(/warning: lists1: sources\[1\] \(command\): line 1: domain corp\.example\.test is not one of lists1's rcptsync_domains: "ceo@corp\.example\.test" \(skipped\)/);
    expect(result.stderr).not.toMatch(/no rcptsync_domains/);
    // corp.example.test now has no source: the gateway would relay an empty domain, which is an error.
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/corp\.example\.test: no source provides any address/);
  });

  it('without it, nothing is refused and the run warns, naming the list server', () => {
    const result = sync(twoDomains('unbound', {}));
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/warning: lists1: no rcptsync_domains: its sources may add addresses to every relayed domain/);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toContain('ceo@corp.example.test');
    const validate = rcptsync(['validate', '--inventory-json', twoDomains('unbound-validate', {})]);
    expect(validate.status).toBe(0);
    expect(validate.stderr).toMatch(/warning: lists1: no rcptsync_domains/);
  });
});

describe('a source shrinks: the removals are held, the additions ship', () => {
  it('a source suddenly returning zero entries: everything it had is held', () => {
    writeFileSync(join(dir, 'none.txt'), 'No matching mailing lists found\n');
    const result = sync(inv('zero', mailman(`cat ${join(dir, 'none.txt')}`)));
    expect(result.stderr).toMatch(/HELD for review: mx1: lists\.example\.test: 54 removals from lists1 sources\[0\] \(mailman3\) \(still accepted; first: announce@lists\.example\.test, /);
    expect(result.stderr).toMatch(/review needed: 54 removals held because lists1: sources\[0\] \(mailman3\): returned no entries, 54 last time/);
    expect(result.status).toBe(3);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients')).sort()).toEqual(tableKeysOf(goodTree));
  });

  it('a third of its entries, with a new list on another source: held until --force', () => {
    writeFileSync(join(dir, 'third.txt'), listsOutput(LISTS.slice(0, 2)));
    writeFileSync(join(dir, 'new.txt'), listsOutput(['newlist']));
    const shrunk = inv('third', [...mailman(`cat ${join(dir, 'third.txt')}`), { type: 'mailman3', command: `cat ${join(dir, 'new.txt')}` }]);
    const before = tableKeysOf(goodTree);
    for (const run of [1, 2]) {
      // The second run compares with what the first published: the removals are still held.
      const result = sync(shrunk);
      expect(result.stderr, `run ${run}`).toMatch(/HELD for review: mx1: lists\.example\.test: 36 removals from lists1 sources\[0\] \(mailman3\)/);
      // Compared with what was published: 56 entries, then 65 (the new list's 9 with the held ones).
      expect(result.stderr).toMatch(run === 1 ? /mx1: lists\.example\.test: 36 of 56 entries \(64\.3%\) would be removed, over 30%/ : /mx1: lists\.example\.test: 36 of 65 entries \(55\.4%\) would be removed, over 30%/);
      expect(result.status).toBe(3);
      const keys = tableKeys(join(out, 'mx1', 'relay_recipients'));
      expect(keys).toContain('newlist@lists.example.test');
      for (const key of before) expect(keys).toContain(key);
      expect(readFileSync(join(out, 'mx1', 'relay_recipients'), 'utf8')).toMatch(/# Source: lists1 sources\[0\] \(mailman3\) \(held removals, pending review\)/);
    }
    const forced = sync(shrunk, '--force');
    expect(forced.status).toBe(0);
    const keys = tableKeys(join(out, 'mx1', 'relay_recipients'));
    expect(keys).toContain('newlist@lists.example.test');
    expect(keys).toContain('board@lists.example.test');
    expect(keys).not.toContain('dev@lists.example.test');
    expect(keys).toHaveLength(3 * 9 + 2);
  });

  it('--on-refusal stop publishes nothing, as before', () => {
    writeFileSync(join(dir, 'third.txt'), listsOutput(LISTS.slice(0, 2)));
    const result = sync(inv('third-stop', mailman(`cat ${join(dir, 'third.txt')}`)), '--on-refusal', 'stop');
    expectRefusedAndUntouched(result, 3, /mx1: lists\.example\.test: 36 of 56 entries \(64\.3%\) would be removed, over 30%; run with --force to accept/);
  });

  it('--allow-removals too small still holds; --force is needed', () => {
    writeFileSync(join(dir, 'third.txt'), listsOutput(LISTS.slice(0, 2)));
    const result = sync(inv('third-allow', mailman(`cat ${join(dir, 'third.txt')}`)), '--allow-removals', '10');
    expect(result.stderr).toMatch(/over 30%/);
    expect(result.status).toBe(3);
    expect(treeDigest(out)['mx1/relay_recipients']).not.toBeUndefined();
    expect(tableKeys(join(out, 'mx1', 'relay_recipients')).sort()).toEqual(tableKeysOf(goodTree));
  });

  it('a removal under the thresholds is applied', () => {
    writeFileSync(join(dir, 'five.txt'), listsOutput(LISTS.slice(0, 5)));
    const result = sync(inv('minus-one', mailman(`cat ${join(dir, 'five.txt')}`)));
    expect(result.status).toBe(0);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).not.toContain('users@lists.example.test');
  });
});

/** The keys of the good run's relay_recipients, sorted (goodTree only holds digests: read the file of a fresh good run). */
function tableKeysOf(_tree: Record<string, string>): string[] {
  return [...LISTS.flatMap((n) => [n, ...['bounces', 'confirm', 'join', 'leave', 'owner', 'request', 'subscribe', 'unsubscribe'].map((s) => `${n}-${s}`)]).map((l) => `${l}@lists.example.test`), 'abuse@lists.example.test', 'postmaster@lists.example.test'].sort();
}

describe('hostile data', () => {
  const hostile = [
    'x OK',
    '@lists.example.test',
    'sp ace@lists.example.test',
    'ok@lists.example.test OK',
    '#comment@lists.example.test',
    'co:lon@lists.example.test',
    '"quoted"@lists.example.test',
    'semi;rm -rf /@lists.example.test',
    '$(touch /tmp/rcptsync-pwned)@lists.example.test',
    '`id`@lists.example.test',
    'a@b@lists.example.test',
    `${'x'.repeat(10000)}@lists.example.test`,
  ];

  function hostileFile(): string {
    const file = join(dir, 'hostile.txt');
    const lines = [...LISTS.map((n) => `${n}@lists.example.test`), ...hostile];
    writeFileSync(file, `${lines.length} matching mailing lists found:\n${lines.join('\n')}\n`);
    return file;
  }

  it('are refused with a warning naming host, source and line, and never reach a map', () => {
    const scratch = join(dir, 'hostile-out');
    const result = rcptsync(['sync', '--inventory-json', inv('hostile', mailman(`cat ${hostileFile()}`)), '-o', scratch]);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/warning: lists1: sources\[0\] \(mailman3\): line 8: .*"x OK"/);
    expect(result.stderr).toMatch(/catch-all/);
    expect(result.stdout).toMatch(/Warnings: \d+ refused entries/);
    const lines = tableKeys(join(scratch, 'mx1', 'relay_recipients'));
    for (const key of lines) {
      expect(key).toMatch(/^[a-z0-9!#$%&'*+\-/=?^_`{|}~.]+@lists\.example\.test$/);
      expect(key.startsWith('@')).toBe(false);
    }
    expect(existsSync('/tmp/rcptsync-pwned')).toBe(false);
  });

  it('--strict makes a refused entry fatal and writes nothing', () => {
    const result = sync(inv('hostile-strict', mailman(`cat ${hostileFile()}`)), '--strict');
    expectRefusedAndUntouched(result, 1, /lists1: sources\[0\] \(mailman3\): line 8: .*--strict/);
  });
});

describe('invalid inventory', () => {
  it('wrong types and unknown rcptsync_ variables, all reported at once', () => {
    const result = sync(
      inv('bad-types', [{ type: 'mailman3', from: 'nowhere' }], { rcptsync_command_timeout: 'soon', rcptsync_sourcse: [] }),
    );
    expectRefusedAndUntouched(result, 2, /rcptsync_command_timeout[\s\S]*rcptsync_sourcse[\s\S]*(did you mean|rcptsync_sources)/);
    expect(result.stderr).toMatch(/rcptsync_sources\[0\]\.from/);
  });

  it('a gateway relaying a domain nobody provides', () => {
    const result = sync(
      inv('orphan', mailman(`cat ${join(dir, 'lists.txt')}`), {}, {
        rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25', 'orphan.example.test': 'smtp:[10.0.0.1]:25' },
      }),
    );
    expectRefusedAndUntouched(result, 2, /mx1: rcptsync_relay_domains\.orphan\.example\.test: no source provides any address/);
  });

  it('a next hop with a newline cannot inject a map line', () => {
    const result = sync(inv('nexthop', mailman('true'), {}, { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[x]\n@lists.example.test OK' } }));
    expectRefusedAndUntouched(result, 2, /mx1: .*rcptsync_relay_domains/);
  });
});

describe('an interrupted render', () => {
  beforeEach(() => {
    // Many addresses, so that the render takes long enough to be killed in the middle.
    writeFileSync(join(dir, 'big.sh'), 'i=0; echo "20000 matching mailing lists found:"; seq 1 20000 | sed "s/.*/list&@lists.example.test/"\n');
  });

  it('a process killed mid-write leaves the old tree whole, and the next run recovers', async () => {
    // A generous command timeout: on a loaded machine 20,000 lists take more than the cases' 2 s.
    const big = inv('big', mailman(`sh ${join(dir, 'big.sh')}`), { rcptsync_command_timeout: 60 });
    const child = spawn(process.execPath, [BIN, 'sync', '--inventory-json', big, '-o', out, '--state-dir', state, '--force'], {
      stdio: 'ignore',
      env: { ...process.env, SSH_AUTH_SOCK: '' },
    });
    // Listened for from the start: a child that ends before it is killed must not hang the test.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill it as soon as its staging tree appears beside the old one.
    const staged = await new Promise<boolean>((resolve) => {
      const started = Date.now();
      const timer = setInterval(() => {
        const staging = readdirSync(join(out, '..')).some((name) => name.startsWith('.rendered.new'));
        if (staging || child.exitCode !== null || Date.now() - started > 30_000) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve(staging);
        }
      }, 5);
    });
    await exited;
    expect(staged).toBe(true);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(treeDigest(state)).toEqual(goodState);
    // The next run clears the leftover staging tree and is otherwise unaffected.
    const again = sync(inv('good-again', mailman(`cat ${join(dir, 'lists.txt')}`)));
    expect(again.status).toBe(0);
    expect(treeDigest(out)).toEqual(goodTree);
    expect(readdirSync(join(out, '..')).some((name) => name.startsWith('.rendered.'))).toBe(false);
  });
});
