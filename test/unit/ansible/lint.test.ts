/**
 * The Ansible side checked by the real tools: ansible-lint (production profile,
 * offline) over roles/ and playbooks/, and ansible-playbook --syntax-check of
 * every playbook against the example inventory, run from outside the checkout so
 * that role lookup does not depend on the working directory; ansible-doc of every
 * module the roles ship (ansible-lint does not read their DOCUMENTATION).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';

function run(command: string, args: string[], cwd: string): { status: number; output: string } {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    // No colour codes in failure messages; no retries against the network.
    env: { ...process.env, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0' },
  });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, output: `${result.stdout}\n${result.stderr}` };
}

const playbooks = readdirSync(join(REPO, 'playbooks')).filter((name) => name.endsWith('.yml')).sort();
const modules = readdirSync(join(REPO, 'roles')).flatMap((role) => {
  const library = join(REPO, 'roles', role, 'library');
  return existsSync(library) ? readdirSync(library).filter((name) => name.endsWith('.py')).map((name) => ({ library, module: name.slice(0, -3) })) : [];
});

describe('ansible-lint', () => {
  it('passes with the production profile on roles/ and playbooks/, offline', () => {
    const { status, output } = run('ansible-lint', ['--offline', '--nocolor', '-p', 'roles/', 'playbooks/'], REPO);
    expect(output).not.toMatch(/^\S+:\d+: /m);
    expect(status, output).toBe(0);
  }, 120_000);
});

describe('ansible-playbook --syntax-check', () => {
  it('finds the playbooks', () => {
    expect(playbooks).toEqual(expect.arrayContaining(['deploy.yml', 'schedule.yml', 'sync.yml', 'verify.yml']));
  });

  it.each(playbooks)('%s parses and its roles resolve from any working directory', (name) => {
    const { status, output } = run(
      'ansible-playbook',
      ['--syntax-check', '-i', join(REPO, 'inventory', 'example'), join(REPO, 'playbooks', name)],
      tmpdir(),
    );
    expect(status, output).toBe(0);
  }, 60_000);
});

describe('ansible-doc', () => {
  it('finds the modules of both gateway roles', () => {
    expect(modules.map((m) => m.module)).toEqual(expect.arrayContaining(['exim_relay_gateway_config', 'postfix_relay_gateway_publish']));
  });

  it.each(modules)('$module has documentation ansible-doc can read', ({ library, module }) => {
    const { status, output } = run('ansible-doc', ['-M', library, module], tmpdir());
    expect(status, output).toBe(0);
    expect(output).toContain(module.toUpperCase());
  }, 60_000);
});
