#!/usr/bin/env node
/**
 * Benchmark of `rcptsync sync` from the source types that hand over a whole
 * address list at once (issue 10): one list server (`ansible_connection:
 * local`) with one source of 1,000,000 shuffled addresses over 1,000 domains,
 * as a `command` (`cat FILE`), a `postfix_map` (a virtual(5)-style file) and a
 * `static` list in the inventory, rendered for one gateway. Each run is the
 * whole process: collect, normalise, sort, plan against the last-known-good
 * state, guard, render, write and fsync the tree and the state.
 *
 * Compared in the same run, alternating, with:
 * - `LC_ALL=C sort -u` of the same address lines (the issue's baseline);
 * - the floor of any Node program on this path (bench/lib/sort-floor.mjs:
 *   read the lines, sort them per domain with rcptsync's own sort, write
 *   `address OK` lines; nothing else).
 * Targets: within 2x of sort -u; peak RSS <= 512 MiB. Correctness (a check):
 * every run's relay_recipients holds exactly the generated addresses plus
 * postmaster@ and abuse@ of each domain.
 *
 * The timed runs are steady-state nightly runs (the state holds the same
 * addresses: nothing to change); the first run of each type, against an empty
 * state, is timed once and printed too.
 *
 * Run after `npm run build`:  node bench/sync.mjs [--addresses N] [--runs N] [--profile] [--keep]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summariseCpuProfile } from './lib/collect-profile.mjs';
import { mailingListLocals, random, shuffle } from './lib/data.mjs';
import { numberOption } from './lib/options.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const bin = path.join(root, 'dist/bin.js');
if (!existsSync(bin)) {
  console.error('bench/sync.mjs: dist/bin.js is missing; run `npm run build` first');
  process.exit(2);
}
const args = process.argv.slice(2);
const TOTAL = numberOption('--addresses', 1_000_000);
const RUNS = numberOption('--runs', 3);
const DOMAINS = 1000;
const TARGET_RATIO = 2;
const TARGET_RSS_MIB = 512;
const keep = args.includes('--keep');

/** TOTAL distinct addresses of a mailing-list shape over DOMAINS domains, shuffled. */
function buildAddresses() {
  const rand = random(10);
  const perDomain = Math.floor(TOTAL / DOMAINS);
  const domains = [];
  const addresses = [];
  for (let d = 0; d < DOMAINS; d++) {
    const domain = `lists${String(d).padStart(4, '0')}.example${d % 7}.org`;
    domains.push(domain);
    const locals = mailingListLocals(rand, perDomain);
    for (const local of locals) addresses.push(`${local}@${domain}`);
  }
  return { domains: domains.sort(), addresses: shuffle(addresses, random(11)) };
}

/** Run a command; resolve with its wall time, CPU time and the peak RSS /usr/bin/time saw. */
function timed(command, argv, env = process.env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M %U %S', command, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const [rss, user, sys] = stderr.trim().split('\n').pop().split(' ').map(Number);
      if (code !== 0) return reject(new Error(`${command} ${argv.join(' ')} failed with exit code ${code}: ${stderr.slice(-4000)}`));
      resolve({ ms, rssKiB: rss, cpuMs: (user + sys) * 1000 });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
if (!existsSync('/usr/bin/time')) {
  console.error('bench/sync.mjs: needs /usr/bin/time (Debian package time) for peak RSS and CPU');
  process.exit(2);
}

const work = await mkdtemp(path.join(tmpdir(), 'rcptsync-bench-sync-'));
try {
  const { domains, addresses } = buildAddresses();
  const addressFile = path.join(work, 'addresses.txt');
  writeFileSync(addressFile, `${addresses.join('\n')}\n`);
  const mapFile = path.join(work, 'virtual');
  writeFileSync(mapFile, `# virtual(5)\n${addresses.map((a) => `${a} ${a.slice(0, a.indexOf('@'))}`).join('\n')}\n`);
  const expected = [...addresses];
  for (const domain of domains) for (const local of ['abuse', 'postmaster']) expected.push(`${local}@${domain}`);
  expected.sort();

  const sources = {
    command: { type: 'command', command: `cat ${addressFile}` },
    postfix_map: { type: 'postfix_map', path: mapFile },
    static: { type: 'static', addresses },
  };
  const relayDomains = Object.fromEntries(domains.map((d) => [d, 'smtp:[lists1.example.org]:25']));
  const inventories = {};
  for (const [type, source] of Object.entries(sources)) {
    inventories[type] = path.join(work, `inventory-${type}.json`);
    writeFileSync(
      inventories[type],
      JSON.stringify({
        _meta: {
          hostvars: {
            lists1: { ansible_connection: 'local', rcptsync_domains: domains, rcptsync_sources: [source] },
            gw1: { rcptsync_relay_domains: relayDomains },
          },
        },
        all: { children: ['ungrouped', 'list_servers', 'mail_gateways'] },
        list_servers: { hosts: ['lists1'] },
        mail_gateways: { hosts: ['gw1'] },
      }),
    );
  }
  console.log(`${addresses.length} addresses over ${DOMAINS} domains, shuffled; one list server (local), one gateway; ${RUNS} runs of each, alternating`);

  const sortOut = path.join(work, 'sorted.txt');
  const floorOut = path.join(work, 'floor.txt');
  const sortArgs = ['-u', addressFile, '-o', sortOut];
  const sortEnv = { ...process.env, LC_ALL: 'C' };
  const syncArgs = (type) => ['sync', '--inventory-json', inventories[type], '-o', path.join(work, `rendered-${type}`), '--state-dir', path.join(work, `state-${type}`)];

  /** relay_recipients of a type's tree holds exactly the expected keys. */
  const tableMatches = (type) => {
    const lines = readFileSync(path.join(work, `rendered-${type}`, 'gw1', 'relay_recipients'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    const keys = lines.map((l) => l.slice(0, l.indexOf(' '))).sort();
    return keys.length === expected.length && keys.every((key, i) => key === expected[i]);
  };

  const first = {};
  const checks = {};
  for (const type of Object.keys(sources)) {
    mkdirSync(path.join(work, `state-${type}`));
    first[type] = await timed(process.execPath, [bin, ...syncArgs(type)]);
    checks[type] = tableMatches(type);
  }
  // Untimed warm-up of the baselines (page cache).
  await timed('sort', sortArgs, sortEnv);
  await timed(process.execPath, [path.join(here, 'lib/sort-floor.mjs'), addressFile, floorOut]);

  const runs = Object.fromEntries(Object.keys(sources).map((type) => [type, []]));
  const sorts = [];
  const floors = [];
  for (let run = 0; run < RUNS; run++) {
    sorts.push(await timed('sort', sortArgs, sortEnv));
    floors.push(await timed(process.execPath, [path.join(here, 'lib/sort-floor.mjs'), addressFile, floorOut]));
    for (const type of Object.keys(sources)) {
      runs[type].push(await timed(process.execPath, [bin, ...syncArgs(type)]));
      checks[type] &&= tableMatches(type);
    }
  }
  const sortMs = median(sorts.map((r) => r.ms));
  const floorMs = median(floors.map((r) => r.ms));
  const rows = [['', 'wall (median)', 'vs sort -u', 'CPU (median)', 'peak RSS', 'first run (empty state)', 'table', 'result']];
  const targets = [];
  for (const type of Object.keys(sources)) {
    const ms = median(runs[type].map((r) => r.ms));
    const rssMiB = Math.max(...runs[type].map((r) => r.rssKiB), first[type].rssKiB) / 1024;
    const ratio = ms / sortMs;
    const verdict = `${ratio <= TARGET_RATIO ? 'PASS' : 'MISS'} / ${rssMiB <= TARGET_RSS_MIB ? 'PASS' : 'MISS'}`;
    rows.push([`rcptsync sync, ${type}`, fmt(ms), `${ratio.toFixed(2)}x`, fmt(median(runs[type].map((r) => r.cpuMs))), `${rssMiB.toFixed(0)} MiB`, fmt(first[type].ms), checks[type] ? 'as generated' : 'WRONG', verdict]);
    targets.push({ name: `sync from ${type} vs sort -u`, value: `${ratio.toFixed(2)}x (${fmt(ms)} vs ${fmt(sortMs)})`, target: `<= ${TARGET_RATIO}x`, pass: ratio <= TARGET_RATIO });
    targets.push({ name: `sync from ${type}, peak RSS`, value: `${rssMiB.toFixed(0)} MiB`, target: `<= ${TARGET_RSS_MIB} MiB`, pass: rssMiB <= TARGET_RSS_MIB });
    targets.push({ name: `sync from ${type}: relay_recipients = the generated addresses`, value: checks[type] ? 'the same' : 'different', target: 'the same', pass: checks[type], check: true });
  }
  rows.push(['Node floor (read, sort, write)', fmt(floorMs), `${(floorMs / sortMs).toFixed(2)}x`, fmt(median(floors.map((r) => r.cpuMs))), `${(Math.max(...floors.map((r) => r.rssKiB)) / 1024).toFixed(0)} MiB`, '', '', '']);
  rows.push(['LC_ALL=C sort -u', fmt(sortMs), '1.00x', fmt(median(sorts.map((r) => r.cpuMs))), `${(Math.max(...sorts.map((r) => r.rssKiB)) / 1024).toFixed(0)} MiB`, '', '', '']);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log();
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  console.log();
  console.log(`the Node floor alone is ${(floorMs / sortMs).toFixed(2)}x of sort -u: what a Node program that holds the addresses as strings and sorts them with a comparator costs before it does any of rcptsync's work`);
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  if (args.includes('--profile')) {
    const dir = path.join(work, 'profile');
    await timed(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, bin, ...syncArgs('command')]);
    const { totalMs, functions } = summariseCpuProfile(dir);
    console.log(`\nprofile of one sync from command (${fmt(totalMs)} of samples), self time of the top functions:`);
    for (const [name, ms] of functions.slice(0, 15)) console.log(`  ${fmt(ms).padStart(9)}  ${(ms / totalMs * 100).toFixed(0).padStart(3)}%  ${name}`);
  }
  console.log(`RESULT ${JSON.stringify({ bench: 'sync', targets })}`);
  process.exitCode = Object.values(checks).every(Boolean) ? 0 : 1;
} finally {
  if (keep) console.log(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}
