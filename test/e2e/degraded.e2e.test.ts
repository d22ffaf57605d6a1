/**
 * Degraded runs through the real thing (issue 7): `ansible-playbook
 * playbooks/sync.yml` on the lab's Mailman 3 and two Postfix gateways, with
 * every verdict from Postfix at RCPT time. A failure anywhere must never shrink
 * a map nor block a healthy change elsewhere, and must make the run red:
 * (a) a failed source is carried forward while a new list elsewhere ships;
 * (b) a shrink over the threshold is held while a new list ships, until --force;
 * (c) a source stale past rcptsync_max_stale publishes nothing;
 * (d) a rerouted next hop is a change the review sees (issue 8) before sync.yml
 *     deploys it.
 * This lab runs on a network of its own, so it can share the machine with the
 * main end-to-end lab. The tests run in order and share the lab.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALIAS_KEYS, ALIASES_DOMAIN, INITIAL_LISTS, REPO_ROOT, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook, type PlaybookRun } from '../lab/ansible.mjs';
import { probeRecipients, type RcptReply } from '../lab/smtp-probe.mjs';

const STEP_TIMEOUT = 600_000;
const ACCEPTED = '250 2.1.5 Ok';
const unknownReply = (address: string) => `550 5.1.1 <${address}>: Recipient address rejected: User unknown in relay recipient table`;
const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const aliases = ALIAS_KEYS.map((key) => `${key}@${ALIASES_DOMAIN}`);

let lab: Lab;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab({ dir: '/var/tmp/rcptsync-lab-degraded', network: { bridge: 'rsbr1', netnsPrefix: 'rsdg-', subnet: '10.213.1' } });
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

async function probe(addresses: string[]): Promise<RcptReply[]> {
  const replies: RcptReply[] = [];
  for (const gateway of lab.gateways) {
    const mine = addresses.filter((address) => gateway.domains.includes(domainOf(address)));
    for (let i = 0; i < mine.length; i += 8) replies.push(...(await probeRecipients(gateway.address, mine.slice(i, i + 8))));
  }
  expect(replies).toHaveLength(addresses.length);
  return replies;
}

async function expectReplies(addresses: string[], expected: (address: string) => string): Promise<void> {
  const wrong = (await probe(addresses)).filter((reply) => reply.text !== expected(reply.address)).map((reply) => `${reply.address}: ${reply.text}`);
  expect(wrong).toEqual([]);
}

function expectSuccess(result: PlaybookRun): void {
  expect(result.code, describeRun(result)).toBe(0);
  for (const gateway of lab.gateways) expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
}

/** Red, but the gateways took part without failing: the healthy changes are live. */
function expectDeployedThenRed(result: PlaybookRun, exitCode: number): void {
  expect(result.code, describeRun(result)).not.toBe(0);
  expect(result.stdout, describeRun(result)).toMatch(new RegExp(`The rendered tree was deployed, but rcptsync sync exited with ${exitCode}`));
  for (const gateway of lab.gateways) expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
}

describe('degraded runs on real Mailman 3 and Postfix', () => {
  let lists = [...INITIAL_LISTS];

  it('starts from a healthy sync', async () => {
    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
    await expectReplies([...lists.flatMap((list) => mailman3Addresses(list)), ...aliases], () => ACCEPTED);
  }, STEP_TIMEOUT);

  it('(a) one source failing and a list created on a healthy source: the new list answers 250, the failed source\'s addresses still 250, the run is red', async () => {
    const created = 'brandnew@lists.example.test';
    await lab.mailman(['create', created]);
    lists = [...lists, created];
    // The aliases source's file disappears: its command (cat) fails.
    renameSync(lab.aliasesFile, `${lab.aliasesFile}.away`);
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expectDeployedThenRed(result, 5);
      expect(result.stdout, describeRun(result)).toMatch(/DEGRADED, carried forward: list1: sources\[1\] \(aliases\): 4 addresses from its last good collection/);
      await expectReplies(mailman3Addresses(created), () => ACCEPTED);
      await expectReplies(aliases, () => ACCEPTED);
      await expectReplies(lists.flatMap((list) => mailman3Addresses(list)), () => ACCEPTED);
    } finally {
      renameSync(`${lab.aliasesFile}.away`, lab.aliasesFile);
    }
    // Mended, the next run is green again.
    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
  }, STEP_TIMEOUT);

  it('(b) a domain shrinking past its threshold while a list is created elsewhere: the new list answers 250, the removed lists 250 until a forced run, then 550', async () => {
    const removed = ['dev@lists.example.test', 'help@lists.example.test', 'users@lists.example.test'];
    const created = 'fresh@news.example.test';
    for (const list of removed) await lab.mailman(['remove', list]);
    await lab.mailman(['create', created]);
    const owner = lab.gatewayFor('lists.example.test').name;

    const held = await runPlaybook(lab, 'playbooks/sync.yml');
    expectDeployedThenRed(held, 3);
    expect(held.stdout, describeRun(held)).toMatch(new RegExp(`HELD for review: ${owner}: lists\\.example\\.test: 27 removals from list1 sources\\[0\\] \\(mailman3\\)`));
    await expectReplies(mailman3Addresses(created), () => ACCEPTED);
    await expectReplies(removed.flatMap((list) => mailman3Addresses(list)), () => ACCEPTED);

    // Still held on the next run: the state recorded what was published.
    const again = await runPlaybook(lab, 'playbooks/sync.yml');
    expectDeployedThenRed(again, 3);
    await expectReplies(removed.flatMap((list) => mailman3Addresses(list)), () => ACCEPTED);

    // Reviewed: --force applies the removals.
    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml', ['-e', JSON.stringify({ rcptsync_sync_args: ['--force'] })]));
    lists = [...lists.filter((list) => !removed.includes(list)), created];
    await expectReplies(removed.flatMap((list) => mailman3Addresses(list)), unknownReply);
    await expectReplies([...lists.flatMap((list) => mailman3Addresses(list)), ...aliases], () => ACCEPTED);
  }, STEP_TIMEOUT);

  it('(c) a source stale past rcptsync_max_stale publishes nothing and touches no gateway', async () => {
    const manifest = join(lab.renderedDir, 'manifest.json');
    const manifestBefore = sha256(manifest);
    // The last good collection was 100 hours ago (the limit is 72): age the state as time would.
    const stateFile = join(lab.stateDir, readdirSync(lab.stateDir).find((name) => name.endsWith('.snapshot.json'))!);
    const aged = new Date(Date.now() - 100 * 3_600_000).toISOString();
    writeFileSync(stateFile, readFileSync(stateFile, 'utf8').replace(/"collectedAt": "[^"]+"/g, `"collectedAt": "${aged}"`));
    await lab.stopSsh('list1');
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout + result.stderr, describeRun(result)).toMatch(/list1: sources\[0\] \(mailman3\): failed .* cannot be carried forward: its last good data is from .* older than rcptsync_max_stale \(72 h\)/);
      for (const gateway of lab.gateways) expect(result.recap[gateway.name], `${gateway.name} took part\n${describeRun(result)}`).toBeUndefined();
      expect(sha256(manifest)).toBe(manifestBefore);
      await expectReplies([...lists.flatMap((list) => mailman3Addresses(list)), ...aliases], () => ACCEPTED);
    } finally {
      await lab.startSsh('list1');
    }
  }, STEP_TIMEOUT);

  it('(d) a rerouted next hop: plan --expect-no-changes exits 4 and names it, then sync.yml deploys it and postmap -q on the gateway shows it', async () => {
    const owner = lab.gatewayFor('news.example.test');
    const inventory = readFileSync(lab.inventoryFile, 'utf8');
    const oldHop = `smtp:[${lab.listServer.address}]:25`;
    const newHop = `smtp:[${lab.listServer.address}]:2525`;
    const rerouted = inventory.replace(new RegExp(`(news\\.example\\.test: )"?${oldHop.replace(/[.[\]]/g, '\\$&')}"?`), `$1"${newHop}"`);
    expect(rerouted).not.toBe(inventory);
    writeFileSync(lab.inventoryFile, rerouted);
    try {
      const plan = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), 'plan', '-i', lab.inventoryFile, '-o', lab.renderedDir, '--state-dir', lab.stateDir, '--expect-no-changes'], {
        encoding: 'utf8',
        env: { ...process.env, SSH_AUTH_SOCK: '' },
        timeout: 120_000,
      });
      expect(plan.stdout, plan.stderr).toContain(`~ ${owner.name}: news.example.test: next hop ${oldHop} -> ${newHop}`);
      expect(plan.stdout).toMatch(/Plan: 0 to add, 1 to change, 0 to remove/);
      expect(plan.status).toBe(4);

      expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
      const query = await lab.exec(owner.name, 'postmap -q news.example.test cdb:/etc/postfix/rcptsync/transport');
      expect(query.stdout.trim()).toBe(newHop);
    } finally {
      writeFileSync(lab.inventoryFile, inventory);
    }
  }, STEP_TIMEOUT);
});
