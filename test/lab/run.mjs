/**
 * Running commands for the lab: collect output, name the command in failures
 * (execa's `Command failed with exit code N: <command>` plus stderr).
 */
import { spawn } from 'node:child_process';

/**
 * @typedef {object} RunResult
 * @property {number} code exit status (128+signal when killed)
 * @property {string} stdout
 * @property {string} stderr
 */

/**
 * @typedef {object} RunOptions
 * @property {boolean} [check] throw when the exit status is not 0 (default true)
 * @property {string} [input] written to stdin
 * @property {NodeJS.ProcessEnv} [env]
 * @property {string} [cwd]
 * @property {number} [timeoutMs] kill the command after this long (default 120 s)
 */

/**
 * @param {string} command
 * @param {string[]} args
 * @param {RunOptions} [options]
 * @returns {Promise<RunResult>}
 */
export function run(command, args, options = {}) {
  const { check = true, input, env, cwd, timeoutMs = 120_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: env ?? process.env,
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    /** @type {Buffer[]} */ const out = [];
    /** @type {Buffer[]} */ const err = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => err.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Command failed to start: ${describe(command, args)}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? 128 + (signal ? signalNumber(signal) : 0),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (check && result.code !== 0) {
        const why = signal ? `was killed with ${signal}` : `failed with exit code ${result.code}`;
        const detail = (result.stderr.trim() || result.stdout.trim()).slice(-4000);
        reject(new Error(`Command ${why}: ${describe(command, args)}${detail ? `\n${detail}` : ''}`));
        return;
      }
      resolve(result);
    });
    child.stdin.on('error', () => {}); // a command that does not read stdin
    child.stdin.end(input ?? '');
  });
}

/** @param {string} command @param {string[]} args */
export function describe(command, args) {
  return [command, ...args].map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** @param {NodeJS.Signals} signal */
function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[/** @type {string} */ (signal)] ?? 0;
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
