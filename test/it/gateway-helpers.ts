/**
 * Throwaway Postfix gateways for the role's tests: each a real `postfix -c DIR`
 * instance with its own queue and data directories and smtpd on a free loopback
 * port (chroot off), plus a hand-made rendered tree like rcptsync's and
 * ansible-playbook over a local connection. Every verdict comes from Postfix:
 * postconf, postmap -q, and SMTP at RCPT time (nothing is queued).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/cli.js';

export function run(command: string, args: string[], timeout = 300_000): { status: number; out: string } {
  const result = spawnSync(command, args, {
    cwd: REPO,
    encoding: 'utf8',
    timeout,
    env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ANSIBLE_RETRY_FILES_ENABLED: '0' },
  });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, out: `${result.stdout}\n${result.stderr}` };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: found } = server.address() as { port: number };
      server.close(() => resolve(found));
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One Postfix instance under its own directory. */
export class ScratchPostfix {
  readonly etc: string;
  readonly mapDir: string;
  readonly log: string;

  private constructor(
    readonly name: string,
    readonly root: string,
    readonly port: number,
  ) {
    this.etc = join(root, 'etc');
    this.mapDir = join(this.etc, 'rcptsync');
    this.log = join(root, 'log', 'mail.log');
  }

  /** Builds and starts an instance; `mainCf` lines are appended to the base main.cf (a site's own settings). */
  static async start(name: string, mainCf: string[] = []): Promise<ScratchPostfix> {
    const root = mkdtempSync(join(tmpdir(), `rcptsync-${name}-`));
    const gw = new ScratchPostfix(name, root, await freePort());
    chmodSync(root, 0o755);
    for (const dir of ['etc', 'spool', 'data', 'log']) mkdirSync(join(root, dir));
    const postfixUid = Number(run('id', ['-u', 'postfix']).out.trim().split('\n')[0]);
    chownSync(join(root, 'data'), postfixUid, -1);
    copyFileSync('/etc/postfix/master.cf', join(gw.etc, 'master.cf'));
    const key = (line: string) => line.split('=')[0]!.trim();
    const overridden = new Set(mainCf.map(key));
    writeFileSync(
      join(gw.etc, 'main.cf'),
      [
        'compatibility_level = 3.6',
        `queue_directory = ${root}/spool`,
        `data_directory = ${root}/data`,
        `myhostname = ${name}.rcptsync.test`,
        'mydestination =',
        'mynetworks = 192.0.2.1/32',
        'inet_interfaces = 127.0.0.1',
        'inet_protocols = ipv4',
        `maillog_file = ${gw.log}`,
        `maillog_file_prefixes = ${root}`,
      ]
        .filter((line) => !overridden.has(key(line)))
        .concat(mainCf, [''])
        .join('\n'),
    );
    gw.postconf('-F', '*/*/chroot = n');
    gw.postconf('-M#', 'smtp/inet');
    gw.postconf('-Me', `${gw.service}/inet = ${gw.service} inet n - n - - smtpd`);
    const started = run('postfix', ['-c', gw.etc, 'start']);
    if (started.status !== 0) throw new Error(`postfix start failed: ${started.out}`);
    return gw;
  }

  /** master.cf name of the public SMTP service. */
  get service(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** postconf -c ETC ARGS; throws on failure; returns stdout+stderr. */
  postconf(...args: string[]): string {
    const r = run('postconf', ['-c', this.etc, ...args]);
    if (r.status !== 0) throw new Error(r.out);
    return r.out;
  }

  /** `postconf -h NAME` (raw, as main.cf has it). */
  value(name: string): string {
    return this.postconf('-h', name).trim();
  }

  /** `postconf -n` as text: main.cf's explicit settings. */
  explicit(): string {
    return this.postconf('-n').trim();
  }

  reload(): void {
    const r = run('postfix', ['-c', this.etc, 'reload']);
    if (r.status !== 0) throw new Error(r.out);
  }

  stop(): void {
    run('postfix', ['-c', this.etc, 'stop']);
    rmSync(this.root, { recursive: true, force: true });
  }

  /** How often the master logged a reload so far. */
  reloads(): number {
    return existsSync(this.log) ? (readFileSync(this.log, 'utf8').match(/ reload -- version /g) ?? []).length : 0;
  }

  /** One SMTP session up to RCPT; returns the RCPT reply line. */
  rcpt(address: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      const steps = ['EHLO probe.invalid', 'MAIL FROM:<>', `RCPT TO:<${address}>`];
      let buffer = '';
      socket.setTimeout(20_000, () => socket.destroy(new Error(`SMTP timeout probing ${address}`)));
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buffer += chunk.toString('utf8');
        // A complete reply ends with a line "NNN text" (no dash after the code).
        const lines = buffer.split('\r\n');
        const last = lines[lines.length - 2];
        if (last === undefined || !/^\d{3} /.test(last)) return;
        buffer = '';
        const step = steps.shift();
        if (step === undefined) {
          socket.end('QUIT\r\n');
          resolve(last);
        } else {
          socket.write(`${step}\r\n`);
        }
      });
      socket.connect(this.port, '127.0.0.1');
    });
  }

  /** Postfix applies a reload asynchronously: ask until the answer matches. */
  async eventually(address: string, expected: RegExp): Promise<string> {
    let last = '';
    for (let attempt = 0; attempt < 20; attempt++) {
      last = await this.rcpt(address);
      if (expected.test(last)) return last;
      await sleep(500);
    }
    return last;
  }
}

/** Writes rendered/<gw>/ and a manifest like rcptsync's: the given addresses per gateway. */
export function renderTree(rendered: string, gateways: Record<string, string[]>, nexthop = 'smtp:[192.0.2.10]:25'): void {
  const manifest: Record<string, unknown> = {};
  for (const [gateway, addresses] of Object.entries(gateways)) {
    const domains = [...new Set(addresses.map((a) => a.split('@')[1]!))].sort();
    const sorted = [...addresses].sort((a, b) => {
      const [la, da] = a.split('@') as [string, string];
      const [lb, db] = b.split('@') as [string, string];
      return da === db ? (la < lb ? -1 : la > lb ? 1 : 0) : da < db ? -1 : 1;
    });
    const header = '# Generated by rcptsync; do not edit.\n';
    const files: Record<string, string> = {
      relay_recipients: header + sorted.map((a) => `${a} OK\n`).join(''),
      relay_domains: header + domains.map((d) => `${d} OK\n`).join(''),
      transport: header + domains.map((d) => `${d} ${nexthop}\n`).join(''),
      'vars.yml': `rcptsync_rendered:\n  gateway: ${gateway}\n`,
    };
    mkdirSync(join(rendered, gateway), { recursive: true });
    const manifestFiles: Record<string, Record<string, unknown>> = {};
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(rendered, gateway, name), text);
      const entry: Record<string, unknown> = { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text) };
      if (name !== 'vars.yml') entry['entries'] = text.split('\n').filter((l) => l.trim() && !l.startsWith('#')).length;
      manifestFiles[name] = entry;
    }
    const perDomain = Object.fromEntries(domains.map((d) => [d, { entries: sorted.filter((a) => a.endsWith(`@${d}`)).length }]));
    manifest[gateway] = { files: manifestFiles, domains: perDomain };
  }
  writeFileSync(join(rendered, 'manifest.json'), `${JSON.stringify({ format: 'rcptsync-manifest', version: 1, gateways: manifest }, null, 2)}\n`);
}

/** An INI inventory: each gateway over a local connection, pointed at its instance. */
export function writeInventory(path: string, gateways: ScratchPostfix[], rendered: string, vars: Record<string, string> = {}): void {
  writeFileSync(
    path,
    [
      '[mail_gateways]',
      ...gateways.map(
        (gw) =>
          `${gw.name} ansible_connection=local ansible_python_interpreter=/usr/bin/python3 ` +
          `postfix_relay_gateway_config_dir=${gw.etc} postfix_relay_gateway_map_dir=${gw.mapDir} ` +
          `postfix_relay_gateway_smtp_host=127.0.0.1 postfix_relay_gateway_smtp_port=${gw.port}`,
      ),
      '',
      '[mail_gateways:vars]',
      `postfix_relay_gateway_rendered_dir=${rendered}`,
      ...Object.entries(vars).map(([key, value]) => `${key}=${value}`),
      '',
    ].join('\n'),
  );
}

export interface PlaybookResult {
  status: number;
  out: string;
  /** PLAY RECAP counts per host. */
  recap: Record<string, Record<string, number>>;
}

export function playbook(inventory: string, name: string, ...extra: string[]): PlaybookResult {
  const result = run('ansible-playbook', ['-i', inventory, join(REPO, 'playbooks', name), ...extra]);
  const recap: Record<string, Record<string, number>> = {};
  const start = result.out.lastIndexOf('PLAY RECAP');
  for (const line of start < 0 ? [] : result.out.slice(start).split('\n').slice(1)) {
    const match = /^(\S+)\s*:\s*(.*ok=.*)$/.exec(line.trim());
    if (match) recap[match[1]!] = Object.fromEntries([...match[2]!.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
  }
  return { ...result, recap };
}
