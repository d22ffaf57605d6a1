/**
 * The e2e lab of test/lab/ under names of its own, for bench/deploy.mjs. The
 * lab's namespaces, bridge and addresses are fixed, and startLab() tears down
 * any lab it finds: a bench sharing them is torn down mid-run by the next e2e
 * run (and its clean-up would tear down the suite's lab). So this lab lives in
 * `rsbench-*` namespaces on bridge `rsbench0` and 10.214.0.0/24, and only ever
 * removes those. Everything else (trees, sshd, Postfix, inventory) is the lab's
 * own code; only the network and the teardown are overridden here.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
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
