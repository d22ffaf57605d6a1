/**
 * Running the project's playbooks against the lab, and reading what Ansible says
 * about each host (the PLAY RECAP lines).
 */
import { run } from './run.mjs';
import { REPO_ROOT } from './lab.mjs';

/**
 * @typedef {object} HostRecap
 * @property {number} ok
 * @property {number} changed
 * @property {number} unreachable
 * @property {number} failed
 * @property {number} skipped
 * @property {number} rescued
 * @property {number} ignored
 */

/**
 * @typedef {object} PlaybookRun
 * @property {number} code ansible-playbook's exit status
 * @property {string} stdout
 * @property {string} stderr
 * @property {Record<string, HostRecap>} recap per host, from the PLAY RECAP
 * @property {number} seconds wall time
 */

/**
 * Runs `ansible-playbook PLAYBOOK -i INVENTORY -e @EXTRA_VARS` (the lab's files) from
 * the repository root. Never throws for a failed play: check `code`.
 * @param {import('./lab.mjs').Lab} lab
 * @param {string} playbook path relative to the repository root, e.g. playbooks/sync.yml
 * @param {string[]} [extraArgs]
 * @returns {Promise<PlaybookRun>}
 */
export async function runPlaybook(lab, playbook, extraArgs = []) {
  const [command, ...args] = lab.playbookArgv(playbook);
  const started = Date.now();
  const result = await run(/** @type {string} */ (command), [...args, ...extraArgs], {
    check: false,
    cwd: REPO_ROOT,
    env: lab.env,
    timeoutMs: 300_000,
  });
  return { ...result, recap: parseRecap(result.stdout), seconds: (Date.now() - started) / 1000 };
}

/**
 * Parses the PLAY RECAP of ansible-playbook's default output.
 * @param {string} stdout
 * @returns {Record<string, HostRecap>}
 */
export function parseRecap(stdout) {
  /** @type {Record<string, HostRecap>} */
  const recap = {};
  const start = stdout.lastIndexOf('PLAY RECAP');
  if (start < 0) return recap;
  for (const line of stdout.slice(start).split('\n').slice(1)) {
    const match = /^(\S+)\s*:\s*(.*)$/.exec(line.trim());
    if (!match) continue;
    const counts = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)=(\d+)/g)].map(([, key, value]) => [key, Number(value)]));
    if (!('ok' in counts)) continue;
    recap[/** @type {string} */ (match[1])] = {
      ok: counts.ok ?? 0,
      changed: counts.changed ?? 0,
      unreachable: counts.unreachable ?? 0,
      failed: counts.failed ?? 0,
      skipped: counts.skipped ?? 0,
      rescued: counts.rescued ?? 0,
      ignored: counts.ignored ?? 0,
    };
  }
  return recap;
}

/** A readable tail of a playbook run for assertion messages. @param {PlaybookRun} result */
export function describeRun(result) {
  return `ansible-playbook exited ${result.code} after ${result.seconds.toFixed(1)} s\n--- stdout (tail) ---\n${result.stdout.slice(-6000)}\n--- stderr (tail) ---\n${result.stderr.slice(-3000)}`;
}
