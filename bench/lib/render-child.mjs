#!/usr/bin/env node
/**
 * The measured side of bench/render.mjs: read a snapshot and render it with the
 * built code in dist/, as `rcptsync render` does, then report its own figures
 * as one JSON line on stdout. Usage: render-child.mjs SNAPSHOT OUTDIR
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const started = performance.now();
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');
const { readSnapshot } = await import(path.join(dist, 'model/snapshot-io.js'));
const { renderTree } = await import(path.join(dist, 'render/index.js'));
const loaded = performance.now();
const [file, outDir] = process.argv.slice(2);
const snapshot = await readSnapshot(file);
const read = performance.now();
const summary = await renderTree(snapshot, { outDir });
const done = performance.now();
process.stdout.write(
  `${JSON.stringify({
    loadMs: loaded - started,
    readMs: read - loaded,
    renderMs: done - read,
    entries: summary.gateways.reduce((sum, g) => sum + g.entries, 0),
    maxRssKiB: process.resourceUsage().maxRSS,
  })}\n`,
);
