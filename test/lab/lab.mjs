/**
 * The end-to-end lab: a list server and two mail gateways on this machine, each a
 * network namespace with a private address on a bridge that exists only here, its
 * own mount namespace (private /etc/postfix and friends, bind-mounted from a
 * per-host directory) and a real OpenSSH sshd. The root namespace is the control
 * node (10.213.0.1). The namespaces have no default route: nothing can leave them.
 *
 * Plain ESM with JSDoc so that vitest and the demo can both import it uncompiled.
 * Needs root, iproute2, util-linux (unshare, nsenter), openssh-server, postfix and
 * mailman3 (and sympa for a Sympa list server, `sympa`: its trees bind-mounted too). Labs with different `network` options (bridge, namespace prefix,
 * subnet) run side by side and start and stop in any order; a lab left over by a
 * killed run on the same network is removed when the next one starts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { run, sleep } from './run.mjs';
import { EXIM_TREES, START_EXIM, ensureExim, eximOverlayCommand, prepareEximTrees } from './exim.mjs';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (test/lab/ is two levels down). */
export const REPO_ROOT = resolve(here, '..', '..');

export const BRIDGE = 'rsbr0';
export const NETNS_PREFIX = 'rslab-';
export const CONTROL_ADDRESS = '10.213.0.1';
export const DEFAULT_LAB_DIR = '/var/tmp/rcptsync-lab';
const LAB_MARKER = '.rcptsync-lab';

/** Mailman 3's sub-addresses of every list (besides the posting address). */
export const MAILMAN3_SUFFIXES = ['bounces', 'confirm', 'join', 'leave', 'owner', 'request', 'subscribe', 'unsubscribe'];

/** Lists created when the lab starts: two domains, each relayed by its own gateway. */
export const INITIAL_LISTS = [
  'announce@lists.example.test',
  'dev@lists.example.test',
  'help@lists.example.test',
  'users@lists.example.test',
  'alerts@news.example.test',
  'weekly@news.example.test',
];

/** Domain of the aliases file, and the keys rcptsync must find in it. */
export const ALIASES_DOMAIN = 'lists.example.test';
export const ALIAS_KEYS = ['info', 'sales', 'support', 'webmaster'];
const ALIASES_FILE_TEXT = `# Local aliases of the list server, served for ${ALIASES_DOMAIN} as well.
# Written like /etc/aliases: comments, continuation lines, several targets.
info: office@example.org
sales: alice@example.org,
  bob@example.org
support:	carol@example.org,
	dave@example.org, erin@example.org
webmaster: root
`;

/**
 * @typedef {'list' | 'gateway'} HostRole
 * @typedef {object} LabHost
 * @property {string} name inventory name (list1, gw1, gw2)
 * @property {string} address its private address on the lab bridge
 * @property {HostRole} role
 * @property {string[]} domains the domains a gateway relays (empty for the list server)
 * @property {string} netns network namespace name
 * @property {string} root directory holding the host's bind-mounted trees and its sshd files
 * @property {string[]} mounts absolute paths inside the host that are private to it
 * @property {number} holderPid process that keeps the host's mount namespace alive
 * @property {'postfix' | 'exim'} mta a gateway's MTA (LabOptions.gatewayMtas); 'postfix' for the list server
 */

/** @type {Array<{ name: string, address: string, role: HostRole, domains: string[] }>} */
const HOST_PLAN = [
  { name: 'list1', address: '10.213.0.11', role: 'list', domains: [] },
  { name: 'gw1', address: '10.213.0.21', role: 'gateway', domains: ['lists.example.test'] },
  { name: 'gw2', address: '10.213.0.22', role: 'gateway', domains: ['news.example.test'] },
];

const POSTFIX_TREES = ['/etc/postfix', '/var/spool/postfix', '/var/lib/postfix'];
/** Private to a host with its own users (LabOptions.gatewayLogins, LabOptions.users). */
const LOGIN_TREES = ['/etc/passwd', '/etc/shadow', '/etc/group', '/etc/sudoers.d'];
const MAILMAN_TREES = ['/etc/mailman3', '/var/lib/mailman3'];
/** Inside list1; the inventory's command names it, so it is the same everywhere. */
export const MAILMAN_CONFIG = '/etc/mailman3/mailman.cfg';
/** Sympa's configuration, data and spools, private to a Sympa host (LabOptions.sympa) and seeded from the machine's. */
const SYMPA_TREES = ['/etc/sympa', '/var/lib/sympa', '/var/spool/sympa', '/etc/mail/sympa'];
/** Sympa's virtual-domain setting for Postfix (its guide): the transport map it maintains, one line per address. */
export const SYMPA_TRANSPORT = '/etc/sympa/sympa_transport';
/** The list_aliases.tt2 of Sympa's Postfix guide: -subscribe is commented out, as in Debian's. */
export const SYMPA_LIST_ALIASES_TT2 = `#--- [% list.name %]@[% list.domain %]: list transport map created at [% date %]
[% list.name %]@[% list.domain %] sympa:[% list.name %]@[% list.domain %]
[% list.name %]-request@[% list.domain %] sympa:[% list.name %]-request@[% list.domain %]
[% list.name %]-editor@[% list.domain %] sympa:[% list.name %]-editor@[% list.domain %]
#[% list.name %]-subscribe@[% list.domain %] sympa:[% list.name %]-subscribe@[%list.domain %]
[% list.name %]-unsubscribe@[% list.domain %] sympa:[% list.name %]-unsubscribe@[% list.domain %]
[% list.name %][% return_path_suffix %]@[% list.domain %] sympabounce:[% list.name %]@[% list.domain %]
`;
/** The service addresses that template gives each list (besides the posting address). */
export const SYMPA_SUFFIXES = ['request', 'editor', 'unsubscribe', 'owner'];

/**
 * @typedef {object} LabOptions
 * @property {string} [dir] where the lab keeps its files (default /var/tmp/rcptsync-lab; removed on stop)
 * @property {string[]} [lists] lists to create at start (default INITIAL_LISTS)
 * @property {Record<string, unknown>} [gatewayVars] extra variables for the mail_gateways group
 * @property {Record<string, unknown>} [extraVars] extra playbook variables (merged into extra-vars.yml)
 * @property {Record<string, GatewaySite>} [gatewaySites] per gateway name: the site's own Postfix configuration
 *   before rcptsync (a gateway that already carries mail)
 * @property {Record<string, string>} [gatewayLogins] per gateway name: an unprivileged user Ansible logs in as
 *   (with sudo to root, `ansible_become`) instead of root. The user exists only inside that gateway: its
 *   /etc/passwd, /etc/shadow, /etc/group and /etc/sudoers.d are private copies
 * @property {Record<string, LabUser>} [users] per host name (list1 too): an unprivileged user that exists only
 *   inside that host (private account files, as for gatewayLogins), with exactly the sudo rules given, e.g.
 *   a collector on list1 with examples/production/sudoers, or a bastion user on a gateway
 * @property {Record<string, 'postfix' | 'exim'>} [gatewayMtas] per gateway name: its MTA (default postfix). An Exim
 *   gateway runs Debian's exim4 from unpacked packages (exim.mjs) and gets `rcptsync_mta: exim` in the inventory
 * @property {Record<string, import('./exim.mjs').EximSite>} [eximSites] per Exim gateway: its site configuration
 * @property {(message: string) => void} [log] progress messages
 * @property {Partial<LabNetwork>} [network] names and addresses (default rsbr0, rslab-*, 10.213.0.0/24); give a
 *   second lab (a benchmark beside the suite) its own, or the two tear each other down
 * @property {Array<{ name: string, domains: string[] }>} [gateways] the gateways and the domains each relays, in
 *   place of gw1 (lists.example.test) and gw2 (news.example.test); addresses .21, .22, ... of the subnet (at most 40)
 * @property {SympaHost} [sympa] a second list server, sympa1 (.12), running real Sympa beside list1's Mailman
 */

/**
 * @typedef {object} SympaHost
 * @property {string[]} robots its robots' domains; the first is sympa.conf's main `domain`, the others virtual robots
 * @property {string[]} lists lists to create at start, `name@robot`
 */

/**
 * @typedef {object} LabUser
 * @property {string} user its name
 * @property {string} [sudoers] the text of its file in the host's private /etc/sudoers.d (none when omitted)
 */

/**
 * @typedef {object} GatewaySite
 * @property {string[]} mainCf lines appended to the gateway's main.cf, e.g. its own relay_domains
 * @property {Record<string, string>} [files] files under the gateway's /etc/postfix (relative path to content),
 *   e.g. its own recipient table
 */

/**
 * @typedef {object} LabNetwork
 * @property {string} bridge bridge in the root namespace (at most 15 characters)
 * @property {string} netnsPrefix prefix of the namespaces and of the control node's veth ends
 * @property {string} subnet first three octets of a private /24 that exists only on this machine, e.g. 10.213.0
 */

/** @type {LabNetwork} */
export const DEFAULT_NETWORK = { bridge: BRIDGE, netnsPrefix: NETNS_PREFIX, subnet: '10.213.0' };

/**
 * Starts the lab (as root). Removes a stale lab first; on failure tears down what
 * it built and rethrows.
 * @param {LabOptions} [options]
 * @returns {Promise<Lab>}
 */
export async function startLab(options = {}) {
  if (process.getuid?.() !== 0) throw new Error('the lab needs root (network and mount namespaces, sshd, postfix)');
  const lab = new Lab(options);
  await removeStaleLab(lab.dir, lab.network);
  try {
    await lab.build();
  } catch (error) {
    await lab.stop();
    throw error;
  }
  return lab;
}

export class Lab {
  /** @param {LabOptions} options */
  constructor(options) {
    this.dir = resolve(options.dir ?? DEFAULT_LAB_DIR);
    this.log = options.log ?? (() => {});
    this.initialLists = [...(options.lists ?? INITIAL_LISTS)];
    this.gatewayVars = options.gatewayVars ?? {};
    this.extraVars = options.extraVars ?? {};
    /** @type {Record<string, GatewaySite>} */
    this.gatewaySites = options.gatewaySites ?? {};
    /** @type {Record<string, string>} */
    this.gatewayLogins = options.gatewayLogins ?? {};
    /** @type {Record<string, 'postfix' | 'exim'>} */
    this.gatewayMtas = options.gatewayMtas ?? {};
    /** @type {Record<string, import('./exim.mjs').EximSite>} */
    this.eximSites = options.eximSites ?? {};
    /** The unpacked Exim packages, once build() fetched them (only with an Exim gateway). */
    this.eximRoot = '';
    /** @type {Record<string, LabUser[]>} per host: the accounts private to it */
    this.accounts = {};
    for (const [name, user] of Object.entries(this.gatewayLogins)) {
      (this.accounts[name] ??= []).push({ user, sudoers: `${user} ALL=(root) NOPASSWD: ALL\n` });
    }
    for (const [name, account] of Object.entries(options.users ?? {})) (this.accounts[name] ??= []).push(account);
    /** @type {SympaHost | undefined} */
    this.sympaHost = options.sympa ? { robots: options.sympa.robots.map((d) => d.toLowerCase()), lists: [...options.sympa.lists] } : undefined;
    /**
     * Variables added to `env` (and so to every playbook run), e.g. an Ansible
     * callback's settings for one run; set and reset it freely.
     * @type {NodeJS.ProcessEnv}
     */
    this.extraEnv = {};
    /** @type {LabNetwork} */
    this.network = { ...DEFAULT_NETWORK, ...options.network };
    this.controlAddress = `${this.network.subnet}.1`;
    this.bridge = this.network.bridge;
    const control = join(this.dir, 'control');
    this.controlDir = control;
    this.privateKeyFile = join(control, 'id_ed25519');
    this.knownHostsFile = join(control, 'known_hosts');
    this.inventoryFile = join(control, 'inventory.yml');
    this.extraVarsFile = join(control, 'extra-vars.yml');
    this.renderedDir = join(control, 'rendered');
    this.stateDir = join(control, 'state');
    this.aliasesFile = join(this.dir, 'hosts', 'list1', 'aliases');
    this.mailmanConfig = MAILMAN_CONFIG;
    /** The command rcptsync runs on list1 for its Mailman 3 source. */
    this.mailmanListsCommand = `runuser -u list -- mailman -C ${MAILMAN_CONFIG} lists`;
    /** @type {Record<string, LabHost>} */
    this.hosts = {};
    if (options.gateways && (options.gateways.length === 0 || options.gateways.length > 40)) {
      throw new Error(`a lab has 1 to 40 gateways, not ${options.gateways.length}`);
    }
    const hostPlan = options.gateways
      ? [
          /** @type {(typeof HOST_PLAN)[number]} */ (HOST_PLAN[0]),
          ...options.gateways.map((gateway, i) => ({
            name: gateway.name,
            address: `10.213.0.${21 + i}`,
            role: /** @type {HostRole} */ ('gateway'),
            domains: gateway.domains.map((domain) => domain.toLowerCase()),
          })),
        ]
      : HOST_PLAN;
    /** @type {typeof HOST_PLAN} */
    const sympaPlan = this.sympaHost ? [{ name: 'sympa1', address: '10.213.0.12', role: 'list', domains: [] }] : [];
    for (const plan of [/** @type {(typeof HOST_PLAN)[number]} */ (hostPlan[0]), ...sympaPlan, ...hostPlan.slice(1)]) {
      const root = join(this.dir, 'hosts', plan.name);
      const mta = plan.role === 'gateway' && this.gatewayMtas[plan.name] === 'exim' ? 'exim' : 'postfix';
      this.hosts[plan.name] = {
        ...plan,
        address: plan.address.replace(/^10\.213\.0\./, `${this.network.subnet}.`),
        netns: this.network.netnsPrefix + plan.name,
        root,
        mounts: [
          ...(mta === 'exim' ? EXIM_TREES : POSTFIX_TREES),
          ...(plan.name === 'sympa1' ? SYMPA_TREES : plan.role === 'list' ? MAILMAN_TREES : []),
          ...(this.accounts[plan.name] ? LOGIN_TREES : []),
        ],
        holderPid: 0,
        mta,
      };
    }
    this.stopped = false;
  }

  /** @returns {LabHost[]} */
  get gateways() {
    return Object.values(this.hosts).filter((host) => host.role === 'gateway');
  }

  /** @returns {LabHost} */
  get listServer() {
    return this.host('list1');
  }

  /** @param {string} name */
  host(name) {
    const host = this.hosts[name];
    if (!host) throw new Error(`no lab host named ${name}; hosts: ${Object.keys(this.hosts).join(', ')}`);
    return host;
  }

  /** The gateway that relays a domain. @param {string} domain */
  gatewayFor(domain) {
    const gateway = this.gateways.find((host) => host.domains.includes(domain.toLowerCase()));
    if (!gateway) throw new Error(`no lab gateway relays ${domain}`);
    return gateway;
  }

  /**
   * Where a path private to a host lives in the control node's file system
   * (e.g. gw1's /etc/postfix/main.cf). @param {string} name @param {string} path
   */
  hostPath(name, path) {
    const host = this.host(name);
    if (!host.mounts.some((tree) => path === tree || path.startsWith(tree + '/'))) {
      throw new Error(`${path} is not private to ${name}; private trees: ${host.mounts.join(', ')}`);
    }
    return join(host.root, 'fs', path);
  }

  /** Environment for ansible-playbook and rcptsync against this lab. @returns {NodeJS.ProcessEnv} */
  get env() {
    return {
      ...process.env,
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
      ANSIBLE_RETRY_FILES_ENABLED: '0',
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(this.controlDir, 'cp'),
      ANSIBLE_LOCAL_TEMP: join(this.controlDir, 'ansible-tmp'),
      ANSIBLE_HOST_KEY_CHECKING: 'True',
      ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
      ...this.extraEnv,
    };
  }

  /** argv of an ansible-playbook run against the lab (run it from the repository root). @param {string} playbook e.g. playbooks/sync.yml */
  playbookArgv(playbook) {
    return ['ansible-playbook', playbook, '-i', this.inventoryFile, '-e', `@${this.extraVarsFile}`];
  }

  /**
   * Runs a shell command inside a host (its network and mount namespaces), as root.
   * @param {string} name @param {string} command
   * @param {import('./run.mjs').RunOptions} [options]
   */
  exec(name, command, options = {}) {
    const host = this.host(name);
    return run('nsenter', ['-t', String(host.holderPid), '-n', '-m', '--wd=/', 'sh', '-c', command], options);
  }

  /** Runs OpenSSH's client into a host with the lab key, as root@host. @param {string} name @param {string} command @param {import('./run.mjs').RunOptions} [options] */
  ssh(name, command, options = {}) {
    return run('ssh', [...this.sshOptions(), `root@${this.host(name).address}`, command], options);
  }

  /** Options for OpenSSH's ssh/scp into the lab. */
  sshOptions() {
    return [
      '-i', this.privateKeyFile,
      '-o', `UserKnownHostsFile=${this.knownHostsFile}`,
      '-o', 'StrictHostKeyChecking=yes',
      '-o', 'IdentitiesOnly=yes',
      '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=5',
      '-o', 'LogLevel=ERROR',
    ];
  }

  /**
   * Runs the real `mailman` CLI on the list server as the list user,
   * e.g. `lab.mailman(['create', 'new@lists.example.test'])`. Throws on failure.
   * @param {string[]} args
   */
  mailman(args) {
    const quoted = args.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
    return this.exec('list1', `runuser -u list -- mailman -C ${MAILMAN_CONFIG} ${quoted}`);
  }

  /** The lists Mailman has now, from `mailman lists -q` (trailing padding trimmed). */
  async mailmanLists() {
    const { stdout } = await this.mailman(['lists', '-q']);
    return stdout.split('\n').map((line) => line.trim()).filter((line) => line.includes('@'));
  }

  /** Stops a host's sshd: the listener and every session, so the host is unreachable over SSH. @param {string} name */
  async stopSsh(name) {
    const host = this.host(name);
    await killNetnsProcesses(host.netns, (comm) => comm === 'sshd');
    await waitForPort(host.address, 22, { open: false, timeoutMs: 10_000 });
  }

  /** Starts a host's sshd again (same host key). @param {string} name */
  async startSsh(name) {
    const host = this.host(name);
    const sshDir = join(host.root, 'ssh');
    const logFd = openSync(join(sshDir, 'sshd.log'), 'a');
    try {
      const child = spawn('nsenter', ['-t', String(host.holderPid), '-n', '-m', '/usr/sbin/sshd', '-D', '-e', '-f', join(sshDir, 'sshd_config')], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      child.unref();
    } finally {
      closeSync(logFd);
    }
    await waitForPort(host.address, 22, { open: true, timeoutMs: 15_000, what: `${name}'s sshd (log: ${join(sshDir, 'sshd.log')})` });
  }

  /** Tears everything down: processes in the namespaces, namespaces, bridge, files. Idempotent. */
  async stop() {
    if (this.stopped) return;
    this.stopped = true;
    await removeStaleLab(this.dir, this.network);
  }

  /** Builds the lab; startLab() calls it once. */
  async build() {
    this.log(`lab: building in ${this.dir}`);
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    chmodSync(this.dir, 0o755); // the list user reaches its trees through it
    writeFileSync(join(this.dir, LAB_MARKER), 'rcptsync end-to-end lab; removed by lab.stop()\n');
    mkdirSync(join(this.controlDir, 'cp'), { recursive: true });
    mkdirSync(join(this.controlDir, 'ansible-tmp'), { recursive: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rcptsync-lab-control', '-f', this.privateKeyFile]);
    writeFileSync(join(this.controlDir, 'authorized_keys'), readFileSync(`${this.privateKeyFile}.pub`));

    await this.buildNetwork();
    const hosts = Object.values(this.hosts);
    if (hosts.some((host) => host.mta === 'exim')) this.eximRoot = await ensureExim(this.log);
    for (const host of hosts) this.prepareTrees(host);
    await Promise.all(hosts.map((host) => this.startHolder(host)));

    const knownHosts = await Promise.all(hosts.map((host) => this.prepareSsh(host)));
    writeFileSync(this.knownHostsFile, knownHosts.join(''));
    this.writeInventory();

    await Promise.all([
      ...hosts.map((host) => this.startSsh(host.name)),
      ...this.gateways.map((host) => (host.mta === 'exim' ? this.startExim(host) : this.startPostfix(host))),
      this.seedMailman(),
      this.seedSympa(),
    ]);
    this.log(`lab: up (${hosts.map((host) => `${host.name} ${host.address}`).join(', ')})`);
  }

  /** Bridge, namespaces, veth pairs and addresses. @protected */
  async buildNetwork() {
    await run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${this.controlAddress}/24`, 'dev', this.bridge]);
    await run('ip', ['link', 'set', this.bridge, 'up']);
    for (const host of Object.values(this.hosts)) {
      const ns = host.netns;
      await run('ip', ['netns', 'add', ns]);
      await run('ip', ['link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await run('ip', ['link', 'set', ns, 'master', this.bridge, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      // No default route: only the lab's /24 is reachable from inside.
    }
  }

  /** Per-host copies of the trees that will be bind-mounted over the real ones. @private @param {LabHost} host */
  prepareTrees(host) {
    const fs = join(host.root, 'fs');
    if (host.mta === 'exim') {
      prepareEximTrees(fs, this.eximRoot, host, this.listServer.address, this.eximSites[host.name]);
      (this.accounts[host.name] ?? []).forEach((account, index) => this.prepareLogin(host, account, index));
      return;
    }
    const etcPostfix = join(fs, 'etc/postfix');
    mkdirSync(etcPostfix, { recursive: true });
    // master.cf, dynamicmaps.cf (lmdb, cdb), postfix-files: everything but main.cf.
    cpSync('/etc/postfix', etcPostfix, { recursive: true, preserveTimestamps: true, filter: (src) => !src.endsWith('/main.cf') });
    mkdirSync(join(fs, 'var/spool/postfix'), { recursive: true, mode: 0o755 });
    const varLibPostfix = join(fs, 'var/lib/postfix');
    mkdirSync(varLibPostfix, { recursive: true });
    chownSync(varLibPostfix, uid('postfix'), gid('postfix'));
    writeFileSync(join(etcPostfix, 'main.cf'), host.role === 'gateway' ? gatewayMainCf(host, this.controlAddress) : listServerMainCf(host));
    (this.accounts[host.name] ?? []).forEach((account, index) => this.prepareLogin(host, account, index));
    const site = host.role === 'gateway' ? this.gatewaySites[host.name] : undefined;
    if (site) {
      writeFileSync(join(etcPostfix, 'main.cf'), `# The site's own settings, before rcptsync.\n${site.mainCf.join('\n')}\n`, { flag: 'a' });
      for (const [path, text] of Object.entries(site.files ?? {})) {
        mkdirSync(dirname(join(etcPostfix, path)), { recursive: true });
        writeFileSync(join(etcPostfix, path), text);
      }
    }

    if (host.name === 'sympa1') {
      this.prepareSympa(host);
    } else if (host.role === 'list') {
      const etcMailman = join(fs, 'etc/mailman3');
      mkdirSync(etcMailman, { recursive: true });
      writeFileSync(join(etcMailman, 'mailman.cfg'), mailmanCfg(host), { mode: 0o644 });
      const varLibMailman = join(fs, 'var/lib/mailman3');
      mkdirSync(varLibMailman, { recursive: true, mode: 0o755 });
      chownSync(varLibMailman, uid('list'), gid('list'));
      writeFileSync(this.aliasesFile, ALIASES_FILE_TEXT);
      copyFileSync(join(here, 'mailman-seed.py'), join(host.root, 'mailman-seed.py'));
    }
  }

  /**
   * A process in the host's network namespace and in a private mount namespace
   * where the host's trees are bind-mounted; every command for the host enters
   * its namespaces. The new mount namespace starts with a copy of every
   * /run/netns/* mount, i.e. a reference to every named network namespace on the
   * machine (another lab's too); the holder drops them first so that it never
   * keeps another lab's namespaces or veths alive. @private @param {LabHost} host
   */
  async startHolder(host) {
    const pidFile = join(host.root, 'holder.pid');
    // mountinfo escapes spaces as \040; unmount the deepest first.
    const dropNetnsMounts =
      `awk '$5 ~ "^/run/netns/." { gsub(/\\\\040/, " ", $5); print $5 }' /proc/self/mountinfo | sort -r | ` +
      // Another lab may delete its namespace meanwhile: a mount that is gone is no failure.
      `{ while IFS= read -r m; do umount -l "$m" 2>/dev/null || ! grep -qF " $m " /proc/self/mountinfo || exit 1; done; }`;
    const binds = host.mounts.map((tree) => `mount --bind '${join(host.root, 'fs', tree)}' '${tree}'`).join(' && ');
    const overlay = host.mta === 'exim' ? `${eximOverlayCommand(this.eximRoot)} && ` : '';
    const script = `${dropNetnsMounts} && ${overlay}${binds} && echo $$ > '${pidFile}' && exec sleep infinity`;
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
      if (Date.now() > deadline) {
        throw new Error(`${host.name}: the namespace holder did not start: ${readFileSync(join(host.root, 'holder.log'), 'utf8')}`);
      }
      await sleep(20);
    }
    host.holderPid = Number(readFileSync(pidFile, 'utf8').trim());
  }

  /**
   * An unprivileged login user that exists only inside the host (private copies of
   * the account files, made from the machine's on the first user), with a home for
   * Ansible's temporary files and the given sudo rules.
   * @private @param {LabHost} host @param {LabUser} account @param {number} index
   */
  prepareLogin(host, { user, sudoers }, index) {
    const fs = join(host.root, 'fs');
    const id = 64900 + index;
    const home = join(host.root, 'home', user);
    mkdirSync(join(fs, 'etc', 'sudoers.d'), { recursive: true, mode: 0o755 });
    if (index === 0) for (const file of ['passwd', 'group', 'shadow']) copyFileSync(`/etc/${file}`, join(fs, 'etc', file));
    mkdirSync(home, { recursive: true, mode: 0o755 });
    chownSync(home, id, id);
    // An account of the same name on the machine (another test's) is not this host's.
    const append = (/** @type {string} */ file, /** @type {string} */ line, /** @type {number} */ mode) => {
      const others = readFileSync(join(fs, file), 'utf8').split('\n').filter((entry) => entry !== '' && !entry.startsWith(`${user}:`));
      writeFileSync(join(fs, file), `${[...others, line].join('\n')}\n`, { mode });
      chmodSync(join(fs, file), mode);
    };
    append('/etc/passwd', `${user}:x:${id}:${id}:rcptsync lab user:${home}:/bin/sh`, 0o644);
    append('/etc/group', `${user}:x:${id}:`, 0o644);
    // "*": no password, but not a locked account (sshd refuses "!").
    append('/etc/shadow', `${user}:*:19000:0:99999:7:::`, 0o640);
    chownSync(join(fs, 'etc/shadow'), 0, groupId('shadow'));
    if (sudoers !== undefined) {
      const file = join(fs, 'etc', 'sudoers.d', index === 0 ? 'rcptsync-lab' : `rcptsync-lab-${user}`);
      writeFileSync(file, sudoers, { mode: 0o440 });
      chmodSync(file, 0o440);
    }
  }

  /**
   * A second sshd on a host, e.g. a bastion on a gateway: its own port, the host's
   * own host key, TCP forwarding allowed, and only the keys of `authorizedKeys`
   * (write them with their options, e.g. restrict,port-forwarding,permitopen=...).
   * Returns its known_hosts line (`[address]:port key`). Stopped with the lab.
   * @param {string} name @param {{ port: number, authorizedKeys: string }} options
   */
  async startBastion(name, { port, authorizedKeys }) {
    const host = this.host(name);
    const sshDir = join(host.root, 'ssh');
    // sshd reads it as the user: not in the host's ssh/ (0700, root's).
    const keysFile = join(host.root, `bastion-${port}.authorized_keys`);
    writeFileSync(keysFile, authorizedKeys, { mode: 0o644 });
    const configFile = join(sshDir, `bastion-${port}.sshd_config`);
    writeFileSync(
      configFile,
      readFileSync(join(sshDir, 'sshd_config'), 'utf8')
        .replace(/^ListenAddress .*$/m, `ListenAddress ${host.address}:${port}`)
        .replace(/^AuthorizedKeysFile .*$/m, `AuthorizedKeysFile ${keysFile}`)
        .replace(/^AllowTcpForwarding no$/m, 'AllowTcpForwarding yes'),
    );
    await run('/usr/sbin/sshd', ['-t', '-f', configFile]);
    const logFile = join(sshDir, `bastion-${port}.log`);
    const logFd = openSync(logFile, 'a');
    try {
      const child = spawn('nsenter', ['-t', String(host.holderPid), '-n', '-m', '/usr/sbin/sshd', '-D', '-e', '-f', configFile], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      child.unref();
    } finally {
      closeSync(logFd);
    }
    await waitForPort(host.address, port, { open: true, timeoutMs: 15_000, what: `${name}'s bastion sshd (log: ${logFile})` });
    const publicKey = readFileSync(join(sshDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    return `[${host.address}]:${port} ${publicKey}\n`;
  }

  /** Host key and sshd_config; returns the host's known_hosts line. @private @param {LabHost} host */
  async prepareSsh(host) {
    const sshDir = join(host.root, 'ssh');
    mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    const hostKey = join(sshDir, 'ssh_host_ed25519_key');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${host.name}-host-key`, '-f', hostKey]);
    const config = [
      `ListenAddress ${host.address}:22`,
      `HostKey ${hostKey}`,
      'PidFile none',
      `AuthorizedKeysFile ${join(this.controlDir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The lab's files sit under /var/tmp, which StrictModes would refuse.
      'StrictModes no',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'PrintMotd no',
      'MaxStartups 100:30:200',
      'MaxSessions 50',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n');
    const configFile = join(sshDir, 'sshd_config');
    writeFileSync(configFile, config);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    await run('/usr/sbin/sshd', ['-t', '-f', configFile]);
    const publicKey = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    return `${host.address} ${publicKey}\n`;
  }

  /** @private @param {LabHost} host */
  async startPostfix(host) {
    await this.exec(host.name, "postconf -F '*/*/chroot = n' && postfix check && postfix start");
    await waitForPort(host.address, 25, { open: true, timeoutMs: 15_000, what: `${host.name}'s postfix (log: ${this.hostPath(host.name, '/var/lib/postfix/maillog')})` });
  }

  /** Debian's update-exim4.conf, then the daemon (it detaches). @private @param {LabHost} host */
  async startExim(host) {
    await this.exec(host.name, START_EXIM);
    await waitForPort(host.address, 25, { open: true, timeoutMs: 15_000, what: `${host.name}'s exim (log: ${this.hostPath(host.name, '/var/log/exim4/mainlog')})` });
  }

  /**
   * Sympa's trees for sympa1, copied from the machine's (as the package left them) and then made its own: a
   * sympa.conf on SQLite in its /var/lib/sympa, Sympa's virtual-domain setting (it keeps SYMPA_TRANSPORT and runs
   * postmap on it), a robot.conf per virtual robot, and a sendmail that discards Sympa's notifications.
   * @private @param {LabHost} host
   */
  prepareSympa(host) {
    const sympa = /** @type {SympaHost} */ (this.sympaHost);
    const fs = join(host.root, 'fs');
    for (const tree of SYMPA_TREES) cpSync(tree, join(fs, tree), { recursive: true, preserveTimestamps: true });
    const etc = join(fs, 'etc/sympa');
    const [main, ...virtual] = sympa.robots;
    const discard = join(host.root, 'discard-mail');
    writeFileSync(discard, '#!/bin/sh\n# The lab list server sends no mail: Sympa\'s notifications end here.\ncat >/dev/null\n', { mode: 0o755 });
    writeFileSync(
      join(etc, 'sympa', 'sympa.conf'),
      [
        '# Private Sympa configuration of the lab list server sympa1 (SQLite, no running service).',
        `domain\t${main}`,
        `listmaster\tlistmaster@${main}`,
        'lang\ten_US',
        'db_type\tSQLite',
        'db_name\t/var/lib/sympa/sympa.sqlite',
        `sendmail_aliases\t${SYMPA_TRANSPORT}`,
        'aliases_program\tpostmap',
        'aliases_db_type\thash',
        `sendmail\t${discard}`,
        '',
      ].join('\n'),
    );
    writeFileSync(join(etc, 'list_aliases.tt2'), SYMPA_LIST_ALIASES_TT2);
    writeFileSync(join(fs, SYMPA_TRANSPORT), '');
    for (const robot of sympa.robots) mkdirSync(join(fs, 'var/lib/sympa/list_data', robot), { recursive: true });
    for (const robot of virtual) {
      mkdirSync(join(etc, robot), { recursive: true });
      writeFileSync(join(etc, robot, 'robot.conf'), `listmaster\tlistmaster@${robot}\n`);
    }
    for (const tree of SYMPA_TREES) chownTree(join(fs, tree), uid('sympa'), gid('sympa'));
  }

  /**
   * Runs the real `sympa` CLI on sympa1 (as root; it switches to the sympa user itself), e.g.
   * `lab.sympa(['close', 'staff@groups.example.test'])`. Throws on failure. @param {string[]} args
   */
  sympa(args) {
    const quoted = args.map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
    return this.exec('sympa1', `sympa ${quoted}`);
  }

  /**
   * Creates a list with `sympa create --input_file` (a list XML written beside the host's trees).
   * @param {string} list name@robot
   */
  async sympaCreate(list) {
    const [name, robot] = list.split('@');
    const file = join(this.host('sympa1').root, `create-${name}@${robot}.xml`);
    writeFileSync(
      file,
      `<?xml version="1.0" ?>
<list>
  <listname>${name}</listname>
  <type>discussion_list</type>
  <subject>The ${name} list of the rcptsync lab</subject>
  <description>rcptsync end-to-end lab</description>
  <status>open</status>
  <language>en_US</language>
  <owner multiple="1"><email>owner@example.org</email></owner>
  <topic>computing</topic>
</list>
`,
      { mode: 0o644 },
    );
    const result = await this.sympa(['create', `--input_file=${file}`, /** @type {string} */ (robot)]);
    // `sympa create` exits 0 even when it says it could not create the list.
    if (/Could not create list/.test(result.stdout + result.stderr)) throw new Error(`sympa create ${list}: ${result.stderr}`);
    return result;
  }

  /** The file Sympa maintains on sympa1 (SYMPA_TRANSPORT), as the control node sees it. */
  sympaTransportText() {
    return readFileSync(this.hostPath('sympa1', SYMPA_TRANSPORT), 'utf8');
  }

  /** Sympa's database tables, then the initial lists. @private */
  async seedSympa() {
    if (!this.sympaHost) return;
    await this.exec('sympa1', '/usr/lib/sympa/bin/sympa.pl --health_check');
    for (const list of this.sympaHost.lists) await this.sympaCreate(list);
  }

  /** @private */
  async seedMailman() {
    if (this.initialLists.length === 0) return;
    const script = join(this.listServer.root, 'mailman-seed.py');
    const lists = this.initialLists.map((list) => `'${list}'`).join(' ');
    await this.exec('list1', `runuser -u list -- python3 '${script}' ${MAILMAN_CONFIG} ${lists}`);
  }

  /** @private */
  writeInventory() {
    const list1 = this.listServer;
    /** @type {Record<string, unknown>} */
    const gatewayHosts = {};
    for (const host of this.gateways) {
      const login = this.gatewayLogins[host.name];
      gatewayHosts[host.name] = {
        ansible_host: host.address,
        ...(login ? { ansible_user: login, ansible_become: true } : {}),
        ...(host.mta === 'exim' ? { rcptsync_mta: 'exim' } : {}),
        rcptsync_relay_domains: Object.fromEntries(
          host.domains.map((domain) => [domain, `smtp:[${this.sympaHost?.robots.includes(domain) ? this.host('sympa1').address : list1.address}]:25`]),
        ),
      };
    }
    const inventory = {
      all: {
        vars: {
          ansible_user: 'root',
          ansible_ssh_private_key_file: this.privateKeyFile,
          ansible_ssh_common_args: `-o UserKnownHostsFile=${this.knownHostsFile} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5`,
          ansible_python_interpreter: '/usr/bin/python3',
          // rcptsync's own SSH (collect on list servers, status on gateways) pins the same keys.
          rcptsync_known_hosts_file: this.knownHostsFile,
        },
        children: {
          list_servers: {
            hosts: {
              [list1.name]: {
                ansible_host: list1.address,
                rcptsync_connect_timeout: 5,
                rcptsync_sources: [
                  { type: 'mailman3', from: 'lists', command: this.mailmanListsCommand },
                  { type: 'aliases', path: this.aliasesFile, domains: [ALIASES_DOMAIN] },
                ],
              },
              ...(this.sympaHost
                ? {
                    sympa1: {
                      ansible_host: this.host('sympa1').address,
                      rcptsync_connect_timeout: 5,
                      rcptsync_domains: this.sympaHost.robots,
                      // The default command: cat of Sympa's own /etc/sympa/sympa_transport.
                      rcptsync_sources: [{ type: 'sympa', domains: this.sympaHost.robots }],
                    },
                  }
                : {}),
            },
          },
          mail_gateways: {
            hosts: gatewayHosts,
            ...(Object.keys(this.gatewayVars).length > 0 ? { vars: this.gatewayVars } : {}),
          },
        },
      },
    };
    writeFileSync(this.inventoryFile, `# Generated by test/lab for the rcptsync end-to-end lab.\n${stringify(inventory)}`);
    // Control-node variables of the playbooks, kept out of the inventory that rcptsync validates.
    const extraVars = {
      rcptsync_command: [process.execPath, join(REPO_ROOT, 'dist', 'bin.js')],
      rcptsync_rendered_dir: this.renderedDir,
      rcptsync_state_dir: this.stateDir,
      ...this.extraVars,
    };
    writeFileSync(this.extraVarsFile, stringify(extraVars));
  }
}

/**
 * Tears down a lab by its directory, e.g. one kept running with the demo's --keep
 * or left by a killed run. Safe when there is none.
 * @param {string} [dir]
 * @param {Partial<LabNetwork>} [network] as given to startLab
 */
export async function stopLab(dir = DEFAULT_LAB_DIR, network = {}) {
  await removeStaleLab(resolve(dir), { ...DEFAULT_NETWORK, ...network });
}

/** Every address of a Mailman 3 list: the posting address and its 8 sub-addresses. @param {string} list e.g. announce@lists.example.test */
export function mailman3Addresses(list) {
  const [local, domain] = list.split('@');
  return [list, ...MAILMAN3_SUFFIXES.map((suffix) => `${local}-${suffix}@${domain}`)];
}

/** @param {LabHost} host */
function gatewayMainCf(host, controlAddress = CONTROL_ADDRESS) {
  return `# Minimal main.cf of the lab gateway ${host.name}; the postfix_relay_gateway role completes it.
compatibility_level = 3.6
myhostname = ${host.name}.gateways.example.test
myorigin = $myhostname
mydestination =
inet_interfaces = ${host.address}
inet_protocols = ipv4
# The control node (${controlAddress}) is not a trusted client: relay control applies to the probes.
mynetworks = 127.0.0.0/8 ${host.address}/32
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
smtpd_banner = $myhostname ESMTP
maillog_file = /var/lib/postfix/maillog
`;
}

/** Mailman runs postmap on its generated maps, and postmap needs a main.cf. @param {LabHost} host */
function listServerMainCf(host) {
  return `# The list server runs no Postfix in the lab; Mailman's postmap calls need this file.
compatibility_level = 3.6
myhostname = ${host.name}.example.test
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
`;
}

/** @param {LabHost} host */
function mailmanCfg(host) {
  return `# Private Mailman 3 configuration of the lab's list server (SQLite, no running service).
[mailman]
layout: lab
site_owner: postmaster@lists.example.test

[paths.lab]
var_dir: /var/lib/mailman3
log_dir: $var_dir/logs
lock_dir: $var_dir/locks
pid_file: $var_dir/master.pid

[database]
class: mailman.database.sqlite.SQLiteDatabase
url: sqlite:///$DATA_DIR/mailman.db

[mta]
incoming: mailman.mta.postfix.LMTP
outgoing: mailman.mta.deliver.deliver
lmtp_host: ${host.address}
lmtp_port: 8024
smtp_host: ${host.address}
smtp_port: 25
configuration: python:mailman.config.postfix
`;
}

/** chown -R, without following symbolic links. @param {string} path @param {number} owner @param {number} group */
function chownTree(path, owner, group) {
  lchownSync(path, owner, group);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isDirectory()) chownTree(join(path, entry.name), owner, group);
    else lchownSync(join(path, entry.name), owner, group);
  }
}

/** @param {string} user */
function uid(user) {
  return Number(passwdEntry(user)[2]);
}
/** @param {string} user */
function gid(user) {
  return Number(passwdEntry(user)[3]);
}
/** A group's id from /etc/group. @param {string} group */
function groupId(group) {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((entry) => entry.startsWith(`${group}:`));
  if (!line) throw new Error(`no group ${group}`);
  return Number(line.split(':')[2]);
}
/** @param {string} user */
function passwdEntry(user) {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((entry) => entry.startsWith(`${user}:`));
  if (!line) throw new Error(`no user ${user} (is its package installed?)`);
  return line.split(':');
}

/**
 * Waits until a TCP port accepts (open) or refuses (closed) connections.
 * @param {string} host @param {number} port
 * @param {{ open: boolean, timeoutMs: number, what?: string }} options
 */
export async function waitForPort(host, port, { open, timeoutMs, what }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await canConnect(host, port)) === open) return;
    if (Date.now() > deadline) {
      throw new Error(`${what ?? `${host}:${port}`} ${open ? 'did not start listening' : 'is still listening'} on ${host}:${port} after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

/** @param {string} host @param {number} port @returns {Promise<boolean>} */
function canConnect(host, port) {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (/** @type {boolean} */ ok) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/**
 * Kills processes in a network namespace (all, or those whose command name matches).
 * @param {string} netns @param {(comm: string) => boolean} [which]
 */
async function killNetnsProcesses(netns, which = () => true) {
  const pick = async () => {
    const { stdout } = await run('ip', ['netns', 'pids', netns], { check: false });
    return stdout.split(/\s+/).filter(Boolean).map(Number).filter((pid) => which(commOf(pid)));
  };
  for (const signal of /** @type {const} */ (['SIGTERM', 'SIGKILL'])) {
    for (const pid of await pick()) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 40 && (await pick()).length > 0; i++) await sleep(50);
  }
}

/** @param {number} pid */
function commOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Removes a lab (ours or one left by a killed run): processes, namespaces, bridge, files.
 * Only the namespaces, links and bridge of this network: another lab keeps running.
 * Waits until the kernel has really let go of them, so that a lab started right
 * after can reuse the names; throws naming what is left if it does not.
 * @param {string} dir @param {LabNetwork} network
 */
async function removeStaleLab(dir, { netnsPrefix, bridge: bridgeName }) {
  for (const ns of await namespacesNamed(netnsPrefix)) {
    await killNetnsProcesses(ns);
    await run('ip', ['netns', 'del', ns], { check: false });
  }
  // A copy of /run/netns/<name> in another mount namespace (a holder of a lab
  // started by older code, or any other tool's) would keep the namespace and the
  // veth peer in it alive: drop those copies too.
  for (const { pid, path } of netnsMountCopies(netnsPrefix)) {
    await run('nsenter', ['-t', String(pid), '-m', 'umount', '-l', path], { check: false });
  }
  // The kernel frees a deleted namespace (and the veth peer in it) asynchronously:
  // delete our ends of the veth pairs now so that a new lab can reuse the names.
  for (const link of await linksNamed(netnsPrefix)) await run('ip', ['link', 'del', link], { check: false });
  const bridge = await run('ip', ['link', 'show', bridgeName], { check: false });
  if (bridge.code === 0) await run('ip', ['link', 'del', bridgeName], { check: false });
  const leftovers = async () => [
    ...(await namespacesNamed(netnsPrefix)).map((ns) => `namespace ${ns}`),
    ...(await linksNamed(netnsPrefix)).map((link) => `link ${link}`),
    ...((await run('ip', ['link', 'show', bridgeName], { check: false })).code === 0 ? [`bridge ${bridgeName}`] : []),
    ...netnsMountCopies(netnsPrefix).map(({ pid, path }) => `${path} mounted in the mount namespace of pid ${pid}`),
  ];
  let left = await leftovers();
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await sleep(50);
    left = await leftovers();
  }
  if (left.length > 0) throw new Error(`the lab's network (${netnsPrefix}*, ${bridgeName}) is still there after teardown: ${left.join('; ')}`);
  // Only a directory the lab made (or none): never remove a directory given by mistake.
  if (existsSync(dir) && !existsSync(join(dir, LAB_MARKER))) {
    throw new Error(`${dir} exists and is not a lab directory (no ${LAB_MARKER}); remove it or choose another dir`);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Named network namespaces whose names start with a prefix. @param {string} prefix */
async function namespacesNamed(prefix) {
  const { stdout } = await run('ip', ['netns', 'list'], { check: false });
  return stdout.split('\n').map((line) => line.split(/\s+/)[0] ?? '').filter((name) => name.startsWith(prefix));
}

/** Links of the root namespace whose names start with a prefix (veth ends show as name@peer). @param {string} prefix */
async function linksNamed(prefix) {
  const { stdout } = await run('ip', ['-o', 'link', 'show'], { check: false });
  return [...stdout.matchAll(/^\d+: ([^:@\s]+)/gm)].map((match) => /** @type {string} */ (match[1])).filter((link) => link.startsWith(prefix));
}

/**
 * Mounts of /run/netns/<prefix>* in mount namespaces other than ours, one process
 * per namespace: each keeps a network namespace of that name alive, even after
 * `ip netns del`. Empty when no lab pins another's namespaces.
 * @param {string} prefix netns prefix, e.g. rslab-
 * @returns {Array<{ pid: number, path: string }>}
 */
export function netnsMountCopies(prefix) {
  const ours = nsOf('self');
  /** @type {Set<string>} */
  const seen = new Set([ours]);
  /** @type {Array<{ pid: number, path: string }>} */
  const copies = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = nsOf(entry);
    if (ns === '' || seen.has(ns)) continue;
    seen.add(ns);
    let mountinfo = '';
    try {
      mountinfo = readFileSync(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    for (const line of mountinfo.split('\n')) {
      const path = (line.split(' ')[4] ?? '').replace(/\\040/g, ' ');
      if (path.startsWith(`/run/netns/${prefix}`)) copies.push({ pid: Number(entry), path });
    }
  }
  return copies;
}

/** The mount namespace of a process ('' when it is gone). @param {string} pid */
function nsOf(pid) {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return '';
  }
}
