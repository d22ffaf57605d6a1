/**
 * The lab itself: three hosts in network namespaces, each reachable only over its
 * private address, each with its own sshd and private /etc/postfix; real Postfix
 * on the gateways, real Mailman 3 on the list server. The sync suite builds on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALIAS_KEYS, INITIAL_LISTS, netnsMountCopies, startLab, type Lab } from '../lab/lab.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';
import { run } from '../lab/run.mjs';

let lab: Lab;

beforeAll(async () => {
  lab = await startLab();
}, 180_000);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('the e2e lab', () => {
  it('puts each host in its own namespace with no way out', async () => {
    for (const host of Object.values(lab.hosts)) {
      const { stdout } = await lab.exec(host.name, 'ip -4 -o addr show dev eth0; ip route');
      expect(stdout).toContain(`inet ${host.address}/24`);
      expect(stdout).not.toMatch(/^default/m);
    }
  });

  it('lets the control node in over SSH with the lab key and pinned host keys, and each host sees its own /etc/postfix', async () => {
    for (const gateway of lab.gateways) {
      const { stdout } = await lab.ssh(gateway.name, 'postconf -h inet_interfaces');
      expect(stdout.trim()).toBe(gateway.address);
    }
    const list = await lab.ssh('list1', 'grep -c "^layout: lab" /etc/mailman3/mailman.cfg');
    expect(list.stdout.trim()).toBe('1');
  });

  it('refuses a host key that is not the pinned one', async () => {
    const result = await run(
      'ssh',
      ['-o', 'UserKnownHostsFile=/dev/null', ...lab.sshOptions(), `root@${lab.host('gw1').address}`, 'true'],
      { check: false },
    );
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/Host key verification failed|No .*host key is known/);
  });

  it('runs a Postfix on port 25 of each gateway that refuses to relay for the control node', async () => {
    for (const gateway of lab.gateways) {
      const replies = await probeRecipients(gateway.address, ['someone@example.com']);
      expect(replies[0]?.text).toBe('554 5.7.1 <someone@example.com>: Relay access denied');
    }
  });

  it('serves the Mailman 3 lists over SSH, and creates and removes lists through the real CLI', async () => {
    const { stdout } = await lab.ssh('list1', lab.mailmanListsCommand);
    expect(stdout.split('\n')[0]).toBe(`${INITIAL_LISTS.length} matching mailing lists found:`);
    expect(stdout.split('\n').slice(1).map((line) => line.trim()).filter(Boolean)).toEqual([...INITIAL_LISTS].sort());

    await lab.mailman(['create', 'smoke@news.example.test']);
    expect(await lab.mailmanLists()).toContain('smoke@news.example.test');
    await lab.mailman(['remove', 'smoke@news.example.test']);
    expect(await lab.mailmanLists()).not.toContain('smoke@news.example.test');
  }, 60_000);

  it('keeps the aliases file readable on the list server', async () => {
    const { stdout } = await lab.ssh('list1', `cat ${lab.aliasesFile}`);
    for (const key of ALIAS_KEYS) expect(stdout).toMatch(new RegExp(`^${key}:`, 'm'));
  });

  it('writes an inventory Ansible can use to reach every host', async () => {
    const result = await run('ansible', ['all', '-i', lab.inventoryFile, '-m', 'ansible.builtin.ping', '-o'], {
      env: lab.env,
      check: false,
    });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const name of Object.keys(lab.hosts)) expect(result.stdout).toMatch(new RegExp(`^${name} \\| SUCCESS`, 'm'));
  });

  it('makes a host unreachable over SSH and back', async () => {
    await lab.stopSsh('list1');
    const down = await lab.ssh('list1', 'true', { check: false });
    expect(down.code).toBe(255);
    expect(down.stderr).toMatch(/Connection refused/);
    await lab.startSsh('list1');
    expect((await lab.ssh('list1', 'echo up')).stdout.trim()).toBe('up');
  });

  it('runs beside a second lab on another network, and is untouched when that one stops', async () => {
    const network = { bridge: 'rsalt0', netnsPrefix: 'rsalt-', subnet: '10.215.0' };
    const second = await startLab({ dir: '/var/tmp/rcptsync-lab-second', lists: [], network });
    try {
      expect((await second.ssh('gw1', 'echo up')).stdout.trim()).toBe('up');
      expect(second.host('gw1').address).toBe('10.215.0.21');
      // Neither lab's holders keep the other's namespaces alive.
      expect(netnsMountCopies(lab.network.netnsPrefix)).toEqual([]);
      expect(netnsMountCopies(network.netnsPrefix)).toEqual([]);
    } finally {
      await second.stop();
    }
    const { stdout: namespaces } = await run('ip', ['netns', 'list']);
    expect(namespaces).not.toContain(network.netnsPrefix);
    const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
    expect(links).not.toMatch(/^\d+: rsalt/m);
    expect(netnsMountCopies(network.netnsPrefix)).toEqual([]);

    for (const gateway of lab.gateways) {
      expect((await lab.ssh(gateway.name, 'echo still-up')).stdout.trim()).toBe('still-up');
      const replies = await probeRecipients(gateway.address, ['someone@example.com']);
      expect(replies[0]?.text).toBe('554 5.7.1 <someone@example.com>: Relay access denied');
    }
  }, 180_000);
});
