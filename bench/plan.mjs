#!/usr/bin/env node
/**
 * Benchmark of `rcptsync plan` (issue 4): a 1,000,000-address collection against
 * a last-known-good state differing in 1% of its entries. The plan computation
 * (load both snapshots, build the gateway tables, diff, format text and
 * markdown) runs in a child process; its wall time and peak RSS are compared
 * with `LC_ALL=C sort -u` over the same 1,000,000 address lines, in the same run.
 * Target: within 2x of sort's wall time. Correctness: the plan's totals (from
 * the snapshots and from the rendered trees) must be the change the bench
 * generated, so an empty or partial diff is never timed as a fast one.
 *
 * Run after `npm run build`:  node bench/plan.mjs [--addresses N] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { random } from './lib/data.mjs';
import { numberOption } from './lib/options.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
for (const file of ['plan/diff.js', 'plan/format.js', 'plan/tables.js', 'model/snapshot-io.js', 'tables/gateway-tables.js', 'state/last-known-good.js']) {
  if (!existsSync(path.join(dist, file))) {
    console.error(`bench/plan.mjs: ${path.join('dist', file)} is missing; run \`npm run build\` first`);
    process.exit(2);
  }
}

const args = process.argv.slice(2);
const TOTAL = numberOption('--addresses', 1_000_000);
const CHANGED_SHARE = 0.01;
const DOMAINS = 40;
const HOSTS = 8;
const SOURCES_PER_HOST = 2;
const GATEWAYS = 2;
const keep = args.includes('--keep');

const { writeSnapshot } = await import(path.join(dist, 'model/snapshot-io.js'));
const { buildGatewayTables } = await import(path.join(dist, 'tables/gateway-tables.js'));
const { stateFileFor } = await import(path.join(dist, 'state/last-known-good.js'));

const domains = Array.from({ length: DOMAINS }, (_, i) => `lists${String(i).padStart(2, '0')}.example.org`);

/** `count` distinct addresses of a mailing-list shape: list names with Mailman's sub-addresses and plain users. */
function* addressStream(rand, count, offset) {
  const suffixes = ['', '-bounces', '-confirm', '-join', '-leave', '-owner', '-request', '-subscribe', '-unsubscribe'];
  for (let i = offset; i < offset + count; i++) {
    const base = `${i % 3 === 0 ? 'team' : 'user'}${(i * 2654435761) % 1e9 >>> 0}.${i.toString(36)}`;
    yield `${base}${suffixes[i % suffixes.length]}@${domains[i % DOMAINS]}`;
  }
  void rand;
}

/** A snapshot holding `keys`, spread over hosts and sources; sources keep contract order. */
function snapshotOf(keys) {
  const perSource = new Map();
  keys.forEach((key, i) => {
    const s = i % (HOSTS * SOURCES_PER_HOST);
    if (!perSource.has(s)) perSource.set(s, []);
    perSource.get(s).push(key);
  });
  const byDomainThenLocal = (a, b) => {
    const da = a.slice(a.lastIndexOf('@') + 1);
    const db = b.slice(b.lastIndexOf('@') + 1);
    if (da !== db) return da < db ? -1 : 1;
    const la = a.slice(0, a.lastIndexOf('@'));
    const lb = b.slice(0, b.lastIndexOf('@'));
    return la < lb ? -1 : la > lb ? 1 : 0;
  };
  const sources = [...perSource.entries()]
    .map(([s, list]) => ({
      host: `lists${Math.floor(s / SOURCES_PER_HOST) + 1}`,
      index: s % SOURCES_PER_HOST,
      type: 'mailman3',
      label: `sources[${s % SOURCES_PER_HOST}] (mailman3)`,
      addresses: list.sort(byDomainThenLocal),
      refused: 0,
    }))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.index - b.index));
  const gateways = Array.from({ length: GATEWAYS }, (_, g) => ({
    name: `mx${g + 1}`,
    smtputf8: false,
    domains: domains
      .filter((_, d) => d % GATEWAYS === g)
      .map((domain) => ({ domain, nextHop: `smtp:[lists${(domains.indexOf(domain) % HOSTS) + 1}.example.org]:25`, roleAddresses: true, allowEmpty: false })),
  }));
  return { format: 'rcptsync-snapshot', version: 1, sources, gateways };
}

function timed(command, argv, env = process.env) {
  const stats = path.join(work, `time-${command.replace(/\W/g, '')}-${Date.now()}.txt`);
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-o', stats, '-f', '%e %M', command, ...argv], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const wallMs = performance.now() - started;
  if (result.status !== 0) {
    console.error(result.stdout, result.stderr);
    throw new Error(`${command} ${argv.join(' ')} failed with exit code ${result.status}`);
  }
  return { wallMs, stats, stdout: result.stdout };
}

async function peakKb(statsFile) {
  const last = (await readFile(statsFile, 'utf8')).trim().split('\n').pop();
  return Number(last.split(' ')[1]);
}

const work = await mkdtemp(path.join(tmpdir(), 'rcptsync-bench-plan-'));
try {
  // ---- data: the state (before) and the new collection (after), 1% of entries differ.
  const rand = random(42);
  const changed = Math.round(TOTAL * CHANGED_SHARE);
  const all = [...addressStream(rand, TOTAL + changed / 2, 0)];
  // Before lacks the last changed/2 (they are added); after lacks changed/2 spread over the rest (they are removed).
  const before = all.slice(0, TOTAL);
  const removedEvery = Math.floor(TOTAL / (changed / 2));
  const after = all.filter((_, i) => i >= TOTAL || i % removedEvery !== 7);
  const afterCount = after.length;
  // The change as generated, which the plan must find: every domain also has postmaster@ and abuse@ on both sides.
  const roles = 2 * DOMAINS;
  const addedKeys = all.length - TOTAL;
  const removedKeys = before.length - (after.length - addedKeys);
  const expected = {
    added: addedKeys,
    removed: removedKeys,
    unchanged: before.length - removedKeys + roles,
    before: before.length + roles,
    after: after.length + roles,
  };
  // Where `rcptsync plan -o <work>/rendered --state-dir <work>/state` keeps its last-known-good state.
  const stateFile = stateFileFor(path.join(work, 'state'), path.join(work, 'rendered'));
  await mkdir(path.dirname(stateFile), { recursive: true });
  const collectFile = path.join(work, 'collect.snapshot.json');
  await writeSnapshot(stateFile, snapshotOf(before));
  await writeSnapshot(collectFile, snapshotOf(after));

  // The same 1M address lines for sort, shuffled (a collection arrives unsorted from many sources).
  const lines = after.slice(0, TOTAL);
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  const linesFile = path.join(work, 'addresses.txt');
  await writeFile(linesFile, `${lines.join('\n')}\n`);
  lines.length = 0;

  // Rendered trees too, for the --against <dir> path (informational).
  for (const [name, snapshot] of [['before', snapshotOf(before)], ['after', snapshotOf(after)]]) {
    for (const gateway of buildGatewayTables(snapshot)) {
      const dir = path.join(work, name, gateway.gateway);
      await mkdir(dir, { recursive: true });
      const body = gateway.domains.flatMap((d) => d.addresses.map((a) => `${a} OK`)).join('\n');
      await writeFile(path.join(dir, 'relay_recipients'), `# generated\n${body}\n`);
    }
  }

  // ---- the plan computation, in a child process.
  const child = `
    const { readSnapshot } = await import(${JSON.stringify(path.join(dist, 'model/snapshot-io.js'))});
    const { loadLastKnownGood } = await import(${JSON.stringify(path.join(dist, 'state/last-known-good.js'))});
    const { tablesFromSnapshot, tablesFromRenderedTree } = await import(${JSON.stringify(path.join(dist, 'plan/tables.js'))});
    const { diffTables } = await import(${JSON.stringify(path.join(dist, 'plan/diff.js'))});
    const { formatPlan } = await import(${JSON.stringify(path.join(dist, 'plan/format.js'))});
    const mode = process.argv[1];
    // Module loading is in the wall time, not in the phases.
    const started = performance.now();
    let beforeTables, afterTables, readMs = 0;
    if (mode === 'tree') {
      beforeTables = await tablesFromRenderedTree(${JSON.stringify(path.join(work, 'before'))});
      afterTables = await tablesFromRenderedTree(${JSON.stringify(path.join(work, 'after'))});
    } else {
      let t = performance.now();
      const state = await loadLastKnownGood(${JSON.stringify(path.join(work, 'state'))}, ${JSON.stringify(path.join(work, 'rendered'))});
      readMs += performance.now() - t;
      beforeTables = tablesFromSnapshot(state);
      t = performance.now();
      // Stands in for the collection, which \`rcptsync plan\` gets from collect in memory.
      const collection = await readSnapshot(${JSON.stringify(collectFile)});
      readMs += performance.now() - t;
      afterTables = tablesFromSnapshot(collection);
    }
    const loaded = performance.now();
    const plan = diffTables(beforeTables, afterTables);
    const diffed = performance.now();
    const text = formatPlan(plan, 'text');
    const markdown = formatPlan(plan, 'markdown');
    const done = performance.now();
    console.log(JSON.stringify({
      loadMs: loaded - started, readMs, diffMs: diffed - loaded, formatMs: done - diffed,
      totals: plan.totals, textBytes: text.length, markdownBytes: markdown.length,
    }));
  `;
  const runPlan = (mode) => {
    const run = timed(process.execPath, ['--input-type=module', '-e', child, mode]);
    return { ...run, result: JSON.parse(run.stdout) };
  };
  const runSort = () => timed('sort', ['-u', linesFile, '-o', path.join(work, 'sorted.txt')], { ...process.env, LC_ALL: 'C' });

  // One warm-up of each (page cache), then the median of three.
  runSort();
  runPlan('snapshot');
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const sortRuns = [];
  const planRuns = [];
  const treeRuns = [];
  for (let i = 0; i < 3; i++) {
    sortRuns.push(runSort());
    planRuns.push(runPlan('snapshot'));
    treeRuns.push(runPlan('tree'));
  }
  const summarise = async (runs) => {
    const wall = median(runs.map((r) => r.wallMs));
    const pick = runs.find((r) => r.wallMs === wall);
    return { wall, rssKb: await peakKb(pick.stats), result: pick.result };
  };
  const sort = await summarise(sortRuns);
  const plan = await summarise(planRuns);
  const tree = await summarise(treeRuns);

  const mb = (kb) => `${(kb / 1024).toFixed(0)} MiB`;
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const totals = plan.result.totals;
  const shown = (t) => `+${t.added} -${t.removed} =${t.unchanged} (${t.before} before, ${t.after} after)`;
  const sameTotals = (t) => Object.keys(expected).every((key) => t[key] === expected[key]);
  const totalsOk = [...planRuns, ...treeRuns].every((run) => sameTotals(run.result.totals));
  console.log(`rcptsync plan benchmark: ${TOTAL.toLocaleString('en-US')} addresses in the state, ${afterCount.toLocaleString('en-US')} collected, ${DOMAINS} domains, ${GATEWAYS} gateways`);
  console.log(`  plan: ${shown(totals)} (role addresses included); from the trees: ${shown(tree.result.totals)}`);
  console.log(`  generated change: ${shown(expected)}: ${totalsOk ? 'every run found it' : 'a run FOUND SOMETHING ELSE'}`);
  console.log(`  LC_ALL=C sort -u (${TOTAL.toLocaleString('en-US')} lines) wall ${s(sort.wall)}  peak RSS ${mb(sort.rssKb)}`);
  console.log(
    `  plan from snapshots (child)      wall ${s(plan.wall)}  peak RSS ${mb(plan.rssKb)}  ` +
      `(read+check ${s(plan.result.readMs)}, tables ${s(plan.result.loadMs - plan.result.readMs)}, diff ${s(plan.result.diffMs)}, format ${s(plan.result.formatMs)})`,
  );
  console.log(
    `  plan from rendered trees (child) wall ${s(tree.wall)}  peak RSS ${mb(tree.rssKb)}  ` +
      `(load ${s(tree.result.loadMs)}, diff ${s(tree.result.diffMs)}, format ${s(tree.result.formatMs)})`,
  );
  // Both sides share the machine; a busy one (other test suites) makes every number slower and noisier.
  console.log(`  machine: ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // Each plan run is paired with the sort run just before it, so both saw the same load; the median pair decides.
  const ratio = median(planRuns.map((r, i) => r.wallMs / sortRuns[i].wallMs));
  console.log(`  ratio plan/sort (median of paired runs): ${ratio.toFixed(2)}x (target: within 2x)`);
  // One machine-readable line for bench/run-all.mjs; `check` marks a correctness check, whose failure fails the run.
  console.log(
    `RESULT ${JSON.stringify({
      bench: 'plan',
      targets: [
        { name: 'plan from snapshots vs sort -u', value: `${ratio.toFixed(2)}x (${s(plan.wall)} vs ${s(sort.wall)})`, target: '<= 2x', pass: ratio <= 2 },
        { name: 'plan totals = generated change', value: shown(totals), target: shown(expected), pass: totalsOk, check: true },
      ],
    })}`,
  );
  // A MISS is a figure; only a wrong plan fails.
  process.exitCode = totalsOk ? 0 : 1;
} finally {
  if (keep) console.log(`data kept in ${work}`);
  else await rm(work, { recursive: true, force: true });
}
