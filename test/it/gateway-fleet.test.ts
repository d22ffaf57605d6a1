/**
 * A fleet deploy that fails safely (issue 14, §4), on two real Postfix gateways:
 * a canary batch first; a gateway that fails in the middle of a batch does not
 * keep the others from their postfix check + reload (force_handlers); a reload
 * that did not happen is made up by the next run (the pending-reload marker); a
 * failed postfix check puts the previous main.cf values back and says so; --tags
 * runs always include the validation.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playbook, renderTree, ScratchPostfix, sleep, writeInventory } from './gateway-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'rcptsync-fleet-'));
const rendered = join(work, 'rendered');
const inventory = join(work, 'inventory.ini');
let gwa: ScratchPostfix;
let gwb: ScratchPostfix;
const listsA = ['announce@lists.example.test', 'postmaster@lists.example.test', 'abuse@lists.example.test'];
const listsB = ['alerts@news.example.test', 'postmaster@news.example.test', 'abuse@news.example.test'];
const marker = (gw: ScratchPostfix) => join(gw.mapDir, '.rcptsync-reload-pending');
const postlog = 'postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd';
const breakCheck = (gw: ScratchPostfix) => gw.postconf('-MX', 'postlog/unix-dgram');
const fixCheck = (gw: ScratchPostfix) => gw.postconf('-Me', postlog);

beforeAll(async () => {
  [gwa, gwb] = [await ScratchPostfix.start('gwa'), await ScratchPostfix.start('gwb')];
  renderTree(rendered, { gwa: listsA, gwb: listsB });
  writeInventory(inventory, [gwa, gwb], rendered);
}, 120_000);

afterAll(() => {
  gwa?.stop();
  gwb?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('a fleet deploy', () => {
  it('changes a canary alone first; when the canary fails, no other gateway is touched', () => {
    gwa.postconf('-e', 'allow_untrusted_routing = yes');
    const refused = playbook(inventory, 'deploy.yml');
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain('BYPASS');
    expect(refused.recap['gwa']?.['failed']).toBe(1);
    expect(refused.recap['gwb'], refused.out).toBeUndefined();
    expect(existsSync(gwb.mapDir)).toBe(false);
    gwa.postconf('-X', 'allow_untrusted_routing');

    const both = playbook(inventory, 'deploy.yml');
    expect(both.status, both.out).toBe(0);
    // Two batches: [gwa], then [gwb].
    expect(both.out.match(/^PLAY \[Publish the rendered recipient tables/gm)).toHaveLength(2);
    expect(both.recap['gwa']?.['failed']).toBe(0);
    expect(both.recap['gwb']?.['failed']).toBe(0);
  }, 300_000);

  it('reloads a gateway that changed even when another of its batch failed (force_handlers)', async () => {
    renderTree(rendered, { gwa: [...listsA, 'newlist@lists.example.test'], gwb: [...listsB, 'newlist@news.example.test'] });
    // gwb cannot publish: its map directory is in the way.
    rmSync(gwb.mapDir, { recursive: true });
    writeFileSync(gwb.mapDir, 'not a directory\n');
    const reloadsBefore = gwa.reloads();
    const run = playbook(inventory, 'deploy.yml', '-e', 'rcptsync_serial=2');
    expect(run.status).not.toBe(0);
    expect(run.recap['gwb']?.['failed'], run.out).toBe(1);
    expect(run.out).toMatch(/publishing relay_recipients.* failed/);
    expect(run.recap['gwa']?.['failed'], run.out).toBe(0);
    expect(run.out).toMatch(/RUNNING HANDLER \[postfix_relay_gateway : Check the Postfix configuration and reload Postfix\][\s\S]*changed: \[gwa\]/);
    await sleep(500);
    expect(gwa.reloads()).toBe(reloadsBefore + 1);
    expect(existsSync(marker(gwa))).toBe(false);
    expect(await gwa.eventually('newlist@lists.example.test', /^250 /)).toMatch(/^250 /);
    rmSync(gwb.mapDir);
    const healed = playbook(inventory, 'deploy.yml');
    expect(healed.status, healed.out).toBe(0);
  }, 300_000);

  it('makes up a reload that did not happen on the next run, even with nothing else to change', async () => {
    // A breakage the role did not make: with maillog_file set and no postlog service
    // in master.cf, postfix check fails; so the handler does not reload.
    renderTree(rendered, { gwa: [...listsA, 'newlist@lists.example.test', 'later@lists.example.test'], gwb: [...listsB, 'newlist@news.example.test'] });
    breakCheck(gwa);
    const reloadsBefore = gwa.reloads();
    const failed = playbook(inventory, 'deploy.yml');
    expect(failed.status).not.toBe(0);
    expect(failed.out).toContain('postfix check failed on');
    expect(failed.out).toContain('this run changed no main.cf value: nothing to restore');
    expect(failed.out).toContain(`not reloaded; ${marker(gwa)} stays, so the next run reloads`);
    expect(existsSync(marker(gwa))).toBe(true);
    expect(gwa.reloads()).toBe(reloadsBefore);

    fixCheck(gwa);
    const next = playbook(inventory, 'deploy.yml');
    expect(next.status, next.out).toBe(0);
    expect(next.out).toContain(`${marker(gwa)} exists: a previous run changed this gateway and did not reload it`);
    expect(next.out).toMatch(/RUNNING HANDLER[^\n]*\n[^\n]*changed: \[gwa\]/);
    await sleep(500);
    expect(gwa.reloads()).toBe(reloadsBefore + 1);
    expect(existsSync(marker(gwa))).toBe(false);
    const quiet = playbook(inventory, 'deploy.yml');
    expect(quiet.status, quiet.out).toBe(0);
    expect(quiet.recap['gwa']?.['changed'], quiet.out).toBe(0);
    expect(quiet.recap['gwb']?.['changed'], quiet.out).toBe(0);
  }, 300_000);

  it('puts the previous main.cf values back when postfix check fails after a change, and says so', () => {
    breakCheck(gwa);
    const failed = playbook(inventory, 'deploy.yml', '-e', 'postfix_relay_gateway_soft_reject=true');
    expect(failed.status).not.toBe(0);
    expect(failed.out).toContain('restored the values main.cf had before this run: unknown_relay_recipient_reject_code');
    expect(failed.out).toContain('postfix check still fails with the restored values: the problem is not this run');
    // It was Postfix's default (550) before the run: the line is gone again.
    expect(gwa.explicit()).not.toContain('unknown_relay_recipient_reject_code');
    expect(gwa.value('unknown_relay_recipient_reject_code')).toBe('550');
    expect(failed.out).toContain(`(main.cf as it was before the change: ${gwa.etc}/main.cf.rcptsync-backup)`);
    expect(readFileSync(join(gwa.etc, 'main.cf.rcptsync-backup'), 'utf8')).not.toContain('unknown_relay_recipient_reject_code');
    expect(failed.recap['gwb'], failed.out).toBeUndefined();
    fixCheck(gwa);
    const next = playbook(inventory, 'deploy.yml');
    expect(next.status, next.out).toBe(0);
  }, 300_000);

  it('a value that breaks postfix check (an operator\'s typo) is put back, and the message says it was this run\'s change', async () => {
    const reloadsBefore = gwa.reloads();
    const failed = playbook(inventory, 'deploy.yml', '--limit', 'gwa', '-e', 'postfix_relay_gateway_owner_request_special=maybe');
    expect(failed.status).not.toBe(0);
    expect(failed.out).toContain('restored the values main.cf had before this run: owner_request_special');
    expect(failed.out).toContain("postfix check passes with the restored values: this run's change made it fail");
    expect(gwa.explicit()).not.toContain('owner_request_special');
    expect(gwa.reloads()).toBe(reloadsBefore);
    // The next run without the typo makes up the reload and changes nothing else.
    const next = playbook(inventory, 'deploy.yml', '--limit', 'gwa');
    expect(next.status, next.out).toBe(0);
    expect(next.out).toContain('exists: a previous run changed this gateway and did not reload it');
  }, 300_000);

  it('--tags: validation always runs, and a maps-only run publishes and reloads', async () => {
    const listed = playbook(inventory, 'deploy.yml', '--list-tasks', '--tags', 'postfix_relay_gateway_maps');
    expect(listed.status, listed.out).toBe(0);
    expect(listed.out).toContain('Validate | check the rendered files against the manifest on the control node');
    expect(listed.out).toContain('Validate | no setting bypasses the recipient table');
    expect(listed.out).toContain('Maps | upload, check, build and rename the stale tables into place');
    expect(listed.out).not.toContain('Main.cf | set the settings that differ');

    renderTree(rendered, { gwa: [...listsA, 'tagged@lists.example.test'], gwb: listsB });
    const run = playbook(inventory, 'deploy.yml', '--tags', 'postfix_relay_gateway_maps');
    expect(run.status, run.out).toBe(0);
    expect(run.out).toContain('Validate | the rendered files match the manifest');
    expect(run.out).toMatch(/RUNNING HANDLER[^\n]*\n[^\n]*changed: \[gwa\]/);
    expect(await gwa.eventually('tagged@lists.example.test', /^250 /)).toMatch(/^250 /);
    // A tampered file is refused under --tags too: the validation ran.
    writeFileSync(join(rendered, 'gwa', 'relay_recipients'), `${readFileSync(join(rendered, 'gwa', 'relay_recipients'), 'utf8')}x@lists.example.test OK\n`);
    const refused = playbook(inventory, 'deploy.yml', '--tags', 'postfix_relay_gateway_maps');
    expect(refused.status).not.toBe(0);
    expect(refused.out).toContain('Refusing to deploy to gwa');
  }, 300_000);
});
