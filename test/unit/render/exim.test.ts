/**
 * Exim gateways (rcptsync_mta: exim, issue 11): the same pipeline renders lsearch
 * files for them, beside Postfix tables for the others, with the same guarantees:
 * byte-identical output, manifest with sha256 and counts, golden files.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RcptsyncError } from '../../../src/errors.js';
import { snapshotChunks, validateSnapshot } from '../../../src/model/snapshot-io.js';
const serialiseSnapshot = (s: Snapshot): string => [...snapshotChunks(s)].join('');
import type { Snapshot } from '../../../src/model/snapshot.js';
import { eximRouteData } from '../../../src/render/exim.js';
import { checkTree, renderTree } from '../../../src/render/index.js';
import { fixtureSnapshot } from './fixture-snapshot.js';
import { expectGolden, readTree } from './read-tree.js';

const goldenDir = path.resolve(import.meta.dirname, '../../fixtures/render/golden-exim');

let work: string;
let counter = 0;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rcptsync-exim-render-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fresh = (): string => path.join(work, `case-${++counter}`, 'rendered');

/** The golden fixture with gw2 turned into an Exim gateway: a mixed fleet. */
function mixedFleet(): Snapshot {
  const snapshot = fixtureSnapshot();
  snapshot.gateways[1]!.mta = 'exim';
  return snapshot;
}

describe('next hops as manualroute route_data', () => {
  test.each([
    ['smtp:[lists1.example.org]:25', 'lists1.example.org'],
    ['smtp:[10.213.4.11]:25', '10.213.4.11'],
    ['smtp:[10.213.4.11]:2525', '10.213.4.11::2525'],
    ['relay:[lists1.example.org]', 'lists1.example.org'],
    ['smtp:lists.example.org', 'lists.example.org/MX'],
  ])('%s -> %s', (nextHop, route) => {
    expect(eximRouteData(nextHop)).toEqual({ ok: true, route });
  });

  test.each(['lmtp:[10.0.0.1]:24', 'smtp:lists.example.org:2525', 'smtp:[2001:db8::1]:25', 'smtp:[a b]', 'smtp:[10.0.0.1]:70000', 'local:', 'smtp:'])(
    '%s is refused with the forms that work',
    (nextHop) => {
      const result = eximRouteData(nextHop);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toContain('smtp:[host]:port');
    },
  );

  test.each([
    ['smtp:[a.b.example]', 'a.b.example'],
    ['smtp:x', 'x/MX'],
    ['smtp:[mx1]', 'mx1'],
    ['smtp:mail2.example', 'mail2.example/MX'],
    ['smtp:[3com.example]:587', '3com.example::587'],
    ['smtp:[mx1]:1', 'mx1::1'],
    ['smtp:[mx1]:65535', 'mx1::65535'],
    ['smtp:[mx1]:00025', 'mx1'],
    // Every octet form, first and later: 25x, 2[0-4]x, 1xx, two digits, one digit.
    ['smtp:[255.249.199.99]', '255.249.199.99'],
    ['smtp:[249.255.9.0]:2525', '249.255.9.0::2525'],
    ['smtp:[199.1.250.10]', '199.1.250.10'],
    ['relay:[9.99.100.200]', '9.99.100.200'],
    ['smtp:[99.0.0.1]', '99.0.0.1'],
  ])('%s -> %s (one-letter labels, ports at the bounds, every IPv4 octet form)', (nextHop, route) => {
    expect(eximRouteData(nextHop)).toEqual({ ok: true, route });
  });

  const refusal = (nextHop: string, why: string) => ({
    ok: false,
    message: `next hop "${nextHop}" ${why}; an Exim gateway takes smtp:[host]:port, smtp:[host] or smtp:host (relay: works as smtp:)`,
  });

  test.each([
    ['lmtp:[10.0.0.1]:24', 'has a transport Exim gateways do not map'],
    ['esmtp:[mx1]', 'has a transport Exim gateways do not map'],
    ['smtp:[mx1]\nlmtp:[mx2]', 'has a transport Exim gateways do not map'],
    ['smtp:[a b]', 'has a host that is neither an IPv4 address nor a host name'],
    ['smtp:[mx1]:0', 'has a port outside 1-65535'],
    ['smtp:[mx1]:65536', 'has a port outside 1-65535'],
    ['smtp:lists.example.org:2525', 'is not in a form with an Exim equivalent'],
    ['smtp:x[mx1]', 'is not in a form with an Exim equivalent'],
    ['smtp:[mx1]:25x', 'is not in a form with an Exim equivalent'],
    // Postfix would look up MX records of an address; bracket it for the address itself.
    ['smtp:10.213.4.11', 'is not in a form with an Exim equivalent'],
  ])('%s is refused: %s', (nextHop, why) => {
    expect(eximRouteData(nextHop)).toEqual(refusal(nextHop, why));
  });

  // A last label of digits makes no host name (RFC 1123 2.1), so a dotted form
  // that is not an IPv4 address is refused rather than looked up as a name:
  // an octet over 255, a leading zero, a letter in an octet, too few or many parts.
  test.each([
    '256.0.0.1',
    '0.256.0.1',
    '259.0.0.1',
    '0.259.0.1',
    '24x.0.0.1',
    '0.24x.0.1',
    '1x1.0.0.1',
    '0.1x1.0.1',
    '11x.0.0.1',
    '0.11x.0.1',
    '01.0.0.1',
    '0.01.0.1',
    'x.0.0.1',
    '0.x.0.1',
    'x1.2.3.4',
    '1.2.3.4.5',
    '1.2',
    '10.0.0.256',
    '123',
  ])('smtp:[%s] is refused: neither an IPv4 address nor a host name', (host) => {
    expect(eximRouteData(`smtp:[${host}]`)).toEqual(refusal(`smtp:[${host}]`, 'has a host that is neither an IPv4 address nor a host name'));
    expect(eximRouteData(`smtp:${host}`)).toEqual(refusal(`smtp:${host}`, 'is not in a form with an Exim equivalent'));
  });
});

describe('a mixed fleet', () => {
  test('the Exim gateway gets recipients, relay_domains, routes and vars.yml; the Postfix one its tables', async () => {
    const outDir = fresh();
    const summary = await renderTree(mixedFleet(), { outDir });
    expect(readdirSync(path.join(outDir, 'gw1.example.net')).sort()).toEqual(['relay_domains', 'relay_recipients', 'transport', 'vars.yml']);
    expect(readdirSync(path.join(outDir, 'gw2.example.net')).sort()).toEqual(['recipients', 'relay_domains', 'routes', 'vars.yml']);
    expect(summary.gateways.map((g) => [g.name, g.mta])).toEqual([
      ['gw1.example.net', 'postfix'],
      ['gw2.example.net', 'exim'],
    ]);
    const recipients = readFileSync(path.join(outDir, 'gw2.example.net/recipients'), 'utf8');
    // Keyed by full address, the same keys a Postfix gateway of these domains gets.
    expect(recipients).toContain('\nhelpdesk@support.example.net OK\n');
    expect(recipients).toContain('\nabuse@xn--bcher-kva.example OK\ninfo@xn--bcher-kva.example OK\n');
    expect(recipients).toContain('\npostmaster@xn--bcher-kva.example OK\n');
    expect(recipients).not.toMatch(/^[@*]/m);
    expect(readFileSync(path.join(outDir, 'gw2.example.net/routes'), 'utf8')).toContain('\nsupport.example.net lists1.example.org\n');
    expect(readFileSync(path.join(outDir, 'gw2.example.net/relay_domains'), 'utf8')).toMatch(/\nsupport\.example\.net OK\nxn--bcher-kva\.example OK\n$/);
    const vars = readFileSync(path.join(outDir, 'gw2.example.net/vars.yml'), 'utf8');
    expect(vars).toContain('\n  mta: "exim"\n');

    const manifest = summary.manifest.gateways['gw2.example.net']!;
    expect(manifest.mta).toBe('exim');
    expect(Object.keys(manifest.files).sort()).toEqual(['recipients', 'relay_domains', 'routes', 'vars.yml']);
    const lines = recipients.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    expect(manifest.files['recipients']!.entries).toBe(lines);
    expect(Object.values(manifest.domains).reduce((n, d) => n + d.entries, 0)).toBe(lines);
    // A Postfix gateway's manifest entry has no mta key: a Postfix fleet's manifest is unchanged.
    expect('mta' in summary.manifest.gateways['gw1.example.net']!).toBe(false);
    expect(await checkTree(outDir)).toMatchObject({ ok: true, problems: [] });
  });

  test('checkTree refuses an altered Exim file and a Postfix file in an Exim folder', async () => {
    const outDir = fresh();
    await renderTree(mixedFleet(), { outDir });
    writeFileSync(path.join(outDir, 'gw2.example.net/recipients'), '@support.example.net OK\n', { flag: 'a' });
    writeFileSync(path.join(outDir, 'gw2.example.net/transport'), 'x smtp:[y]\n');
    const check = await checkTree(outDir);
    expect(check.ok).toBe(false);
    expect(check.problems.join('\n')).toMatch(/gw2\.example\.net\/recipients: sha256 .* does not match/);
    expect(check.problems.join('\n')).toMatch(/gw2\.example\.net\/recipients: \d+ entries, the manifest says/);
    expect(check.problems.join('\n')).toContain('gw2.example.net/transport: not in the manifest');
  });

  test('byte-identical on every run', async () => {
    const a = fresh();
    const b = fresh();
    await renderTree(mixedFleet(), { outDir: a });
    await renderTree(mixedFleet(), { outDir: b });
    expect(readTree(a)).toEqual(readTree(b));
  });

  test('a next hop without an Exim form fails the render with exit 2 and writes nothing', async () => {
    const snapshot = mixedFleet();
    snapshot.gateways[1]!.domains[0]!.nextHop = 'lmtp:[10.0.0.1]:24';
    const outDir = fresh();
    const error = await renderTree(snapshot, { outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RcptsyncError);
    expect((error as RcptsyncError).exitCode).toBe(2);
    expect((error as Error).message).toContain('gw2.example.net: support.example.net: next hop "lmtp:[10.0.0.1]:24"');
    expect(existsSync(outDir)).toBe(false);
  });

  test('the snapshot carries the kind; Postfix gateways keep the bytes they had', () => {
    const mixed = serialiseSnapshot(validateSnapshot(mixedFleet()));
    expect(mixed).toContain('"name": "gw2.example.net",\n      "smtputf8": false,\n      "mta": "exim",');
    expect(serialiseSnapshot(validateSnapshot(fixtureSnapshot()))).not.toContain('"mta"');
    expect(validateSnapshot(JSON.parse(JSON.stringify(mixedFleet()))).gateways[1]!.mta).toBe('exim');
    const bad = JSON.parse(JSON.stringify(mixedFleet()));
    bad.gateways[1].mta = 'sendmail';
    expect(() => validateSnapshot(bad)).toThrow(/gateways\[1\]\.mta: must be "postfix" or "exim"/);
  });

  test("the role's manifest check (check_rendered.py, run by both roles) accepts the Exim tree and refuses a catch-all in it", async () => {
    const script = path.resolve(import.meta.dirname, '../../../roles/postfix_relay_gateway/files/check_rendered.py');
    const outDir = fresh();
    await renderTree(mixedFleet(), { outDir });
    const check = () => {
      const result = spawnSync('python3', [script, outDir, 'gw2.example.net', '1', 'recipients', 'relay_domains', 'routes'], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { errors: string[]; mta: string; domains: string[]; tables: Record<string, { entries: number }> };
    };
    const good = check();
    expect(good).toMatchObject({ errors: [], mta: 'exim', domains: ['support.example.net', 'xn--bcher-kva.example'] });
    expect(good.tables['recipients']!.entries).toBe(14);
    // The Postfix role's own call names relay_recipients: an Exim tree is refused there.
    const asPostfix = spawnSync('python3', [script, outDir, 'gw2.example.net', '1', 'relay_recipients', 'relay_domains', 'transport'], { encoding: 'utf8' });
    expect(JSON.parse(asPostfix.stdout).errors.join('\n')).toContain('gateway gw2.example.net has no relay_recipients');
    writeFileSync(path.join(outDir, 'gw2.example.net/recipients'), '@support.example.net OK\n', { flag: 'a' });
    const errors = check().errors.join('\n');
    expect(errors).toMatch(/recipients: sha256 \S+ differs from the manifest/);
    expect(errors).toMatch(/recipients:\d+: @support\.example\.net: catch-all entry; it would accept every recipient of its domain/);
  });

  test('the rendered tree matches test/fixtures/render/golden-exim', async () => {
    const outDir = fresh();
    await renderTree(mixedFleet(), { outDir });
    expectGolden(outDir, goldenDir);
  });
});
