/**
 * Starts the lab (as root). Removes a stale lab first; on failure tears down what
 * it built and rethrows.
 * @param {LabOptions} [options]
 * @returns {Promise<Lab>}
 */
export function startLab(options?: LabOptions): Promise<Lab>;
/**
 * Tears down a lab by its directory, e.g. one kept running with the demo's --keep
 * or left by a killed run. Safe when there is none.
 * @param {string} [dir]
 * @param {Partial<LabNetwork>} [network] as given to startLab
 */
export function stopLab(dir?: string, network?: Partial<LabNetwork>): Promise<void>;
/** Every address of a Mailman 3 list: the posting address and its 8 sub-addresses. @param {string} list e.g. announce@lists.example.test */
export function mailman3Addresses(list: string): string[];
/**
 * Waits until a TCP port accepts (open) or refuses (closed) connections.
 * @param {string} host @param {number} port
 * @param {{ open: boolean, timeoutMs: number, what?: string }} options
 */
export function waitForPort(host: string, port: number, { open, timeoutMs, what }: {
    open: boolean;
    timeoutMs: number;
    what?: string;
}): Promise<void>;
/**
 * Mounts of /run/netns/<prefix>* in mount namespaces other than ours, one process
 * per namespace: each keeps a network namespace of that name alive, even after
 * `ip netns del`. Empty when no lab pins another's namespaces.
 * @param {string} prefix netns prefix, e.g. rslab-
 * @returns {Array<{ pid: number, path: string }>}
 */
export function netnsMountCopies(prefix: string): Array<{
    pid: number;
    path: string;
}>;
/** The repository root (test/lab/ is two levels down). */
export const REPO_ROOT: string;
export const BRIDGE: "rsbr0";
export const NETNS_PREFIX: "rslab-";
export const CONTROL_ADDRESS: "10.213.0.1";
export const DEFAULT_LAB_DIR: "/var/tmp/rcptsync-lab";
/** Mailman 3's sub-addresses of every list (besides the posting address). */
export const MAILMAN3_SUFFIXES: string[];
/** Lists created when the lab starts: two domains, each relayed by its own gateway. */
export const INITIAL_LISTS: string[];
/** Domain of the aliases file, and the keys rcptsync must find in it. */
export const ALIASES_DOMAIN: "lists.example.test";
export const ALIAS_KEYS: string[];
/** Inside list1; the inventory's command names it, so it is the same everywhere. */
export const MAILMAN_CONFIG: "/etc/mailman3/mailman.cfg";
/** Sympa's virtual-domain setting for Postfix (its guide): the transport map it maintains, one line per address. */
export const SYMPA_TRANSPORT: "/etc/sympa/sympa_transport";
/** The list_aliases.tt2 of Sympa's Postfix guide: -subscribe is commented out, as in Debian's. */
export const SYMPA_LIST_ALIASES_TT2: "#--- [% list.name %]@[% list.domain %]: list transport map created at [% date %]\n[% list.name %]@[% list.domain %] sympa:[% list.name %]@[% list.domain %]\n[% list.name %]-request@[% list.domain %] sympa:[% list.name %]-request@[% list.domain %]\n[% list.name %]-editor@[% list.domain %] sympa:[% list.name %]-editor@[% list.domain %]\n#[% list.name %]-subscribe@[% list.domain %] sympa:[% list.name %]-subscribe@[%list.domain %]\n[% list.name %]-unsubscribe@[% list.domain %] sympa:[% list.name %]-unsubscribe@[% list.domain %]\n[% list.name %][% return_path_suffix %]@[% list.domain %] sympabounce:[% list.name %]@[% list.domain %]\n";
/** The service addresses that template gives each list (besides the posting address). */
export const SYMPA_SUFFIXES: string[];
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
export const DEFAULT_NETWORK: LabNetwork;
export class Lab {
    /** @param {LabOptions} options */
    constructor(options: LabOptions);
    dir: string;
    log: (message: string) => void;
    initialLists: string[];
    gatewayVars: Record<string, unknown>;
    extraVars: Record<string, unknown>;
    /** @type {Record<string, GatewaySite>} */
    gatewaySites: Record<string, GatewaySite>;
    /** @type {Record<string, string>} */
    gatewayLogins: Record<string, string>;
    /** @type {Record<string, 'postfix' | 'exim'>} */
    gatewayMtas: Record<string, "postfix" | "exim">;
    /** @type {Record<string, import('./exim.mjs').EximSite>} */
    eximSites: Record<string, import("./exim.mjs").EximSite>;
    /** The unpacked Exim packages, once build() fetched them (only with an Exim gateway). */
    eximRoot: string;
    /** @type {Record<string, LabUser[]>} per host: the accounts private to it */
    accounts: Record<string, LabUser[]>;
    /** @type {SympaHost | undefined} */
    sympaHost: SympaHost | undefined;
    /**
     * Variables added to `env` (and so to every playbook run), e.g. an Ansible
     * callback's settings for one run; set and reset it freely.
     * @type {NodeJS.ProcessEnv}
     */
    extraEnv: NodeJS.ProcessEnv;
    /** @type {LabNetwork} */
    network: LabNetwork;
    controlAddress: string;
    bridge: string;
    controlDir: string;
    privateKeyFile: string;
    knownHostsFile: string;
    inventoryFile: string;
    extraVarsFile: string;
    renderedDir: string;
    stateDir: string;
    aliasesFile: string;
    mailmanConfig: string;
    /** The command rcptsync runs on list1 for its Mailman 3 source. */
    mailmanListsCommand: string;
    /** @type {Record<string, LabHost>} */
    hosts: Record<string, LabHost>;
    stopped: boolean;
    /** @returns {LabHost[]} */
    get gateways(): LabHost[];
    /** @returns {LabHost} */
    get listServer(): LabHost;
    /** @param {string} name */
    host(name: string): LabHost;
    /** The gateway that relays a domain. @param {string} domain */
    gatewayFor(domain: string): LabHost;
    /**
     * Where a path private to a host lives in the control node's file system
     * (e.g. gw1's /etc/postfix/main.cf). @param {string} name @param {string} path
     */
    hostPath(name: string, path: string): string;
    /** Environment for ansible-playbook and rcptsync against this lab. @returns {NodeJS.ProcessEnv} */
    get env(): NodeJS.ProcessEnv;
    /** argv of an ansible-playbook run against the lab (run it from the repository root). @param {string} playbook e.g. playbooks/sync.yml */
    playbookArgv(playbook: string): string[];
    /**
     * Runs a shell command inside a host (its network and mount namespaces), as root.
     * @param {string} name @param {string} command
     * @param {import('./run.mjs').RunOptions} [options]
     */
    exec(name: string, command: string, options?: import("./run.mjs").RunOptions): Promise<import("./run.mjs").RunResult>;
    /** Runs OpenSSH's client into a host with the lab key, as root@host. @param {string} name @param {string} command @param {import('./run.mjs').RunOptions} [options] */
    ssh(name: string, command: string, options?: import("./run.mjs").RunOptions): Promise<import("./run.mjs").RunResult>;
    /** Options for OpenSSH's ssh/scp into the lab. */
    sshOptions(): string[];
    /**
     * Runs the real `mailman` CLI on the list server as the list user,
     * e.g. `lab.mailman(['create', 'new@lists.example.test'])`. Throws on failure.
     * @param {string[]} args
     */
    mailman(args: string[]): Promise<import("./run.mjs").RunResult>;
    /** The lists Mailman has now, from `mailman lists -q` (trailing padding trimmed). */
    mailmanLists(): Promise<string[]>;
    /** Stops a host's sshd: the listener and every session, so the host is unreachable over SSH. @param {string} name */
    stopSsh(name: string): Promise<void>;
    /** Starts a host's sshd again (same host key). @param {string} name */
    startSsh(name: string): Promise<void>;
    /** Tears everything down: processes in the namespaces, namespaces, bridge, files. Idempotent. */
    stop(): Promise<void>;
    /** Builds the lab; startLab() calls it once. */
    build(): Promise<void>;
    /** Bridge, namespaces, veth pairs and addresses. @protected */
    protected buildNetwork(): Promise<void>;
    /** Per-host copies of the trees that will be bind-mounted over the real ones. @private @param {LabHost} host */
    private prepareTrees;
    /**
     * A process in the host's network namespace and in a private mount namespace
     * where the host's trees are bind-mounted; every command for the host enters
     * its namespaces. The new mount namespace starts with a copy of every
     * /run/netns/* mount, i.e. a reference to every named network namespace on the
     * machine (another lab's too); the holder drops them first so that it never
     * keeps another lab's namespaces or veths alive. @private @param {LabHost} host
     */
    private startHolder;
    /**
     * An unprivileged login user that exists only inside the host (private copies of
     * the account files, made from the machine's on the first user), with a home for
     * Ansible's temporary files and the given sudo rules.
     * @private @param {LabHost} host @param {LabUser} account @param {number} index
     */
    private prepareLogin;
    /**
     * A second sshd on a host, e.g. a bastion on a gateway: its own port, the host's
     * own host key, TCP forwarding allowed, and only the keys of `authorizedKeys`
     * (write them with their options, e.g. restrict,port-forwarding,permitopen=...).
     * Returns its known_hosts line (`[address]:port key`). Stopped with the lab.
     * @param {string} name @param {{ port: number, authorizedKeys: string }} options
     */
    startBastion(name: string, { port, authorizedKeys }: {
        port: number;
        authorizedKeys: string;
    }): Promise<string>;
    /** Host key and sshd_config; returns the host's known_hosts line. @private @param {LabHost} host */
    private prepareSsh;
    /** @private @param {LabHost} host */
    private startPostfix;
    /** Debian's update-exim4.conf, then the daemon (it detaches). @private @param {LabHost} host */
    private startExim;
    /**
     * Sympa's trees for sympa1, copied from the machine's (as the package left them) and then made its own: a
     * sympa.conf on SQLite in its /var/lib/sympa, Sympa's virtual-domain setting (it keeps SYMPA_TRANSPORT and runs
     * postmap on it), a robot.conf per virtual robot, and a sendmail that discards Sympa's notifications.
     * @private @param {LabHost} host
     */
    private prepareSympa;
    /**
     * Runs the real `sympa` CLI on sympa1 (as root; it switches to the sympa user itself), e.g.
     * `lab.sympa(['close', 'staff@groups.example.test'])`. Throws on failure. @param {string[]} args
     */
    sympa(args: string[]): Promise<import("./run.mjs").RunResult>;
    /**
     * Creates a list with `sympa create --input_file` (a list XML written beside the host's trees).
     * @param {string} list name@robot
     */
    sympaCreate(list: string): Promise<import("./run.mjs").RunResult>;
    /** The file Sympa maintains on sympa1 (SYMPA_TRANSPORT), as the control node sees it. */
    sympaTransportText(): string;
    /** Sympa's database tables, then the initial lists. @private */
    private seedSympa;
    /** @private */
    private seedMailman;
    /** @private */
    private writeInventory;
}
export type HostRole = "list" | "gateway";
export type LabHost = {
    /**
     * inventory name (list1, gw1, gw2)
     */
    name: string;
    /**
     * its private address on the lab bridge
     */
    address: string;
    role: HostRole;
    /**
     * the domains a gateway relays (empty for the list server)
     */
    domains: string[];
    /**
     * network namespace name
     */
    netns: string;
    /**
     * directory holding the host's bind-mounted trees and its sshd files
     */
    root: string;
    /**
     * absolute paths inside the host that are private to it
     */
    mounts: string[];
    /**
     * process that keeps the host's mount namespace alive
     */
    holderPid: number;
    /**
     * a gateway's MTA (LabOptions.gatewayMtas); 'postfix' for the list server
     */
    mta: "postfix" | "exim";
};
export type LabOptions = {
    /**
     * where the lab keeps its files (default /var/tmp/rcptsync-lab; removed on stop)
     */
    dir?: string | undefined;
    /**
     * lists to create at start (default INITIAL_LISTS)
     */
    lists?: string[] | undefined;
    /**
     * extra variables for the mail_gateways group
     */
    gatewayVars?: Record<string, unknown> | undefined;
    /**
     * extra playbook variables (merged into extra-vars.yml)
     */
    extraVars?: Record<string, unknown> | undefined;
    /**
     * per gateway name: the site's own Postfix configuration
     * before rcptsync (a gateway that already carries mail)
     */
    gatewaySites?: Record<string, GatewaySite> | undefined;
    /**
     * per gateway name: an unprivileged user Ansible logs in as
     * (with sudo to root, `ansible_become`) instead of root. The user exists only inside that gateway: its
     * /etc/passwd, /etc/shadow, /etc/group and /etc/sudoers.d are private copies
     */
    gatewayLogins?: Record<string, string> | undefined;
    /**
     * per host name (list1 too): an unprivileged user that exists only
     * inside that host (private account files, as for gatewayLogins), with exactly the sudo rules given, e.g.
     * a collector on list1 with examples/production/sudoers, or a bastion user on a gateway
     */
    users?: Record<string, LabUser> | undefined;
    /**
     * per gateway name: its MTA (default postfix). An Exim
     * gateway runs Debian's exim4 from unpacked packages (exim.mjs) and gets `rcptsync_mta: exim` in the inventory
     */
    gatewayMtas?: Record<string, "postfix" | "exim"> | undefined;
    /**
     * per Exim gateway: its site configuration
     */
    eximSites?: Record<string, import("./exim.mjs").EximSite> | undefined;
    /**
     * progress messages
     */
    log?: ((message: string) => void) | undefined;
    /**
     * names and addresses (default rsbr0, rslab-*, 10.213.0.0/24); give a
     * second lab (a benchmark beside the suite) its own, or the two tear each other down
     */
    network?: Partial<LabNetwork> | undefined;
    /**
     * the gateways and the domains each relays, in
     * place of gw1 (lists.example.test) and gw2 (news.example.test); addresses .21, .22, ... of the subnet (at most 40)
     */
    gateways?: {
        name: string;
        domains: string[];
    }[] | undefined;
    /**
     * a second list server, sympa1 (.12), running real Sympa beside list1's Mailman
     */
    sympa?: SympaHost | undefined;
};
export type SympaHost = {
    /**
     * its robots' domains; the first is sympa.conf's main `domain`, the others virtual robots
     */
    robots: string[];
    /**
     * lists to create at start, `name@robot`
     */
    lists: string[];
};
export type LabUser = {
    /**
     * its name
     */
    user: string;
    /**
     * the text of its file in the host's private /etc/sudoers.d (none when omitted)
     */
    sudoers?: string | undefined;
};
export type GatewaySite = {
    /**
     * lines appended to the gateway's main.cf, e.g. its own relay_domains
     */
    mainCf: string[];
    /**
     * files under the gateway's /etc/postfix (relative path to content),
     * e.g. its own recipient table
     */
    files?: Record<string, string> | undefined;
};
export type LabNetwork = {
    /**
     * bridge in the root namespace (at most 15 characters)
     */
    bridge: string;
    /**
     * prefix of the namespaces and of the control node's veth ends
     */
    netnsPrefix: string;
    /**
     * first three octets of a private /24 that exists only on this machine, e.g. 10.213.0
     */
    subnet: string;
};
