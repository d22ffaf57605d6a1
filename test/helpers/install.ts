/**
 * rcptsync as an operator installs it, outside the checkout: the npm package
 * (`npm pack`, then `npm install -g --omit=dev` of the tarball into a prefix)
 * and the Ansible collection (`ansible-galaxy collection build`, then
 * `install` into a collections path). Shared by test/it/pack.test.ts,
 * test/it/collection.test.ts and test/e2e/installed.e2e.test.ts.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './cli.js';

export const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** The environment without what `npm test` exports to its children (npm_config_*, npm_package_*). */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/^npm_/i.test(name)) out[name] = value;
  return { ...out, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', SSH_AUTH_SOCK: '', ...extra };
}

export function runIn(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 180_000): RunResult {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function mustRun(what: string, command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): RunResult {
  const result = runIn(command, args, cwd, env);
  if (result.status !== 0) throw new Error(`${what} failed (${result.status}):\n${result.stderr}\n${result.stdout}`);
  return result;
}

export interface PackedCli {
  tarball: string;
  /** Paths inside the tarball, sorted. */
  files: string[];
  /** The install prefix: `<prefix>/bin/rcptsync`. */
  prefix: string;
  bin: string;
  /** The installed package: `<prefix>/lib/node_modules/rcptsync`. */
  installed: string;
}

/**
 * `npm pack` of the working tree and `npm install --global --omit=dev` of the
 * tarball into `<dir>/prefix`. The pack runs in a copy of the tree (tracked and
 * untracked, not ignored files, sharing node_modules for tsc) so that prepack's
 * clean build never removes the dist/ that other tests of the checkout use.
 * `beforePack` may change the copy (e.g. plant a stale file in dist/).
 */
export function packAndInstallCli(dir: string, beforePack: (source: string) => void = () => {}): PackedCli {
  const env = cleanEnv();
  const source = join(dir, 'checkout');
  mkdirSync(source, { recursive: true });
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file && !/^node_modules(\/|$)/.test(file) && existsSync(join(REPO, file)));
  execFileSync('tar', ['--null', '--no-recursion', '-T', '-', '-cf', join(dir, 'tree.tar')], { cwd: REPO, input: files.join('\0') });
  execFileSync('tar', ['-xf', join(dir, 'tree.tar'), '-C', source]);
  symlinkSync(join(REPO, 'node_modules'), join(source, 'node_modules'));
  beforePack(source);

  const packed = mustRun('npm pack', 'npm', ['pack', '--json', '--pack-destination', dir], source, env);
  const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const tarball = join(dir, report[0]!.filename);
  const prefix = join(dir, 'prefix');
  mustRun('npm install -g', 'npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], dir, env);
  return {
    tarball,
    files: report[0]!.files.map((file) => file.path).sort(),
    prefix,
    bin: join(prefix, 'bin'),
    installed: join(prefix, 'lib', 'node_modules', PACKAGE.name),
  };
}

export interface InstalledCollection {
  tarball: string;
  /** Paths inside the tarball, sorted (directories end with /). */
  files: string[];
  /** For ANSIBLE_COLLECTIONS_PATH. */
  collectionsPath: string;
  /** `<collectionsPath>/ansible_collections/rcptsync/rcptsync`. */
  root: string;
}

/** `ansible-galaxy collection build` of the checkout and `install -p <dir>/collections`. */
export function buildAndInstallCollection(dir: string): InstalledCollection {
  const env = cleanEnv();
  const out = join(dir, 'galaxy-build');
  mkdirSync(out, { recursive: true });
  mustRun('ansible-galaxy collection build', 'ansible-galaxy', ['collection', 'build', '--output-path', out, REPO], dir, env);
  const tarball = join(out, `rcptsync-rcptsync-${PACKAGE.version}.tar.gz`);
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  const collectionsPath = join(dir, 'collections');
  mustRun('ansible-galaxy collection install', 'ansible-galaxy', ['collection', 'install', '-p', collectionsPath, tarball], dir, env);
  return { tarball, files, collectionsPath, root: join(collectionsPath, 'ansible_collections', 'rcptsync', 'rcptsync') };
}

/** Writes a file, creating its directory. */
export function writeFileIn(file: string, text: string, mode?: number): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text, mode === undefined ? {} : { mode });
}
