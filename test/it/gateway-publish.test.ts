/**
 * The gateway side of the role's publish step (roles/postfix_relay_gateway/
 * action_plugins/postfix_relay_gateway_publish.py), run as the action plugin
 * builds it: the script under /bin/sh with the real tar, gzip, sha256sum and
 * postmap, fed the archive the plugin packs. What must hold whatever goes wrong
 * in transit: a published table is replaced only by a file with the manifest's
 * sha256 that postmap built, and no temporary file stays behind.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

const PLUGINS = join(REPO, 'roles/postfix_relay_gateway/action_plugins');
const root = mkdtempSync(join(tmpdir(), 'rcptsync-publish-'));
const etc = join(root, 'etc');
const mapDir = join(etc, 'rcptsync');
const src = join(root, 'rendered');
const PREFIX = '.rcptsync-new.';
// The plugin imports ansible: the Python that ansible-playbook runs on (its shebang).
const ANSIBLE_PYTHON = (() => {
  const found = spawnSync('sh', ['-c', 'head -n 1 "$(command -v ansible-playbook)"'], { encoding: 'utf8' }).stdout;
  return /^#!\s*(\S+)/.exec(found)?.[1] ?? 'python3';
})();

interface Table {
  name: string;
  text: string;
  /** sha256 the manifest claims (default: the text's own) */
  sha256?: string;
}

/** Packs the tables as the action plugin does and writes its script for an upload at `archive`. */
function prepare(tables: Table[], archive: string): { script: string } {
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  for (const table of tables) writeFileSync(join(src, table.name), table.text);
  const args = {
    src_dir: src,
    map_dir: mapDir,
    config_dir: etc,
    map_type: 'cdb',
    suffix: 'cdb',
    tmp_prefix: PREFIX,
    reload_marker: '.rcptsync-reload-pending',
    tables: tables.map((t) => ({
      name: t.name,
      sha256: t.sha256 ?? createHash('sha256').update(t.text).digest('hex'),
      first: t.text.split('\n').find((line) => line && !line.startsWith('#'))?.split(' ')[0] ?? null,
    })),
  };
  const python = [
    'import json, sys',
    `sys.path.insert(0, ${JSON.stringify(PLUGINS)})`,
    'import postfix_relay_gateway_publish as p',
    'args = json.load(sys.stdin)',
    `open(${JSON.stringify(archive)}, 'wb').write(p.archive_tables(args['src_dir'], args['tables'], args['tmp_prefix']))`,
    `sys.stdout.write(p.publish_script(args, ${JSON.stringify(archive)}))`,
  ].join('\n');
  const result = spawnSync(ANSIBLE_PYTHON, ['-c', python], { input: JSON.stringify(args), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`packing failed: ${result.stderr}`);
  return { script: result.stdout };
}

function runScript(script: string): { status: number; stderr: string; stdout: string } {
  const result = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
  return { status: result.status ?? -1, stderr: result.stderr, stdout: result.stdout };
}

function lookup(name: string, key: string): string {
  const result = spawnSync('postmap', ['-c', etc, '-q', key, `cdb:${join(mapDir, name)}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : `(exit ${result.status})`;
}

const temporaries = (): string[] => readdirSync(mapDir).filter((name) => name.startsWith(PREFIX));
const OLD = '# old\nold@lists.example.test OK\n';
const NEW = '# new\nnew@lists.example.test OK\nnew2@lists.example.test OK\n';
const DOMAINS_OLD = 'lists.example.test OK\n';
const DOMAINS_NEW = 'lists.example.test OK\nnews.example.test OK\n';

/** Publishes the old tables for real, the way every case starts. */
function publishOld(): void {
  const upload = join(root, 'upload-old');
  mkdirSync(upload, { recursive: true });
  const { script } = prepare(
    [
      { name: 'relay_recipients', text: OLD },
      { name: 'relay_domains', text: DOMAINS_OLD },
    ],
    join(upload, 'tables.tar.gz'),
  );
  const result = runScript(script);
  if (result.status !== 0) throw new Error(`publishing the old tables failed: ${result.stderr}`);
}

beforeAll(() => {
  mkdirSync(mapDir, { recursive: true });
  // postmap -c needs a main.cf; nothing here runs Postfix itself.
  writeFileSync(join(etc, 'main.cf'), 'compatibility_level = 3.6\n');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('the publish script on the gateway', () => {
  it('unpacks, checks and builds each table, renames it into place and removes the upload', () => {
    publishOld();
    const upload = join(root, 'upload-1');
    mkdirSync(upload);
    const { script } = prepare([{ name: 'relay_recipients', text: NEW }], join(upload, 'tables.tar.gz'));
    const result = runScript(script);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe('published relay_recipients\n');
    expect(readFileSync(join(mapDir, 'relay_recipients'), 'utf8')).toBe(NEW);
    expect(lookup('relay_recipients', 'new2@lists.example.test')).toBe('OK');
    expect(lookup('relay_recipients', 'old@lists.example.test')).toBe('(exit 1)');
    expect(temporaries()).toEqual([]);
    expect(existsSync(upload)).toBe(false);
    expect(existsSync(join(mapDir, '.rcptsync-reload-pending'))).toBe(true);
  });

  it('leaves every published table alone after a partial transfer (a truncated archive)', () => {
    publishOld();
    rmSync(join(mapDir, '.rcptsync-reload-pending'));
    const upload = join(root, 'upload-2');
    mkdirSync(upload);
    const archive = join(upload, 'tables.tar.gz');
    // Big enough that a truncated archive still holds the start of the file.
    const big = `${Array.from({ length: 20_000 }, (_, i) => `user${i}@lists.example.test OK`).join('\n')}\n`;
    const { script } = prepare([{ name: 'relay_recipients', text: big }], archive);
    const whole = readFileSync(archive);
    writeFileSync(archive, whole.subarray(0, Math.floor(whole.length / 2)));
    const result = runScript(script);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/unexpected end of file|Unexpected EOF/i);
    expect(readFileSync(join(mapDir, 'relay_recipients'), 'utf8')).toBe(OLD);
    expect(lookup('relay_recipients', 'old@lists.example.test')).toBe('OK');
    expect(temporaries()).toEqual([]);
    expect(existsSync(join(mapDir, '.rcptsync-reload-pending'))).toBe(false);
  });

  it('refuses a file whose sha256 is not the manifest\'s before postmap, and leaves the published table alone', () => {
    publishOld();
    const upload = join(root, 'upload-3');
    mkdirSync(upload);
    const { script } = prepare([{ name: 'relay_recipients', text: NEW, sha256: createHash('sha256').update(OLD).digest('hex') }], join(upload, 'tables.tar.gz'));
    const result = runScript(script);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("relay_recipients: the transferred file does not have the manifest's sha256");
    expect(readFileSync(join(mapDir, 'relay_recipients'), 'utf8')).toBe(OLD);
    expect(lookup('relay_recipients', 'old@lists.example.test')).toBe('OK');
    expect(readdirSync(mapDir).filter((name) => name.startsWith(PREFIX))).toEqual([]);
  });

  it('replaces no table when a later one fails: every table is built before the first rename', () => {
    publishOld();
    const upload = join(root, 'upload-4');
    mkdirSync(upload);
    const { script } = prepare(
      [
        { name: 'relay_recipients', text: NEW },
        { name: 'relay_domains', text: DOMAINS_NEW, sha256: '0'.repeat(64) },
      ],
      join(upload, 'tables.tar.gz'),
    );
    const result = runScript(script);
    expect(result.status).not.toBe(0);
    expect(result.stdout).not.toContain('published');
    expect(readFileSync(join(mapDir, 'relay_recipients'), 'utf8')).toBe(OLD);
    expect(readFileSync(join(mapDir, 'relay_domains'), 'utf8')).toBe(DOMAINS_OLD);
    expect(lookup('relay_recipients', 'old@lists.example.test')).toBe('OK');
    expect(temporaries()).toEqual([]);
  });

  it('reads the archive from standard input when there is no upload (the pipelined transfer)', () => {
    publishOld();
    const packed = join(root, 'packed');
    mkdirSync(packed, { recursive: true });
    const archive = join(packed, 'tables.tar.gz');
    const { script } = prepare([{ name: 'relay_recipients', text: NEW }], archive);
    const stdinScript = spawnSync(
      ANSIBLE_PYTHON,
      ['-c', `import json, sys\nsys.path.insert(0, ${JSON.stringify(PLUGINS)})\nimport postfix_relay_gateway_publish as p\nsys.stdout.write(p.publish_script(json.load(sys.stdin)))`],
      {
        input: JSON.stringify({
          map_dir: mapDir, config_dir: etc, map_type: 'cdb', suffix: 'cdb', tmp_prefix: PREFIX, reload_marker: '.rcptsync-reload-pending',
          tables: [{ name: 'relay_recipients', sha256: createHash('sha256').update(NEW).digest('hex'), first: 'new@lists.example.test' }],
        }),
        encoding: 'utf8',
      },
    ).stdout;
    expect(script).toContain(`-f ${archive}\n`);
    expect(stdinScript).not.toContain(packed);
    expect(stdinScript).toContain('tar -x -z --no-same-owner -m -f -\n');
    const result = spawnSync('/bin/sh', ['-c', stdinScript], { input: readFileSync(archive), encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(mapDir, 'relay_recipients'), 'utf8')).toBe(NEW);
    expect(temporaries()).toEqual([]);
  });
});
