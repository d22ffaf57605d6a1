/**
 * The whole flow on real components: `ansible-playbook playbooks/sync.yml` runs
 * `rcptsync sync` against the lab's Mailman 3 list server over SSH, then the
 * postfix_relay_gateway role publishes the tables on two real Postfix gateways.
 * Every verdict comes from Postfix itself, at RCPT time, over SMTP from the
 * control node (which is not a trusted client of the gateways).
 *
 * The tests run in order and share the lab: each step starts from the state the
 * previous one left.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIAL_LISTS, REPO_ROOT, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook, type PlaybookRun } from '../lab/ansible.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';
import { domainOf, mismatches, probeOnOwnGateway, validAddresses } from '../helpers/gateway-probes.js';

// Generous: a playbook run that takes seconds on an idle machine took minutes on a busy one.
const STEP_TIMEOUT = 600_000;
const ACCEPTED = '250 2.1.5 Ok';
const unknownReply = (address: string) =>
  `550 5.1.1 <${address}>: Recipient address rejected: User unknown in relay recipient table`;
const relayDeniedReply = (address: string) => `554 5.7.1 <${address}>: Relay access denied`;

let lab: Lab;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab();
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);



function expectSuccess(result: PlaybookRun) {
  expect(result.code, describeRun(result)).toBe(0);
  for (const gateway of lab.gateways) {
    expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
  }
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** sha256 and mtime of every file under a gateway's /etc/postfix, and how often Postfix reloaded. */
function fingerprint(gateway: string): { files: Record<string, string>; reloads: number } {
  const root = lab.hostPath(gateway, '/etc/postfix');
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      // The role's own note of what its last complete run left (the next run's cheap
      // check) is bookkeeping: a run that changes nothing Postfix reads may rewrite it.
      else if (entry.isFile() && entry.name !== '.rcptsync-fingerprint') {
        files[path.slice(root.length)] = `${sha256(path)} ${statSync(path).mtimeMs}`;
      }
    }
  };
  walk(root);
  const log = readFileSync(lab.hostPath(gateway, '/var/lib/postfix/maillog'), 'utf8');
  return { files, reloads: (log.match(/ reload -- version /g) ?? []).length };
}

describe('sync.yml on real Mailman 3 and Postfix', () => {
  let lists = [...INITIAL_LISTS];

  it('runs rcptsync and publishes the tables on both gateways', async () => {
    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
  }, STEP_TIMEOUT);

  it('(1) accepts every address of every list, VERP and +extension forms, postmaster@, abuse@ and the aliases on the gateway that relays the domain', async () => {
    const addresses = validAddresses(lists);
    expect(addresses.length).toBeGreaterThan(INITIAL_LISTS.length * 9);
    const replies = await probeOnOwnGateway(lab.gateways, addresses);
    expect(replies).toHaveLength(addresses.length);
    expect(mismatches(replies, () => ACCEPTED)).toEqual([]);
  }, STEP_TIMEOUT);

  it('(2) rejects unknown local parts with 550 5.1.1, and domains relayed by the other gateway with 554 5.7.1', async () => {
    const unknown = [
      'nosuchlist@lists.example.test',
      'announce-nosuch@lists.example.test',
      'announcex@lists.example.test',
      'nosuch-bounces+someone=example.org@lists.example.test',
      'nosuchlist@news.example.test',
      'weekly-admin@news.example.test', // a Mailman 2 suffix; Mailman 3 has none
    ];
    expect(mismatches(await probeOnOwnGateway(lab.gateways, unknown), unknownReply)).toEqual([]);

    for (const gateway of lab.gateways) {
      const foreign = lab.gateways
        .filter((other) => other !== gateway)
        .flatMap((other) => other.domains)
        .flatMap((domain) => [`postmaster@${domain}`, `${lists.find((list) => domainOf(list) === domain)}`]);
      const outside = [...foreign, 'someone@example.com'];
      expect(mismatches(await probeRecipients(gateway.address, outside), relayDeniedReply), gateway.name).toEqual([]);
    }
  }, STEP_TIMEOUT);

  it('verify.yml probes every gateway at RCPT time and passes', async () => {
    const result = await runPlaybook(lab, 'playbooks/verify.yml');
    expect(result.code, describeRun(result)).toBe(0);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
      expect(result.stdout, describeRun(result)).toMatch(new RegExp(`${gateway.name}: \\d+ probes answered as expected`));
    }
  }, STEP_TIMEOUT);

  it('(3) accepts a list created on the list server, and rejects a removed one, after the next sync', async () => {
    const created = 'fresh@lists.example.test';
    const removed = 'dev@lists.example.test';
    await lab.mailman(['create', created]);
    await lab.mailman(['remove', removed]);

    // The gateways only learn of it from a sync.
    expect(mismatches(await probeOnOwnGateway(lab.gateways, mailman3Addresses(created)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, mailman3Addresses(removed)), () => ACCEPTED)).toEqual([]);

    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
    lists = [...lists.filter((list) => list !== removed), created];

    expect(mismatches(await probeOnOwnGateway(lab.gateways, mailman3Addresses(created)), () => ACCEPTED)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, mailman3Addresses(removed)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, validAddresses(lists)), () => ACCEPTED)).toEqual([]);
  }, STEP_TIMEOUT);

  it('(4) reports changed=0 on every gateway when nothing changed', async () => {
    const before = Object.fromEntries(lab.gateways.map((gateway) => [gateway.name, fingerprint(gateway.name)]));
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      expect(result.recap[gateway.name]?.ok, describeRun(result)).toBeGreaterThan(0);
      expect(fingerprint(gateway.name), gateway.name).toEqual(before[gateway.name]);
    }
  }, STEP_TIMEOUT);

  it('rcptsync status sees every gateway in sync, and a changed map as drift', async () => {
    const status = (): { status: number; stdout: string; stderr: string } => {
      const result = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), 'status', '-i', lab.inventoryFile, '-o', lab.renderedDir], {
        encoding: 'utf8',
        env: { ...process.env, SSH_AUTH_SOCK: '' },
        timeout: 60_000,
      });
      return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
    };
    const inSync = status();
    expect(inSync.stderr).toBe('');
    for (const gateway of lab.gateways) expect(inSync.stdout).toMatch(new RegExp(`^${gateway.name}: in sync \\(\\d+ relay recipients\\)$`, 'm'));
    expect(inSync.status).toBe(0);

    // Someone edits a published table by hand on gw1.
    const file = lab.hostPath('gw1', '/etc/postfix/rcptsync/relay_domains');
    const original = readFileSync(file);
    writeFileSync(file, `${original}# edited by hand\n`);
    try {
      const drifted = status();
      expect(drifted.stdout).toMatch(/^gw1: drifted \(relay_domains differs\)$/m);
      expect(drifted.stdout).toMatch(/^gw2: in sync/m);
      expect(drifted.status).toBe(4);
    } finally {
      writeFileSync(file, original);
    }
  }, STEP_TIMEOUT);

  it('(5) with the list server unreachable, carries its sources forward: no gateway changes, every valid address is still accepted, the run is red', async () => {
    const before = Object.fromEntries(lab.gateways.map((gateway) => [gateway.name, fingerprint(gateway.name)]));
    const manifestBefore = sha256(join(lab.renderedDir, 'manifest.json'));
    await lab.stopSsh('list1');
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.recap.localhost?.failed, describeRun(result)).toBeGreaterThan(0);
      // rcptsync names the host it could not reach and the sources it carried; the deploy has nothing to change.
      expect(result.stdout + result.stderr, describeRun(result)).toMatch(new RegExp(`list1: .*${lab.listServer.address.replaceAll('.', '\\.')}`));
      expect(result.stdout, describeRun(result)).toMatch(/DEGRADED, carried forward: list1: sources\[0\] \(mailman3\)/);
      expect(result.stdout, describeRun(result)).toMatch(/The rendered tree was deployed, but rcptsync sync exited with 5/);
      for (const gateway of lab.gateways) {
        expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
        expect(fingerprint(gateway.name), gateway.name).toEqual(before[gateway.name]);
      }
      expect(sha256(join(lab.renderedDir, 'manifest.json'))).toBe(manifestBefore);
      expect(mismatches(await probeOnOwnGateway(lab.gateways, validAddresses(lists)), () => ACCEPTED)).toEqual([]);
    } finally {
      await lab.startSsh('list1');
    }
  }, STEP_TIMEOUT);
  it('check mode with diff: deploy.yml --check --diff reports a pending change and touches no gateway', async () => {
    const created = 'pending@lists.example.test';
    await lab.mailman(['create', created]);
    // Render the new list (rcptsync itself, as the pull-request flow does), then ask Ansible what it would do.
    const sync = spawnSync(
      process.execPath,
      [join(REPO_ROOT, 'dist', 'bin.js'), 'sync', '-i', lab.inventoryFile, '-o', lab.renderedDir, '--state-dir', lab.stateDir],
      { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: '' }, timeout: 120_000 },
    );
    expect(sync.status, sync.stderr).toBe(0);
    const before = Object.fromEntries(lab.gateways.map((gateway) => [gateway.name, fingerprint(gateway.name)]));
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['--check', '--diff']);
    expect(result.code, describeRun(result)).toBe(0);
    const owner = lab.gatewayFor('lists.example.test');
    expect(result.recap[owner.name]?.changed, describeRun(result)).toBeGreaterThan(0);
    // The diff of the table is summarised (nine new addresses), never printed whole.
    expect(result.stdout, describeRun(result)).toMatch(/\+9 -0 lines/);
    expect(result.stdout).not.toContain(`pending-bounces@lists.example.test OK`);
    for (const gateway of lab.gateways) expect(fingerprint(gateway.name), gateway.name).toEqual(before[gateway.name]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, mailman3Addresses(created)), unknownReply)).toEqual([]);
  }, STEP_TIMEOUT);
});
