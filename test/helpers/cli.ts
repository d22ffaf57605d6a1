/**
 * Run the built CLI (dist/bin.js) as a real child process, the way cron and
 * Ansible run it, and build throwaway inventories for it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(REPO, 'dist', 'bin.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function rcptsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, SSH_AUTH_SOCK: '', ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  // A run that timed out says what it had printed by then, not only ETIMEDOUT.
  if (result.error) throw new Error(`rcptsync ${args.join(' ')}: ${result.error.message}\nstdout so far:\n${result.stdout ?? ''}\nstderr so far:\n${result.stderr ?? ''}`);
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** A pre-resolved inventory (the shape of `ansible-inventory --list`). */
export function writeInventoryJson(
  file: string,
  groups: { list_servers: Record<string, Record<string, unknown>>; mail_gateways: Record<string, Record<string, unknown>> },
): string {
  const hostvars: Record<string, Record<string, unknown>> = { ...groups.list_servers, ...groups.mail_gateways };
  const json = {
    _meta: { hostvars },
    all: { children: ['ungrouped', 'list_servers', 'mail_gateways'] },
    list_servers: { hosts: Object.keys(groups.list_servers) },
    mail_gateways: { hosts: Object.keys(groups.mail_gateways) },
  };
  writeFileSync(file, JSON.stringify(json, null, 2));
  return file;
}

/**
 * An inventory in YAML, as an operator's repository holds it: one list server
 * with a static source (nothing to connect to) for lists.example.org, one gateway.
 */
export function staticInventoryYaml(addresses: string[], gateway: Record<string, string> = {}): string {
  return [
    'all:',
    '  children:',
    '    list_servers:',
    '      hosts:',
    '        lists1:',
    '          rcptsync_domains: [lists.example.org]',
    '          rcptsync_sources:',
    '            - type: static',
    `              addresses: ${JSON.stringify(addresses)}`,
    '    mail_gateways:',
    '      hosts:',
    '        mx1:',
    ...Object.entries(gateway).map(([key, value]) => `          ${key}: ${JSON.stringify(value)}`),
    '          rcptsync_relay_domains:',
    '            lists.example.org: "smtp:[lists1.example.org]:25"',
    '',
  ].join('\n');
}

/** The Ansible and rcptsync variables of a list server reached through a test sshd. */
export function sshdHostVars(sshd: { host: string; port: number; user: string; privateKeyFile: string; knownHostsFile: string }): Record<string, unknown> {
  return {
    ansible_host: sshd.host,
    ansible_port: sshd.port,
    ansible_user: sshd.user,
    ansible_ssh_private_key_file: sshd.privateKeyFile,
    rcptsync_known_hosts_file: sshd.knownHostsFile,
  };
}

/** Every file under a directory with its sha256, to prove a tree was not touched. */
export function treeDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path, `${prefix}${name}/`);
      else out[`${prefix}${name}`] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** The `address OK` lines of a rendered relay_recipients file (header comments dropped). */
export function tableKeys(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => line.split(/\s+/)[0]!);
}
