#!/usr/bin/env node
/**
 * Memory and growth (issue 10): render and plan at 100,000, 1,000,000 and
 * 5,000,000 addresses, by running bench/render.mjs and bench/plan.mjs with
 * --addresses N (each as its own process, with its own sort -u baseline of the
 * same lines). Prints wall time and peak RSS per size, the growth from one size
 * to the next against the growth in addresses (linear is 1.0x per address), and
 * checks the 5M runs against 2 GiB.
 *
 * Run after `npm run build`:  node bench/growth.mjs [--sizes 100000,1000000,5000000]
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const sizesArg = args.includes('--sizes') ? args[args.indexOf('--sizes') + 1] : '100000,1000000,5000000';
const SIZES = sizesArg.split(',').map(Number);
const LIMIT_MIB = 2048;
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

function runBench(script, extra) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=4096', path.join(here, script), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

const secondsOf = (text) => Number(/([\d.]+) s/.exec(text)?.[1] ?? NaN);
const rows = [];
for (const size of SIZES) {
  const loadBefore = load();
  const render = await runBench('render.mjs', ['--addresses', String(size), '--runs', '1']);
  const renderResult = JSON.parse(render.out.split('\n').filter((l) => l.startsWith('RESULT {')).pop()?.slice(7) ?? '{"targets":[]}');
  const vsSort = renderResult.targets[0]?.value ?? '';
  const renderMs = secondsOf(vsSort.split('(')[1] ?? '') * 1000;
  const sortMs = secondsOf(vsSort.split(' vs ')[1] ?? '') * 1000;
  const renderRss = Number(/(\d+) MiB/.exec(renderResult.targets.find((t) => t.name === 'peak RSS')?.value ?? '')?.[1] ?? NaN);
  const renderSame = renderResult.targets.find((t) => t.check)?.pass ?? false;
  rows.push({ what: 'render', size, ms: renderMs, sortMs, rss: renderRss, ok: render.code === 0 && renderSame, load: `${loadBefore} -> ${load()}` });
  console.log(`render ${size.toLocaleString('en-US')}: ${(renderMs / 1000).toFixed(2)} s, ${renderRss} MiB peak (sort -u ${(sortMs / 1000).toFixed(2)} s); exit ${render.code}`);
  if (render.code !== 0) console.log(render.out.slice(-3000));

  const loadBefore2 = load();
  const plan = await runBench('plan.mjs', ['--addresses', String(size)]);
  const line = plan.out.split('\n').find((l) => l.includes('plan from snapshots (child)')) ?? '';
  const sortLine = plan.out.split('\n').find((l) => l.includes('LC_ALL=C sort -u')) ?? '';
  const planMs = Number(/wall ([\d.]+) s/.exec(line)?.[1] ?? NaN) * 1000;
  const planRss = Number(/peak RSS (\d+) MiB/.exec(line)?.[1] ?? NaN);
  const planSort = Number(/wall ([\d.]+) s/.exec(sortLine)?.[1] ?? NaN) * 1000;
  const planResult = JSON.parse(plan.out.split('\n').filter((l) => l.startsWith('RESULT {')).pop()?.slice(7) ?? '{"targets":[]}');
  rows.push({ what: 'plan', size, ms: planMs, sortMs: planSort, rss: planRss, ok: plan.code === 0 && (planResult.targets.find((t) => t.check)?.pass ?? false), load: `${loadBefore2} -> ${load()}` });
  console.log(`plan ${size.toLocaleString('en-US')}: ${(planMs / 1000).toFixed(2)} s, ${planRss} MiB peak (sort -u ${(planSort / 1000).toFixed(2)} s); exit ${plan.code}`);
  if (plan.code !== 0) console.log(plan.out.slice(-3000));
}

console.log(`\nmachine: ${cpus().length} CPUs, load average ${load()}`);
const table = [['path', 'addresses', 'wall', 'sort -u', 'ratio', 'peak RSS', 'time growth / address growth', 'RSS growth / address growth', 'load average']];
for (const what of ['render', 'plan']) {
  const mine = rows.filter((r) => r.what === what);
  for (const [i, r] of mine.entries()) {
    const prev = mine[i - 1];
    const grow = (a, b) => (prev ? `${(a / b / (r.size / prev.size)).toFixed(2)}x` : '');
    table.push([what, r.size.toLocaleString('en-US'), `${(r.ms / 1000).toFixed(2)} s`, `${(r.sortMs / 1000).toFixed(2)} s`, `${(r.ms / r.sortMs).toFixed(2)}x`, `${r.rss} MiB`, prev ? grow(r.ms, prev.ms) : '', prev ? grow(r.rss, prev.rss) : '', r.load]);
  }
}
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
const biggest = Math.max(...SIZES);
const big = rows.filter((r) => r.size === biggest);
console.log(
  `RESULT ${JSON.stringify({
    bench: 'growth',
    targets: [
      ...big.map((r) => ({ name: `${r.what} ${biggest} addresses, peak RSS`, value: `${r.rss} MiB, ${(r.ms / 1000).toFixed(2)} s`, target: `<= ${LIMIT_MIB} MiB`, pass: r.rss <= LIMIT_MIB })),
      { name: 'every run correct (output = sort -u, plan totals = generated change)', value: rows.map((r) => (r.ok ? 'ok' : 'WRONG')).join('/'), target: 'ok', pass: rows.every((r) => r.ok), check: true },
    ],
  })}`,
);
process.exitCode = rows.every((r) => r.ok) ? 0 : 1;
