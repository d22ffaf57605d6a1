/**
 * Every setting that makes relay_recipient_maps useless (issue 14, §2), each set on
 * a real Postfix: the role must refuse to deploy (or warn) with a message naming
 * the setting and the file, in main.cf or as a master.cf -o override of the
 * public SMTP service (read with postconf -P), postscreen's smtpd pass service too.
 * Where the test turns the check off, Postfix shows what the setting does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playbook, renderTree, ScratchPostfix, writeInventory } from './gateway-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'rcptsync-bypass-'));
const rendered = join(work, 'rendered');
const inventory = join(work, 'inventory.ini');
let gw: ScratchPostfix;
let masterCf = '';
const lists = ['announce@lists.example.test', 'postmaster@lists.example.test', 'abuse@lists.example.test'];
const unknown = 'nosuchlist@lists.example.test';

beforeAll(async () => {
  gw = await ScratchPostfix.start('gwbypass');
  renderTree(rendered, { [gw.name]: lists });
  writeInventory(inventory, [gw], rendered);
  const first = playbook(inventory, 'deploy.yml');
  if (first.status !== 0) throw new Error(first.out);
  masterCf = readFileSync(join(gw.etc, 'master.cf'), 'utf8');
}, 240_000);

afterAll(() => {
  gw?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Runs deploy.yml with a setting in place, then takes it out again (main.cf and master.cf as before). */
function deployWith(setting: () => void, ...extra: string[]) {
  const main = readFileSync(join(gw.etc, 'main.cf'), 'utf8');
  setting();
  const result = playbook(inventory, 'deploy.yml', ...extra);
  return {
    ...result,
    undo: () => {
      writeFileSync(join(gw.etc, 'main.cf'), main);
      writeFileSync(join(gw.etc, 'master.cf'), masterCf);
      gw.reload();
    },
  };
}

const mainCf = () => `${gw.etc}/main.cf`;
const service = () => `${gw.etc}/master.cf: service ${gw.service}/inet (smtpd)`;

describe('settings that bypass the recipient table', () => {
  it('starts from a gateway that rejects unknown recipients', async () => {
    expect(await gw.eventually(unknown, /^550 /)).toMatch(/^550 5\.1\.1 /);
  });

  it('smtpd_reject_unlisted_recipient = no in main.cf: refused; with the check off, Postfix accepts an unknown recipient', async () => {
    const refused = deployWith(() => gw.postconf('-e', 'smtpd_reject_unlisted_recipient = no'));
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${mainCf()}: smtpd_reject_unlisted_recipient = no and no reject_unlisted_recipient in smtpd_relay_restrictions or smtpd_recipient_restrictions: relay_recipient_maps is never consulted`);
    expect(refused.recap[gw.name]?.['changed']).toBe(0);

    const forced = playbook(inventory, 'deploy.yml', '-e', 'postfix_relay_gateway_fail_on_bypass=false');
    expect(forced.status, forced.out).toBe(0);
    gw.reload();
    // What the check protects against: the unknown address is accepted.
    expect(await gw.eventually(unknown, /^250 /)).toMatch(/^250 2\.1\.5 /);
    refused.undo();
    expect(await gw.eventually(unknown, /^550 /)).toMatch(/^550 5\.1\.1 /);
  }, 240_000);

  it('smtpd_reject_unlisted_recipient = no with an explicit reject_unlisted_recipient: a warning, and unknown recipients still get 550', async () => {
    const warned = deployWith(() =>
      gw.postconf('-e', 'smtpd_reject_unlisted_recipient = no', 'smtpd_recipient_restrictions = reject_unlisted_recipient'),
    );
    expect(warned.status, warned.out).toBe(0);
    expect(warned.out).toContain(`WARN ${mainCf()}: smtpd_reject_unlisted_recipient = no: the table is only consulted where reject_unlisted_recipient is listed (smtpd_recipient_restrictions)`);
    gw.reload();
    expect(await gw.eventually(unknown, /^550 /)).toMatch(/^550 5\.1\.1 /);
    warned.undo();
  }, 240_000);

  it.each([
    ['smtpd_reject_unlisted_recipient=no', 'smtpd_reject_unlisted_recipient=no and no reject_unlisted_recipient'],
    ['relay_recipient_maps=', 'relay_recipient_maps= (empty) accepts every recipient of the relayed domains'],
    ['receive_override_options=no_unknown_recipient_checks', 'receive_override_options=no_unknown_recipient_checks turns the relay recipient check off'],
    ['allow_untrusted_routing=yes', 'allow_untrusted_routing=yes: sender-specified routing'],
  ])('master.cf -o %s on the public smtpd: refused, naming master.cf and the service', (override, message) => {
    const refused = deployWith(() => gw.postconf('-P', '-e', `${gw.service}/inet/${override}`));
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${service()}: -o ${message}`);
    refused.undo();
  }, 240_000);

  it('master.cf -o relay_recipient_maps= naming another table: refused, rcptsync\'s table is not consulted there', () => {
    const refused = deployWith(() => gw.postconf('-P', '-e', `${gw.service}/inet/relay_recipient_maps=texthash:${gw.etc}/other`));
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${service()}: -o relay_recipient_maps=texthash:${gw.etc}/other replaces main.cf's list, so rcptsync's table cdb:${gw.mapDir}/relay_recipients is not consulted there`);
    refused.undo();
  }, 240_000);

  it('master.cf -o relay_recipient_maps=$name: the name is expanded, and the table it names is not rcptsync\'s', () => {
    const refused = deployWith(() => {
      gw.postconf('-e', `site_recipient_maps = texthash:${gw.etc}/other`);
      gw.postconf('-P', '-e', `${gw.service}/inet/relay_recipient_maps=$site_recipient_maps`);
    });
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${service()}: -o relay_recipient_maps=$site_recipient_maps (texthash:${gw.etc}/other) replaces main.cf's list`);
    refused.undo();
  }, 240_000);

  it('master.cf -o smtpd_recipient_restrictions=permit: a warning, because Postfix still rejects unknown recipients (checked)', async () => {
    const warned = deployWith(() => gw.postconf('-P', '-e', `${gw.service}/inet/smtpd_recipient_restrictions=permit`));
    expect(warned.status, warned.out).toBe(0);
    expect(warned.out).toContain(`WARN ${service()}: -o smtpd_recipient_restrictions=permit overrides main.cf there`);
    gw.reload();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await gw.rcpt(unknown)).toMatch(/^550 5\.1\.1 /);
    warned.undo();
  }, 240_000);

  it('postscreen on the port: the override on its smtpd pass service is found', () => {
    const refused = deployWith(() => {
      gw.postconf('-M#', `${gw.service}/inet`);
      gw.postconf('-Me', `${gw.service}/inet = ${gw.service} inet n - n - 1 postscreen`);
      gw.postconf('-Me', 'smtpd/pass = smtpd pass - - n - - smtpd -o smtpd_reject_unlisted_recipient=no');
    });
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${gw.etc}/master.cf: service smtpd/pass (smtpd): -o smtpd_reject_unlisted_recipient=no`);
    refused.undo();
  }, 240_000);

  it('allow_untrusted_routing = yes in main.cf: refused', () => {
    const refused = deployWith(() => gw.postconf('-e', 'allow_untrusted_routing = yes'));
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain(`BYPASS ${mainCf()}: allow_untrusted_routing = yes: sender-specified routing (user%host@, host!user@) from any client is relayed`);
    refused.undo();
  }, 240_000);

  it('soft_bounce = yes: a warning, and Postfix then answers 450 to an unknown recipient', async () => {
    const warned = deployWith(() => gw.postconf('-e', 'soft_bounce = yes'));
    expect(warned.status, warned.out).toBe(0);
    expect(warned.out).toContain(`WARN ${mainCf()}: soft_bounce = yes: every reject, the 550 for unknown recipients too, becomes a 4xx`);
    gw.reload();
    expect(await gw.eventually(unknown, /^450 /)).toMatch(/^450 4\.1\.1 /);
    warned.undo();
    expect(await gw.eventually(unknown, /^550 /)).toMatch(/^550 5\.1\.1 /);
  }, 240_000);

  it('a rendered key with "%" or "!" (sender-specified routing) is refused before anything is touched', () => {
    renderTree(rendered, { [gw.name]: [...lists, 'user%elsewhere.example@lists.example.test', 'elsewhere!user@lists.example.test'] });
    const refused = playbook(inventory, 'deploy.yml');
    expect(refused.status).not.toBe(0);
    expect(refused.out).toMatch(/relay_recipients:\d+: user%elsewhere\.example@lists\.example\.test: a % or ! in the local part is sender-specified routing \(user%host@, host!user@\); refused/);
    expect(refused.out).toMatch(/relay_recipients:\d+: elsewhere!user@lists\.example\.test: a % or ! in the local part/);
    renderTree(rendered, { [gw.name]: lists });
  }, 240_000);
});
