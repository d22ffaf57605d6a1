/**
 * The package as an operator gets it: `npm pack` (prepack builds dist/ from a
 * clean slate), `npm install -g --omit=dev` of the tarball into a throwaway
 * prefix, then the installed `rcptsync` run from a directory outside the
 * checkout: --version, validate and a sync of an inventory with only static
 * sources (no SSH). The installed playbooks must resolve their roles from the
 * package too.
 *
 * The pack runs in a copy of the working tree (tracked and untracked, not
 * ignored files) so that prepack's clean build never removes the dist/ that
 * other tests of the checkout are using.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, staticInventoryYaml } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };

let dir: string;
let tarball: string;
let packedFiles: string[];
let prefix: string;
let installed: string;
let work: string;
let env: NodeJS.ProcessEnv;

/** The environment without what `npm test` exports to its children (npm_config_*, npm_package_*). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^npm_/i.test(name)) out[name] = value;
  return { ...out, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', SSH_AUTH_SOCK: '', ...extra };
}

function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-pack-'));
  env = cleanEnv();

  // A copy of the working tree as git would commit it, sharing node_modules (for tsc).
  const source = join(dir, 'checkout');
  mkdirSync(source);
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file && !/^node_modules(\/|$)/.test(file) && existsSync(join(REPO, file)));
  execFileSync('tar', ['--null', '--no-recursion', '-T', '-', '-cf', join(dir, 'tree.tar')], { cwd: REPO, input: files.join('\0') });
  execFileSync('tar', ['-xf', join(dir, 'tree.tar'), '-C', source]);
  symlinkSync(join(REPO, 'node_modules'), join(source, 'node_modules'));
  // A file left over from an earlier build must not reach the tarball: prepack starts from an empty dist/.
  mkdirSync(join(source, 'dist'), { recursive: true });
  writeFileSync(join(source, 'dist', 'stale-leftover.js'), 'throw new Error("stale");\n');

  const packed = run('npm', ['pack', '--json', '--pack-destination', dir], source);
  if (packed.status !== 0) throw new Error(`npm pack failed (${packed.status}):\n${packed.stderr}\n${packed.stdout}`);
  const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, report[0]!.filename);
  packedFiles = report[0]!.files.map((file) => file.path).sort();

  // Installed as on a control node: global, production dependencies only, from the tarball.
  prefix = join(dir, 'prefix');
  const install = run('npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir);
  if (install.status !== 0) throw new Error(`npm install -g failed (${install.status}):\n${install.stderr}\n${install.stdout}`);
  installed = join(prefix, 'lib', 'node_modules', pkg.name);
  env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env['PATH'] ?? ''}` });

  // The operator's own inventory repository: nothing of this checkout in it.
  work = join(dir, 'site');
  mkdirSync(join(work, 'inventory', 'group_vars'), { recursive: true });
  writeFileSync(join(work, 'inventory', 'hosts.yml'), staticInventoryYaml(['announce@lists.example.org', 'press@lists.example.org'], { ansible_host: '192.0.2.1' }));
  writeFileSync(join(work, 'inventory', 'group_vars', 'all.yml'), `rcptsync_rendered_dir: ${join(work, 'rendered')}\n`);
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('ships the built CLI, templates, schemas, playbooks and roles, and nothing of the sources or tests', () => {
    for (const file of [
      'package.json',
      'LICENSE',
      'README.md',
      'dist/bin.js',
      'dist/cli.js',
      'templates/relay_recipients.hbs',
      'schemas/source.schema.json',
      'schemas/playbook-vars.schema.json',
      'playbooks/sync.yml',
      'playbooks/deploy.yml',
      'playbooks/verify.yml',
      'playbooks/schedule.yml',
      'playbooks/files/rcpt_probe.py',
      'roles/postfix_relay_gateway/tasks/main.yml',
      'roles/sync_schedule/tasks/main.yml',
      'docs/production.md',
      'examples/production/sudoers',
      'examples/production/rcptsync-forced-command',
      'examples/production/allowed-commands',
    ]) {
      expect(packedFiles).toContain(file);
    }
    expect(packedFiles.filter((file) => /^(src|test|bench|\.ci|node_modules)\//.test(file))).toEqual([]);
    expect(packedFiles.filter((file) => file.endsWith('.map'))).toEqual([]);
    expect(packedFiles).not.toContain('dist/stale-leftover.js');
  });
});

describe('the installed CLI, outside the checkout', () => {
  it('is on PATH with production dependencies only', () => {
    const modules = readdirSync(join(installed, 'node_modules'));
    expect(modules).toEqual(expect.arrayContaining(['ajv', 'handlebars', 'ssh2', 'yaml']));
    expect(modules).not.toContain('typescript');
    expect(modules).not.toContain('vitest');
    const which = run('sh', ['-c', 'command -v rcptsync'], work);
    expect(which.stdout.trim()).toBe(join(prefix, 'bin', 'rcptsync'));
  });

  it('prints its version', () => {
    const result = run('rcptsync', ['--version'], work);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${pkg.version}\n`);
  });

  it('validates an inventory with the schemas it ships', () => {
    const result = run('rcptsync', ['validate', '-i', 'inventory'], work);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('inventory valid: 1 list server with 1 source, 1 gateway relaying 1 domain\n');

    writeFileSync(join(work, 'bad.json'), JSON.stringify({ _meta: { hostvars: { l: { rcptsync_sourcez: [] } } }, list_servers: { hosts: ['l'] }, mail_gateways: { hosts: [] } }));
    const bad = run('rcptsync', ['validate', '--inventory-json', 'bad.json'], work);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown variable rcptsync_sourcez \(did you mean rcptsync_sources\?\)/);
  });

  it('syncs with the templates it ships', () => {
    const out = join(work, 'rendered');
    const result = run('rcptsync', ['sync', '-i', 'inventory', '-o', out], work);
    expect(result.stderr).not.toMatch(/error/i);
    expect(result.status).toBe(0);
    const table = readFileSync(join(out, 'mx1', 'relay_recipients'), 'utf8');
    const keys = table
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(/\s+/)[0]);
    expect(keys).toEqual(['abuse@lists.example.org', 'announce@lists.example.org', 'postmaster@lists.example.org', 'press@lists.example.org']);
    expect(table).toMatch(/^# .*rcptsync/m); // the header from the shipped template
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      gateways: Record<string, { files: Record<string, { sha256: string; entries?: number }> }>;
    };
    const entry = manifest.gateways['mx1']?.files['relay_recipients'];
    expect(entry?.entries).toBe(4);
    expect(entry?.sha256).toBe(createHash('sha256').update(table).digest('hex'));
    expect(existsSync(join(dirname(out), '.rcptsync-state'))).toBe(true);
  });

  it('ships playbooks whose roles resolve from the installed package', () => {
    for (const playbook of ['sync.yml', 'deploy.yml', 'verify.yml', 'schedule.yml']) {
      const result = run('ansible-playbook', ['--syntax-check', '-i', 'inventory', join(installed, 'playbooks', playbook)], work, {
        ANSIBLE_ROLES_PATH: join(installed, 'roles'),
      });
      expect(result.status, `${playbook}\n${result.stdout}\n${result.stderr}`).toBe(0);
    }
  }, 120_000);
});
