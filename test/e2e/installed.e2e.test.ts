/**
 * Production as docs/production.md sets it up, end to end on the lab, with
 * nothing of this checkout on the way:
 *
 * - the CLI from `npm pack`, installed with `npm install -g --omit=dev` into a
 *   temporary prefix, found on PATH by the playbooks (no rcptsync_command);
 * - the collection from `ansible-galaxy collection build`, installed into a
 *   temporary collections path, run by name: `ansible-playbook rcptsync.rcptsync.sync`;
 * - the inventory in its own directory (the inventory repository), outside the checkout;
 * - on list1 an unprivileged collector (`rcptsync`, which exists only there) with
 *   examples/production/sudoers as its only sudo rule, so the default mailman3
 *   source (`sudo -n -u list mailman lists`) reads the real Mailman 3;
 * - list1 reached only through a jump host: a second sshd on gw2 where the key may
 *   only forward to list1's sshd (`restrict,port-forwarding,permitopen=`).
 *
 * - on the control node, rcptsync and ansible-playbook run as an unprivileged user
 *   (nobody, standing in for the docs' rcptsync account) holding the key in a home of
 *   its own. No account is made on this machine for it: useradd and userdel replace
 *   /etc/passwd, which detaches the private copies that running labs (this one's
 *   list1 and gw2, and other suites') have mounted over it.
 *
 * Then SMTP probes at RCPT time on both gateways: 250 for list addresses, 550 for unknown ones.
 *
 * Its own lab (dir, bridge rsbr2, namespaces rsin-*, 10.213.2.0/24), so it runs beside the other suites' labs.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { buildAndInstallCollection, cleanEnv, packAndInstallCli, runIn, type InstalledCollection, type PackedCli } from '../helpers/install.js';
import { parseRecap } from '../lab/ansible.mjs';
import { ALIAS_KEYS, INITIAL_LISTS, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';

const NETWORK = { bridge: 'rsbr2', netnsPrefix: 'rsin-', subnet: '10.213.2' };
const LAB_DIR = '/var/tmp/rcptsync-lab-installed';
const COLLECTOR = 'rcptsync';
const BASTION_USER = 'bastion';
const BASTION_PORT = 2222;
const DOMAINS = ['lists.example.test', 'news.example.test'];
/** The job's user on the control node (the docs' rcptsync): an unprivileged account every Debian has. */
const CONTROL_USER = 'nobody';

let dir: string;
let cli: PackedCli;
let collection: InstalledCollection;
let lab: Lab;
let site: string;
let env: NodeJS.ProcessEnv;

/** ansible-playbook or rcptsync as the nightly job runs them: as its user, from the inventory repository, the installed pieces on the paths. */
function operator(command: string, args: string[]) {
  // setpriv keeps the environment (runuser would reset HOME to nobody's /nonexistent).
  return runIn('/usr/bin/setpriv', ['--reuid', CONTROL_USER, '--regid', 'nogroup', '--clear-groups', command, ...args], site, env, 300_000);
}

const describeRun = (result: { status: number; stdout: string; stderr: string }) =>
  `exit ${result.status}\n--- stdout (tail) ---\n${result.stdout.slice(-6000)}\n--- stderr (tail) ---\n${result.stderr.slice(-3000)}`;

async function reply(gateway: string, address: string): Promise<string> {
  return (await probeRecipients(lab.host(gateway).address, [address]))[0]?.text ?? '';
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-installed-'));
  chmodSync(dir, 0o755); // the job's user reads the installed pieces and the inventory
  cli = packAndInstallCli(join(dir, 'npm'));
  collection = buildAndInstallCollection(join(dir, 'galaxy'));

  lab = await startLab({
    dir: LAB_DIR,
    network: NETWORK,
    users: {
      list1: { user: COLLECTOR, sudoers: readFileSync(join(REPO, 'examples', 'production', 'sudoers'), 'utf8') },
      gw2: { user: BASTION_USER },
    },
  });
  const list1 = lab.listServer;
  const gw2 = lab.host('gw2');

  // The job's user, its key and known_hosts (docs/production.md, step 3).
  const home = join(dir, 'home');
  mkdirSync(home);
  const ids = spawnSync('id', ['-u', CONTROL_USER], { encoding: 'utf8' }).stdout.trim();
  const uid = Number(ids);
  const gid = Number(spawnSync('id', ['-g', CONTROL_USER], { encoding: 'utf8' }).stdout.trim());
  const own = (path: string, mode: number) => {
    chownSync(path, uid, gid);
    chmodSync(path, mode);
  };
  own(home, 0o750);
  const remoteTmp = join(dir, 'remote-tmp');
  mkdirSync(remoteTmp);
  chmodSync(remoteTmp, 0o1777);
  mkdirSync(join(home, '.ssh'));
  own(join(home, '.ssh'), 0o700);
  // The job's own key, made by the job's user without a passphrase, authorized on the lab's hosts.
  const key = join(home, '.ssh', 'rcptsync_ed25519');
  const keygen = spawnSync('/usr/bin/setpriv', ['--reuid', CONTROL_USER, '--regid', 'nogroup', '--clear-groups', 'ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'rcptsync@control', '-f', key], { encoding: 'utf8' });
  if (keygen.status !== 0) throw new Error(`ssh-keygen as ${CONTROL_USER}: ${keygen.stderr}`);
  const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
  appendFileSync(join(lab.controlDir, 'authorized_keys'), `${publicKey}\n`);
  // The bastion's key line of docs/production.md: forwarding to list1's sshd only, no command, no shell.
  await lab.startBastion('gw2', {
    port: BASTION_PORT,
    authorizedKeys: `restrict,port-forwarding,permitopen="${list1.address}:22",command="/usr/sbin/nologin" ${publicKey}\n`,
  });
  const state = join(dir, 'var');
  mkdirSync(state);
  own(state, 0o750);

  // The operator's inventory repository: its own directory, nothing of the checkout in it.
  site = join(dir, 'site');
  const inventory = join(site, 'inventory');
  mkdirSync(join(inventory, 'group_vars'), { recursive: true });
  mkdirSync(join(inventory, 'host_vars'), { recursive: true });
  // Host keys by ssh-keyscan, checked against the keys the lab generated (the out-of-band check).
  const knownHosts = join(home, '.ssh', 'known_hosts');
  const scan = (...args: string[]) => {
    const result = spawnSync('ssh-keyscan', ['-T', '5', '-t', 'ed25519', ...args], { encoding: 'utf8' });
    return result.stdout.split('\n').filter((line) => line && !line.startsWith('#'));
  };
  const scanned = [...scan(list1.address, ...lab.gateways.map((gateway) => gateway.address)), ...scan('-p', String(BASTION_PORT), gw2.address)];
  const labKeys = readFileSync(lab.knownHostsFile, 'utf8').trim().split('\n');
  const gw2Key = labKeys.find((line) => line.startsWith(`${gw2.address} `))!.split(' ').slice(1).join(' ');
  if ([...scanned].sort().join('\n') !== [...labKeys, `[${gw2.address}]:${BASTION_PORT} ${gw2Key}`].sort().join('\n')) {
    throw new Error(`ssh-keyscan found other host keys than the lab made:\n${scanned.join('\n')}`);
  }
  writeFileSync(knownHosts, `${scanned.join('\n')}\n`);
  own(knownHosts, 0o644);
  const yaml = (file: string, value: unknown) => writeFileSync(join(inventory, file), stringify(value));
  yaml('hosts.yml', {
    all: {
      children: {
        list_servers: { hosts: { list1: { ansible_host: list1.address } } },
        mail_gateways: { hosts: Object.fromEntries(lab.gateways.map((gateway) => [gateway.name, { ansible_host: gateway.address }])) },
      },
    },
  });
  yaml('group_vars/all.yml', {
    ansible_ssh_private_key_file: key,
    ansible_python_interpreter: '/usr/bin/python3',
    rcptsync_known_hosts_file: knownHosts,
    rcptsync_rendered_dir: join(dir, 'var', 'rendered'),
    rcptsync_state_dir: join(dir, 'var', 'state'),
  });
  yaml('group_vars/list_servers.yml', {
    ansible_user: COLLECTOR,
    rcptsync_connect_timeout: 5,
    rcptsync_domains: DOMAINS,
    rcptsync_sources: [{ type: 'mailman3' }, { type: 'aliases', path: lab.aliasesFile, domains: ['lists.example.test'] }],
  });
  yaml('host_vars/list1.yml', { ansible_ssh_common_args: `-o ProxyJump=${BASTION_USER}@${gw2.address}:${BASTION_PORT}` });
  yaml('group_vars/mail_gateways.yml', {
    ansible_user: 'root',
    ansible_ssh_common_args: `-o UserKnownHostsFile=${knownHosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5`,
  });
  for (const gateway of lab.gateways) {
    yaml(`host_vars/${gateway.name}.yml`, {
      rcptsync_relay_domains: Object.fromEntries(gateway.domains.map((domain) => [domain, `smtp:[${list1.address}]:25`])),
    });
  }

  env = cleanEnv({
    HOME: home,
    USER: CONTROL_USER,
    LOGNAME: CONTROL_USER,
    PATH: `${cli.bin}:/usr/local/bin:/usr/bin:/bin`,
    ANSIBLE_COLLECTIONS_PATH: collection.collectionsPath,
    // nobody's passwd home (/nonexistent) does not exist: Ansible's files go to the job's own home, and
    // its remote temporary directories (~ of the login user, also on the control node for delegated
    // tasks) to a directory of the test's (the gateways share this file system outside their own trees).
    ANSIBLE_SSH_CONTROL_PATH_DIR: join(home, '.ansible', 'cp'),
    ANSIBLE_LOCAL_TEMP: join(home, '.ansible', 'tmp'),
    ANSIBLE_REMOTE_TEMP: remoteTmp,
    ANSIBLE_RETRY_FILES_ENABLED: '0',
  });
}, 600_000);

afterAll(async () => {
  await lab?.stop();

  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the installed CLI and collection against the lab', () => {
  it('the collector on list1 is not root and may run exactly `mailman lists` as list', async () => {
    const { stdout } = await lab.exec('list1', `runuser -u ${COLLECTOR} -- id -u; runuser -u ${COLLECTOR} -- sudo -n -l`);
    expect(stdout).toMatch(/^6490\d\n/);
    expect(stdout).toContain('(list) NOPASSWD: /usr/bin/mailman lists');
    const other = await lab.exec('list1', `runuser -u ${COLLECTOR} -- sudo -n -u list mailman lists --advertised`, { check: false });
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/password is required|not allowed/);
  });

  it('doctor, as the job\'s user, passes every check through the jump host, with the sudo rule', () => {
    const result = operator('rcptsync', ['doctor', '-i', 'inventory']);
    expect(result.stdout).toMatch(/^PASS list1 key: .*rcptsync_ed25519 \(ssh-ed25519, mode 0600\)$/m);
    expect(result.stdout).toMatch(new RegExp(`^PASS list1 ssh: authenticated as ${COLLECTOR}@${lab.listServer.address}:22 via jump host ${BASTION_USER}@${lab.host('gw2').address}:${BASTION_PORT}`, 'm'));
    expect(result.stdout).toMatch(/^PASS list1 sources\[0\] \(mailman3\): sudo -n -u list mailman lists: exit 0/m);
    expect(result.stdout).not.toMatch(/^(FAIL|SKIP)/m);
    expect(result.status, result.stdout + result.stderr).toBe(0);
  }, 60_000);

  it('ansible-playbook rcptsync.rcptsync.sync collects, renders with the CLI on PATH and publishes on both gateways', async () => {
    const result = operator('ansible-playbook', ['-v', '-i', 'inventory', 'rcptsync.rcptsync.sync']);
    expect(result.status, describeRun(result)).toBe(0);
    expect(result.stderr).toContain('running playbook inside collection rcptsync.rcptsync');
    // rcptsync_command was not set: the playbook ran the installed rcptsync from PATH.
    expect(result.stdout).toMatch(/"cmd": \[\s*"rcptsync",\s*"sync",/);
    // ... as the job's user, which owns what it wrote.
    expect(statSync(join(dir, 'var', 'rendered', 'manifest.json')).uid).toBe(Number(spawnSync('id', ['-u', CONTROL_USER], { encoding: 'utf8' }).stdout.trim()));
    const recap = parseRecap(result.stdout);
    for (const host of ['localhost', 'gw1', 'gw2']) expect(recap[host], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });

    // list1 saw the collector, coming from the bastion on gw2, never root and never the control node directly.
    const list1Log = readFileSync(join(lab.listServer.root, 'ssh', 'sshd.log'), 'utf8');
    expect(list1Log).toMatch(new RegExp(`Accepted publickey for ${COLLECTOR} from ${lab.host('gw2').address.replaceAll('.', '\\.')} `));
    expect(list1Log).not.toMatch(/Accepted publickey for root/);
    expect(list1Log).not.toMatch(new RegExp(`Accepted publickey for \\S+ from ${lab.controlAddress.replaceAll('.', '\\.')} `));
    const bastionLog = readFileSync(join(lab.host('gw2').root, 'ssh', `bastion-${BASTION_PORT}.log`), 'utf8');
    expect(bastionLog).toMatch(new RegExp(`Accepted publickey for ${BASTION_USER} from ${lab.controlAddress.replaceAll('.', '\\.')} `));

    const table = readFileSync(join(dir, 'var', 'rendered', 'gw1', 'relay_recipients'), 'utf8');
    const keys = table.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(/\s+/)[0]);
    for (const list of INITIAL_LISTS.filter((list) => list.endsWith('@lists.example.test'))) expect(keys).toEqual(expect.arrayContaining(mailman3Addresses(list)));
    expect(keys).toEqual(expect.arrayContaining(ALIAS_KEYS.map((key) => `${key}@lists.example.test`)));
  }, 300_000);

  it('the gateways answer 250 for list addresses and 550 for unknown ones', async () => {
    expect(await reply('gw1', 'announce@lists.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('gw1', 'dev-bounces+someone=example.org@lists.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('gw1', 'sales@lists.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('gw1', 'nosuchlist@lists.example.test')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
    expect(await reply('gw2', 'weekly@news.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('gw2', 'nosuchlist@news.example.test')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
  }, 60_000);

  it('ansible-playbook rcptsync.rcptsync.verify passes', () => {
    const result = operator('ansible-playbook', ['-i', 'inventory', 'rcptsync.rcptsync.verify']);
    expect(result.status, describeRun(result)).toBe(0);
    for (const gateway of ['gw1', 'gw2']) expect(result.stdout).toMatch(new RegExp(`${gateway}: \\d+ probes answered as expected`));
  }, 120_000);
});
