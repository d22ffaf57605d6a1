/**
 * playbooks/sync.yml's reading of rcptsync sync's exit codes (the contract with
 * the CLI of issue 7): 0 deploy; 1 and 2 stop before any gateway is touched; 3, 5
 * and 6 deploy the rendered tree (healthy changes go live) and then fail the
 * playbook with rcptsync's stderr lines. rcptsync is a stand-in script here
 * (rcptsync_command) that renders a prepared tree and exits with a chosen code;
 * the gateway is a real Postfix.
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playbook, renderTree, ScratchPostfix, writeInventory } from './gateway-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'rcptsync-syncpb-'));
const rendered = join(work, 'rendered');
const next = join(work, 'next');
const inventory = join(work, 'inventory.ini');
let gw: ScratchPostfix;
const lists = ['announce@lists.example.test', 'postmaster@lists.example.test', 'abuse@lists.example.test'];
const STALE = 'warning: lists2: sources[0] (mailman3): SSH connection to 10.0.0.2:22 refused; carried forward from last-known-good';

/** A stand-in for rcptsync: `sync ... -o DIR` gets the prepared tree (when `renders`), prints a stderr line, exits `code`. */
function fakeRcptsync(code: number, renders: boolean): string {
  const script = join(work, `fake-rcptsync-${code}.sh`);
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'out=""',
      'while [ $# -gt 0 ]; do [ "$1" = "-o" ] && out="$2"; shift; done',
      renders ? `rm -rf "$out" && cp -r '${next}' "$out"` : ':',
      `echo 'rendered with exit code ${code}'`,
      `echo '${STALE}' >&2`,
      `echo 'second stderr line' >&2`,
      `exit ${code}`,
      '',
    ].join('\n'),
  );
  chmodSync(script, 0o755);
  return script;
}

function sync(code: number, renders: boolean) {
  return playbook(inventory, 'sync.yml', '-e', `rcptsync_command=${fakeRcptsync(code, renders)}`, '-e', `rcptsync_rendered_dir=${rendered}`);
}

/** The next tree adds one address. */
function prepare(address: string): void {
  rmSync(next, { recursive: true, force: true });
  renderTree(next, { [gw.name]: [...lists, address] });
}

beforeAll(async () => {
  gw = await ScratchPostfix.start('gwsync');
  renderTree(rendered, { [gw.name]: lists });
  writeInventory(inventory, [gw], rendered);
  const first = playbook(inventory, 'deploy.yml');
  if (first.status !== 0) throw new Error(first.out);
  cpSync(rendered, join(work, 'first'), { recursive: true });
}, 240_000);

afterAll(() => {
  gw?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('sync.yml and rcptsync sync exit codes', () => {
  it('0: deploys and succeeds', async () => {
    prepare('zero@lists.example.test');
    const result = sync(0, true);
    expect(result.status, result.out).toBe(0);
    expect(await gw.eventually('zero@lists.example.test', /^250 /)).toMatch(/^250 /);
  }, 240_000);

  it.each([1, 2])('%i: stops before any gateway is touched', async (code) => {
    prepare(`refused${code}@lists.example.test`);
    const result = sync(code, false);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain(`rcptsync sync exited with ${code}:`);
    expect(result.out).toContain('no gateway was touched');
    expect(result.out).toContain(STALE);
    expect(result.recap[gw.name], result.out).toBeUndefined();
    expect(await gw.rcpt(`refused${code}@lists.example.test`)).toMatch(/^550 /);
  }, 240_000);

  it.each([
    [3, 'review needed, removals over a threshold were held'],
    [5, 'published degraded, failed sources were carried forward'],
    [6, 'HOST KEY problem'],
  ])('%i: deploys the rendered tree, then ends failed with rcptsync\'s messages', async (code, meaning) => {
    prepare(`degraded${code}@lists.example.test`);
    const result = sync(code, true);
    expect(result.status).not.toBe(0);
    // The gateway got the new tree and is not counted as failed; localhost carries the failure.
    expect(result.recap[gw.name]?.['failed'], result.out).toBe(0);
    expect(result.recap['localhost']?.['failed'], result.out).toBe(1);
    expect(await gw.eventually(`degraded${code}@lists.example.test`, /^250 /)).toMatch(/^250 /);
    expect(result.out).toContain(`The rendered tree was deployed, but rcptsync sync exited with ${code}`);
    expect(result.out).toContain(meaning);
    expect(result.out).toContain(`rcptsync said: ${STALE} | second stderr line`);
  }, 240_000);

  it('rcptsync_verify_after_sync: verify.yml probes the gateway after the deploy', async () => {
    prepare('verified@lists.example.test');
    const quiet = sync(0, true);
    expect(quiet.status, quiet.out).toBe(0);
    expect(quiet.out).not.toContain('probes answered as expected');
    prepare('verified2@lists.example.test');
    const verified = playbook(inventory, 'sync.yml', '-e', `rcptsync_command=${fakeRcptsync(0, true)}`, '-e', `rcptsync_rendered_dir=${rendered}`, '-e', 'rcptsync_verify_after_sync=true');
    expect(verified.status, verified.out).toBe(0);
    expect(verified.out).toMatch(/gwsync: \d+ probes answered as expected/);
    expect(verified.out).toContain('verified2@lists.example.test -> 250');
  }, 240_000);

  it('an unexpected exit code stops before the gateways too', () => {
    const result = sync(7, false);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('rcptsync sync exited with 7: unexpected exit code');
    expect(result.recap[gw.name]).toBeUndefined();
    expect(existsSync(join(rendered, 'manifest.json'))).toBe(true);
  }, 240_000);
});
