#!/usr/bin/env node
/**
 * Benchmark of rendering (issue 2): a synthetic snapshot of 1,000,000 addresses
 * over 1,000 domains for one gateway, rendered by `bench/lib/render-child.mjs`
 * (read the snapshot, render the tree, swap it in: what `rcptsync render` does)
 * in a child process. Printed: its wall time and peak RSS, and in the same run
 * the wall time of `LC_ALL=C sort -u` over the same `address OK` lines.
 * Targets: render within 1.5x of sort -u; peak RSS under 512 MiB.
 *
 * Both sides get the same work (issue 13): the snapshot's addresses are
 * shuffled within each source, and sort -u reads exactly those addresses in
 * exactly that order (the duplicates across sources included), plus the
 * postmaster@ and abuse@ lines rcptsync adds itself. So rcptsync's sort of the
 * snapshot is timed too, and neither side gets pre-sorted input. Correctness:
 * relay_recipients must hold exactly the lines sort -u printed.
 *
 * The render phase alone (snapshot already in memory, as in `rcptsync sync`) is
 * printed too, from the child's own clock.
 *
 * Run after `npm run build`:  node bench/render.mjs [--addresses N] [--runs N] [--keep]
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mailingListLocals, random, shuffle } from './lib/data.mjs';
import { numberOption } from './lib/options.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, '../dist');
for (const file of ['render/index.js', 'model/snapshot-io.js']) {
  if (!existsSync(path.join(dist, file))) {
    console.error(`bench/render.mjs: ${path.join('dist', file)} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
}
const args = process.argv.slice(2);
const TOTAL = numberOption('--addresses', 1_000_000);
const RUNS = numberOption('--runs', 5);
const DOMAINS = 1000;
const HOSTS = 4;
const keep = args.includes('--keep');
const TARGET_RATIO = 1.5;
const TARGET_RSS_MIB = 512;

const { writeSnapshot } = await import(path.join(dist, 'model/snapshot-io.js'));

/**
 * The snapshot: 1,000 domains spread over four list servers, each domain with
 * (TOTAL / DOMAINS - 2) collected addresses (lists with Mailman's sub-addresses,
 * and people) plus postmaster@ and abuse@, so relay_recipients has TOTAL lines.
 * A fifth source (static) repeats a few addresses in every tenth domain, so the
 * multi-source merge is measured too. Each source's addresses are in a random
 * order (the snapshot reader sorts them), and `lines` is the input of sort -u:
 * the same addresses in the same order, then the role addresses.
 */
function buildSnapshot() {
  const rand = random(42);
  const perDomain = Math.floor(TOTAL / DOMAINS) - 2;
  const sources = Array.from({ length: HOSTS }, (_, h) => ({
    host: `lists${h + 1}`, index: 0, type: 'mailman3', label: 'sources[0] (mailman3)', addresses: [], refused: 0,
  }));
  const extra = { host: 'lists1', index: 1, type: 'static', label: 'sources[1] (static)', addresses: [], refused: 0 };
  const domains = [];
  const roleLines = [];
  for (let d = 0; d < DOMAINS; d++) {
    const domain = `lists${String(d).padStart(4, '0')}.example${d % 7}.org`;
    domains.push(domain);
    const locals = mailingListLocals(rand, perDomain);
    const sorted = [...locals].sort();
    const keys = sorted.map((local) => `${local}@${domain}`);
    for (const key of keys) sources[d % HOSTS].addresses.push(key);
    if (d % 10 === 0) for (const key of keys.slice(0, 20)) extra.addresses.push(key);
    for (const local of ['abuse', 'postmaster']) roleLines.push(`${local}@${domain} OK`);
  }
  const gateway = {
    name: 'gw1.example.net',
    smtputf8: false,
    domains: domains.sort().map((domain) => ({ domain, nextHop: 'smtp:[lists1.example.org]:25', roleAddresses: true, allowEmpty: false })),
  };
  const all = [...sources, extra].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index - b.index));
  // No contract order: the reader sorts, inside the timed run, as sort -u does.
  const shuffleRand = random(7);
  for (const source of all) shuffle(source.addresses, shuffleRand);
  // sort -u reads what the snapshot file holds, in the order it holds it.
  const lines = all.flatMap((source) => source.addresses.map((key) => `${key} OK`));
  for (const line of roleLines) lines.push(line);
  return { snapshot: { format: 'rcptsync-snapshot', version: 1, sources: all, gateways: [gateway] }, lines };
}

/** Run a command; resolve with its wall time, stdout and the peak RSS that /usr/bin/time saw. */
function timed(command, argv, env = process.env) {
  return new Promise((resolve, reject) => {
    const useTime = existsSync('/usr/bin/time');
    const started = process.hrtime.bigint();
    const child = spawn(useTime ? '/usr/bin/time' : command, useTime ? ['-f', '%M %U %S', command, ...argv] : argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${command} ${argv.join(' ')} failed with exit code ${code}: ${stderr}`));
      const [rss, user, sys] = useTime ? stderr.trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
      resolve({ ms, stdout, rssKiB: rss, cpuMs: (user + sys) * 1000 });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

const work = await mkdtemp(path.join(tmpdir(), 'rcptsync-bench-render-'));
try {
  const generated = performance.now();
  const { snapshot, lines } = buildSnapshot();
  const snapshotFile = path.join(work, 'snapshot.json');
  await writeSnapshot(snapshotFile, snapshot);
  const linesFile = path.join(work, 'lines.txt');
  writeFileSync(linesFile, `${lines.join('\n')}\n`);
  const outDir = path.join(work, 'rendered');
  const unique = new Set(lines).size;
  console.log(
    `${unique} addresses over ${DOMAINS} domains, ${snapshot.sources.length} sources, 1 gateway; both sides read the same ${lines.length} unsorted lines ` +
      `(duplicates across sources included; generated in ${fmt(performance.now() - generated)})`,
  );

  // Untimed warm-up: page cache for both inputs, and a previous tree to replace (as a nightly run does).
  await timed(process.execPath, [path.join(here, 'lib/render-child.mjs'), snapshotFile, outDir]);
  await timed('sort', ['-u', linesFile, '-o', path.join(work, 'sorted.txt')], { ...process.env, LC_ALL: 'C' });

  const renders = [];
  const sorts = [];
  for (let run = 0; run < RUNS; run++) {
    // Alternate, so that a noisy neighbour hits both sides alike.
    const render = await timed(process.execPath, [path.join(here, 'lib/render-child.mjs'), snapshotFile, outDir]);
    renders.push({ ...render, report: JSON.parse(render.stdout) });
    sorts.push(await timed('sort', ['-u', linesFile, '-o', path.join(work, 'sorted.txt')], { ...process.env, LC_ALL: 'C' }));
  }

  // The rendered table holds exactly the lines sort -u produced.
  const rendered = readFileSync(path.join(outDir, 'gw1.example.net/relay_recipients'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
  const sorted = readFileSync(path.join(work, 'sorted.txt'), 'utf8').split('\n').filter(Boolean);
  const same = rendered.length === sorted.length && [...rendered].sort().every((line, i) => line === sorted[i]);
  console.log(`relay_recipients: ${rendered.length} lines; sort -u: ${sorted.length} lines; ${same ? 'the same lines' : 'DIFFERENT lines'}`);

  const renderMs = median(renders.map((r) => r.ms));
  const phaseMs = median(renders.map((r) => r.report.renderMs));
  const sortMs = median(sorts.map((s) => s.ms));
  const renderCpu = median(renders.map((r) => r.cpuMs));
  const sortCpu = median(sorts.map((s) => s.cpuMs));
  const rssMiB = Math.max(...renders.map((r) => (Number.isFinite(r.rssKiB) ? r.rssKiB : r.report.maxRssKiB))) / 1024;
  const sortRssMiB = Math.max(...sorts.map((s) => s.rssKiB)) / 1024;
  const verdict = (ok) => (ok ? 'PASS' : 'MISS');
  const cpu = (ms) => (Number.isFinite(ms) ? fmt(ms) : '?');
  const rows = [
    ['', 'wall (median)', 'vs sort -u', 'CPU (median)', 'peak RSS', 'target', 'result'],
    [
      'rcptsync render, whole process',
      fmt(renderMs),
      `${(renderMs / sortMs).toFixed(2)}x`,
      cpu(renderCpu),
      `${rssMiB.toFixed(0)} MiB`,
      `<= ${TARGET_RATIO}x, < ${TARGET_RSS_MIB} MiB`,
      `${verdict(renderMs / sortMs <= TARGET_RATIO)} / ${verdict(rssMiB < TARGET_RSS_MIB)}`,
    ],
    ['  of which: render phase', fmt(phaseMs), `${(phaseMs / sortMs).toFixed(2)}x`, '', '', `<= ${TARGET_RATIO}x`, verdict(phaseMs / sortMs <= TARGET_RATIO)],
    ['LC_ALL=C sort -u', fmt(sortMs), '1.00x', cpu(sortCpu), Number.isFinite(sortRssMiB) ? `${sortRssMiB.toFixed(0)} MiB` : '?', '', ''],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log();
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  console.log();
  const phase = (key) => fmt(median(renders.map((r) => r.report[key])));
  console.log(`whole process = node start-up and module load ${phase('loadMs')} + read and check the snapshot ${phase('readMs')} + render phase ${phase('renderMs')} (+ process start/exit)`);
  console.log('render phase = tables, templates, write + sha256 + fsync of every file, manifest, swap, removal of the previous tree; what `rcptsync sync` spends after collecting');
  console.log(`${RUNS} runs each, alternating; render ${renders.map((r) => fmt(r.ms)).join(', ')}; sort -u ${sorts.map((s) => fmt(s.ms)).join(', ')}; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // One machine-readable line for bench/run-all.mjs; `check` marks a correctness check, whose failure fails the run.
  const ratio = renderMs / sortMs;
  console.log(
    `RESULT ${JSON.stringify({
      bench: 'render',
      targets: [
        { name: 'render vs sort -u, same unsorted input', value: `${ratio.toFixed(2)}x (${fmt(renderMs)} vs ${fmt(sortMs)})`, target: `<= ${TARGET_RATIO}x`, pass: ratio <= TARGET_RATIO },
        { name: 'render phase vs sort -u', value: `${(phaseMs / sortMs).toFixed(2)}x`, target: `<= ${TARGET_RATIO}x`, pass: phaseMs / sortMs <= TARGET_RATIO },
        { name: 'peak RSS', value: `${rssMiB.toFixed(0)} MiB`, target: `< ${TARGET_RSS_MIB} MiB`, pass: rssMiB < TARGET_RSS_MIB },
        { name: 'relay_recipients = sort -u output', value: `${rendered.length} lines`, target: `${sorted.length} lines, the same`, pass: same, check: true },
      ],
    })}`,
  );
  process.exitCode = same ? 0 : 1;
} finally {
  if (keep) console.log(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}
