import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConfigError, RcptsyncError } from '../../../src/errors.js';
import { readSnapshot, validateSnapshot, writeSnapshot } from '../../../src/model/snapshot-io.js';
import type { Snapshot } from '../../../src/model/snapshot.js';
import { checkTree, countEntries, recoverInterruptedSwap, renderTree, renderedTables, treePaths } from '../../../src/render/index.js';
import { fixtureSnapshot } from './fixture-snapshot.js';
import { transpileRenderCode } from './transpiled.js';

const fixtures = path.resolve(import.meta.dirname, '../../fixtures/render');
const goldenDir = path.join(fixtures, 'golden');
const snapshotFile = path.join(fixtures, 'snapshot.json');

let work: string;
beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'rcptsync-render-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

let counter = 0;
function freshDir(): string {
  const parent = path.join(work, `case-${++counter}`);
  mkdirSync(parent);
  return path.join(parent, 'rendered');
}

/** Every file under `dir`, relative path -> bytes. */
function readTree(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (sub: string): void => {
    for (const entry of readdirSync(path.join(dir, sub)).sort()) {
      const rel = path.join(sub, entry);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(rel, readFileSync(path.join(dir, rel)));
    }
  };
  walk('');
  return files;
}

/** What lies beside the tree, but the render lock a killed run leaves (the lock tests below cover it). */
function siblings(outDir: string): string[] {
  return readdirSync(path.dirname(outDir)).filter((entry) => entry !== path.basename(outDir) && entry !== `.${path.basename(outDir)}.lock`);
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('golden files', () => {
  test('the fixture snapshot file is what writeSnapshot writes for it', async () => {
    const snapshot = await readSnapshot(snapshotFile);
    const again = path.join(work, 'snapshot-again.json');
    await writeSnapshot(again, snapshot);
    expect(readFileSync(again, 'utf8')).toBe(readFileSync(snapshotFile, 'utf8'));
    // ... and it is the fixture object, in contract order.
    expect(snapshot).toEqual(validateSnapshot(fixtureSnapshot()));
  });

  test('the rendered tree matches test/fixtures/render/golden', async () => {
    const outDir = freshDir();
    await renderTree(await readSnapshot(snapshotFile), { outDir });
    const rendered = readTree(outDir);
    // The committed files, read before any update: the renderer is never compared with itself.
    const golden = existsSync(goldenDir) ? readTree(goldenDir) : new Map<string, Buffer>();
    if (process.env['UPDATE_GOLDEN'] === '1') {
      const files = [...new Set([...rendered.keys(), ...golden.keys()])];
      const changed = files.filter((file) => !golden.has(file) || !rendered.has(file) || !rendered.get(file)!.equals(golden.get(file)!));
      if (changed.length > 0) {
        rmSync(goldenDir, { recursive: true, force: true });
        cpSync(outDir, goldenDir, { recursive: true });
        throw new Error(
          `golden files updated: ${changed.sort().join(', ')}. Review the diff (git diff -- ${path.relative(process.cwd(), goldenDir)}), commit it if it is what you meant, and run again without UPDATE_GOLDEN=1`,
        );
      }
    }
    expect([...rendered.keys()]).toEqual([...golden.keys()]);
    for (const [file, bytes] of rendered) expect(bytes.toString('utf8'), file).toBe(golden.get(file)!.toString('utf8'));
  });

  test('what the golden tree shows: U-labels only with SMTPUTF8, role addresses unless off, nothing unrelayed', async () => {
    const gw1 = readFileSync(path.join(goldenDir, 'gw1.example.net/relay_recipients'), 'utf8');
    const gw2 = readFileSync(path.join(goldenDir, 'gw2.example.net/relay_recipients'), 'utf8');
    expect(gw1).toContain('\ninfo@bücher.example OK\n');
    expect(gw1).toContain('\ninfo@xn--bcher-kva.example OK\n');
    expect(gw2).not.toContain('bücher');
    expect(readFileSync(path.join(goldenDir, 'gw1.example.net/transport'), 'utf8')).toContain('\nbücher.example smtp:[lists1.example.org]:25\n');
    // quiet.example.org is declared empty: only its role addresses.
    expect(gw1).toContain('\nabuse@quiet.example.org OK\npostmaster@quiet.example.org OK\n');
    // support.example.net has role addresses off: postmaster@ only because a source has it.
    expect(gw2).not.toContain('abuse@support.example.net');
    expect(gw2).toContain('\npostmaster@support.example.net OK\n');
    expect(gw1 + gw2).not.toContain('unrelayed.example.com');
    expect(gw2).not.toContain('lists.example.org OK');
    for (const text of [gw1, gw2]) {
      expect(text.endsWith('\n')).toBe(true);
      expect(text).not.toMatch(/^@/m);
      expect(text.startsWith('# Generated by rcptsync; do not edit')).toBe(true);
    }
    expect(gw1).toMatch(/^# Source: lists1 sources\[0\] \(mailman3\)$/m);
  });

  test('relay_domains and transport describe only themselves: a changed address or source leaves them byte-identical', async () => {
    const before = freshDir();
    await renderTree(fixtureSnapshot(), { outDir: before });
    const changed = fixtureSnapshot();
    changed.sources[0]!.addresses = [...changed.sources[0]!.addresses.slice(1)];
    changed.sources[0]!.label = 'renamed source';
    const after = freshDir();
    await renderTree(changed, { outDir: after });
    for (const gateway of ['gw1.example.net', 'gw2.example.net']) {
      for (const file of ['relay_domains', 'transport']) {
        expect(readFileSync(path.join(after, gateway, file), 'utf8'), `${gateway}/${file}`).toBe(readFileSync(path.join(before, gateway, file), 'utf8'));
      }
    }
    expect(readFileSync(path.join(after, 'gw1.example.net/relay_recipients'), 'utf8')).not.toBe(readFileSync(path.join(before, 'gw1.example.net/relay_recipients'), 'utf8'));
  });

  test('the manifest matches the files, and checkTree agrees', async () => {
    const manifest = JSON.parse(readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8'));
    const gw1 = manifest.gateways['gw1.example.net'];
    const text = readFileSync(path.join(goldenDir, 'gw1.example.net/relay_recipients'));
    expect(gw1.files.relay_recipients.entries).toBe(countEntries(text));
    expect(gw1.files.relay_recipients.entries).toBe(text.toString().split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#')).length);
    expect(gw1.files.relay_recipients.bytes).toBe(text.length);
    expect(Object.keys(gw1.domains)).toEqual(['bücher.example', 'lists.example.org', 'quiet.example.org', 'xn--bcher-kva.example']);
    expect(gw1.domains['quiet.example.org']).toEqual({ entries: 2 });
    expect(await checkTree(goldenDir)).toMatchObject({ ok: true, problems: [] });
  });
});

describe('determinism', () => {
  test('rendering twice gives the same bytes', async () => {
    const a = freshDir();
    const b = freshDir();
    await renderTree(fixtureSnapshot(), { outDir: a });
    await renderTree(fixtureSnapshot(), { outDir: b });
    expect(readTree(a)).toEqual(readTree(b));
    // Re-rendering over an existing tree too.
    await renderTree(fixtureSnapshot(), { outDir: a });
    expect(readTree(a)).toEqual(readTree(b));
  });

  test('shuffled input gives the same bytes, in memory and through a snapshot file', async () => {
    const reference = freshDir();
    await renderTree(fixtureSnapshot(), { outDir: reference });
    for (const seed of [1, 2, 3]) {
      const base = fixtureSnapshot();
      const messy: Snapshot = {
        ...base,
        sources: shuffled(base.sources, seed).map((s) => ({ ...s, addresses: shuffled([...s.addresses, ...s.addresses.slice(0, 3)], seed + 7) })),
        gateways: shuffled(base.gateways, seed).map((g) => ({ ...g, domains: shuffled(g.domains, seed + 3) })),
      };
      const direct = freshDir();
      await renderTree(messy, { outDir: direct });
      expect(readTree(direct)).toEqual(readTree(reference));
      const file = path.join(work, `messy-${seed}.json`);
      writeFileSync(file, JSON.stringify(messy));
      const viaFile = freshDir();
      await renderTree(await readSnapshot(file), { outDir: viaFile });
      expect(readTree(viaFile)).toEqual(readTree(reference));
    }
  });

  test("sources are named in the order of their host and index, whatever their labels and the snapshot's order", async () => {
    const base = fixtureSnapshot();
    base.sources[0]!.label = 'zeta';
    base.sources[1]!.label = 'alpha';
    const reversed: Snapshot = { ...base, sources: [...base.sources].reverse() };
    const outDir = freshDir();
    await renderTree(reversed, { outDir });
    const named = (gateway: string): string[] =>
      readFileSync(path.join(outDir, gateway, 'relay_recipients'), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('# Source: '));
    expect(named('gw1.example.net')).toEqual(['# Source: lists1 zeta', '# Source: lists2 office']);
    expect(named('gw2.example.net')).toEqual(['# Source: lists1 zeta', '# Source: lists1 alpha']);
  });

  test("a source's held removals are named right after it, before or after it in the snapshot", async () => {
    const held = { host: 'lists2', index: 0, type: 'static', label: 'office', addresses: ['gone@lists.example.org'], refused: 0, held: true as const };
    for (const order of ['held first', 'held last']) {
      const base = fixtureSnapshot();
      const snapshot: Snapshot = { ...base, sources: order === 'held first' ? [held, ...base.sources] : [...base.sources, held] };
      const outDir = freshDir();
      await renderTree(snapshot, { outDir });
      const recipients = readFileSync(path.join(outDir, 'gw1.example.net/relay_recipients'), 'utf8');
      expect(recipients.split('\n').filter((line) => line.startsWith('# Source: ')), order).toEqual([
        '# Source: lists1 sources[0] (mailman3)',
        '# Source: lists2 office',
        '# Source: lists2 office (held removals, pending review)',
      ]);
      expect(recipients).toContain('\ngone@lists.example.org OK\n');
    }
  });

  test('a Postfix gateway takes any transport(5) next hop, also one that has no Exim form', async () => {
    const snapshot = fixtureSnapshot();
    snapshot.gateways[1]!.domains[0]!.nextHop = 'lmtp:unix:private/dovecot-lmtp';
    const outDir = freshDir();
    await renderTree(snapshot, { outDir });
    expect(readFileSync(path.join(outDir, 'gw2.example.net/transport'), 'utf8')).toContain('\nsupport.example.net lmtp:unix:private/dovecot-lmtp\n');
  });

  test('renderedTables gives plan what relay_recipients holds', () => {
    const tables = renderedTables(fixtureSnapshot());
    expect([...tables.keys()]).toEqual(['gw1.example.net', 'gw2.example.net']);
    const gw1 = tables.get('gw1.example.net')!;
    expect(gw1.get('quiet.example.org')).toEqual(['abuse@quiet.example.org', 'postmaster@quiet.example.org']);
    expect(gw1.get('bücher.example')).toContain('info@bücher.example');
    expect(tables.get('gw2.example.net')!.has('bücher.example')).toBe(false);
  });
});

describe('refusals', () => {
  test('a relayed domain that no source fills is an error naming gateway and domain', async () => {
    const snapshot = fixtureSnapshot();
    snapshot.gateways[0]!.domains[1]!.allowEmpty = false; // quiet.example.org
    const outDir = freshDir();
    const error = await renderTree(snapshot, { outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('gw1.example.net');
    expect((error as ConfigError).message).toContain('quiet.example.org');
    expect(existsSync(outDir)).toBe(false);
    expect(siblings(outDir)).toEqual([]);
  });

  test('an in-memory snapshot with a catch-all or a second token never reaches a file', async () => {
    for (const bad of ['@lists.example.org', 'x OK\n@lists.example.org', 'x OK@lists.example.org', 'X@lists.example.org', '#x@lists.example.org']) {
      const snapshot = fixtureSnapshot();
      snapshot.sources[2]!.addresses = [bad];
      const outDir = freshDir();
      await expect(renderTree(snapshot, { outDir }), bad).rejects.toThrow(RcptsyncError);
      expect(existsSync(outDir)).toBe(false);
    }
  });

  test('a hostile next hop or label is refused', async () => {
    const hop = fixtureSnapshot();
    hop.gateways[0]!.domains[0]!.nextHop = 'smtp:[x]\n@lists.example.org OK';
    await expect(renderTree(hop, { outDir: freshDir() })).rejects.toThrow(/nextHop/);
    const label = fixtureSnapshot();
    label.sources[0]!.label = 'x\n@lists.example.org OK';
    await expect(renderTree(label, { outDir: freshDir() })).rejects.toThrow(/label/);
    const name = fixtureSnapshot();
    name.gateways[0]!.name = '../escape';
    await expect(renderTree(name, { outDir: freshDir() })).rejects.toThrow(/gateway name/);
  });

  test('a directory that rcptsync did not render is not replaced', async () => {
    const outDir = freshDir();
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'notes.txt'), 'mine\n');
    await expect(renderTree(fixtureSnapshot(), { outDir })).rejects.toThrow(/not a tree rendered by rcptsync/);
    expect(readFileSync(path.join(outDir, 'notes.txt'), 'utf8')).toBe('mine\n');
  });
});

describe('custom templates', () => {
  function templatesDir(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(work, 'templates-'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      writeFileSync(path.join(dir, name), text);
    }
    return dir;
  }

  test('a user template replaces the built-in one; the others fall back', async () => {
    const dir = templatesDir({
      'relay_recipients.hbs': '# custom for {{gateway}}\n{{#each domains}}\n{{#each addresses}}\n{{this}} OK\n{{/each}}\n{{/each}}\n',
      'partials/header.hbs': '# my header for {{gateway}}\n',
    });
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir, templatesDir: dir });
    const recipients = readFileSync(path.join(outDir, 'gw2.example.net/relay_recipients'), 'utf8');
    expect(recipients.split('\n').slice(0, 3)).toEqual(['# custom for gw2.example.net', 'helpdesk@support.example.net OK', 'postmaster@support.example.net OK']);
    // Built-in transport, with the user's header partial.
    expect(readFileSync(path.join(outDir, 'gw2.example.net/transport'), 'utf8')).toBe(
      '# my header for gw2.example.net\nsupport.example.net relay:[lists1.example.org]\nxn--bcher-kva.example smtp:[lists1.example.org]:25\n',
    );
    expect(await checkTree(outDir)).toMatchObject({ ok: true });
  });

  test('a template may reorder the addresses it writes itself: the last domain first, the others after', async () => {
    const lines = '{{#each addresses}}\n{{this}} OK\n{{/each}}\n';
    const dir = templatesDir({
      'relay_recipients.hbs': `{{#each domains}}\n{{#if @last}}\n${lines}{{/if}}\n{{/each}}\n{{#each domains}}\n{{#unless @last}}\n${lines}{{/unless}}\n{{/each}}\n`,
    });
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir, templatesDir: dir });
    const reference = freshDir();
    await renderTree(fixtureSnapshot(), { outDir: reference });
    for (const gateway of ['gw1.example.net', 'gw2.example.net']) {
      const keys = (dir: string): string[] =>
        readFileSync(path.join(dir, gateway, 'relay_recipients'), 'utf8')
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith('#'));
      const written = keys(outDir);
      expect(written).not.toEqual(keys(reference));
      expect([...written].sort()).toEqual([...keys(reference)].sort());
    }
    expect(await checkTree(outDir)).toMatchObject({ ok: true });
  });

  test('a template that drops addresses, writes a catch-all, or misuses table is refused', async () => {
    const cases: Record<string, RegExp> = {
      '{{#each domains}}\n{{#if @first}}\n{{table addresses "OK"}}\n{{/if}}\n{{/each}}\n': /expected/,
      // The right count, the wrong addresses: one domain's table twice, another's not at all.
      '{{#each domains}}\n{{#if @first}}\n{{table addresses "OK"}}\n{{table addresses "OK"}}\n{{/if}}\n{{#if @last}}{{else}}{{#unless @first}}\n{{table addresses "OK"}}\n{{/unless}}{{/if}}\n{{/each}}\n':
        /table of .* 2 times|expected/,
      // Literal lines with the right count but other keys.
      '{{#each domains}}\n{{#each addresses}}\nx{{@index}}{{this}} OK\n{{/each}}\n{{/each}}\n': /not the ones collected/,
      '@lists.example.org OK\n{{#each domains}}\n{{table addresses "OK"}}\n{{/each}}\n': /catch-all/,
      '{{#each domains}}\n{{table sources "OK"}}\n{{/each}}\n': /table helper/,
      '{{#each domains}}\nx {{table addresses "OK"}}\n{{/each}}\n': /alone on its line/,
      '{{#each domains}}\n{{table addresses "OK\nREJECT"}}\n{{/each}}\n': /one printable token/,
      '{{#each domains}}\n  {{table addresses "OK"}}\n{{/each}}\n': /alone on its line|whitespace/,
      '{{#each domains}}{{nosuchfield}}{{/each}}\n': /nosuchfield/,
      '{{#each domains}\n': /relay_recipients\.hbs/,
    };
    for (const [template, message] of Object.entries(cases)) {
      const outDir = freshDir();
      await expect(renderTree(fixtureSnapshot(), { outDir, templatesDir: templatesDir({ 'relay_recipients.hbs': template }) }), template).rejects.toThrow(message);
      expect(existsSync(outDir)).toBe(false);
      expect(siblings(outDir)).toEqual([]);
    }
  });
});

describe('atomic replacement', () => {
  test('a render that fails mid-way leaves the previous tree byte-identical', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    const before = readTree(outDir);
    // gw1's files are written before gw2's vars.yml throws.
    const dir = mkdtempSync(path.join(work, 'templates-'));
    writeFileSync(path.join(dir, 'vars.yml.hbs'), '{{yaml vars}}\n{{#unless smtputf8}}{{boom}}{{/unless}}\n');
    const changed = fixtureSnapshot();
    changed.sources[2]!.addresses.push('zed@lists.example.org');
    await expect(renderTree(changed, { outDir, templatesDir: dir })).rejects.toThrow(/boom/);
    expect(readTree(outDir)).toEqual(before);
    expect(siblings(outDir)).toEqual([]);
  });

  test('a failure between the two renames puts the old tree back at once', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    const before = readTree(outDir);
    const changed = fixtureSnapshot();
    changed.sources[2]!.addresses.push('zed@lists.example.org');
    const onStep = (step: string): void => {
      if (step === 'old-moved-aside') throw new Error('disk on fire');
    };
    await expect(renderTree(changed, { outDir, onStep })).rejects.toThrow(/disk on fire/);
    expect(readTree(outDir)).toEqual(before);
    expect(siblings(outDir)).toEqual([]);
  });

  describe('a child process killed with SIGKILL', () => {
    let code: string;
    let bigSnapshot: string;
    beforeAll(async () => {
      code = transpileRenderCode();
      writeFileSync(
        path.join(code, 'render-child.mjs'),
        [
          "import { readSnapshot } from './dist/model/snapshot-io.js';",
          "import { renderTree } from './dist/render/index.js';",
          'const [file, outDir, killAt] = process.argv.slice(2);',
          'const snapshot = await readSnapshot(file);',
          "await renderTree(snapshot, { outDir, onStep: (step) => { if (step === killAt) process.kill(process.pid, 'SIGKILL'); } });",
          '',
        ].join('\n'),
      );
      // Big enough that writing takes a while: 200,000 addresses over 200 domains.
      const snapshot = fixtureSnapshot();
      const big: string[] = [];
      for (let d = 0; d < 200; d++) for (let i = 0; i < 1000; i++) big.push(`member${String(i).padStart(4, '0')}@d${String(d).padStart(3, '0')}.example.org`);
      snapshot.sources[2]!.addresses = big;
      snapshot.gateways[0]!.domains.push(...Array.from({ length: 200 }, (_, d) => ({ domain: `d${String(d).padStart(3, '0')}.example.org`, nextHop: 'smtp:[lists2.example.org]', roleAddresses: true, allowEmpty: false })));
      bigSnapshot = path.join(work, 'big.json');
      await writeSnapshot(bigSnapshot, validateSnapshot(snapshot));
    });
    afterAll(() => {
      rmSync(code, { recursive: true, force: true });
    });

    function runChild(outDir: string, killAt: string, killWhenNewDirAppears = false): Promise<NodeJS.Signals | number | null> {
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(code, 'render-child.mjs'), bigSnapshot, outDir, killAt], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk) => (stderr += chunk));
        let timer: NodeJS.Timeout | undefined;
        if (killWhenNewDirAppears) {
          timer = setInterval(() => {
            if (existsSync(treePaths(outDir, child.pid).newDir)) child.kill('SIGKILL');
          }, 2);
        }
        child.on('error', reject);
        child.on('exit', (status, signal) => {
          clearInterval(timer);
          if (status !== null && status !== 0) reject(new Error(stderr));
          else resolve(signal ?? status);
        });
      });
    }

    async function previousTree(): Promise<{ outDir: string; before: Map<string, Buffer> }> {
      const outDir = freshDir();
      await renderTree(fixtureSnapshot(), { outDir });
      return { outDir, before: readTree(outDir) };
    }

    test('while writing the new tree: the old tree stays whole and the next run cleans up', async () => {
      const { outDir, before } = await previousTree();
      expect(await runChild(outDir, 'never', true)).toBe('SIGKILL');
      expect(readTree(outDir)).toEqual(before);
      expect(siblings(outDir).length).toBeLessThanOrEqual(1); // a stale .new-<pid>, maybe
      const summary = await renderTree(await readSnapshot(bigSnapshot), { outDir });
      expect(siblings(outDir)).toEqual([]);
      expect(summary.gateways[0]!.entries).toBeGreaterThan(200_000);
      expect((await checkTree(outDir)).ok).toBe(true);
    });

    test('after the new tree is complete but before the swap', async () => {
      const { outDir, before } = await previousTree();
      expect(await runChild(outDir, 'written')).toBe('SIGKILL');
      expect(readTree(outDir)).toEqual(before);
      expect(siblings(outDir)).toHaveLength(1);
      const summary = await renderTree(fixtureSnapshot(), { outDir });
      expect(summary.recovered).toHaveLength(1);
      expect(siblings(outDir)).toEqual([]);
      expect(readTree(outDir)).toEqual(before);
    });

    test('between the two renames: the next run restores the old tree first', async () => {
      const { outDir, before } = await previousTree();
      expect(await runChild(outDir, 'old-moved-aside')).toBe('SIGKILL');
      expect(existsSync(outDir)).toBe(false);
      const actions = recoverInterruptedSwap(outDir);
      expect(actions.join('\n')).toMatch(/restored/);
      expect(readTree(outDir)).toEqual(before);
      expect(siblings(outDir)).toEqual([]);
      expect((await checkTree(outDir)).ok).toBe(true);
    });

    test('after the swap: the new tree is in place and whole', async () => {
      const { outDir } = await previousTree();
      expect(await runChild(outDir, 'swapped')).toBe('SIGKILL');
      expect((await checkTree(outDir)).ok).toBe(true);
      await renderTree(fixtureSnapshot(), { outDir });
      expect(siblings(outDir)).toEqual([]);
    });
  });
});

describe('the render lock', () => {
  const lockOf = (outDir: string): string => path.join(path.dirname(outDir), `.${path.basename(outDir)}.lock`);
  const startTime = (pid: number): string => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  };

  test('is released after a render', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    expect(existsSync(lockOf(outDir))).toBe(false);
  });

  test('a stale lock and leftovers whose pid now names another live process do not block the next render', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    // The pid of a live process (our parent), with a start time that is not its own: a reused pid.
    writeFileSync(lockOf(outDir), `${process.ppid} 1 0123456789abcdef\n`);
    mkdirSync(treePaths(outDir, process.ppid).newDir);
    const summary = await renderTree(fixtureSnapshot(), { outDir });
    expect(summary.recovered.join('\n')).toMatch(/removed .*\.new-/);
    expect(siblings(outDir)).toEqual([]);
    expect(existsSync(lockOf(outDir))).toBe(false);
  });

  test('a lock held by a live process refuses the render and names it', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    const before = readTree(outDir);
    const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      writeFileSync(lockOf(outDir), `${holder.pid} ${startTime(holder.pid!)} 0123456789abcdef\n`);
      await expect(renderTree(fixtureSnapshot(), { outDir })).rejects.toThrow(new RegExp(`another rcptsync \\(pid ${holder.pid}\\) is rendering`));
      expect(readTree(outDir)).toEqual(before);
    } finally {
      holder.kill('SIGKILL');
    }
  });
});

describe('checkTree', () => {
  test('reports a changed, truncated or extra file', async () => {
    const outDir = freshDir();
    await renderTree(fixtureSnapshot(), { outDir });
    const file = path.join(outDir, 'gw1.example.net/relay_recipients');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.replace('team@lists.example.org OK\n', ''));
    writeFileSync(path.join(outDir, 'gw2.example.net/extra'), 'x\n');
    const result = await checkTree(outDir);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toMatch(/relay_recipients: sha256/);
    expect(result.problems.join('\n')).toMatch(/relay_recipients: 45 entries, the manifest says 46/);
    expect(result.problems.join('\n')).toMatch(/extra: not in the manifest/);
  });
});
