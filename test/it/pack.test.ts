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
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticInventoryYaml } from '../helpers/cli.js';
import { cleanEnv, PACKAGE as pkg, packAndInstallCli, runIn } from '../helpers/install.js';

let dir: string;
let packedFiles: string[];
let prefix: string;
let installed: string;
let work: string;
let env: NodeJS.ProcessEnv;

function run(command: string, args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): { status: number; stdout: string; stderr: string } {
  return runIn(command, args, cwd, { ...env, ...extraEnv });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-pack-'));
  const cli = packAndInstallCli(dir, (source) => {
    // A file left over from an earlier build must not reach the tarball: prepack starts from an empty dist/.
    mkdirSync(join(source, 'dist'), { recursive: true });
    writeFileSync(join(source, 'dist', 'stale-leftover.js'), 'throw new Error("stale");\n');
  });
  packedFiles = cli.files;
  prefix = cli.prefix;
  installed = cli.installed;
  env = cleanEnv({ PATH: `${cli.bin}:${process.env['PATH'] ?? ''}` });

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
      'examples/pr-flow/nightly.sh',
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
    // The pull-request flow runs from the package: nightly.sh stays executable.
    expect(statSync(join(installed, 'examples', 'pr-flow', 'nightly.sh')).mode & 0o111).toBe(0o111);
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
