/**
 * A gateway that already carries mail before rcptsync (issue 14): gw1 relays the
 * site's own domain corp.example.test with its own recipient table and transport,
 * and uses "-" as recipient delimiter. The whole flow on real components:
 * `ansible-playbook playbooks/sync.yml` runs rcptsync against the lab's Mailman 3,
 * the role adds rcptsync's tables to gw1's lists and keeps the site's; then
 * `postfix_relay_gateway_state: absent` gives main.cf back. Every verdict comes
 * from Postfix over SMTP at RCPT time from the control node.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook } from '../lab/ansible.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';

const STEP_TIMEOUT = 600_000;
const SITE = 'corp.example.test';
let lab: Lab;
let before = '';

const postconf = async (args: string) => (await lab.exec('gw1', `postconf ${args}`)).stdout.trim();
const reply = async (address: string) => (await probeRecipients(lab.host('gw1').address, [address]))[0]?.text ?? '';

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
          `relay_domains = ${SITE}`,
          'relay_recipient_maps = texthash:/etc/postfix/site/relay_recipients',
          'transport_maps = texthash:/etc/postfix/site/transport',
          'recipient_delimiter = -',
        ],
        files: {
          'site/relay_recipients': `alice@${SITE} OK\npostmaster@${SITE} OK\n`,
          'site/transport': `${SITE} smtp:[10.213.0.99]:25\n`,
        },
      },
    },
  });
  before = await postconf('-n');
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('sync.yml on a gateway that already relays a site domain', () => {
  it('before rcptsync, the site answers for its own domain', async () => {
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`nobody@${SITE}`)).toMatch(/^550 5\.1\.1 /);
    expect(await reply('announce@lists.example.test')).toMatch(/^554 5\.7\.1 /);
  });

  it('after sync.yml: the site\'s addresses and the lists\' both answer right, and main.cf keeps the site\'s tables', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expect(result.code, describeRun(result)).toBe(0);
    expect(await eventually('announce@lists.example.test', /^250 /)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`alice-work@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`nobody@${SITE}`)).toBe(`550 5.1.1 <nobody@${SITE}>: Recipient address rejected: User unknown in relay recipient table`);
    expect(await reply('announce-bounces+someone=example.org@lists.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('nosuchlist@lists.example.test')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
    expect(await reply('alerts@news.example.test')).toMatch(/^554 5\.7\.1 /);
    expect(await postconf('-h relay_domains')).toBe(`cdb:/etc/postfix/rcptsync/relay_domains, ${SITE}`);
    expect(await postconf('-h relay_recipient_maps')).toBe('cdb:/etc/postfix/rcptsync/relay_recipients, texthash:/etc/postfix/site/relay_recipients');
    expect(await postconf('-h transport_maps')).toBe('cdb:/etc/postfix/rcptsync/transport, texthash:/etc/postfix/site/transport');
    expect(await postconf('-h recipient_delimiter')).toBe('-+');
    expect(readFileSync(lab.hostPath('gw1', '/etc/postfix/site/relay_recipients'), 'utf8')).toBe(`alice@${SITE} OK\npostmaster@${SITE} OK\n`);
  }, STEP_TIMEOUT);

  it('a second sync.yml changes nothing on any gateway', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expect(result.code, describeRun(result)).toBe(0);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    }
  }, STEP_TIMEOUT);

  it('state: absent gives main.cf its rcptsync-free values back, and the site keeps working', async () => {
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['--limit', 'gw1', '-e', 'postfix_relay_gateway_state=absent']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(await postconf('-n')).toBe(before);
    expect(existsSync(lab.hostPath('gw1', '/etc/postfix/rcptsync'))).toBe(false);
    expect(await eventually('announce@lists.example.test', /^554 /)).toMatch(/^554 5\.7\.1 /);
    expect(await reply(`alice@${SITE}`)).toBe('250 2.1.5 Ok');
    expect(await reply(`nobody@${SITE}`)).toMatch(/^550 5\.1\.1 /);
  }, STEP_TIMEOUT);
});
