#!/usr/bin/env node
/**
 * rcptsync as sync.yml runs it in bench/fleet.mjs (`rcptsync_command`): runs
 * dist/bin.js with the given arguments under /usr/bin/time and passes its output
 * through unchanged, and writes beside it, to $FLEET_EVENTS_LOG, every --json
 * event with the millisecond it arrived (relative to this wrapper's start), then
 * one `{"event":"process", ...}` line with rcptsync's wall time, CPU and peak RSS.
 * The bench reads the phases from it.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/bin.js');
const log = process.env.FLEET_EVENTS_LOG;
const started = performance.now();
const timeFile = `${log ?? '/tmp/fleet-rcptsync'}.time`;
// The first line: the wall clock at the start, to compare with the rendered files' times.
if (log) writeFileSync(log, `${JSON.stringify({ ms: 0, line: JSON.stringify({ event: 'wrapper-start', at: Date.now() - (performance.now() - started) }) })}\n`);
const child = spawn('/usr/bin/time', ['-f', '%e %U %S %M', '-o', timeFile, process.execPath, bin, ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });
let pending = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (!log) return;
  const ms = performance.now() - started;
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) if (line.startsWith('{')) appendFileSync(log, `${JSON.stringify({ ms, line })}\n`);
});
child.on('exit', (code, signal) => {
  const ms = performance.now() - started;
  if (log) {
    let time = [];
    try {
      time = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
      rmSync(timeFile, { force: true });
    } catch {}
    appendFileSync(log, `${JSON.stringify({ ms, line: JSON.stringify({ event: 'process', code, wall: time[0], user: time[1], system: time[2], rssKiB: time[3] }) })}\n`);
  }
  process.exitCode = code ?? 128;
  if (signal) process.kill(process.pid, signal);
});
