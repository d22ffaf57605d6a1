/**
 * Connection variables rcptsync's SSH client cannot honour are refused on list
 * servers, with host, variable and file:line (real ansible-inventory over a
 * YAML inventory), and what to do instead; what it can ignore safely passes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../../../src/errors.js';
import { jumpOf, parseJumpSpec, sshArgProblems } from '../../../src/inventory/connection.js';
import { parseInventoryJson, resolveInventory } from '../../../src/inventory/resolve.js';
import { checkInventory } from '../../../src/inventory/validate.js';

const staticSources = [{ type: 'static', addresses: ['listmaster@lists.example.org'] }];

function problemsOf(listVars: Record<string, unknown>, gatewayVars: Record<string, unknown> = {}): ConfigProblem[] {
  const data = {
    _meta: {
      hostvars: {
        lists1: { rcptsync_sources: staticSources, ...listVars },
        mx1: { rcptsync_relay_domains: { 'lists.example.org': 'smtp:[lists1.example.org]:25' }, ...gatewayVars },
      },
    },
    all: { children: ['ungrouped', 'list_servers', 'mail_gateways'] },
    list_servers: { hosts: ['lists1'] },
    mail_gateways: { hosts: ['mx1'] },
  };
  return checkInventory(parseInventoryJson(data, 'test.json')).problems;
}

describe('connection variables on a real inventory', () => {
  let dir: string;
  let problems: ConfigProblem[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rcptsync-connection-'));
    mkdirSync(join(dir, 'group_vars'));
    mkdirSync(join(dir, 'host_vars'));
    writeFileSync(
      join(dir, 'hosts.yml'),
      [
        'all:',
        '  children:',
        '    list_servers:',
        '      hosts:',
        '        lists1:',
        '        lists2:',
        '        lists3:',
        '    mail_gateways:',
        '      hosts:',
        '        mx1:',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'group_vars', 'list_servers.yml'), `rcptsync_sources:\n  - type: static\n    addresses: [listmaster@lists.example.org]\n`);
    // Typical of a site whose gateways sit behind a bastion: set for all hosts.
    writeFileSync(join(dir, 'group_vars', 'all.yml'), `ansible_user: deploy\nansible_become: true\n`);
    writeFileSync(join(dir, 'host_vars', 'lists1.yml'), `ansible_host: 10.1.0.5\nansible_ssh_common_args: "-o ProxyJump=bastion1.example.org,bastion2.example.org"\n`);
    writeFileSync(join(dir, 'host_vars', 'lists2.yml'), `ansible_connection: docker\nansible_become: false\n`);
    writeFileSync(join(dir, 'host_vars', 'lists3.yml'), `ansible_become: false\nansible_ssh_extra_args: "-o ControlMaster=auto -o ControlPersist=60s -C"\n`);
    writeFileSync(join(dir, 'host_vars', 'mx1.yml'), `rcptsync_relay_domains:\n  lists.example.org: "smtp:[lists1.example.org]:25"\nansible_ssh_common_args: "-J bastion.example.org"\n`);
    problems = checkInventory(await resolveInventory({ inventory: dir })).problems;
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a chain of jump hosts, another connection plugin and become on list servers, at the line that sets them', () => {
    const at = (file: string): string => join(dir, file); // outside the working directory: shown absolute
    expect(problems.map(({ host, path, file, line }) => ({ host, path, file, line }))).toEqual([
      { host: 'lists1', path: 'ansible_become', file: at('group_vars/all.yml'), line: 2 },
      { host: 'lists1', path: 'ansible_ssh_common_args', file: at('host_vars/lists1.yml'), line: 2 },
      { host: 'lists2', path: 'ansible_connection', file: at('host_vars/lists2.yml'), line: 1 },
    ]);
    const [become, jump, plugin] = problems;
    expect(jump!.message).toMatch(
      /^-o ProxyJump=bastion1\.example\.org,bastion2\.example\.org: a chain of jump hosts is not supported; rcptsync tunnels through one jump host given as -o ProxyJump=\[user@\]host\[:port\] .*ssh -N -L 2222:LISTSERVER:22 bastion.*ansible_host: 127\.0\.0\.1 and ansible_port: 2222/,
    );
    expect(plugin!.message).toMatch(/^is "docker", but rcptsync reaches list servers only with its own SSH client, or runs the commands on the control node itself \(local\): .*set ansible_connection: ssh$/);
    expect(become!.message).toMatch(/^rcptsync never becomes another user: .*group_vars\/mail_gateways/);
  });

  it('leaves the gateways alone: Ansible, not rcptsync, connects to them for a sync', () => {
    expect(problems.filter((problem) => problem.host === 'mx1')).toEqual([]);
  });

  it('accepts OpenSSH options that only tune the ssh process', () => {
    expect(problems.filter((problem) => problem.host === 'lists3')).toEqual([]);
  });
});

describe('each connection variable', () => {
  it('refuses passwords', () => {
    for (const name of ['ansible_password', 'ansible_ssh_pass', 'ansible_ssh_password']) {
      expect(problemsOf({ [name]: 'secret' })).toEqual([
        expect.objectContaining({ host: 'lists1', path: name, message: expect.stringMatching(/^rcptsync authenticates with a key only/) }),
      ]);
    }
  });

  it('accepts ssh and local connections under their names, refuses other plugins', () => {
    for (const name of ['ssh', 'smart', 'paramiko', 'ansible.builtin.ssh', 'local', 'ansible.builtin.local']) expect(problemsOf({ ansible_connection: name })).toEqual([]);
    expect(problemsOf({ ansible_connection: 'community.docker.docker' })).toEqual([
      expect.objectContaining({ path: 'ansible_connection', message: expect.stringMatching(/^is "community\.docker\.docker", but .*set ansible_connection: ssh$/) }),
    ]);
  });

  it('ignores SSH settings of a local host, but not become', () => {
    expect(problemsOf({ ansible_connection: 'local', ansible_ssh_common_args: '-o ProxyCommand=x', ansible_password: 'x' })).toEqual([]);
    expect(problemsOf({ ansible_connection: 'local', ansible_become: true })).toEqual([expect.objectContaining({ path: 'ansible_become' })]);
  });

  it('takes become as Ansible does: only a true value matters', () => {
    expect(problemsOf({ ansible_become: 'yes' })).toHaveLength(1);
    expect(problemsOf({ ansible_become: 'no', ansible_become_user: 'root' })).toEqual([]);
    expect(problemsOf({ ansible_become: false })).toEqual([]);
  });

  it('refuses a templated argument string, which only a playbook evaluates', () => {
    expect(problemsOf({ ansible_ssh_common_args: '-o ProxyJump={{ bastion }}' })).toEqual([
      expect.objectContaining({ path: 'ansible_ssh_common_args', message: expect.stringMatching(/Jinja/) }),
    ]);
  });
});

describe('sshArgProblems', () => {
  it('accepts one jump host in every spelling', () => {
    for (const args of ['-o ProxyJump=b', '-oProxyJump=b', '-o "ProxyJump b"', '-o proxyjump=u@b:2222', '-J b', '-Jb', '-J ssh://u@[2001:db8::1]:22', '-o ProxyJump=none']) {
      expect(sshArgProblems(args), args).toEqual([]);
    }
  });

  it('refuses a chain, a proxy command, -W and a malformed jump host', () => {
    for (const [args, reason] of [
      ['-J a,b', /^-J a,b: a chain of jump hosts is not supported/],
      ["-o 'ProxyCommand=ssh -W %h:%p b'", /^-o ProxyCommand=ssh -W %h:%p b: rcptsync tunnels through one jump host given as -o ProxyJump/],
      ['-W h:22', /^-W h:22: rcptsync tunnels through one jump host/],
      ['-o ProxyJump=u@b:99999', /^-o ProxyJump=u@b:99999: port 99999 is not 1-65535/],
      ['-J "b c"', /^-J b c: "b c" is not \[user@\]host\[:port\]/],
    ] as const) {
      const problems = sshArgProblems(args);
      expect(problems, args).toHaveLength(1);
      expect(problems[0], args).toMatch(reason);
    }
  });

  it('says which variable to use instead of an option that changes the target', () => {
    expect(sshArgProblems('-p 2222 -l admin -i ~/.ssh/k -o Port=22 -o UserKnownHostsFile=/dev/null -F cfg')).toEqual([
      '-p 2222: set ansible_port instead',
      '-l admin: set ansible_user instead',
      '-i ~/.ssh/k: set ansible_ssh_private_key_file instead (or load the key into an ssh-agent)',
      '-o Port=22: set ansible_port instead',
      '-o UserKnownHostsFile=/dev/null: rcptsync checks host keys against rcptsync_known_hosts_file (default ~/.ssh/known_hosts): set that to this file',
      '-F cfg: rcptsync reads no ssh_config; set ansible_host, ansible_port, ansible_user and ansible_ssh_private_key_file',
    ]);
  });

  it('accepts an option that says what rcptsync uses anyway', () => {
    const uses = { port: '2222', user: 'rcptsync', keyFile: '/keys/k', knownHostsFile: '/lab/known_hosts' };
    expect(sshArgProblems('-o UserKnownHostsFile=/lab/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5', uses)).toEqual([]);
    expect(sshArgProblems('-p 2222 -o User=rcptsync -i /keys/k', uses)).toEqual([]);
    expect(sshArgProblems('-o UserKnownHostsFile=/other -p 22', uses)).toHaveLength(2);
  });

  it('compares with the variables the list server has (the e2e lab sets the same known_hosts twice)', () => {
    const args = '-o UserKnownHostsFile=/lab/known_hosts -o StrictHostKeyChecking=yes';
    expect(problemsOf({ ansible_ssh_common_args: args, rcptsync_known_hosts_file: '/lab/known_hosts' })).toEqual([]);
    expect(problemsOf({ ansible_ssh_common_args: args })).toEqual([
      expect.objectContaining({ path: 'ansible_ssh_common_args', message: expect.stringMatching(/^-o UserKnownHostsFile=\/lab\/known_hosts: rcptsync checks host keys against/) }),
    ]);
  });

  it('accepts process-only options, refuses unknown ones', () => {
    expect(sshArgProblems('-C -q -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=30 -o StrictHostKeyChecking=no -S /tmp/ctl -vv')).toEqual([]);
    expect(sshArgProblems('-o Tunnel=yes -Z')).toEqual([
      "-o Tunnel=yes: an OpenSSH option rcptsync's SSH client does not honour; remove it for the list servers (set it only for the hosts that need it, e.g. group_vars/mail_gateways)",
      "-Z: an ssh option rcptsync's SSH client does not honour; remove it for the list servers",
    ]);
    expect(sshArgProblems('bastion')).toEqual(['"bastion" is not an ssh option; rcptsync cannot honour it']);
  });
});

describe('the jump host rcptsync follows', () => {
  it('parses [user@]host[:port], ssh:// and bracketed IPv6', () => {
    expect(parseJumpSpec('bastion.example.org')).toEqual({ host: 'bastion.example.org', port: 22 });
    expect(parseJumpSpec('ops@bastion:2222')).toEqual({ host: 'bastion', port: 2222, user: 'ops' });
    expect(parseJumpSpec('ssh://ops@[2001:db8::1]:22')).toEqual({ host: '2001:db8::1', port: 22, user: 'ops' });
    expect(parseJumpSpec('none')).toBe('none');
  });

  it('takes the first ProxyJump of ansible_ssh_args, _common_args, _extra_args, as OpenSSH takes the first value', () => {
    expect(jumpOf({ ansible_ssh_common_args: '-C -o ProxyJump=ops@b1:2222', ansible_ssh_extra_args: '-J b2' })).toEqual({ host: 'b1', port: 2222, user: 'ops' });
    expect(jumpOf({ ansible_ssh_extra_args: '-o ControlMaster=auto -J b2' })).toEqual({ host: 'b2', port: 22 });
    expect(jumpOf({ ansible_ssh_common_args: '-o "ProxyJump b3"' })).toEqual({ host: 'b3', port: 22 });
    expect(jumpOf({ ansible_ssh_common_args: '-o ProxyJump=none' })).toBeUndefined();
    expect(jumpOf({ ansible_ssh_common_args: '-o ControlPersist=60s' })).toBeUndefined();
  });
});
