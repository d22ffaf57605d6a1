#!/usr/bin/env node
/**
 * Benchmark of collecting (issue 2): 50 list servers in the inventory, all
 * pointing at one throwaway OpenSSH sshd on loopback, each returning 2,000 lists
 * in the captured `mailman lists` format (header, then padded `list@domain`
 * lines). Timed: `rcptsync collect --concurrency 16` as a child process (start-up,
 * inventory, 50 SSH connections, parsing, normalisation, the snapshot write), and
 * in the same run a serial loop of OpenSSH `ssh` running the same 50 commands
 * with the output thrown away. Target: rcptsync at least 8x faster than the loop.
 *
 * Every host gets its own file (its lists carry the host's name), so the
 * snapshot must hold 50 x 2,000 x 9 = 900,000 addresses, all distinct; the
 * bench checks that exactly.
 *
 * Run after `npm run build`:
 *   node bench/collect.mjs [--hosts 50] [--lists 2000] [--concurrency 16] [--runs 3] [--profile] [--keep]
 * --profile also runs collect once under `node --cpu-prof` and prints where the time went.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summariseCpuProfile } from './lib/collect-profile.mjs';
import { startBenchSshd } from './lib/collect-sshd.mjs';
import { numberOption } from './lib/options.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.resolve(here, '../dist/bin.js');
if (!existsSync(bin)) {
  console.error('bench/collect.mjs: dist/bin.js is missing; run `npm run build` first');
  process.exit(2);
}

const args = process.argv.slice(2);
const HOSTS = numberOption('--hosts', 50);
const LISTS = numberOption('--lists', 2000);
const CONCURRENCY = numberOption('--concurrency', 16);
const RUNS = numberOption('--runs', 3);
const DOMAINS = 20;
const TARGET_SPEEDUP = 8;
const keep = args.includes('--keep');
const profile = args.includes('--profile');
const SUFFIXES = ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe'];

const hostName = (h) => `lists${String(h + 1).padStart(2, '0')}`;
const domainName = (d) => `domain${String(d + 1).padStart(2, '0')}.example`;

/** `mailman lists` as Mailman 3 prints it: a header, then lists sorted and padded to the longest. */
function mailmanListsOutput(h, count = LISTS) {
  const lists = Array.from({ length: count }, (_, n) => `${hostName(h)}-list${String(n).padStart(4, '0')}@${domainName(n % DOMAINS)}`).sort();
  const width = Math.max(...lists.map((l) => l.length));
  return `${count} matching mailing lists found:\n${lists.map((l) => l.padEnd(width)).join('\n')}\n`;
}

/** Run a command; resolve with its wall time (and peak RSS when /usr/bin/time is there). */
function timed(command, argv, options = {}) {
  return new Promise((resolve, reject) => {
    const useTime = options.rss && existsSync('/usr/bin/time');
    const started = process.hrtime.bigint();
    const child = spawn(useTime ? '/usr/bin/time' : command, useTime ? ['-f', '%M %U %S', command, ...argv] : argv, {
      env: { ...process.env, SSH_AUTH_SOCK: '' },
      stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`${command} ${argv.join(' ')} failed with exit code ${code}: ${stderr.slice(-4000)}`));
      const [rssKiB, user, system] = useTime ? stderr.trim().split('\n').pop().split(' ').map(Number) : [NaN, NaN, NaN];
      resolve({ ms, rssKiB, cpuSeconds: user + system });
    });
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

const work = await mkdtemp(path.join(tmpdir(), 'rcptsync-bench-collect-'));
const sshd = await startBenchSshd();
try {
  // ---- data: one captured-format file per host, and the inventory.
  mkdirSync(path.join(work, 'remote'));
  const writeFiles = (count, tag) =>
    Array.from({ length: HOSTS }, (_, h) => {
      const file = path.join(work, 'remote', `${hostName(h)}.${tag}.txt`);
      writeFileSync(file, mailmanListsOutput(h, count));
      return file;
    });
  const files = writeFiles(LISTS, 'lists');
  // The same hosts returning one list each: what the SSH side alone costs.
  const tinyFiles = writeFiles(1, 'one-list');
  const writeInventory = (name, hostFiles) => {
  const listServers = Object.fromEntries(
    hostFiles.map((file, h) => [
      hostName(h),
      {
        ansible_host: sshd.host,
        ansible_port: sshd.port,
        ansible_user: sshd.user,
        ansible_ssh_private_key_file: sshd.privateKeyFile,
        rcptsync_known_hosts_file: sshd.knownHostsFile,
        rcptsync_sources: [{ type: 'mailman3', command: `cat ${file}` }],
      },
    ]),
  );
  const relayDomains = Object.fromEntries(Array.from({ length: DOMAINS }, (_, d) => [domainName(d), 'smtp:[192.0.2.10]:25']));
  const inventoryFile = path.join(work, `${name}.inventory.json`);
  writeFileSync(
    inventoryFile,
    JSON.stringify({
      _meta: { hostvars: { ...listServers, gw1: { rcptsync_relay_domains: relayDomains } } },
      all: { children: ['ungrouped', 'list_servers', 'mail_gateways'] },
      list_servers: { hosts: Object.keys(listServers) },
      mail_gateways: { hosts: ['gw1'] },
    }),
  );
  return inventoryFile;
  };
  const snapshotFile = path.join(work, 'snapshot.json');
  const collectArgvFor = (inventoryFile, snapshot) => [bin, 'collect', '--inventory-json', inventoryFile, '-s', snapshot, '--concurrency', String(CONCURRENCY)];
  const collectArgv = collectArgvFor(writeInventory('full', files), snapshotFile);
  const tinyArgv = collectArgvFor(writeInventory('one-list', tinyFiles), path.join(work, 'one-list.snapshot.json'));
  const sshArgv = (file) => [
    '-i', sshd.privateKeyFile, '-p', String(sshd.port),
    '-o', `UserKnownHostsFile=${sshd.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR',
    `${sshd.user}@${sshd.host}`, `cat ${file}`,
  ];
  const serialLoop = async () => {
    const started = process.hrtime.bigint();
    const sshdBefore = sshd.cpuSeconds();
    let clientCpu = 0;
    for (const file of files) clientCpu += (await timed('ssh', sshArgv(file), { rss: true })).cpuSeconds;
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, cpuSeconds: clientCpu, sshdCpu: sshd.cpuSeconds() - sshdBefore };
  };
  /** A collect run, with the CPU that sshd spent serving it. */
  const collectRun = async (argv) => {
    const sshdBefore = sshd.cpuSeconds();
    const run = await timed(process.execPath, argv, { rss: true });
    return { ...run, sshdCpu: sshd.cpuSeconds() - sshdBefore };
  };
  console.log(`collect benchmark: ${HOSTS} list servers -> one sshd on ${sshd.host}:${sshd.port}, ${LISTS} lists each over ${DOMAINS} domains, --concurrency ${CONCURRENCY}`);

  // ---- untimed warm-up (page cache, sshd's first forks), then alternate the two sides.
  await timed(process.execPath, collectArgv);
  await timed('ssh', sshArgv(files[0]));
  const collects = [];
  const loops = [];
  const tinies = [];
  for (let run = 0; run < RUNS; run++) {
    collects.push(await collectRun(collectArgv));
    loops.push(await serialLoop());
    tinies.push(await collectRun(tinyArgv));
  }

  // ---- the snapshot holds every address of every host, and nothing else.
  // Read back through rcptsync's own reader: the file format is its business.
  const { readSnapshot } = await import(path.resolve(here, '../dist/model/snapshot-io.js'));
  const snapshot = await readSnapshot(snapshotFile);
  const expected = HOSTS * LISTS * SUFFIXES.length;
  const perSource = snapshot.sources.map((s) => s.addresses.length);
  const all = new Set(snapshot.sources.flatMap((s) => s.addresses));
  const total = perSource.reduce((a, b) => a + b, 0);
  let missing = 0;
  for (let h = 0; h < HOSTS; h++) {
    for (let n = 0; n < LISTS; n++) {
      for (const suffix of SUFFIXES) if (!all.has(`${hostName(h)}-list${String(n).padStart(4, '0')}${suffix}@${domainName(n % DOMAINS)}`)) missing++;
    }
  }
  const complete = snapshot.sources.length === HOSTS && total === expected && all.size === expected && missing === 0;
  console.log(
    `snapshot: ${snapshot.sources.length} sources, ${total.toLocaleString('en-US')} addresses (${all.size.toLocaleString('en-US')} distinct; ` +
      `expected ${HOSTS} x ${LISTS} x ${SUFFIXES.length} = ${expected.toLocaleString('en-US')}), missing ${missing}: ${complete ? 'complete' : 'INCOMPLETE'}`,
  );

  const collectMs = median(collects.map((c) => c.ms));
  const loopMs = median(loops.map((l) => l.ms));
  const speedup = loopMs / collectMs;
  const rssMiB = Math.max(...collects.map((c) => c.rssKiB)) / 1024;
  const rows = [
    ['', 'wall (median)', 'target', 'result'],
    [`rcptsync collect (${RUNS} runs, peak RSS ${Number.isFinite(rssMiB) ? rssMiB.toFixed(0) : '?'} MiB)`, fmt(collectMs), '', ''],
    [`serial ssh loop, ${HOSTS} commands (${RUNS} runs)`, fmt(loopMs), '', ''],
    [`rcptsync collect, same ${HOSTS} hosts with 1 list each (${RUNS} runs)`, fmt(median(tinies.map((t) => t.ms))), '', ''],
    ['speed-up loop / collect', `${speedup.toFixed(2)}x`, `>= ${TARGET_SPEEDUP}x`, speedup >= TARGET_SPEEDUP ? 'PASS' : 'MISS'],
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  console.log();
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  console.log();
  console.log(`all runs: collect ${collects.map((c) => fmt(c.ms)).join(', ')}; ssh loop ${loops.map((l) => fmt(l.ms)).join(', ')}; 1-list collect ${tinies.map((t) => fmt(t.ms)).join(', ')}`);
  console.log(
    `the 1-list collect is the SSH side alone (node start-up, inventory, ${HOSTS} handshakes and commands): ` +
      `${(loopMs / median(tinies.map((t) => t.ms))).toFixed(1)}x faster than the loop; the rest of the full collect is parsing, normalising and writing ${expected.toLocaleString('en-US')} addresses`,
  );
  // sshd runs on this machine too: its CPU and the client's share the same cores.
  const cpuOf = (runs) => {
    const pick = runs.find((r) => r.ms === median(runs.map((x) => x.ms)));
    return `client ${pick.cpuSeconds.toFixed(2)} s + sshd ${pick.sshdCpu.toFixed(2)} s`;
  };
  console.log(`CPU (user + system) of the median runs: collect: ${cpuOf(collects)}; ssh loop: ${cpuOf(loops)}; 1-list collect: ${cpuOf(tinies)}`);
  const floorMs = (1000 * (median(collects.map((c) => c.cpuSeconds + c.sshdCpu)))) / cpus().length;
  console.log(
    `on ${cpus().length} CPUs the full collect cannot take less than its CPU / ${cpus().length} = ${fmt(floorMs)}, ` +
      `so the most this machine can show is about ${(loopMs / floorMs).toFixed(1)}x (with list servers on their own machines the sshd side runs there, in parallel)`,
  );
  console.log(`machine: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  if (profile) {
    const profDir = path.join(work, 'profile');
    const run = await timed(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, ...collectArgv]);
    const summary = summariseCpuProfile(profDir);
    console.log();
    console.log(`profile of one collect run (${fmt(run.ms)} wall, ${fmt(summary.totalMs)} sampled on the main thread), self time:`);
    for (const [part, ms] of summary.parts) console.log(`  ${fmt(ms).padStart(9)}  ${((100 * ms) / summary.totalMs).toFixed(1).padStart(5)}%  ${part}`);
    console.log('top functions:');
    for (const [fn, ms] of summary.functions) console.log(`  ${fmt(ms).padStart(9)}  ${fn}`);
  }

  // One machine-readable line for bench/run-all.mjs.
  console.log(
    `RESULT ${JSON.stringify({
      bench: 'collect',
      targets: [
        { name: `collect ${HOSTS} hosts x ${LISTS} lists vs serial ssh`, value: `${speedup.toFixed(2)}x (${fmt(collectMs)} vs ${fmt(loopMs)})`, target: `>= ${TARGET_SPEEDUP}x`, pass: speedup >= TARGET_SPEEDUP },
        { name: 'snapshot complete', value: `${all.size} addresses`, target: `${expected}`, pass: complete, check: true },
      ],
    })}`,
  );
  process.exitCode = complete ? 0 : 1;
} finally {
  await sshd.stop();
  if (keep) console.log(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}
