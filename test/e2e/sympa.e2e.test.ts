/**
 * A fleet with two kinds of list server (issue 12): list1 runs real Mailman 3,
 * sympa1 real Sympa 6.2.70 (Debian's package, SQLite, no daemon, Sympa's
 * virtual-domain setting with two robots). `ansible-playbook playbooks/sync.yml`
 * collects both over SSH and publishes on two real Postfix gateways, each of
 * which relays one Mailman and one Sympa domain. Lists are created and closed
 * with Sympa's own CLI, which rewrites its transport map itself; every verdict
 * is Postfix's, at RCPT time, from the control node.
 *
 * Its own lab (rsbr3, rssy-*, 10.213.3.0/24, /var/tmp/rcptsync-lab-sympa), so
 * that it runs beside the other suites. The tests run in order and share it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIAL_LISTS, REPO_ROOT, SYMPA_SUFFIXES, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook, type PlaybookRun } from '../lab/ansible.mjs';
import { mismatches, probeOnOwnGateway } from '../helpers/gateway-probes.js';

const STEP_TIMEOUT = 600_000;
const ACCEPTED = '250 2.1.5 Ok';
const unknownReply = (address: string) =>
  `550 5.1.1 <${address}>: Recipient address rejected: User unknown in relay recipient table`;

const MAIN_ROBOT = 'lists.sympa.test';
const VIRTUAL_ROBOT = 'groups.sympa.test';
const ROBOTS = [MAIN_ROBOT, VIRTUAL_ROBOT];
const SYMPA_LISTS = [`announce@${MAIN_ROBOT}`, `dev.team@${MAIN_ROBOT}`, `help@${MAIN_ROBOT}`, `staff@${VIRTUAL_ROBOT}`, `board@${VIRTUAL_ROBOT}`];
const ROBOT_LOCALS = ['sympa', 'sympa-request', 'sympa-owner', 'listmaster', 'bounce', 'abuse-feedback-report'];

let lab: Lab;

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab({
    dir: '/var/tmp/rcptsync-lab-sympa',
    network: { bridge: 'rsbr3', netnsPrefix: 'rssy-', subnet: '10.213.3' },
    gateways: [
      { name: 'gw1', domains: ['lists.example.test', MAIN_ROBOT] },
      { name: 'gw2', domains: ['news.example.test', VIRTUAL_ROBOT] },
    ],
    sympa: { robots: ROBOTS, lists: SYMPA_LISTS },
  });
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);


/** A Sympa list's posting address and the service addresses its list_aliases.tt2 writes (-subscribe is commented out). */
function sympaAddresses(list: string): string[] {
  const [local, domain] = list.split('@') as [string, string];
  return [list, ...SYMPA_SUFFIXES.map((suffix) => `${local}-${suffix}@${domain}`)];
}



/** The real CLI against the lab, as the playbook runs it. */
function rcptsync(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, SSH_AUTH_SOCK: '' },
    timeout: 120_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function expectSuccess(result: PlaybookRun) {
  expect(result.code, describeRun(result)).toBe(0);
  for (const gateway of lab.gateways) {
    expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
  }
}

describe('sync.yml on a fleet of real Mailman 3 and real Sympa, through real Postfix', () => {
  let sympaLists = [...SYMPA_LISTS];

  it('Sympa wrote its transport map itself: every list, -subscribe commented out as its template says', () => {
    const text = lab.sympaTransportText();
    for (const list of SYMPA_LISTS) expect(text).toContain(`${list} sympa:${list}\n`);
    expect(text).toContain(`#announce-subscribe@${MAIN_ROBOT} sympa:announce-subscribe@${MAIN_ROBOT}\n`);
    expect(text).toContain(`staff-owner@${VIRTUAL_ROBOT} sympabounce:staff@${VIRTUAL_ROBOT}\n`);
  });

  it('runs rcptsync over both list servers and publishes on both gateways', async () => {
    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
  }, STEP_TIMEOUT);

  it('collects from sympa1 exactly the lists\' and robots\' addresses, with nothing refused or warned about', () => {
    const file = join(lab.controlDir, 'sympa-snapshot.json');
    const collect = rcptsync(['collect', '-i', lab.inventoryFile, '-s', file]);
    expect(collect.status, collect.stderr).toBe(0);
    expect(collect.stderr).not.toMatch(/warning|refused/);
    expect(collect.stderr).toContain(`sympa1: sources[0] (sympa): ${SYMPA_LISTS.length * 5 + ROBOTS.length * ROBOT_LOCALS.length} addresses`);
    const text = readFileSync(file, 'utf8');
    const headEnd = text.indexOf('\n}\n') + 3;
    const head = JSON.parse(text.slice(0, headEnd)) as { sources: Array<{ host: string; type: string; refused: number; addresses: number }> };
    const lines = text.slice(headEnd).split('\n').filter(Boolean);
    let offset = 0;
    const bySource = head.sources.map((source) => {
      const addresses = lines.slice(offset, offset + source.addresses);
      offset += source.addresses;
      return { ...source, list: addresses };
    });
    const sympaSource = bySource.find((source) => source.host === 'sympa1');
    expect(sympaSource).toMatchObject({ type: 'sympa', refused: 0 });
    expect([...sympaSource!.list].sort()).toEqual(
      [...SYMPA_LISTS.flatMap(sympaAddresses), ...ROBOTS.flatMap((robot) => ROBOT_LOCALS.map((local) => `${local}@${robot}`))].sort(),
    );
  }, STEP_TIMEOUT);

  it('accepts every Sympa list and service address, the robots\' site addresses and VERP forms, and still every Mailman list', async () => {
    const accepted = [
      ...sympaLists.flatMap(sympaAddresses),
      ...ROBOTS.flatMap((robot) => ROBOT_LOCALS.map((local) => `${local}@${robot}`)),
      // VERP return paths and +extensions through recipient_delimiter = +.
      `bounce+owner==a==example.org==announce@${MAIN_ROBOT}`,
      `bounce+someone==a==example.org==staff@${VIRTUAL_ROBOT}`,
      `staff-owner+welcome@${VIRTUAL_ROBOT}`,
      `Listmaster@${MAIN_ROBOT.toUpperCase()}`,
      ...ROBOTS.flatMap((robot) => [`postmaster@${robot}`, `abuse@${robot}`]),
      ...INITIAL_LISTS.flatMap(mailman3Addresses),
    ];
    expect(mismatches(await probeOnOwnGateway(lab.gateways, accepted), () => ACCEPTED)).toEqual([]);
  }, STEP_TIMEOUT);

  it('rejects the commented-out -subscribe, unknown lists, a list at the other robot and a Mailman-only suffix with 550 5.1.1', async () => {
    const rejected = [
      `announce-subscribe@${MAIN_ROBOT}`,
      `staff-subscribe@${VIRTUAL_ROBOT}`,
      `nosuchlist@${MAIN_ROBOT}`,
      `announce-nosuch@${MAIN_ROBOT}`,
      `staff@${MAIN_ROBOT}`, // staff is a list of the other robot
      `announce@${VIRTUAL_ROBOT}`,
      `announce-bounces@${MAIN_ROBOT}`, // Mailman's, not Sympa's
      `nosuch-owner+x@${VIRTUAL_ROBOT}`,
      'nosuchlist@lists.example.test',
    ];
    expect(mismatches(await probeOnOwnGateway(lab.gateways, rejected), unknownReply)).toEqual([]);
  }, STEP_TIMEOUT);

  it('shows a list created and one closed with the sympa CLI after the next sync', async () => {
    const created = `fresh@${VIRTUAL_ROBOT}`;
    const closed = `dev.team@${MAIN_ROBOT}`;
    await lab.sympaCreate(created);
    await lab.sympa(['close', closed]);
    const text = lab.sympaTransportText();
    expect(text).toContain(`${created} sympa:${created}\n`);
    expect(text).not.toContain(closed);

    // The gateways learn of it only from a sync.
    expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaAddresses(created)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaAddresses(closed)), () => ACCEPTED)).toEqual([]);

    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
    sympaLists = [...sympaLists.filter((list) => list !== closed), created];

    expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaAddresses(created)), () => ACCEPTED)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaAddresses(closed)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaLists.flatMap(sympaAddresses)), () => ACCEPTED)).toEqual([]);
  }, STEP_TIMEOUT);

  it('reports a line in Sympa\'s map that is not an address with host, source and line, and skips it', () => {
    const path = lab.hostPath('sympa1', '/etc/sympa/sympa_transport');
    const original = readFileSync(path, 'utf8');
    const lineNumber = original.split('\n').length;
    // The guide's transport.sympa line, pasted into the file Sympa maintains.
    writeFileSync(path, `${original}${MAIN_ROBOT} error:User unknown in recipient table\n`);
    try {
      const plan = rcptsync(['plan', '-i', lab.inventoryFile, '-o', lab.renderedDir, '--state-dir', lab.stateDir]);
      expect(plan.status, plan.stderr).toBe(0);
      expect(plan.stderr).toContain(
        `warning: sympa1: sources[0] (sympa): line ${lineNumber}: key without "@domain" in a Sympa transport map: "${MAIN_ROBOT}" (skipped)`,
      );
    } finally {
      writeFileSync(path, original);
    }
  }, STEP_TIMEOUT);

  it('with Sympa\'s map gone, carries the source forward: the gateways keep every address, the run is red', async () => {
    const map = '/etc/sympa/sympa_transport';
    await lab.exec('sympa1', `mv ${map} ${map}.away`);
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toMatch(/DEGRADED, carried forward: sympa1: sources\[0\] \(sympa\): \d+ addresses/);
      expect(result.stdout, describeRun(result)).toMatch(/sympa1: command failed with exit code 66: f='\/etc\/sympa\/sympa_transport'/);
      expect(result.stdout, describeRun(result)).toContain('No such file or directory');
      for (const gateway of lab.gateways) {
        expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      }
      expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaLists.flatMap(sympaAddresses)), () => ACCEPTED)).toEqual([]);
    } finally {
      await lab.exec('sympa1', `mv ${map}.away ${map}`);
    }
  }, STEP_TIMEOUT);

  it('does not read the map while Sympa holds its lock: carried forward, named, every address still accepted', async () => {
    // Sympa::LockedFile's lock beside the file, as while a list is created or closed.
    const lock = '/etc/sympa/sympa_transport,lock';
    await lab.exec('sympa1', `touch ${lock}`);
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toMatch(/DEGRADED, carried forward: sympa1: sources\[0\] \(sympa\): \d+ addresses/);
      expect(result.stdout, describeRun(result)).toContain(`Sympa holds the lock ${lock} (a list is being created or closed)`);
      expect(mismatches(await probeOnOwnGateway(lab.gateways, sympaLists.flatMap(sympaAddresses)), () => ACCEPTED)).toEqual([]);
    } finally {
      await lab.exec('sympa1', `rm -f ${lock}`);
    }
  }, STEP_TIMEOUT);

  it('reports changed=0 on every gateway when nothing changed', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      expect(result.recap[gateway.name]?.ok, describeRun(result)).toBeGreaterThan(0);
    }
  }, STEP_TIMEOUT);
});
