/**
 * The Ansible collection rcptsync.rcptsync as an operator gets it:
 * `ansible-galaxy collection build` of this checkout, `ansible-galaxy collection
 * install` into a throwaway collections path, then the playbooks by name
 * (`ansible-playbook rcptsync.rcptsync.sync`) from a directory outside the
 * checkout. Roles in a collection cannot carry their own plugins (the role's
 * library/ and action_plugins/ are not searched there), so the modules and the
 * action plugin must come from the collection's plugins/.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, staticInventoryYaml } from '../helpers/cli.js';
import { buildAndInstallCollection, cleanEnv, PACKAGE, runIn, type InstalledCollection } from '../helpers/install.js';

let dir: string;
let site: string;
let collection: InstalledCollection;
let env: NodeJS.ProcessEnv;

const MODULES = ['postfix_relay_gateway_deployed', 'postfix_relay_gateway_inspect', 'postfix_relay_gateway_publish', 'postfix_relay_gateway_settings'];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-collection-'));
  collection = buildAndInstallCollection(dir);
  // Nothing of the checkout on the way: no ansible.cfg, no roles path.
  env = cleanEnv({ ANSIBLE_COLLECTIONS_PATH: collection.collectionsPath, ANSIBLE_ROLES_PATH: join(dir, 'no-roles') });
  site = join(dir, 'site');
  mkdirSync(join(site, 'inventory'), { recursive: true });
  writeFileSync(join(site, 'inventory', 'hosts.yml'), staticInventoryYaml(['announce@lists.example.org'], { ansible_host: '192.0.2.1' }));
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ansible-galaxy collection build', () => {
  it('names the collection and its version as package.json does', () => {
    const manifest = JSON.parse(readFileSync(join(collection.root, 'MANIFEST.json'), 'utf8')) as { collection_info: { namespace: string; name: string; version: string } };
    expect(manifest.collection_info).toMatchObject({ namespace: 'rcptsync', name: 'rcptsync', version: PACKAGE.version });
    for (const role of ['postfix_relay_gateway', 'sync_schedule']) {
      expect(readFileSync(join(REPO, 'roles', role, 'meta', 'main.yml'), 'utf8')).toMatch(/^\s+namespace: rcptsync$/m);
    }
  });

  it('holds the roles, the playbooks and the plugins, and nothing of the CLI or the tests', () => {
    const files = collection.files;
    for (const file of [
      'MANIFEST.json', // ansible-galaxy's, from galaxy.yml
      'meta/runtime.yml',
      'LICENSE',
      'README.md',
      'playbooks/sync.yml',
      'playbooks/deploy.yml',
      'playbooks/verify.yml',
      'playbooks/schedule.yml',
      'playbooks/plan_deployed.yml',
      'playbooks/files/rcpt_probe.py',
      'roles/postfix_relay_gateway/tasks/main.yml',
      'roles/sync_schedule/tasks/main.yml',
      'plugins/action/postfix_relay_gateway_publish.py',
      ...MODULES.map((module) => `plugins/modules/${module}.py`),
      'examples/production/sudoers',
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => /^(src|test|bench|dist|node_modules|templates|schemas|\.git|\.ci)(\/|$)/.test(file))).toEqual([]);
    expect(files.filter((file) => /^package(-lock)?\.json$|^tsconfig|^vitest|^ansible\.cfg$|\.tgz$/.test(file))).toEqual([]);
  });
});

describe('plugins/ of the checkout', () => {
  // A role's library/ and action_plugins/ are not searched inside a collection: each file needs its link in plugins/.
  it('links every module and action plugin of every role', () => {
    for (const role of readdirSync(join(REPO, 'roles'))) {
      for (const [from, to] of [['library', 'modules'], ['action_plugins', 'action']] as const) {
        const folder = join(REPO, 'roles', role, from);
        if (!existsSync(folder)) continue;
        for (const file of readdirSync(folder).filter((name) => name.endsWith('.py'))) {
          const link = join(REPO, 'plugins', to, file);
          expect(existsSync(link) && lstatSync(link).isSymbolicLink(), `plugins/${to}/${file} -> ../../roles/${role}/${from}/${file} (ln -s)`).toBe(true);
          expect(readlinkSync(link)).toBe(`../../roles/${role}/${from}/${file}`);
        }
      }
    }
  });
});

describe('the installed collection, outside the checkout', () => {
  it('serves the modules and the action plugin under the collection name', () => {
    for (const module of MODULES) {
      const doc = runIn('ansible-doc', ['-t', 'module', `rcptsync.rcptsync.${module}`], site, env);
      expect(doc.status, doc.stderr).toBe(0);
      expect(doc.stdout).toContain(join(collection.root, 'plugins', 'modules', `${module}.py`));
    }
  });

  it.each(['sync', 'deploy', 'verify', 'schedule', 'plan_deployed'])('runs rcptsync.rcptsync.%s by name (--syntax-check: roles and modules resolve)', (name) => {
    const result = runIn('ansible-playbook', ['--syntax-check', '-i', 'inventory', `rcptsync.rcptsync.${name}`], site, env);
    expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stderr).toContain('running playbook inside collection rcptsync.rcptsync');
  }, 60_000);

  it('refuses to render into the installed collection when rcptsync_rendered_dir is not set', () => {
    const result = runIn('ansible-playbook', ['-i', 'inventory', 'rcptsync.rcptsync.sync'], site, env);
    expect(result.status).toBe(2);
    expect(result.stdout).toContain('rcptsync_rendered_dir is not set, and the playbooks run from an installed collection');
  }, 60_000);
});
