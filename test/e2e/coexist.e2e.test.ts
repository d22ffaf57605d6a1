/**
 * A gateway that already carries mail before rcptsync (issue 14), and the
 * adoption procedure of docs/ansible.md ("Running on a gateway that is already in
 * production") step by step. Before rcptsync, gw1 relays the site's own domain
 * corp.example.test (its own recipients and transport, "-" as delimiter) and also
 * lists.example.test with a hand-written recipient table that lists two
 * addresses: one of a real Mailman list, and one of a list that no longer exists.
 * The whole flow on real components: `ansible-playbook playbooks/sync.yml` runs
 * rcptsync against the lab's Mailman 3; the role adds rcptsync's tables to gw1's
 * lists and keeps the site's; then `postfix_relay_gateway_state: absent` gives
 * main.cf back. Every verdict comes from Postfix over SMTP at RCPT time from the
 * control node. The tests run in order and share the lab.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook } from '../lab/ansible.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';
import { run } from '../lab/run.mjs';

const STEP_TIMEOUT = 600_000;
const SITE = 'corp.example.test';
const LISTS = 'lists.example.test';
const SITE_RECIPIENTS = `alice@${SITE} OK\npostmaster@${SITE} OK\n`;
// The hand-written table of the list domain: a real list, and one deleted long ago.
const HAND_WRITTEN = `announce@${LISTS} OK\noldlist@${LISTS} OK\n`;
let lab: Lab;
let before = '';

const postconf = async (args: string) => (await lab.exec('gw1', `postconf ${args}`)).stdout.trim();
const reply = async (address: string) => (await probeRecipients(lab.host('gw1').address, [address]))[0]?.text ?? '';
const unknownReply = (code: '450 4.1.1' | '550 5.1.1', address: string) =>
  `${code} <${address}>: Recipient address rejected: User unknown in relay recipient table`;

/** Postfix applies a reload asynchronously: ask until the answer matches. */
async function eventually(address: string, expected: RegExp): Promise<string> {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await reply(address);
    if (expected.test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab({
    gatewaySites: {
      gw1: {
        mainCf: [
          `relay_domains = ${SITE}, ${LISTS}`,
          'relay_recipient_maps = texthash:/etc/postfix/site/relay_recipients',
          'transport_maps = texthash:/etc/postfix/site/transport',
          'recipient_delimiter = -',
        ],
        files: {
          'site/relay_recipients': SITE_RECIPIENTS + HAND_WRITTEN,
          'site/transport': `${SITE} smtp:[10.213.0.99]:25\n${LISTS} smtp:[10.213.0.11]:25\n`,
        },
      },
    },
  });
  before = await postconf('-n');
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('adopting a gateway that already relays a site domain and the lists with a hand-written table', () => {
  it('before rcptsync: the site answers for its own domain, and the hand-written table for the lists', async () => {
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`nobody@${SITE}`)).toBe(unknownReply('550 5.1.1', `nobody@${SITE}`));
    expect(await reply(`announce@${LISTS}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`oldlist@${LISTS}`)).toBe('250 2.1.5 Ok');
    // A real list the hand-written table never got: the reason to adopt rcptsync.
    expect(await reply(`dev@${LISTS}`)).toBe(unknownReply('550 5.1.1', `dev@${LISTS}`));
  });

  it('step 1: render, then deploy.yml --check --diff shows every change and warning and touches nothing', async () => {
    const rendered = await run(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), 'sync', '-i', lab.inventoryFile, '-o', lab.renderedDir, '--state-dir', lab.stateDir], {
      check: false,
      cwd: REPO_ROOT,
      env: lab.env,
    });
    expect(rendered.code, rendered.stderr).toBe(0);
    const mainCf = lab.hostPath('gw1', '/etc/postfix/main.cf');
    const text = readFileSync(mainCf, 'utf8');
    const mtime = statSync(mainCf).mtimeMs;
    const check = await runPlaybook(lab, 'playbooks/deploy.yml', ['--check', '--diff', '--limit', 'gw1']);
    expect(check.code, describeRun(check)).toBe(0);
    expect(check.stdout).toContain("main.cf: recipient_delimiter: '-' -> '-+'");
    expect(check.stdout).toContain('+transport_maps = cdb:/etc/postfix/rcptsync/transport, texthash:/etc/postfix/site/transport');
    expect(check.stdout).toContain(`WARN /etc/postfix/main.cf: relay_domains names ${LISTS} itself`);
    expect(check.stdout).toContain(`WARN /etc/postfix/main.cf: transport_maps: the site table texthash:/etc/postfix/site/transport also routes ${LISTS}`);
    expect(check.stdout).toContain(`the site table texthash:/etc/postfix/site/relay_recipients lists 2 addresses at ${LISTS}`);
    expect(readFileSync(mainCf, 'utf8')).toBe(text);
    expect(statSync(mainCf).mtimeMs).toBe(mtime);
    expect(existsSync(lab.hostPath('gw1', '/etc/postfix/rcptsync'))).toBe(false);
  }, STEP_TIMEOUT);

  it('step 2: the deployed table (postmap -s) against the rendered one names the address that would be lost', async () => {
    const today = (await lab.ssh('gw1', 'postmap -s texthash:/etc/postfix/site/relay_recipients')).stdout
      .split('\n')
      .map((line) => line.split(/\s+/)[0]!.toLowerCase())
      .filter((key) => key.endsWith(`@${LISTS}`));
    const renderedKeys = new Set(
      readFileSync(join(lab.renderedDir, 'gw1', 'relay_recipients'), 'utf8')
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => line.split(/\s+/)[0]),
    );
    expect(today.filter((key) => !renderedKeys.has(key))).toEqual([`oldlist@${LISTS}`]);
    expect(renderedKeys.has(`dev@${LISTS}`)).toBe(true);
    // The same with the playbook, with the removal thresholds (2 entries today: under the floor of 10).
    const plan = await runPlaybook(lab, 'playbooks/plan-deployed.yml', ['--limit', 'gw1']);
    expect(plan.code, describeRun(plan)).toBe(0);
    expect(plan.stdout).toMatch(new RegExp(`gw1: ${LISTS.replaceAll('.', '\\.')}: accepted today 2, rendered \\d+: \\+\\d+ -1 =1: oldlist@${LISTS.replaceAll('.', '\\.')} would be refused`));
    expect(existsSync(lab.hostPath('gw1', '/etc/postfix/rcptsync'))).toBe(false);
  }, STEP_TIMEOUT);

  it('step 3: deployed beside the hand-written table with the 450 burn-in, the union is accepted and main.cf keeps the site\'s tables', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml', ['-e', 'postfix_relay_gateway_soft_reject=true']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(await eventually(`dev@${LISTS}`, /^250 /)).toBe('250 2.1.5 Ok');
    expect(await reply(`oldlist@${LISTS}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice-work@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply('announce-bounces+someone=example.org@lists.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply(`nosuchlist@${LISTS}`)).toBe(unknownReply('450 4.1.1', `nosuchlist@${LISTS}`));
    expect(await reply('alerts@news.example.test')).toMatch(/^554 5\.7\.1 /);
    expect(await postconf('-h relay_domains')).toBe(`cdb:/etc/postfix/rcptsync/relay_domains, ${SITE}, ${LISTS}`);
    expect(await postconf('-h relay_recipient_maps')).toBe('cdb:/etc/postfix/rcptsync/relay_recipients, texthash:/etc/postfix/site/relay_recipients');
    expect(await postconf('-h transport_maps')).toBe('cdb:/etc/postfix/rcptsync/transport, texthash:/etc/postfix/site/transport');
    expect(await postconf('-h recipient_delimiter')).toBe('-+');
  }, STEP_TIMEOUT);

  it('a second sync.yml changes nothing on any gateway', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml', ['-e', 'postfix_relay_gateway_soft_reject=true']);
    expect(result.code, describeRun(result)).toBe(0);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    }
  }, STEP_TIMEOUT);

  it('steps 4 and 5: the hand-written entries go; the lost address is deferred (450), not bounced, and the log names it', async () => {
    writeFileSync(lab.hostPath('gw1', '/etc/postfix/site/relay_recipients'), SITE_RECIPIENTS);
    await lab.exec('gw1', 'postfix reload');
    expect(await eventually(`oldlist@${LISTS}`, /^450 /)).toBe(unknownReply('450 4.1.1', `oldlist@${LISTS}`));
    expect(await reply(`announce@${LISTS}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    const rejects = (await lab.exec('gw1', "grep 'Recipient address rejected: User unknown in relay recipient table' /var/lib/postfix/maillog | sed -n 's/.* to=<\\([^>]*\\)>.*/\\1/p' | sort -u")).stdout;
    expect(rejects.split('\n')).toContain(`oldlist@${LISTS}`);
  }, STEP_TIMEOUT);

  it('step 6: switched to 550', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expect(result.code, describeRun(result)).toBe(0);
    expect(await eventually(`oldlist@${LISTS}`, /^550 /)).toBe(unknownReply('550 5.1.1', `oldlist@${LISTS}`));
    const verify = await runPlaybook(lab, 'playbooks/verify.yml');
    expect(verify.code, describeRun(verify)).toBe(0);
  }, STEP_TIMEOUT);

  it('state: absent gives main.cf its rcptsync-free values back, and the site keeps working', async () => {
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['--limit', 'gw1', '-e', 'postfix_relay_gateway_state=absent']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(await postconf('-n')).toBe(before);
    expect(existsSync(lab.hostPath('gw1', '/etc/postfix/rcptsync'))).toBe(false);
    // The site still relays the list domain itself, now without the list entries it had.
    expect(await eventually(`dev@${LISTS}`, /^550 /)).toBe(unknownReply('550 5.1.1', `dev@${LISTS}`));
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice-work@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`nobody@${SITE}`)).toBe(unknownReply('550 5.1.1', `nobody@${SITE}`));
    const again = await runPlaybook(lab, 'playbooks/deploy.yml', ['--limit', 'gw1', '-e', 'postfix_relay_gateway_state=absent']);
    expect(again.code, describeRun(again)).toBe(0);
    expect(again.recap['gw1'], describeRun(again)).toMatchObject({ changed: 0, failed: 0 });
  }, STEP_TIMEOUT);
});
