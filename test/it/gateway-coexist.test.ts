/**
 * The role on a gateway that already carries mail (issue 14, §1): the site relays
 * its own domains with its own recipient table and transport, and uses "-" as its
 * recipient delimiter. rcptsync's tables are added to the site's lists, first;
 * every site entry stays, in order; global settings change minimally and every
 * change is shown with its old and new value; conflicts are reported (fail or
 * warn); state: absent gives main.cf back exactly as it was.
 * A real Postfix answers every probe at RCPT time.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playbook, renderTree, ScratchPostfix, writeInventory } from './gateway-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'rcptsync-coexist-'));
const rendered = join(work, 'rendered');
const inventory = join(work, 'inventory.ini');
let gw: ScratchPostfix;
let before = '';

const lists = [
  'announce@lists.example.test',
  'announce-bounces@lists.example.test',
  'announce-confirm@lists.example.test',
  'postmaster@lists.example.test',
  'abuse@lists.example.test',
];

/** The site's own configuration, before rcptsync. */
function siteFiles(etc: string): string[] {
  writeFileSync(join(etc, 'site_domains'), 'corp.example.net OK\n');
  writeFileSync(join(etc, 'site_recipients'), 'alice@example.com OK\nbob@corp.example.net OK\n');
  writeFileSync(join(etc, 'site_transport'), 'example.com smtp:[192.0.2.20]:25\ncorp.example.net smtp:[192.0.2.21]:25\n');
  return [
    `relay_domains = example.com, texthash:${etc}/site_domains`,
    `relay_recipient_maps = texthash:${etc}/site_recipients`,
    `transport_maps = texthash:${etc}/site_transport`,
    'recipient_delimiter = -',
    'smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination',
  ];
}

beforeAll(async () => {
  // The site files live in etc/, which start() creates: write them after, then point main.cf at them.
  gw = await ScratchPostfix.start('gwsite');
  for (const line of siteFiles(gw.etc)) gw.postconf('-e', line);
  gw.reload();
  before = gw.explicit();
  renderTree(rendered, { [gw.name]: lists });
  writeInventory(inventory, [gw], rendered);
}, 120_000);

afterAll(() => {
  gw?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a gateway that already relays its own domains', () => {
  it('before rcptsync: the site answers for its own domains', async () => {
    expect(await gw.eventually('alice@example.com', /^250 /)).toMatch(/^250 /);
    expect(await gw.rcpt('nobody@example.com')).toMatch(/^550 5\.1\.1 /);
    expect(await gw.rcpt('announce@lists.example.test')).toMatch(/^554 5\.7\.1 /);
  });

  it('adds rcptsync\'s tables first and keeps every site entry in order, showing each change with its old and new value', async () => {
    const first = playbook(inventory, 'deploy.yml', '--diff');
    expect(first.status, first.out).toBe(0);
    const etc = gw.etc;
    const map = gw.mapDir;
    expect(gw.value('relay_domains')).toBe(`cdb:${map}/relay_domains, example.com, texthash:${etc}/site_domains`);
    expect(gw.value('relay_recipient_maps')).toBe(`cdb:${map}/relay_recipients, texthash:${etc}/site_recipients`);
    expect(gw.value('transport_maps')).toBe(`cdb:${map}/transport, texthash:${etc}/site_transport`);
    // "+" added to the site's set, not replacing it; the site's restrictions untouched.
    expect(gw.value('recipient_delimiter')).toBe('-+');
    expect(gw.value('smtpd_relay_restrictions')).toBe('permit_mynetworks, reject_unauth_destination');
    // owner_request_special and parent_domain_matches_subdomains are left alone by default.
    expect(gw.explicit()).not.toMatch(/^owner_request_special|^parent_domain_matches_subdomains/m);

    // The summary line and the --diff, each with the old and the new value.
    expect(first.out).toContain(`main.cf: recipient_delimiter: '-' -> '-+'`);
    expect(first.out).toContain(`main.cf: relay_domains: 'example.com, texthash:${etc}/site_domains' -> 'cdb:${map}/relay_domains, example.com, texthash:${etc}/site_domains'`);
    expect(first.out).toContain(`-transport_maps = texthash:${etc}/site_transport\n`);
    expect(first.out).toContain(`+transport_maps = cdb:${map}/transport, texthash:${etc}/site_transport\n`);
    expect(first.out).toContain('\n-recipient_delimiter = -\n');
    expect(first.out).toContain('\n+recipient_delimiter = -+\n');
    expect(readFileSync(join(etc, 'main.cf.rcptsync-backup'), 'utf8')).toContain(`transport_maps = texthash:${etc}/site_transport`);

    // Postfix: the site's known address 250, its unknown 550, its delimiter still works;
    // the lists' addresses 250 (with "+"), unknown list addresses 550; others 554.
    expect(await gw.eventually('announce@lists.example.test', /^250 /)).toMatch(/^250 /);
    expect(await gw.rcpt('alice@example.com')).toMatch(/^250 /);
    expect(await gw.rcpt('alice-extension@example.com')).toMatch(/^250 /);
    expect(await gw.rcpt('bob@corp.example.net')).toMatch(/^250 /);
    expect(await gw.rcpt('nobody@example.com')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
    expect(await gw.rcpt('nobody@corp.example.net')).toMatch(/^550 5\.1\.1 /);
    expect(await gw.rcpt('announce-bounces+user=example.org@lists.example.test')).toMatch(/^250 /);
    expect(await gw.rcpt('nosuchlist@lists.example.test')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
    expect(await gw.rcpt('someone@example.org')).toMatch(/^554 5\.7\.1 .*Relay access denied/);
  }, 240_000);

  it('changes nothing on a second run', () => {
    const again = playbook(inventory, 'deploy.yml', '--diff');
    expect(again.status, again.out).toBe(0);
    expect(again.recap[gw.name]?.['changed'], again.out).toBe(0);
  }, 240_000);

  it('warns when a site entry also covers rcptsync\'s domain, and says whose entry wins', () => {
    writeFileSync(join(gw.etc, 'site_transport'), `example.com smtp:[192.0.2.20]:25\ncorp.example.net smtp:[192.0.2.21]:25\nlists.example.test smtp:[192.0.2.99]:25\n`);
    writeFileSync(join(gw.etc, 'site_recipients'), 'alice@example.com OK\nbob@corp.example.net OK\nold-list@lists.example.test OK\n');
    gw.postconf('-e', `relay_domains = cdb:${gw.mapDir}/relay_domains, example.com, lists.example.test, texthash:${gw.etc}/site_domains`);
    const warned = playbook(inventory, 'deploy.yml');
    expect(warned.status, warned.out).toBe(0);
    expect(warned.out).toContain(`WARN ${gw.etc}/main.cf: transport_maps: the site table texthash:${gw.etc}/site_transport also routes lists.example.test (to smtp:[192.0.2.99]:25); rcptsync's table comes first, so its next hop wins`);
    expect(warned.out).toContain(`WARN ${gw.etc}/main.cf: relay_recipient_maps: the site table texthash:${gw.etc}/site_recipients lists 1 address at lists.example.test: they stay accepted whatever rcptsync renders`);
    expect(warned.out).toContain(`WARN ${gw.etc}/main.cf: relay_domains names lists.example.test itself`);
  }, 240_000);

  it('fails, touching nothing, when a site transport table before rcptsync\'s routes its domain', () => {
    gw.postconf('-e', `transport_maps = texthash:${gw.etc}/site_transport, cdb:${gw.mapDir}/transport`);
    const main = readFileSync(join(gw.etc, 'main.cf'), 'utf8');
    const refused = playbook(inventory, 'deploy.yml');
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`CONFLICT ${gw.etc}/main.cf: transport_maps: the site table texthash:${gw.etc}/site_transport routes lists.example.test to smtp:[192.0.2.99]:25 and comes before rcptsync's table`);
    expect(readFileSync(join(gw.etc, 'main.cf'), 'utf8')).toBe(main);
    // The operator's fix: rcptsync's table first (or the site's entry gone).
    gw.postconf('-e', `transport_maps = cdb:${gw.mapDir}/transport, texthash:${gw.etc}/site_transport`);
  }, 240_000);

  it('fails when a site recipient table accepts every address of rcptsync\'s domain', () => {
    writeFileSync(join(gw.etc, 'site_recipients'), 'alice@example.com OK\nbob@corp.example.net OK\n@lists.example.test OK\n');
    const refused = playbook(inventory, 'deploy.yml');
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${gw.etc}/main.cf: relay_recipient_maps: the site table texthash:${gw.etc}/site_recipients matches @lists.example.test, so every recipient at lists.example.test is accepted whatever rcptsync renders`);
    writeFileSync(join(gw.etc, 'site_recipients'), 'alice@example.com OK\nbob@corp.example.net OK\n');
    writeFileSync(join(gw.etc, 'site_transport'), 'example.com smtp:[192.0.2.20]:25\ncorp.example.net smtp:[192.0.2.21]:25\n');
    gw.postconf('-e', `relay_domains = cdb:${gw.mapDir}/relay_domains, example.com, texthash:${gw.etc}/site_domains`);
  }, 240_000);

  it('state: absent takes rcptsync out and gives main.cf back as it was, and a second absent run changes nothing', async () => {
    // --check --diff first: it says what it would put back and touches nothing.
    const main = readFileSync(join(gw.etc, 'main.cf'), 'utf8');
    const dry = playbook(inventory, 'deploy.yml', '--check', '--diff', '-e', 'postfix_relay_gateway_state=absent');
    expect(dry.status, dry.out).toBe(0);
    expect(dry.out).toContain(`+relay_recipient_maps = texthash:${gw.etc}/site_recipients\n`);
    expect(readFileSync(join(gw.etc, 'main.cf'), 'utf8')).toBe(main);
    expect(existsSync(gw.mapDir)).toBe(true);
    const absent = playbook(inventory, 'deploy.yml', '--diff', '-e', 'postfix_relay_gateway_state=absent');
    expect(absent.status, absent.out).toBe(0);
    expect(gw.explicit()).toBe(before);
    expect(absent.out).toContain(`main.cf: recipient_delimiter: '-+' -> '-'`);
    expect(await gw.eventually('announce@lists.example.test', /^554 /)).toMatch(/^554 5\.7\.1 /);
    expect(await gw.rcpt('alice@example.com')).toMatch(/^250 /);
    expect(await gw.rcpt('nobody@example.com')).toMatch(/^550 5\.1\.1 /);
    const again = playbook(inventory, 'deploy.yml', '-e', 'postfix_relay_gateway_state=absent');
    expect(again.status, again.out).toBe(0);
    expect(again.recap[gw.name]?.['changed'], again.out).toBe(0);
  }, 240_000);

  it('compatibility_level 0, where relay_domains defaults to $mydestination: the reference is kept, and absent gives main.cf back', async () => {
    const old = await ScratchPostfix.start('gwcompat0', ['compatibility_level = 0', 'mydestination = gwcompat0.rcptsync.test']);
    const inv = join(work, 'compat0.ini');
    try {
      const untouched = old.explicit();
      renderTree(rendered, { [old.name]: lists });
      writeInventory(inv, [old], rendered);
      const deployed = playbook(inv, 'deploy.yml');
      expect(deployed.status, deployed.out).toBe(0);
      expect(old.value('relay_domains')).toBe(`cdb:${old.mapDir}/relay_domains, $mydestination`);
      expect(deployed.out).not.toContain('CONFLICT');
      expect(await old.eventually('announce@lists.example.test', /^250 /)).toMatch(/^250 /);
      const absent = playbook(inv, 'deploy.yml', '-e', 'postfix_relay_gateway_state=absent');
      expect(absent.status, absent.out).toBe(0);
      expect(old.explicit()).toBe(untouched);
    } finally {
      old.stop();
      renderTree(rendered, { [gw.name]: lists });
    }
  }, 240_000);

  it('plan-deployed.yml compares the rendered table with what the gateway accepts today, with the removal thresholds', async () => {
    const adopt = await ScratchPostfix.start('gwadopt');
    const inv = join(work, 'adopt.ini');
    try {
      const hand = Array.from({ length: 20 }, (_, i) => `old${i}@lists.example.test OK\n`).join('') + 'announce@lists.example.test OK\n';
      writeFileSync(join(adopt.etc, 'hand_recipients'), hand);
      adopt.postconf('-e', 'relay_domains = lists.example.test', `relay_recipient_maps = texthash:${adopt.etc}/hand_recipients`);
      renderTree(rendered, { [adopt.name]: [...lists, 'team@other.example.test'] });
      writeInventory(inv, [adopt], rendered);
      const main = readFileSync(join(adopt.etc, 'main.cf'), 'utf8');
      const refused = playbook(inv, 'plan-deployed.yml');
      expect(refused.status).not.toBe(0);
      expect(refused.out).toContain('gwadopt: lists.example.test: accepted today 21, rendered 5: +4 -20 =1: old0@lists.example.test, old10@lists.example.test, old11@lists.example.test');
      expect(refused.out).toContain('old18@lists.example.test ... would be refused');
      expect(refused.out).toContain('gwadopt: other.example.test: accepted today 0, rendered 1: +1 -0 =0 (not relayed today');
      expect(refused.out).toContain('The first deploy would refuse more than the thresholds allow: gwadopt: lists.example.test: 20 of 21 entries (95.2%) would be removed, over 30%');
      const accepted = playbook(inv, 'plan-deployed.yml', '-e', 'rcptsync_max_removal_percent=100');
      expect(accepted.status, accepted.out).toBe(0);
      // Nothing was touched.
      expect(readFileSync(join(adopt.etc, 'main.cf'), 'utf8')).toBe(main);
      expect(existsSync(adopt.mapDir)).toBe(false);
    } finally {
      adopt.stop();
      renderTree(rendered, { [gw.name]: lists });
    }
  }, 240_000);

  it('refuses to add a recipient table while the site relays domains without one (they would reject every recipient)', async () => {
    const bare = await ScratchPostfix.start('gwbare', ['relay_domains = example.com']);
    const inv = join(work, 'bare.ini');
    try {
      renderTree(rendered, { [bare.name]: lists });
      writeInventory(inv, [bare], rendered);
      const refused = playbook(inv, 'deploy.yml');
      expect(refused.status).not.toBe(0);
      expect(refused.out).toContain(`CONFLICT ${bare.etc}/main.cf: relay_recipient_maps is empty, so the site's relayed domains (relay_domains = example.com) accept every recipient`);
      expect(bare.value('relay_recipient_maps')).toBe('');
    } finally {
      bare.stop();
      renderTree(rendered, { [gw.name]: lists });
    }
  }, 240_000);
});
