/**
 * The e2e lab of test/lab/ on a network of its own, for bench/deploy.mjs: the
 * `rsbench-*` namespaces on bridge `rsbench0` and 10.214.0.0/24. Labs on
 * different networks run side by side and only ever remove their own, so the
 * bench and the e2e suite can run at the same time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startLab } from '../../test/lab/lab.mjs';

/** @type {import('../../test/lab/lab.mjs').LabNetwork} */
export const BENCH_NETWORK = { bridge: 'rsbench0', netnsPrefix: 'rsbench-', subnet: '10.214.0' };

/**
 * @typedef {import('../../test/lab/lab.mjs').Lab & { taskTimesDir: string | undefined }} BenchLab
 * `taskTimesDir`: while set, every playbook run writes one junit XML file there
 * with each task's duration (read them with taskTimes()).
 */

/**
 * Start the bench's own lab (root only); a failed start is torn down.
 * @param {Omit<import('../../test/lab/lab.mjs').LabOptions, 'network'>} options
 * @returns {Promise<BenchLab>}
 */
export async function startBenchLab(options) {
  const lab = await startLab({ ...options, network: BENCH_NETWORK });
  /** @type {string | undefined} */
  let taskTimesDir;
  Object.defineProperty(lab, 'taskTimesDir', {
    get: () => taskTimesDir,
    set: (/** @type {string | undefined} */ dir) => {
      taskTimesDir = dir;
      lab.extraEnv = dir ? taskTimesEnv(dir) : {};
    },
  });
  return /** @type {BenchLab} */ (lab);
}

/** Ansible's built-in junit callback: one XML file per run in dir, with every task's duration. @param {string} dir */
export function taskTimesEnv(dir) {
  return {
    ANSIBLE_CALLBACKS_ENABLED: 'ansible.builtin.junit',
    JUNIT_OUTPUT_DIR: dir,
    JUNIT_TASK_CLASS: 'yes',
    JUNIT_INCLUDE_SETUP_TASKS_IN_REPORT: 'no',
    JUNIT_HIDE_TASK_ARGUMENTS: 'yes',
  };
}

/**
 * Seconds per task (summed over hosts and loop items) from the junit files of
 * one run, longest first.
 * @param {string} dir
 * @returns {Array<[string, number]>}
 */
export function taskTimes(dir) {
  /** @type {Map<string, number>} */
  const times = new Map();
  for (const file of existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.xml')) : []) {
    const xml = readFileSync(join(dir, file), 'utf8');
    for (const [tag] of xml.matchAll(/<testcase\b[^>]*>/g)) {
      const rawName = /\bname="([^"]*)"/.exec(tag)?.[1];
      const seconds = /\btime="([\d.]+)"/.exec(tag)?.[1];
      if (rawName === undefined || seconds === undefined) continue;
      const name = rawName.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/^\[[^\]]*\]\s*/, '').replace(/^[^:]*:\s*/, ''); // "[host] play name: task name"
      times.set(name, (times.get(name) ?? 0) + Number(seconds));
    }
  }
  return [...times].sort((a, b) => b[1] - a[1]);
}
