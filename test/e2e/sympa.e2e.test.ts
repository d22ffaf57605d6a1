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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIAL_LISTS, REPO_ROOT, SYMPA_SUFFIXES, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook, type PlaybookRun } from '../lab/ansible.mjs';
import { probeRecipients, type RcptReply } from '../lab/smtp-probe.mjs';

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

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

/** A Sympa list's posting address and the service addresses its list_aliases.tt2 writes (-subscribe is commented out). */
function sympaAddresses(list: string): string[] {
  const [local, domain] = list.split('@') as [string, string];
  return [list, ...SYMPA_SUFFIXES.map((suffix) => `${local}-${suffix}@${domain}`)];
}

async function probeOnOwnGateway(addresses: string[]): Promise<RcptReply[]> {
  const replies: RcptReply[] = [];
  for (const gateway of lab.gateways) {
    const mine = addresses.filter((address) => gateway.domains.includes(domainOf(address)));
    for (let i = 0; i < mine.length; i += 8) replies.push(...(await probeRecipients(gateway.address, mine.slice(i, i + 8))));
  }
  expect(replies).toHaveLength(addresses.length);
  return replies;
}

function mismatches(replies: RcptReply[], expected: (address: string) => string): string[] {
  return replies.filter((reply) => reply.text !== expected(reply.address)).map((reply) => `${reply.address}: ${reply.text}`);
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
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    expect(result.stdout, describeRun(result)).not.toMatch(/warning: sympa1/);
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
    expect(mismatches(await probeOnOwnGateway(accepted), () => ACCEPTED)).toEqual([]);
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
    expect(mismatches(await probeOnOwnGateway(rejected), unknownReply)).toEqual([]);
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
    expect(mismatches(await probeOnOwnGateway(sympaAddresses(created)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(sympaAddresses(closed)), () => ACCEPTED)).toEqual([]);

    expectSuccess(await runPlaybook(lab, 'playbooks/sync.yml'));
    sympaLists = [...sympaLists.filter((list) => list !== closed), created];

    expect(mismatches(await probeOnOwnGateway(sympaAddresses(created)), () => ACCEPTED)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(sympaAddresses(closed)), unknownReply)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(sympaLists.flatMap(sympaAddresses)), () => ACCEPTED)).toEqual([]);
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
