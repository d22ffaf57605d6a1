/**
 * Ansible connection variables that rcptsync's own SSH client cannot honour.
 *
 * rcptsync reads ansible_host, ansible_port, ansible_user and
 * ansible_ssh_private_key_file (or an ssh-agent), one ProxyJump hop from the
 * ssh argument variables, and checks host keys against
 * rcptsync_known_hosts_file. A list server whose inventory asks for more (a
 * proxy command or a chain of jump hosts, a connection plugin other than ssh
 * or local, become, a password, OpenSSH options
 * that change where or as whom it connects) would be reached differently from
 * what the playbooks do, or not at all: such a host is refused by `validate`
 * with what to do instead, rather than failing later at collect time.
 *
 * OpenSSH options that only tune OpenSSH's own process (multiplexing,
 * keep-alives, compression, logging) are accepted: they cannot change what
 * rcptsync reaches or trusts.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { VarPath } from './positions.js';

type Report = (path: VarPath, message: string) => void;

/** ansible_connection values that mean "SSH to ansible_host", which is what rcptsync does. */
const SSH_CONNECTIONS = new Set(['ssh', 'smart', 'paramiko', 'paramiko_ssh', 'ansible.builtin.ssh', 'ansible.builtin.paramiko_ssh', 'ansible.legacy.ssh']);
/** ansible_connection values for the control node itself: the commands run here, without SSH. */
const LOCAL_CONNECTIONS = new Set(['local', 'ansible.builtin.local']);

const SSH_ARGS_VARIABLES = ['ansible_ssh_common_args', 'ansible_ssh_extra_args', 'ansible_ssh_args'];

const PASSWORD_VARIABLES = ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password'];

const BECOME_VARIABLES = ['ansible_become', 'ansible_sudo', 'ansible_su'];

const JUMP_ADVICE =
  'rcptsync tunnels through one jump host given as -o ProxyJump=[user@]host[:port] (or -J), and runs no proxy command: use that, ' +
  'or forward a port through the bastion (ssh -N -L 2222:LISTSERVER:22 bastion) and set ansible_host: 127.0.0.1 and ansible_port: 2222 ' +
  'for this host (its known_hosts entry is then [127.0.0.1]:2222)';

/** A ProxyJump value as rcptsync can follow it: one hop, or `none`. */
export type JumpSpec = { host: string; port: number; user?: string } | 'none';

/**
 * Parse a ProxyJump value: `[user@]host[:port]` or `ssh://[user@]host[:port]`,
 * an IPv6 address in brackets; one hop only. Returns a reason when it is not one.
 */
export function parseJumpSpec(value: string): JumpSpec | { error: string } {
  const spec = value.trim();
  if (spec.toLowerCase() === 'none') return 'none';
  if (spec.includes(',')) return { error: 'a chain of jump hosts is not supported' };
  const match = /^(?:ssh:\/\/)?(?:([^@\s:/\[\]]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([0-9]{1,5}))?\/?$/.exec(spec);
  if (!match) return { error: `"${spec}" is not [user@]host[:port]` };
  const port = match[3] === undefined ? 22 : Number(match[3]);
  if (port < 1 || port > 65535) return { error: `port ${match[3]} is not 1-65535` };
  const host = match[2]!.replace(/^\[(.*)\]$/, '$1');
  return { host, port, ...(match[1] ? { user: match[1] } : {}) };
}

/**
 * The jump host of a list server, from the first ProxyJump/-J in
 * ansible_ssh_args, ansible_ssh_common_args and ansible_ssh_extra_args (for
 * OpenSSH the first value given wins). Validation has refused anything else.
 */
export function jumpOf(vars: Record<string, unknown>): { host: string; port: number; user?: string } | undefined {
  for (const name of SSH_ARGS_VARIABLES) {
    const value = vars[name];
    if (typeof value !== 'string') continue;
    const words = splitWords(value);
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      let spec: string | undefined;
      if (word === '-J') spec = words[i + 1];
      else if (word.startsWith('-J')) spec = word.slice(2);
      else if (word === '-o' || word.startsWith('-o')) {
        const option = word === '-o' ? words[i + 1] : word.slice(2);
        const match = option === undefined ? null : /^proxyjump\s*(?:=\s*|\s+)(.*)$/i.exec(option);
        if (match) spec = match[1];
      }
      if (spec === undefined) continue;
      const parsed = parseJumpSpec(spec);
      if (parsed === 'none' || 'error' in parsed) return undefined;
      return parsed;
    }
  }
  return undefined;
}

/** `-o` keys (lower case) that change where, as whom or trusting what rcptsync would connect, and what to use instead. */
const REFUSED_OPTIONS: Record<string, string> = {
  proxycommand: JUMP_ADVICE,
  hostname: 'set ansible_host instead',
  port: 'set ansible_port instead',
  user: 'set ansible_user instead',
  identityfile: 'set ansible_ssh_private_key_file instead (or load the key into an ssh-agent)',
  identityagent: 'rcptsync uses the agent of SSH_AUTH_SOCK; set that in its environment instead',
  certificatefile: 'rcptsync does not use SSH certificates; authorize the plain key on the list server',
  userknownhostsfile: 'rcptsync checks host keys against rcptsync_known_hosts_file (default ~/.ssh/known_hosts): set that to this file',
  globalknownhostsfile: 'set rcptsync_known_hosts_file instead',
  hostkeyalias: 'rcptsync looks the host key up by ansible_host and ansible_port; write the known_hosts entry under that name',
  bindaddress: 'rcptsync does not bind to a source address; route to the list server instead',
  bindinterface: 'rcptsync does not bind to an interface; route to the list server instead',
  localcommand: 'rcptsync runs no local commands',
  permitlocalcommand: 'rcptsync runs no local commands',
  remotecommand: 'rcptsync runs only the commands of rcptsync_sources',
  setenv: 'rcptsync sets no remote environment; put what a command needs into the source\'s command',
  sendenv: 'rcptsync sends no environment; put what a command needs into the source\'s command',
  include: 'rcptsync reads no ssh_config',
  match: 'rcptsync reads no ssh_config',
  host: 'rcptsync reads no ssh_config',
};

/** `-o` keys (lower case) about OpenSSH's own process: nothing rcptsync reaches or trusts depends on them. */
const ACCEPTED_OPTIONS = new Set([
  'addkeystoagent',
  'batchmode',
  'challengeresponseauthentication',
  'checkhostip',
  'compression',
  'connectionattempts',
  'connecttimeout',
  'controlmaster',
  'controlpath',
  'controlpersist',
  'escapechar',
  'exitonforwardfailure',
  'forwardagent',
  'forwardx11',
  'forwardx11trusted',
  'gssapiauthentication',
  'gssapidelegatecredentials',
  'hashknownhosts',
  'identitiesonly',
  'ipqos',
  'kbdinteractiveauthentication',
  'loglevel',
  'numberofpasswordprompts',
  'passwordauthentication',
  'preferredauthentications',
  'pubkeyauthentication',
  'requesttty',
  'serveralivecountmax',
  'serveraliveinterval',
  // rcptsync always checks the host key against rcptsync_known_hosts_file, whatever this says.
  'stricthostkeychecking',
  'tcpkeepalive',
  'updatehostkeys',
  'verifyhostkeydns',
  'visualhostkey',
]);

/** Single-letter flags without a value that only affect OpenSSH's own process. */
const ACCEPTED_FLAGS = new Set(['4', '6', 'a', 'A', 'C', 'k', 'K', 'n', 'q', 't', 'T', 'v', 'x', 'X', 'y', 'Y']);

/** Single-letter options that take a value, and what to use instead. */
const REFUSED_VALUE_FLAGS: Record<string, string> = {
  p: 'set ansible_port instead',
  l: 'set ansible_user instead',
  i: 'set ansible_ssh_private_key_file instead (or load the key into an ssh-agent)',
  F: 'rcptsync reads no ssh_config; set ansible_host, ansible_port, ansible_user and ansible_ssh_private_key_file',
  b: 'rcptsync does not bind to a source address; route to the list server instead',
  B: 'rcptsync does not bind to an interface; route to the list server instead',
  L: 'rcptsync opens no port forwards',
  R: 'rcptsync opens no port forwards',
  D: 'rcptsync opens no port forwards',
  W: JUMP_ADVICE,
};
/** Value-taking flags about OpenSSH's own process. */
const ACCEPTED_VALUE_FLAGS = new Set(['c', 'E', 'm', 'O', 'S', 'w', 'e']);

/**
 * What rcptsync itself uses for a host: an option that says the same thing (as
 * the e2e lab's `-o UserKnownHostsFile=<the rcptsync_known_hosts_file>`) is honoured.
 */
export interface ConnectionUses {
  host?: string;
  port?: string;
  user?: string;
  keyFile?: string;
  knownHostsFile?: string;
}

/** The `-o` key or flag letter, and which of ConnectionUses it must equal to be accepted. */
const SAME_AS: Record<string, { use: keyof ConnectionUses; path?: boolean }> = {
  hostname: { use: 'host' },
  port: { use: 'port' },
  p: { use: 'port' },
  user: { use: 'user' },
  l: { use: 'user' },
  identityfile: { use: 'keyFile', path: true },
  i: { use: 'keyFile', path: true },
  userknownhostsfile: { use: 'knownHostsFile', path: true },
};

function usesOf(vars: Record<string, unknown>): ConnectionUses {
  const text = (...names: string[]): string | undefined => {
    for (const name of names) {
      const value = vars[name];
      if (typeof value === 'string' || typeof value === 'number') return String(value);
    }
    return undefined;
  };
  const uses: ConnectionUses = { knownHostsFile: text('rcptsync_known_hosts_file') ?? '~/.ssh/known_hosts' };
  const host = text('ansible_host', 'ansible_ssh_host');
  const port = text('ansible_port', 'ansible_ssh_port') ?? '22';
  const user = text('ansible_user', 'ansible_ssh_user');
  const keyFile = text('ansible_ssh_private_key_file', 'ansible_private_key_file');
  return { ...uses, ...(host ? { host } : {}), port, ...(user ? { user } : {}), ...(keyFile ? { keyFile } : {}) };
}

function samePath(a: string, b: string): boolean {
  const expand = (path: string): string => {
    const home = process.env['HOME'] || homedir();
    const full = path === '~' ? home : path.startsWith('~/') ? join(home, path.slice(2)) : path;
    return isAbsolute(full) ? full : resolve(full);
  };
  return expand(a) === expand(b);
}

/** Whether an option's value says exactly what rcptsync uses anyway. */
function sameAsUsed(key: string, value: string, uses: ConnectionUses): boolean {
  const same = SAME_AS[key];
  const used = same ? uses[same.use] : undefined;
  if (!same || used === undefined || value === '') return false;
  return same.path ? samePath(value, used) : value === used;
}

/** Report every connection variable of a list server that rcptsync would not honour. */
export function checkConnection(vars: Record<string, unknown>, report: Report): void {
  const connection = vars['ansible_connection'];
  const local = typeof connection === 'string' && LOCAL_CONNECTIONS.has(connection);
  if (connection !== undefined && !local && !(typeof connection === 'string' && SSH_CONNECTIONS.has(connection))) {
    const shown = typeof connection === 'string' ? `"${connection}"` : JSON.stringify(connection);
    report(
      ['ansible_connection'],
      `is ${shown}, but rcptsync reaches list servers only with its own SSH client, or runs the commands on the control node itself (local): ` +
        'give this host an sshd that the control node reaches (ansible_host, ansible_port) and set ansible_connection: ssh',
    );
  }

  // Local: no SSH at all, so SSH settings cannot mislead; become still would.
  if (local) {
    checkBecome(vars, report);
    return;
  }

  for (const name of PASSWORD_VARIABLES) {
    if (vars[name] !== undefined) {
      report([name], 'rcptsync authenticates with a key only (ansible_ssh_private_key_file or an ssh-agent), never with a password: authorize a key for ansible_user and remove this variable from the list servers');
    }
  }

  checkBecome(vars, report);

  for (const name of SSH_ARGS_VARIABLES) {
    const value = vars[name];
    if (value === undefined || value === null || value === '') continue;
    if (typeof value !== 'string') {
      report([name], 'must be a string of ssh options');
      continue;
    }
    if (/\{\{|\{%/.test(value)) {
      report([name], 'contains a Jinja template, which only a playbook evaluates; rcptsync needs the literal value');
      continue;
    }
    for (const problem of sshArgProblems(value, usesOf(vars))) report([name], problem);
  }
}

function checkBecome(vars: Record<string, unknown>, report: Report): void {
  for (const name of BECOME_VARIABLES) {
    if (isTrue(vars[name])) {
      report(
        [name],
        'rcptsync never becomes another user: every source command runs as ansible_user (the mailman3 default already runs `sudo -n -u list mailman lists`, see docs/production.md). ' +
          'Put any sudo into the source\'s command and set become only for the hosts that need it (e.g. group_vars/mail_gateways)',
      );
    }
  }
}

/** What is wrong, for rcptsync, with a string of OpenSSH command-line options. */
export function sshArgProblems(args: string, uses: ConnectionUses = {}): string[] {
  const problems: string[] = [];
  const words = splitWords(args);
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (!word.startsWith('-') || word === '-') {
      problems.push(`"${word}" is not an ssh option; rcptsync cannot honour it`);
      continue;
    }
    const letter = word[1]!;
    const attached = word.slice(2);
    if (letter === 'o') {
      const option = attached || words[++i];
      if (option === undefined) {
        problems.push('-o without an option');
        continue;
      }
      const match = /^([A-Za-z0-9]+)\s*(?:=\s*|\s+)?(.*)$/.exec(option);
      const key = (match?.[1] ?? option).toLowerCase();
      if (sameAsUsed(key, (match?.[2] ?? '').trim(), uses)) continue;
      if (key === 'proxyjump') {
        const parsed = parseJumpSpec(match?.[2] ?? '');
        if (typeof parsed === 'object' && 'error' in parsed) problems.push(`-o ${option}: ${parsed.error}; ${JUMP_ADVICE}`);
        continue;
      }
      const refused = REFUSED_OPTIONS[key];
      if (refused) problems.push(`-o ${option}: ${refused}`);
      else if (!ACCEPTED_OPTIONS.has(key)) {
        problems.push(`-o ${option}: an OpenSSH option rcptsync's SSH client does not honour; remove it for the list servers (set it only for the hosts that need it, e.g. group_vars/mail_gateways)`);
      }
      continue;
    }
    if (letter === 'J') {
      const value = attached || words[++i] || '';
      const parsed = parseJumpSpec(value);
      if (typeof parsed === 'object' && 'error' in parsed) problems.push(`-J ${value}: ${parsed.error}; ${JUMP_ADVICE}`);
      continue;
    }
    if (letter in REFUSED_VALUE_FLAGS) {
      const value = attached || words[++i] || '';
      if (sameAsUsed(letter, value, uses)) continue;
      problems.push(`-${letter} ${value}`.trimEnd() + `: ${REFUSED_VALUE_FLAGS[letter]}`);
      continue;
    }
    if (ACCEPTED_VALUE_FLAGS.has(letter)) {
      if (!attached) i++;
      continue;
    }
    // A cluster of value-less flags such as -Cq.
    const flags = word.slice(1).split('');
    if (!flags.every((flag) => ACCEPTED_FLAGS.has(flag))) {
      problems.push(`${word}: an ssh option rcptsync's SSH client does not honour; remove it for the list servers`);
    }
  }
  return problems;
}

/** Split like a POSIX shell would (quotes and backslashes), which is how Ansible passes these to ssh. */
function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function isTrue(value: unknown): boolean {
  if (value === true || value === 1) return true;
  return typeof value === 'string' && ['yes', 'true', 'on', '1', 'y'].includes(value.trim().toLowerCase());
}
