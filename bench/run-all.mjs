#!/usr/bin/env node
/**
 * Runs every benchmark in turn (render, plan, sync, collect, deploy, growth, fleet), each as its own
 * process with its output shown as it runs, then prints one summary table with
 * PASS/MISS per target. `npm run bench` builds first and runs this.
 *
 *   node bench/run-all.mjs [render] [plan] [sync] [collect] [deploy] [growth] [fleet]   (default: all)
 *
 * A benchmark prints figures; it is not a test. A MISS (a target of speed or
 * memory not met) does not make this exit non-zero. A benchmark's own
 * correctness check (a `check: true` target of its RESULT line: the snapshot is
 * complete, the plan's totals are the generated change, the table is sort -u's,
 * the gateway answers 250/550) that fails is a FAIL and does, as does a
 * benchmark that crashed, printed no result or exited non-zero.
 * deploy and fleet need root (the e2e lab); without root they are reported as SKIP.
 */
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const BENCHES = {
  render: { script: 'render.mjs', what: '1M addresses rendered for one gateway vs LC_ALL=C sort -u' },
  plan: { script: 'plan.mjs', what: 'plan of a 1M collection against a state 1% apart vs LC_ALL=C sort -u' },
  sync: { script: 'sync.mjs', what: 'sync of one 1M-address command, postfix_map and static source vs LC_ALL=C sort -u and the Node floor' },
  collect: { script: 'collect.mjs', what: '50 list servers x 2,000 lists over a loopback sshd vs a serial ssh loop' },
  deploy: { script: 'deploy.mjs', what: '1M-entry table through the gateway role vs scp + postmap; no-op on two gateways', root: true },
  growth: { script: 'growth.mjs', what: 'render and plan at 100k, 1M and 5M addresses: time, peak RSS, growth; 5M <= 2 GiB' },
  fleet: { script: 'fleet.mjs', what: 'sync.yml end to end: 100 list servers, 1M addresses, 10 Postfix gateways; first, 1%, no-op, one server down', root: true },
};
const asked = process.argv.slice(2);
const unknown = asked.filter((name) => !(name in BENCHES));
if (unknown.length > 0) {
  console.error(`bench/run-all.mjs: unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const selected = asked.length > 0 ? Object.keys(BENCHES).filter((name) => asked.includes(name)) : Object.keys(BENCHES);
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Run one bench, echoing its output; resolve with its exit code, output and wall time. */
function runBench(script) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [path.join(here, script)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const echo = (stream) => (chunk) => {
      output += chunk;
      stream.write(chunk);
    };
    child.stdout.on('data', echo(process.stdout));
    child.stderr.on('data', echo(process.stderr));
    child.on('error', (error) => resolve({ code: -1, output: `${output}\n${error.message}`, ms: performance.now() - started }));
    child.on('exit', (code, signal) => resolve({ code: code ?? 128, signal, output, ms: performance.now() - started }));
  });
}

/**
 * The verdicts a bench printed: its `RESULT {json}` line when it has one,
 * otherwise every line that ends in PASS or MISS (a bare PASS/MISS line judges
 * the line before it; "MISS / PASS" judges two targets of one row).
 */
function verdicts(output) {
  const lines = output.split('\n').map((line) => line.trimEnd());
  const result = lines.filter((line) => line.startsWith('RESULT {')).pop();
  if (result) {
    return JSON.parse(result.slice('RESULT '.length)).targets.map((t) => ({
      check: `${t.name}: ${t.value} (target ${t.target})`,
      // A failed correctness check is not a figure: the bench measured something wrong.
      verdict: t.pass ? 'PASS' : t.check ? 'FAIL' : 'MISS',
    }));
  }
  const found = [];
  let previous = '';
  for (const line of lines) {
    // A row may judge several targets at once: "... MISS / PASS".
    const match = /^(.*?)\s*\b((?:PASS|MISS)(?:\s*\/\s*(?:PASS|MISS))*)$/.exec(line);
    if (match) {
      const text = match[1].trim() || previous;
      found.push({ check: text.replace(/\s{2,}/g, '  '), verdict: match[2].replace(/\s+/g, ' ') });
    }
    if (line.trim()) previous = line.trim();
  }
  return found;
}

console.log(`rcptsync benchmarks: ${selected.join(', ')}; ${cpus().length} CPUs, load average ${load()}; ${new Date().toISOString()}`);
const rows = [];
let crashed = false;
let failedChecks = 0;
for (const name of selected) {
  const bench = BENCHES[name];
  console.log(`\n=== ${name}: ${bench.what} (load average ${load()}) ===`);
  if (bench.root && process.getuid?.() !== 0) {
    console.log(`${name}: skipped (needs root)`);
    rows.push({ bench: name, check: 'needs root', verdict: 'SKIP', seconds: 0, load: load() });
    continue;
  }
  const run = await runBench(bench.script);
  const found = verdicts(run.output);
  const seconds = run.ms / 1000;
  if (found.length === 0) {
    crashed = true;
    rows.push({ bench: name, check: `no result (exit ${run.signal ?? run.code})`, verdict: 'FAIL', seconds, load: load() });
    continue;
  }
  for (const v of found) rows.push({ bench: name, ...v, seconds, load: load() });
  failedChecks += found.filter((v) => v.verdict === 'FAIL').length;
  // A bench exits non-zero when its own check failed (or it crashed after printing figures): never a pass.
  if (run.code !== 0 || run.signal) {
    crashed = true;
    if (!found.some((v) => v.verdict === 'FAIL')) rows.push({ bench: name, check: `exited ${run.signal ?? run.code}`, verdict: 'FAIL', seconds, load: load() });
  }
}

console.log('\n=== summary ===');
const table = [['bench', 'check', 'result', 'bench wall', 'load after'], ...rows.map((r) => [r.bench, r.check, r.verdict, `${r.seconds.toFixed(0)} s`, r.load])];
const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
const count = (word) => rows.reduce((n, r) => n + r.verdict.split(' / ').filter((v) => v === word).length, 0);
const failures = [failedChecks > 0 ? `${failedChecks} correctness check(s) FAILED` : '', crashed ? 'some benchmark FAILED or crashed' : ''].filter(Boolean);
console.log(`\n${count('PASS')} PASS, ${count('MISS')} MISS${failures.length ? `, ${failures.join(', ')}` : ''}; figures depend on the machine and its load (see bench/README.md)`);
process.exitCode = failedChecks > 0 || crashed ? 1 : 0;
