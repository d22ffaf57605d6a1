/**
 * The e2e lab of test/lab/ under names of its own, for bench/deploy.mjs. The
 * lab's namespaces, bridge and addresses are fixed, and startLab() tears down
 * any lab it finds: a bench sharing them is torn down mid-run by the next e2e
 * run (and its clean-up would tear down the suite's lab). So this lab lives in
 * `rsbench-*` namespaces on bridge `rsbench0` and 10.214.0.0/24, and only ever
 * removes those. Everything else (trees, sshd, Postfix, inventory) is the lab's
 * own code; only the network, the namespace holders and the teardown are
 * overridden here.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Lab } from '../../test/lab/lab.mjs';
import { run, sleep } from '../../test/lab/run.mjs';

const PREFIX = 'rsbench-';
const BRIDGE = 'rsbench0';
const SUBNET = '10.214.0';
const CONTROL = `${SUBNET}.1`;
const MARKER = '.rcptsync-lab'; // the lab's own marker: a directory it made

class BenchLab extends Lab {
  /** @param {import('../../test/lab/lab.mjs').LabOptions} options */
  constructor(options) {
    super(options);
    /** @type {string | undefined} */
    this.taskTimesDir = undefined;
    this.controlAddress = CONTROL;
    this.bridge = BRIDGE;
    for (const host of Object.values(this.hosts)) {
      host.netns = PREFIX + host.name;
      host.address = host.address.replace(/^10\.213\.0\./, `${SUBNET}.`);
    }
  }

  /** As the lab's, on our own bridge and subnet. */
  async buildNetwork() {
    await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${CONTROL}/24`, 'dev', BRIDGE]);
    await run('ip', ['link', 'set', BRIDGE, 'up']);
    for (const host of Object.values(this.hosts)) {
      const ns = host.netns;
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['link', 'set', ns, 'master', BRIDGE, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      // No default route: only this /24 is reachable from inside.
    }
  }

  /**
   * As the lab's, but the holder first drops its copies of /run/netns/*: a new
   * mount namespace copies every named network namespace's mount, and such a
   * copy keeps that namespace (and its veth) alive after `ip netns del`. Without
   * this, our hosts would pin the e2e suite's namespaces and its next start would
   * fail with "File exists" on its veth. @param {import('../../test/lab/lab.mjs').LabHost} host
   */
  async startHolder(host) {
    const pidFile = join(host.root, 'holder.pid');
    const dropNetnsMounts = `for m in $(awk '$5 ~ "^/run/netns/" { print $5 }' /proc/self/mountinfo | sort -r); do umount -l "$m" || exit 1; done`;
    const binds = host.mounts.map((tree) => `mount --bind '${join(host.root, 'fs', tree)}' '${tree}'`).join(' && ');
    const script = `${dropNetnsMounts}; ${binds} && echo $$ > '${pidFile}' && exec sleep infinity`;
    const logFd = openSync(join(host.root, 'holder.log'), 'a');
    try {
      const child = spawn('ip', ['netns', 'exec', host.netns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      child.unref();
    } finally {
      closeSync(logFd);
    }
    const deadline = Date.now() + 10_000;
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') {
      if (Date.now() > deadline) throw new Error(`${host.name}: the namespace holder did not start: ${readFileSync(join(host.root, 'holder.log'), 'utf8')}`);
      await sleep(20);
    }
    host.holderPid = Number(readFileSync(pidFile, 'utf8').trim());
  }

  /**
   * The lab's environment, plus Ansible's built-in junit callback when
   * `taskTimesDir` is set: one XML file per run with every task's duration.
   */
  get env() {
    const env = super.env;
    if (!this.taskTimesDir) return env;
    return {
      ...env,
      ANSIBLE_CALLBACKS_ENABLED: 'ansible.builtin.junit',
      JUNIT_OUTPUT_DIR: this.taskTimesDir,
      JUNIT_TASK_CLASS: 'yes',
      JUNIT_INCLUDE_SETUP_TASKS_IN_REPORT: 'no',
      JUNIT_HIDE_TASK_ARGUMENTS: 'yes',
    };
  }

  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    await removeBenchLab(this.dir);
  }
}

/** Kill every process of a namespace (TERM, then KILL). @param {string} ns */
async function killNamespace(ns) {
  const pids = async () => (await run('ip', ['netns', 'pids', ns], { check: false })).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    for (const pid of await pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 40 && (await pids()).length > 0; i++) await sleep(50);
  }
}

/** Remove our lab (or one a killed bench left): namespaces, bridge, files. @param {string} dir */
async function removeBenchLab(dir) {
  const { stdout } = await run('ip', ['netns', 'list'], { check: false });
  for (const ns of stdout.split('\n').map((line) => line.split(/\s+/)[0] ?? '').filter((name) => name.startsWith(PREFIX))) {
    await killNamespace(ns);
    await run('ip', ['netns', 'del', ns], { check: false });
  }
  if ((await run('ip', ['link', 'show', BRIDGE], { check: false })).code === 0) await run('ip', ['link', 'del', BRIDGE], { check: false });
  // A veth whose namespace another process still pins (a mount namespace made
  // meanwhile, e.g. by the e2e lab) outlives `ip netns del`; deleting our end
  // removes the pair.
  const links = (await run('ip', ['-o', 'link', 'show'], { check: false })).stdout;
  for (const name of links.split('\n').map((line) => /^\d+:\s+([^@:\s]+)/.exec(line)?.[1]).filter((n) => n?.startsWith(PREFIX))) {
    await run('ip', ['link', 'del', name], { check: false });
  }
  if (existsSync(dir) && !existsSync(join(dir, MARKER))) {
    throw new Error(`${dir} exists and is not a lab directory (no ${MARKER}); remove it or choose another dir`);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Start the bench's own lab (root only); a failed start is torn down.
 * @param {import('../../test/lab/lab.mjs').LabOptions} options
 */
export async function startBenchLab(options) {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network and mount namespaces, sshd, postfix)');
  const lab = new BenchLab(options);
  await removeBenchLab(lab.dir);
  try {
    await lab.build();
  } catch (error) {
    await lab.stop();
    throw error;
  }
  // The lab's inventory names the addresses it was built with; make sure they are ours.
  if (!readFileSync(lab.inventoryFile, 'utf8').includes(`${SUBNET}.`)) throw new Error('the bench lab inventory does not use the bench subnet');
  return lab;
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
