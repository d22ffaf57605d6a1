#!/usr/bin/env node
// The executable: only turns the CLI's result into an exit code.
import { cli } from './cli.js';

process.exitCode = await cli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  isTTY: Boolean(process.stderr.isTTY),
});
