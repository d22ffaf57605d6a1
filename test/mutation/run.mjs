#!/usr/bin/env node
// npm run mutate [-- FILE...] [--concurrency N]
//
// Mutation testing of the safety-critical modules with StrykerJS and its vitest
// runner: every mutant (a condition flipped, a check removed, a regex loosened)
// is run against the unit tests that cover it, in a sandbox copy of the tree
// (the working tree is never touched). Prints killed / survived per module and
// exits 1 when a mutant survives that docs/testing.md does not list as
// equivalent, with its reason. See docs/testing.md for how to read and fix one.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Stryker } from '@stryker-mutator/core';
import { parse as parseYaml } from 'yaml';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const DOC = path.join(repo, 'docs/testing.md');

/**
 * What is mutated. A module is a whole file, or the parts of it that hold the
 * checks: each range runs from the first line matching `from` to the first line
 * after it matching `to` (found anew on each run, so that edits elsewhere in
 * the file do not move the range).
 */
const MODULES = [
  { file: 'src/transport/known-hosts.ts' },
  { file: 'src/model/address.ts' },
  // Key patterns, the table order and the registry of checked lists.
  { file: 'src/model/address-keys.ts' },
  // The snapshot reader's key check: what a state or snapshot file may hand to the tables as checked.
  { file: 'src/model/snapshot-io.ts', ranges: [{ from: /^function checkAddresses\(/, to: /^}$/ }] },
  { file: 'src/plan/guard.ts' },
  { file: 'src/apply/apply.ts' },
  // Degraded runs: what stands in for a failed source, and what a breach keeps.
  { file: 'src/apply/carry-forward.ts' },
  { file: 'src/apply/hold.ts' },
  // The renderer's checks: every line of a rendered file, the table helper, the U-label check,
  // the empty-domain rule, and what a custom relay_recipients template may write.
  { file: 'src/render/output.ts' },
  // Replacing the rendered tree: the two renames, the recovery of a killed run, the render lock.
  { file: 'src/render/swap.ts' },
  // Which files a Postfix or an Exim gateway gets, which of them count entries, which holds the recipients.
  { file: 'src/render/exim.ts' },
  // checkTree: every rendered file against the manifest's sha256, bytes and entries, and nothing unlisted.
  { file: 'src/render/manifest.ts' },
  // Next hops as Exim route_data: what a manualroute router is given, and what is refused.
  { file: 'src/model/next-hop.ts' },
  // The Sympa parser: which transport keys and aliases lines are a list's address, and the robot's own.
  { file: 'src/sources/sympa.ts' },
  // The read of Sympa's file: never during its in-place rewrite (the lock and change checks).
  { file: 'src/sources/sympa-read.ts' },
  {
    file: 'src/render/templates.ts',
    ranges: [
      { from: /^export const TABLE_MARKER = /, to: /^const TABLE_VALUE = / },
      { from: /^const trustedLists = /, to: /^}$/ },
      { from: /registerHelper\('table'/, to: /^ {2}\}\);$/ },
    ],
  },
  {
    file: 'src/render/render.ts',
    ranges: [
      { from: /^const IDN_LABEL = /, to: /^const SAFE_ULABEL = / },
      { from: /^export function gatewayContexts\(/, to: /^}$/ },
      { from: /^function emptyDomainProblems\(/, to: /^}$/ },
      { from: /^function checkRecipientsTemplate\(/, to: /^}$/ },
    ],
  },
];

const { values: options, positionals } = parseArgs({
  allowPositionals: true,
  options: { concurrency: { type: 'string', default: process.env.MUTATE_CONCURRENCY ?? '2' } },
});

function lineRanges(module) {
  if (!module.ranges) return [module.file];
  const lines = readFileSync(path.join(repo, module.file), 'utf8').split('\n');
  return module.ranges.map(({ from, to }) => {
    const start = lines.findIndex((line) => from.test(line));
    const end = start < 0 ? -1 : lines.findIndex((line, i) => i > start && to.test(line));
    if (start < 0 || end < 0) throw new Error(`${module.file}: no lines from ${from} to ${to}; update MODULES in test/mutation/run.mjs`);
    return `${module.file}:${start + 1}-${end + 1}`;
  });
}

const unknown = positionals.filter((file) => !MODULES.some((m) => m.file === file));
const chosen = positionals.length === 0 ? MODULES : MODULES.filter((m) => positionals.includes(m.file));
if (unknown.length > 0) {
  console.error(`usage: npm run mutate [-- FILE...]; FILE one of:\n  ${MODULES.map((m) => m.file).join('\n  ')}`);
  process.exit(2);
}

/** The equivalent mutants: the YAML block under "## Equivalent mutants" in docs/testing.md. */
function readAllowList() {
  const text = readFileSync(DOC, 'utf8');
  const section = text.slice(text.indexOf('## Equivalent mutants'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error(`${DOC}: no \`\`\`yaml block under "## Equivalent mutants"`);
  const entries = parseYaml(block[1]) ?? [];
  for (const e of entries) {
    for (const field of ['file', 'line', 'original', 'replacement', 'reason']) {
      if (typeof e[field] !== 'string' || e[field].trim() === '') throw new Error(`${DOC}: an equivalent mutant without "${field}": ${JSON.stringify(e)}`);
    }
  }
  return entries;
}

const collapse = (text) => text.replace(/\s+/g, ' ').trim();

/** The source a mutant replaces (the report's lines and columns count from 1). */
function textAt(lines, { start, end }) {
  if (start.line === end.line) return lines[start.line - 1].slice(start.column - 1, end.column - 1);
  return [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1), lines[end.line - 1].slice(0, end.column - 1)].join('\n');
}
/** How the allow-list and the messages show a mutant's code: on one line, long blocks shortened. */
const shown = (text) => {
  const one = collapse(text);
  return one.length > 100 ? `${one.slice(0, 97)}...` : one;
};

const allowList = readAllowList();
const mutate = chosen.flatMap(lineRanges);
const started = Date.now();
const work = mkdtempSync(path.join(tmpdir(), 'rcptsync-mutate-'));
const reportFile = path.join(work, 'mutation.json');
const stryker = new Stryker({
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'test/mutation/vitest.config.ts', related: true },
  mutate,
  coverageAnalysis: 'perTest',
  concurrency: Number(options.concurrency),
  // A loaded machine must not turn a slow test into a "killed by timeout".
  timeoutMS: 20_000,
  timeoutFactor: 3,
  // The sandbox copies and the report live outside the shared working tree.
  tempDirName: path.join(work, 'sandbox'),
  // roles/ stays: unit tests run the role's manifest check (check_rendered.py) on rendered trees.
  // Anchored at the top: a bare 'inventory' would also leave out src/inventory.
  ignorePatterns: ['/dist', '/bench/out', '/rendered', '/.rcptsync-state', '/test/e2e', '/test/faults', '/test/it', '/test/lab', '/examples', '/playbooks', '/inventory'],
  reporters: ['progress', 'json'],
  jsonReporter: { fileName: reportFile },
  cleanTempDir: true,
  logLevel: 'warn',
});
await stryker.runMutationTest();
// The report holds each file as it was copied into the sandbox: the lines the
// mutants were made on, even if the working tree changed during the run.
const report = JSON.parse(readFileSync(reportFile, 'utf8'));
rmSync(work, { recursive: true, force: true });
const results = Object.entries(report.files).flatMap(([name, file]) => {
  const lines = file.source.split('\n');
  const relative = path.relative(repo, path.resolve(repo, name));
  return file.mutants.map((mutant) => ({
    ...mutant,
    file: relative,
    line: lines[mutant.location.start.line - 1]?.trim() ?? '',
    original: textAt(lines, mutant.location),
  }));
});

const KILLED = new Set(['Killed', 'Timeout']);
const SURVIVED = new Set(['Survived', 'NoCoverage']);
const perFile = new Map(chosen.map((m) => [m.file, { killed: 0, survived: 0, equivalent: 0, ignored: 0, unlisted: [] }]));
const usedEntries = new Set();
for (const mutant of results) {
  const { file, line } = mutant;
  const counts = perFile.get(file);
  if (!counts) continue;
  if (KILLED.has(mutant.status)) {
    counts.killed++;
    continue;
  }
  if (!SURVIVED.has(mutant.status)) {
    counts.ignored++; // CompileError, RuntimeError, Ignored: not a verdict on the tests
    continue;
  }
  counts.survived++;
  const entry = allowList.find(
    (e) =>
      e.file === file && collapse(e.line) === collapse(line) && shown(e.original) === shown(mutant.original) && shown(e.replacement) === shown(mutant.replacement),
  );
  if (entry) {
    counts.equivalent++;
    usedEntries.add(entry);
  } else {
    counts.unlisted.push({ mutant, line });
  }
}

const pct = (n, d) => (d === 0 ? '   -  ' : `${((100 * n) / d).toFixed(1).padStart(5)}%`);
console.log('\nmodule                          killed  survived  equivalent  unlisted   score  score w/o equivalents');
let unlisted = 0;
for (const [file, c] of perFile) {
  const total = c.killed + c.survived;
  unlisted += c.unlisted.length;
  console.log(
    `${file.padEnd(31)} ${String(c.killed).padStart(6)}  ${String(c.survived).padStart(8)}  ${String(c.equivalent).padStart(10)}  ${String(c.unlisted.length).padStart(8)}  ${pct(c.killed, total)}  ${pct(c.killed, total - c.equivalent)}`,
  );
}
console.log(`(${results.length} mutants in ${Math.round((Date.now() - started) / 1000)} s; killed includes timeouts)`);

const stale = allowList.filter((e) => perFile.has(e.file) && !usedEntries.has(e));
if (stale.length > 0) {
  console.log(`\n${stale.length} equivalent mutant(s) in docs/testing.md no longer survive (killed now, or the line changed): remove them`);
  for (const e of stale) console.log(`  ${e.file}: ${JSON.stringify(e.original)} -> ${JSON.stringify(e.replacement)} on: ${e.line}`);
}
if (unlisted > 0) {
  console.log(`\n${unlisted} mutant(s) survived that docs/testing.md does not list as equivalent. Kill each with a test,`);
  console.log('or, if no test can tell it from the original, add it with its reason:\n');
  for (const [file, c] of perFile) {
    for (const { mutant, line } of c.unlisted) {
      console.log(`# ${file}:${mutant.location.start.line} ${mutant.mutatorName} (${mutant.status})`);
      console.log(
        `- file: ${file}\n  line: ${JSON.stringify(line)}\n  original: ${JSON.stringify(shown(mutant.original))}\n  replacement: ${JSON.stringify(shown(mutant.replacement))}\n  reason: TODO\n`,
      );
    }
  }
  process.exitCode = 1;
} else {
  console.log('\nEvery surviving mutant is listed as equivalent in docs/testing.md.');
}
