/**
 * `ansible_connection: local`: a list server that is the control node itself.
 * The real CLI collects by running the source commands here through /bin/sh,
 * with no key, no agent and no sshd, and with the same guarantees as over SSH:
 * a failing command, a hung one (its whole process group is killed) and one
 * over the output cap stop the run with the same messages.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rcptsync, tableKeys, writeInventoryJson } from '../helpers/cli.js';

let dir: string;

function inventory(name: string, sources: unknown[], extra: Record<string, unknown> = {}): string {
  return writeInventoryJson(join(dir, `${name}.json`), {
    list_servers: {
      // No ansible_host, key or known_hosts: nothing of SSH is needed.
      lists1: { ansible_connection: 'local', rcptsync_domains: ['lists.example.test'], rcptsync_sources: sources, ...extra },
    },
    mail_gateways: { mx1: { rcptsync_relay_domains: { 'lists.example.test': 'smtp:[10.0.0.1]:25' } } },
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-local-'));
  writeFileSync(join(dir, 'aliases'), 'helpdesk: root\nsales: bob\n');
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a list server with ansible_connection: local', () => {
  it('is collected on the control node without SSH', () => {
    const inv = inventory('ok', [
      { type: 'aliases', path: join(dir, 'aliases'), domains: ['lists.example.test'] },
      { type: 'command', command: "printf 'announce@lists.example.test\\n' | cat" },
    ]);
    expect(rcptsync(['validate', '--inventory-json', inv]).status).toBe(0);
    const out = join(dir, 'rendered');
    const result = rcptsync(['sync', '--inventory-json', inv, '-o', out], { env: { SSH_AUTH_SOCK: '' } });
    expect(result.stderr).not.toMatch(/error/);
    expect(result.status).toBe(0);
    expect(tableKeys(join(out, 'mx1', 'relay_recipients'))).toEqual(
      expect.arrayContaining(['helpdesk@lists.example.test', 'sales@lists.example.test', 'announce@lists.example.test']),
    );
  });

  it('fails a command that fails, with its exit code and stderr', () => {
    const result = rcptsync(['sync', '--inventory-json', inventory('fail', [{ type: 'command', command: "echo 'no such table' >&2; exit 3" }]), '-o', join(dir, 'fail')]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("lists1: command failed with exit code 3: echo 'no such table' >&2; exit 3");
    expect(result.stderr).toContain('no such table');
  });

  it('stops a hung command at the timeout, with everything it started', () => {
    const marker = `rcptsync-local-test-${process.pid}`;
    const started = Date.now();
    const result = rcptsync([
      'sync',
      '--inventory-json',
      inventory('hung', [{ type: 'command', command: `sleep 30 # ${marker}` }], { rcptsync_command_timeout: 1 }),
      '-o',
      join(dir, 'hung'),
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`lists1: command timed out after 1 s: sleep 30 # ${marker}`);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(spawnSync('pgrep', ['-f', marker]).status).toBe(1); // nothing left running
  });

  it('stops at the output cap', () => {
    const result = rcptsync([
      'sync',
      '--inventory-json',
      inventory('big', [{ type: 'command', command: 'yes a@lists.example.test | head -n 100000' }], { rcptsync_max_output_bytes: 4096 }),
      '-o',
      join(dir, 'big'),
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('lists1: command output exceeded 4096 bytes: yes a@lists.example.test | head -n 100000');
  });

  it('passes doctor, which runs each command here', () => {
    const result = rcptsync(['doctor', '--inventory-json', inventory('doctor', [{ type: 'aliases', path: join(dir, 'aliases'), domains: ['lists.example.test'] }])]);
    expect(result.stdout.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^PASS lists1 connection: local: the commands run on this control node as \S+, without SSH$/),
      `PASS lists1 sources[0] (aliases): cat -- '${join(dir, 'aliases')}': exit 0, 2 lines`,
    ]);
    expect(result.status).toBe(0);
  });
});
