/**
 * `rcptsync doctor -i INV`: everything a collect needs from each list server,
 * checked one step at a time so that the first broken step is named with its
 * fix: the key file, the known_hosts entry, TCP, SSH (host key and
 * authentication), and each source's command, run as collect runs it with its
 * output counted and discarded. One line per check; exit 0 only when all pass.
 */
import { constants } from 'node:fs';
import { access, stat, readFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { userInfo } from 'node:os';
import ssh2 from 'ssh2';
import { runBounded } from '../collect/pool.js';
import { ExitCode, RcptsyncError } from '../errors.js';
import { loadInventory } from '../inventory/load.js';
import type { ListServer } from '../inventory/model.js';
import { getSourceType } from '../sources/index.js';
import { knownHostsName, pinnedKeyTypes, readKnownHosts } from '../transport/known-hosts.js';
import { connectSsh } from '../transport/ssh.js';
import type { RemoteSession, SshTarget } from '../transport/types.js';
import type { Io } from './io.js';
import { helpText, integerOption, inventoryOptions, inventorySource, parseOptions, type OptionSet } from './options.js';

const doctorOptions: OptionSet = {
  concurrency: { type: 'string', value: 'N', help: 'list servers checked at once', default: '8' },
};
const sets = [inventoryOptions, doctorOptions];

export type Verdict = 'PASS' | 'FAIL' | 'SKIP';

export interface Check {
  host: string;
  check: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}

export async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parseOptions(argv, sets);
  if (values['help']) {
    io.stdout.write(
      helpText(
        'doctor',
        '-i INV',
        'Check, for each list server, what collect needs: the key file (exists, readable, mode), a known_hosts entry for host:port, TCP, SSH (host key and authentication), and each source command, run as collect runs it with its output discarded. One line per check; exit 0 when all pass, 1 when any fails, 2 for an invalid inventory.',
        sets,
      ),
    );
    return 0;
  }
  const inventory = await loadInventory({ ...inventorySource(values), env: io.env });
  const results = await runBounded(inventory.listServers, integerOption(values, 'concurrency', 1)!, (server) => checkListServer(server));
  let failed = 0;
  let total = 0;
  results.forEach((result, index) => {
    const checks: Check[] =
      result.status === 'fulfilled'
        ? result.value
        : [{ host: inventory.listServers[index]!.name, check: 'doctor', verdict: 'FAIL', detail: messageOf(result.reason) }];
    for (const check of checks) {
      total += 1;
      if (check.verdict === 'FAIL') failed += 1;
      io.stdout.write(`${formatCheck(check)}\n`);
    }
  });
  io.stdout.write(`doctor: ${inventory.listServers.length} list servers, ${total} checks, ${failed} failed\n`);
  return failed === 0 ? ExitCode.ok : ExitCode.runtime;
}

export function formatCheck(check: Check): string {
  return `${check.verdict} ${check.host} ${check.check}: ${check.detail}${check.fix ? `; fix: ${check.fix}` : ''}`;
}

/** Every check of one list server, in order; later steps are skipped once one fails. */
export async function checkListServer(server: ListServer): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (check: string, verdict: Verdict, detail: string, fix?: string): boolean => {
    // The transport's messages start with the host's name, which the line already shows.
    const text = detail.startsWith(`${server.name}: `) ? detail.slice(server.name.length + 2) : detail;
    checks.push({ host: server.name, check, verdict, detail: text, ...(fix ? { fix } : {}) });
    return verdict === 'PASS';
  };
  const sources = server.sources.map((config, index) => ({
    label: `sources[${index}]`,
    type: String(config['type']),
    command: getSourceType(String(config['type'])).command(config),
  }));
  const remote = sources.filter((source): source is typeof source & { command: string } => source.command !== null);
  if (remote.length === 0) {
    add('sources', 'PASS', 'static sources only: no connection needed');
    return checks;
  }
  const target = server.ssh;
  if (target.local) {
    add('connection', 'PASS', `local: the commands run on this control node as ${userInfo().username}, without SSH`);
    const session = await connectSsh(target);
    try {
      await runSources(session);
    } finally {
      session.close();
    }
    return checks;
  }
  const local = [await checkKey(target), await checkKnownHosts(target)];
  for (const [name, result] of local) add(name, result.verdict, result.detail, result.fix);
  // Through a jump host, only the jump host is reachable from here; the ssh check covers the rest.
  const tcp = await checkTcp(target.jump ? { ...target, host: target.jump.host, port: target.jump.port } : target);
  add('tcp', tcp.verdict, target.jump ? `jump host ${tcp.detail}` : tcp.detail, tcp.fix);

  let session: RemoteSession | undefined;
  if (local.every(([, result]) => result.verdict === 'PASS') && tcp.verdict === 'PASS') {
    try {
      session = await connectSsh(target);
      const via = target.jump ? ` via jump host ${target.jump.user}@${target.jump.host}:${target.jump.port}` : '';
      add('ssh', 'PASS', `authenticated as ${target.user}@${where(target)}${via}, host key matches ${target.knownHostsFile}`);
    } catch (error) {
      add('ssh', 'FAIL', messageOf(error), sshFix(error, target));
    }
  } else {
    add('ssh', 'SKIP', 'not tried: fix the checks above first');
  }

  try {
    await runSources(session);
  } finally {
    session?.close();
  }
  return checks;

  async function runSources(session: RemoteSession | undefined): Promise<void> {
    for (const source of remote) {
      const name = `${source.label} (${source.type})`;
      if (!session) {
        add(name, 'SKIP', `not run: ${source.command}`);
        continue;
      }
      try {
        const result = await session.run(source.command, { timeoutMs: server.commandTimeoutMs, maxOutputBytes: server.maxOutputBytes, onLine: () => undefined });
        if (result.exitCode === 0) {
          add(name, 'PASS', `${source.command}: exit 0, ${result.lines} lines`);
        } else {
          const stderr = lastLine(result.stderr);
          add(name, 'FAIL', `${source.command}: exit code ${result.exitCode}${stderr ? `: ${stderr}` : ''}`, commandFix(result.exitCode, result.stderr, source.command, target));
        }
      } catch (error) {
        add(name, 'FAIL', messageOf(error));
      }
    }
  }
}

interface Outcome {
  verdict: Verdict;
  detail: string;
  fix?: string;
}

async function checkKey(target: SshTarget): Promise<[string, Outcome]> {
  const file = target.privateKeyFile;
  if (!file) {
    if (!target.agentSocket) {
      return ['key', { verdict: 'FAIL', detail: 'no key file (ansible_ssh_private_key_file) and no ssh-agent (SSH_AUTH_SOCK)', fix: 'set ansible_ssh_private_key_file for this host, or run rcptsync with an ssh-agent holding the key' }];
    }
    try {
      const info = await stat(target.agentSocket);
      if (!info.isSocket()) throw Object.assign(new Error('not a socket'), { code: 'ENOTSOCK' });
      return ['key', { verdict: 'PASS', detail: `ssh-agent at ${target.agentSocket}` }];
    } catch (error) {
      return ['key', { verdict: 'FAIL', detail: `ssh-agent socket ${target.agentSocket}: ${codeOf(error)}`, fix: 'start an ssh-agent and add the key (ssh-add), or set ansible_ssh_private_key_file' }];
    }
  }
  const create = `create it (ssh-keygen -t ed25519 -N '' -f ${file}) and authorize ${file}.pub on the list server (docs/production.md)`;
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    return ['key', { verdict: 'FAIL', detail: `${file}: ${codeOf(error)}`, fix: codeOf(error) === 'ENOENT' ? create : `make ${file} readable by this user` }];
  }
  if (!info.isFile()) return ['key', { verdict: 'FAIL', detail: `${file} is not a file`, fix: create }];
  const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
  let data: Buffer;
  try {
    await access(file, constants.R_OK);
    data = await readFile(file);
  } catch (error) {
    return ['key', { verdict: 'FAIL', detail: `cannot read ${file}: ${codeOf(error)}`, fix: `run as the key's owner, or chown it to the user that runs rcptsync and chmod 600 ${file}` }];
  }
  if ((info.mode & 0o077) !== 0) {
    return ['key', { verdict: 'FAIL', detail: `${file} is accessible to group or others (mode ${mode})`, fix: `chmod 600 ${file} (OpenSSH refuses such a key, and anyone who can read it can log in as this collector)` }];
  }
  const parsed = ssh2.utils.parseKey(data);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    return [
      'key',
      {
        verdict: 'FAIL',
        detail: `${file} is not a usable private key: ${parsed.message}`,
        fix: encrypted ? 'rcptsync runs unattended and asks for no passphrase: load the key into an ssh-agent (SSH_AUTH_SOCK) instead of ansible_ssh_private_key_file, or use a key without one' : 'point ansible_ssh_private_key_file at the private key (not the .pub)',
      },
    ];
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return ['key', { verdict: 'PASS', detail: `${file} (${key?.type ?? 'key'}, mode ${mode})` }];
}

async function checkKnownHosts(target: SshTarget): Promise<[string, Outcome]> {
  if (target.jump) {
    // Both keys are pinned: the jump host's first, then the list server's.
    const jump = await checkKnownHosts({ ...target, host: target.jump.host, port: target.jump.port, jump: undefined } as SshTarget);
    if (jump[1].verdict !== 'PASS') return ['known_hosts', { ...jump[1], detail: `jump host: ${jump[1].detail}` }];
    const own = await checkKnownHosts({ ...target, jump: undefined } as SshTarget);
    return own[1].verdict === 'PASS' ? ['known_hosts', { verdict: 'PASS', detail: `${own[1].detail}, and the jump host's: ${jump[1].detail}` }] : own;
  }
  const file = target.knownHostsFile;
  const name = knownHostsName(target.host, target.port);
  const scan = `check the fingerprint out of band, then \`ssh-keyscan -p ${target.port} ${target.host} >> ${file}\``;
  try {
    const knownHosts = readKnownHosts(file);
    const types = pinnedKeyTypes(knownHosts, target.host, target.port);
    if (types.length === 0) return ['known_hosts', { verdict: 'FAIL', detail: `no key for ${name} in ${file}`, fix: scan }];
    return ['known_hosts', { verdict: 'PASS', detail: `${file} pins ${types.join(', ')} for ${name}` }];
  } catch (error) {
    return ['known_hosts', { verdict: 'FAIL', detail: messageOf(error), fix: `set rcptsync_known_hosts_file, or ${scan}` }];
  }
}

/** A TCP connect and the server's identification line, which needs neither key nor known_hosts. */
function checkTcp(target: SshTarget): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: target.host, port: target.port });
    let banner = '';
    let done = false;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => finish({ verdict: 'FAIL', detail: `${where(target)}: no SSH identification within ${target.connectTimeoutMs / 1000} s`, fix: 'check ansible_host/ansible_port, the route and firewalls from this control node' }),
      target.connectTimeoutMs,
    );
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      banner += chunk;
      const end = banner.indexOf('\n');
      if (end >= 0 || banner.length > 255) {
        const line = banner.slice(0, end >= 0 ? end : 255).replace(/\r$/, '');
        if (line.startsWith('SSH-')) finish({ verdict: 'PASS', detail: `${where(target)} answers ${line}` });
        else finish({ verdict: 'FAIL', detail: `${where(target)} is not an SSH server (it sent ${JSON.stringify(line.slice(0, 60))})`, fix: 'set ansible_port to the port of sshd' });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      const fix =
        error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
          ? 'set ansible_host to a name this control node resolves, or an address'
          : 'check that sshd runs there, ansible_host/ansible_port, the route and firewalls from this control node';
      finish({ verdict: 'FAIL', detail: `${where(target)}: ${error.code ?? error.message}`, fix });
    });
    socket.on('close', () => finish({ verdict: 'FAIL', detail: `${where(target)} closed the connection before identifying itself`, fix: 'check sshd there (MaxStartups, tcp wrappers, a firewall resetting connections)' }));
  });
}

function sshFix(error: unknown, target: SshTarget): string | undefined {
  const message = messageOf(error);
  if (/authentication failed/.test(message)) {
    const key = target.privateKeyFile ? `${target.privateKeyFile}.pub` : 'the agent\'s public key';
    return `add ${key} to ~${target.user}/.ssh/authorized_keys on the list server (with the restrict,from= options of docs/production.md), or fix ansible_user`;
  }
  if (/HOST KEY CHANGED/.test(message)) return 'verify the new key out of band before replacing the old line in known_hosts';
  if (/not in .*offered/.test(message)) return `check the fingerprint out of band, then add the key to ${target.knownHostsFile}`;
  return undefined;
}

function commandFix(exitCode: number, stderr: string, command: string, target: SshTarget): string | undefined {
  if (/rcptsync-forced-command: refused/.test(stderr)) return `add the line \`${command}\` to the forced command's allowlist on the list server`;
  if (/sudo: a password is required|sudo: a terminal is required|is not allowed to execute|may not run sudo|not in the sudoers/.test(stderr)) {
    return `allow ${target.user} exactly this command in /etc/sudoers.d on the list server (examples/production/sudoers, docs/production.md)`;
  }
  if (exitCode === 127) return 'the command is not installed or not on the PATH of a non-interactive login there';
  if (exitCode === 126) return 'the command exists but may not be executed by this user';
  return undefined;
}

function where(target: SshTarget): string {
  return `${target.host}:${target.port}`;
}

/** The last line of stderr: where sudo and most tools put the error (sshd may warn before it). */
function lastLine(text: string): string {
  return text.trim().split('\n').at(-1)?.trim() ?? '';
}

function messageOf(error: unknown): string {
  if (error instanceof RcptsyncError) return error.message;
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? messageOf(error);
}
