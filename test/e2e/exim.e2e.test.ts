/**
 * A mixed fleet on real components (issue 11): one Postfix gateway (gw1, for
 * lists.example.test) and one Exim gateway (gw2, for news.example.test: Debian's
 * exim4 4.96 from its unpacked packages, Debian's split configuration, a site
 * domain of its own), one Mailman 3 list server, and the real
 * `ansible-playbook playbooks/sync.yml`. Every verdict comes from the MTA itself
 * at RCPT time over SMTP from the control node.
 *
 * Its own lab network (rsbr4, rsex-*, 10.213.4.0/24), so it runs beside the
 * default lab. The tests run in order and share the lab.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALIAS_KEYS, ALIASES_DOMAIN, INITIAL_LISTS, REPO_ROOT, mailman3Addresses, startLab, type Lab } from '../lab/lab.mjs';
import { EXIM_SITE_DOMAIN } from '../lab/exim.mjs';
import { describeRun, runPlaybook, type PlaybookRun } from '../lab/ansible.mjs';
import { probeRecipients, type RcptReply } from '../lab/smtp-probe.mjs';

const STEP_TIMEOUT = 600_000;
const POSTFIX_ACCEPTED = '250 2.1.5 Ok';
const EXIM_ACCEPTED = '250 Accepted';
const postfixUnknown = (address: string) => `550 5.1.1 <${address}>: Recipient address rejected: User unknown in relay recipient table`;
const eximUnknown = (address: string) => `550 5.1.1 <${address}>: unknown user`;
const postfixRelayDenied = (address: string) => `554 5.7.1 <${address}>: Relay access denied`;
const EXIM_RELAY_DENIED = '550 relay not permitted';

let lab: Lab;
const NEWS_LISTS = [...INITIAL_LISTS, 'daily@news.example.test', 'digest@news.example.test', 'events@news.example.test'];

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab({
    dir: '/var/tmp/rcptsync-lab-exim',
    network: { bridge: 'rsbr4', netnsPrefix: 'rsex-', subnet: '10.213.4' },
    gatewayMtas: { gw2: 'exim' },
    // More lists on the Exim gateway's domain, so that removing one stays under the 30% removal threshold.
    lists: NEWS_LISTS,
  });
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

const mixedCase = (address: string) => address.replace(/(^|[.@-])([a-z])/g, (_, separator: string, letter: string) => separator + letter.toUpperCase());
const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();
const exim = () => lab.host('gw2');
const postfix = () => lab.host('gw1');

function validAddresses(lists: string[]): string[] {
  const domains = [...new Set(lists.map(domainOf))];
  return [
    ...lists.flatMap((list) => mailman3Addresses(list)),
    ...lists.map((list) => list.replace('@', '-bounces+someone=example.org@')),
    ...lists.map((list) => list.replace('@', '-confirm+0123456789abcdef@')),
    ...lists.map(mixedCase),
    ...lists.map((list) => list.replace('@', '-owner@').toUpperCase()),
    ...domains.flatMap((domain) => [`postmaster@${domain}`, `abuse@${domain}`]),
    ...ALIAS_KEYS.map((key) => `${key}@${ALIASES_DOMAIN}`),
  ];
}

/** Each address probed on the gateway that relays its domain, in small batches. */
async function probeOnOwnGateway(addresses: string[]): Promise<RcptReply[]> {
  const replies: RcptReply[] = [];
  for (const gateway of lab.gateways) {
    const mine = addresses.filter((address) => gateway.domains.includes(domainOf(address)));
    for (let i = 0; i < mine.length; i += 8) replies.push(...(await probeRecipients(gateway.address, mine.slice(i, i + 8))));
  }
  return replies;
}

/** The answer each kind of gateway gives. */
const accepted = (address: string) => (exim().domains.includes(domainOf(address)) ? EXIM_ACCEPTED : POSTFIX_ACCEPTED);
const unknown = (address: string) => (exim().domains.includes(domainOf(address)) ? eximUnknown(address) : postfixUnknown(address));

/**
 * Exim folds a long reply into several lines (`550-5.1.1 <x>:` then `550 5.1.1
 * unknown user`); compared as the one line it says.
 */
const oneLine = (text: string) => text.replace(/^(\d{3})-/, '$1 ').replace(/\n\d{3}[ -](?:\d\.\d{1,3}\.\d{1,3} )?/g, ' ');

function mismatches(replies: RcptReply[], expected: (address: string) => string): string[] {
  return replies.filter((reply) => oneLine(reply.text) !== expected(reply.address)).map((reply) => `${reply.address}: ${reply.text}`);
}

function expectSuccess(result: PlaybookRun) {
  expect(result.code, describeRun(result)).toBe(0);
  for (const gateway of lab.gateways) expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Every file under the Exim gateway's /etc/exim4 and the generated configuration, with the daemon's SIGHUPs. */
function eximFingerprint(): { files: Record<string, string>; sighups: number } {
  const files: Record<string, string> = {};
  const walk = (root: string, dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(root, path);
      else if (entry.isFile()) files[path.slice(root.length)] = `${sha256(path)} ${statSync(path).mtimeMs}`;
    }
  };
  walk(lab.hostPath('gw2', '/etc/exim4'), lab.hostPath('gw2', '/etc/exim4'));
  const generated = lab.hostPath('gw2', '/var/lib/exim4/config.autogenerated');
  files['/var/lib/exim4/config.autogenerated'] = `${sha256(generated)} ${statSync(generated).mtimeMs}`;
  return { files, sighups: sighups() };
}

function sighups(): number {
  const log = readFileSync(lab.hostPath('gw2', '/var/log/exim4/mainlog'), 'utf8');
  return (log.match(/SIGHUP received: re-exec daemon/g) ?? []).length;
}

const daemonPid = () => readFileSync(lab.hostPath('gw2', '/run/exim4/exim.pid'), 'utf8').trim();

/** Runs a shell command on the Exim gateway (its namespaces). */
const onExim = (command: string) => lab.exec('gw2', command);

describe('sync.yml on a mixed fleet: real Postfix and real Exim from one Mailman 3', () => {
  let lists = [...NEWS_LISTS];

  it('the Exim gateway is Debian exim4 4.96 with its own site domain, before rcptsync', async () => {
    const { stdout } = await onExim('exim4 -bV | head -1; grep ^dc_ /etc/exim4/update-exim4.conf.conf');
    expect(stdout).toContain('Exim version 4.96');
    expect(stdout).toContain("dc_use_split_config='true'");
    expect(stdout).toContain(`dc_relay_domains='${EXIM_SITE_DOMAIN}'`);
    expect((await probeRecipients(exim().address, [`anyone@${EXIM_SITE_DOMAIN}`]))[0]!.text).toBe(EXIM_ACCEPTED);
    // Without rcptsync the domain is not even relayed.
    expect((await probeRecipients(exim().address, ['alerts@news.example.test']))[0]!.text).toBe(EXIM_RELAY_DENIED);
  }, STEP_TIMEOUT);

  let siteFiles: { hubbed: string; acl: string };
  it('runs rcptsync and deploys with the role of each gateway', async () => {
    siteFiles = {
      hubbed: sha256(lab.hostPath('gw2', '/etc/exim4/hubbed_hosts')),
      acl: sha256(lab.hostPath('gw2', '/etc/exim4/conf.d/acl/30_exim4-config_check_rcpt')),
    };
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    expect(result.stdout, describeRun(result)).toContain('TASK [exim_relay_gateway : Config | hook rcptsync into acl_check_rcpt');
    expect(result.stdout, describeRun(result)).toContain(`dc_relay_domains: ${EXIM_SITE_DOMAIN} -> ${EXIM_SITE_DOMAIN}:news.example.test`);
    const manifest = JSON.parse(readFileSync(join(lab.renderedDir, 'manifest.json'), 'utf8'));
    expect(manifest.gateways.gw2.mta).toBe('exim');
    expect(Object.keys(manifest.gateways.gw2.files).sort()).toEqual(['recipients', 'relay_domains', 'routes', 'vars.yml']);
    expect(Object.keys(manifest.gateways.gw1.files).sort()).toEqual(['relay_domains', 'relay_recipients', 'transport', 'vars.yml']);
    // What the Exim gateway has now is what was rendered, byte for byte.
    for (const file of ['recipients', 'relay_domains', 'routes']) {
      expect(sha256(lab.hostPath('gw2', `/etc/exim4/rcptsync/${file}`)), file).toBe(manifest.gateways.gw2.files[file].sha256);
    }
  }, STEP_TIMEOUT);

  it('accepts every list address, its 8 sub-addresses, VERP and confirm forms, mixed case, postmaster@ and abuse@ on both kinds', async () => {
    const addresses = validAddresses(lists);
    const replies = await probeOnOwnGateway(addresses);
    expect(replies).toHaveLength(addresses.length);
    expect(replies.filter((r) => domainOf(r.address) === 'news.example.test').length).toBeGreaterThan(20);
    expect(mismatches(replies, accepted)).toEqual([]);
  }, STEP_TIMEOUT);

  it("rejects unknown recipients with each MTA's 550, another gateway's domain as relay denied, and leaves the Exim site's own domain alone", async () => {
    const unknowns = [
      'nosuchlist@lists.example.test',
      'nosuchlist@news.example.test',
      'alertsx@news.example.test',
      'nosuch-bounces+someone=example.org@news.example.test',
      'weekly-admin@news.example.test',
    ];
    expect(mismatches(await probeOnOwnGateway(unknowns), unknown)).toEqual([]);
    expect((await probeRecipients(exim().address, ['announce@lists.example.test', 'someone@example.com'])).map((r) => r.text)).toEqual([
      EXIM_RELAY_DENIED,
      EXIM_RELAY_DENIED,
    ]);
    expect(mismatches(await probeRecipients(postfix().address, ['alerts@news.example.test']), postfixRelayDenied)).toEqual([]);
    // The site's domain: still relayed through its hubbed_hosts, any local part, as before rcptsync.
    const site = await probeRecipients(exim().address, [`anyone@${EXIM_SITE_DOMAIN}`, `nosuchlist@${EXIM_SITE_DOMAIN}`]);
    expect(site.map((r) => r.text)).toEqual([EXIM_ACCEPTED, EXIM_ACCEPTED]);
    expect(sha256(lab.hostPath('gw2', '/etc/exim4/hubbed_hosts'))).toBe(siteFiles.hubbed);
    expect(sha256(lab.hostPath('gw2', '/etc/exim4/conf.d/acl/30_exim4-config_check_rcpt'))).toBe(siteFiles.acl);
    // Known ones are routed to the list server by rcptsync's router, the site's domain by the site's.
    const { stdout } = await onExim(`exim4 -bt alerts@news.example.test anyone@${EXIM_SITE_DOMAIN}`);
    expect(stdout).toMatch(/alerts@news\.example\.test\n\s+router = rcptsync_relay_gateway, transport = remote_smtp\n\s+host 10\.213\.4\.11/);
    expect(stdout).toMatch(new RegExp(`anyone@${EXIM_SITE_DOMAIN.replaceAll('.', '\\.')}\\n\\s+router = hubbed_hosts`));
  }, STEP_TIMEOUT);

  it('verify.yml probes both kinds and passes', async () => {
    const result = await runPlaybook(lab, 'playbooks/verify.yml');
    expect(result.code, describeRun(result)).toBe(0);
    for (const gateway of lab.gateways) expect(result.stdout, describeRun(result)).toMatch(new RegExp(`${gateway.name}: \\d+ probes answered as expected`));
  }, STEP_TIMEOUT);

  it('a created and a removed list reach the Exim gateway with the next sync, with no SIGHUP: Exim re-reads lsearch files per lookup', async () => {
    const created = 'fresh@news.example.test';
    const removed = 'weekly@news.example.test';
    await lab.mailman(['create', created]);
    await lab.mailman(['remove', removed]);
    expect(mismatches(await probeOnOwnGateway(mailman3Addresses(created)), unknown)).toEqual([]);
    const pid = daemonPid();
    const before = eximFingerprint();

    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    lists = [...lists.filter((list) => list !== removed), created];

    expect(mismatches(await probeOnOwnGateway(mailman3Addresses(created)), accepted)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(mailman3Addresses(removed)), unknown)).toEqual([]);
    expect(mismatches(await probeOnOwnGateway(validAddresses(lists)), accepted)).toEqual([]);
    // Only the recipients file changed: no configuration change, no signal, the same daemon.
    const after = eximFingerprint();
    expect(after.sighups).toBe(before.sighups);
    expect(daemonPid()).toBe(pid);
    const changed = Object.keys(after.files).filter((file) => after.files[file] !== before.files[file]);
    expect(changed).toEqual(['/rcptsync/recipients']);
  }, STEP_TIMEOUT);

  it('a no-op sync reports changed=0 on both gateways and touches nothing', async () => {
    const before = eximFingerprint();
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(result);
    for (const gateway of lab.gateways) expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0 });
    expect(eximFingerprint()).toEqual(before);
  }, STEP_TIMEOUT);

  it('deploy.yml --check --diff changes nothing', async () => {
    const before = eximFingerprint();
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['--check', '--diff']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.recap['gw2'], describeRun(result)).toMatchObject({ changed: 0, failed: 0 });
    expect(eximFingerprint()).toEqual(before);
  }, STEP_TIMEOUT);

  it('rcptsync status checks both kinds of gateway', () => {
    const result = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), 'status', '-i', lab.inventoryFile, '-o', lab.renderedDir], {
      encoding: 'utf8',
      env: { ...process.env, SSH_AUTH_SOCK: '' },
      timeout: 60_000,
    });
    expect(result.stdout).toMatch(/^gw1: in sync \(\d+ relay recipients\)$/m);
    expect(result.stdout).toMatch(/^gw2: in sync \(\d+ recipients \(exim\)\)$/m);
    expect(result.status, result.stderr).toBe(0);
  }, STEP_TIMEOUT);

  it('the burn-in switch defers unknown recipients with 450, verify.yml expects it, and switching back restores 550', async () => {
    const soft = await runPlaybook(lab, 'playbooks/sync.yml', ['-e', 'exim_relay_gateway_soft_reject=true', '-e', 'rcptsync_verify_after_sync=true']);
    expectSuccess(soft);
    expect(soft.stdout, describeRun(soft)).toMatch(/gw2: \d+ probes answered as expected/);
    expect(oneLine((await probeRecipients(exim().address, ['nosuchlist@news.example.test']))[0]!.text)).toBe('450 4.1.1 <nosuchlist@news.example.test>: unknown user');
    expect(mismatches(await probeOnOwnGateway(validAddresses(lists)), accepted)).toEqual([]);
    const hard = await runPlaybook(lab, 'playbooks/sync.yml');
    expectSuccess(hard);
    expect(oneLine((await probeRecipients(exim().address, ['nosuchlist@news.example.test']))[0]!.text)).toBe(eximUnknown('nosuchlist@news.example.test'));
  }, STEP_TIMEOUT);

  it('an unreachable list server leaves the Exim gateway untouched and every address accepted', async () => {
    const before = eximFingerprint();
    await lab.stopSsh('list1');
    try {
      const result = await runPlaybook(lab, 'playbooks/sync.yml');
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toMatch(/DEGRADED, carried forward: list1: sources\[0\] \(mailman3\)/);
      expect(result.recap['gw2'], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
      expect(eximFingerprint()).toEqual(before);
      expect(mismatches(await probeOnOwnGateway(validAddresses(lists)), accepted)).toEqual([]);
    } finally {
      await lab.startSsh('list1');
    }
  }, STEP_TIMEOUT);
});

describe('the Exim role refuses what would bypass or break the recipient check', () => {
  const acl = '/etc/exim4/conf.d/acl/30_exim4-config_check_rcpt';

  it('an earlier accept for the relayed domains in acl_check_rcpt fails the deploy with the line that accepted', async () => {
    await onExim(
      `cp ${acl} /etc/exim4/.acl.orig && sed -i 's/^acl_check_rcpt:$/acl_check_rcpt:\\n  accept\\n    domains = +relay_to_domains\\n/' ${acl} && update-exim4.conf && kill -HUP $(cat /run/exim4/exim.pid)`,
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      // The bypass is real: an unknown recipient is accepted now.
      expect((await probeRecipients(exim().address, ['nosuchlist@news.example.test']))[0]!.text).toBe(EXIM_ACCEPTED);
      const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['-l', 'gw2']);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.recap['gw2'], describeRun(result)).toMatchObject({ failed: 1 });
      expect(result.stdout, describeRun(result)).toMatch(/BYPASS news\.example\.test: RCPT TO:<rcptsync-probe-[0-9a-f]+@news\.example\.test> got \\"250 Accepted\\"/);
      expect(result.stdout, describeRun(result)).toContain('accept: condition test succeeded in ACL \\"acl_check_rcpt\\"');
    } finally {
      await onExim(`mv /etc/exim4/.acl.orig ${acl} && update-exim4.conf && kill -HUP $(cat /run/exim4/exim.pid)`);
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    expect(oneLine((await probeRecipients(exim().address, ['nosuchlist@news.example.test']))[0]!.text)).toBe(eximUnknown('nosuchlist@news.example.test'));
  }, STEP_TIMEOUT);

  it('a site router ahead of rcptsync that takes a relayed domain fails the deploy', async () => {
    await onExim(
      `printf 'site_catchall:\\n  driver = redirect\\n  domains = news.example.test\\n  data = postmaster@${EXIM_SITE_DOMAIN}\\n' > /etc/exim4/conf.d/router/050_site_catchall && update-exim4.conf && kill -HUP $(cat /run/exim4/exim.pid)`,
    );
    try {
      const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['-l', 'gw2']);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toMatch(/BYPASS news\.example\.test: \S+@news\.example\.test is routed by \S+, not rcptsync_relay_gateway/);
    } finally {
      await onExim('rm /etc/exim4/conf.d/router/050_site_catchall && update-exim4.conf && kill -HUP $(cat /run/exim4/exim.pid)');
      await new Promise((resolve) => setTimeout(resolve, 1500));
    }
  }, STEP_TIMEOUT);

  it('a site that already uses CHECK_RCPT_LOCAL_ACL_FILE, and the non-split configuration, are refused with what to do, nothing changed', async () => {
    const before = eximFingerprint();
    await onExim("echo 'CHECK_RCPT_LOCAL_ACL_FILE = /etc/exim4/site_rcpt_acl' > /etc/exim4/conf.d/main/010_site_hook");
    try {
      const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['-l', 'gw2']);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toContain('/etc/exim4/conf.d/main/010_site_hook:1 already defines CHECK_RCPT_LOCAL_ACL_FILE');
      expect(result.stdout, describeRun(result)).toContain('Add \\".include /etc/exim4/rcptsync/acl_check_rcpt\\" to that file');
    } finally {
      await onExim('rm /etc/exim4/conf.d/main/010_site_hook');
    }
    await onExim("cp /etc/exim4/update-exim4.conf.conf /etc/exim4/.ue4cc.orig && sed -i \"s/^dc_use_split_config=.*/dc_use_split_config='false'/\" /etc/exim4/update-exim4.conf.conf");
    try {
      const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['-l', 'gw2']);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout, describeRun(result)).toContain('uses the non-split configuration (dc_use_split_config is not true)');
    } finally {
      await onExim('mv /etc/exim4/.ue4cc.orig /etc/exim4/update-exim4.conf.conf');
    }
    const after = eximFingerprint();
    expect(after.files['/rcptsync/recipients']).toBe(before.files['/rcptsync/recipients']);
    expect(after.files['/var/lib/exim4/config.autogenerated']).toBe(before.files['/var/lib/exim4/config.autogenerated']);
  }, STEP_TIMEOUT);

  it('state: absent takes rcptsync out and gives the site back exactly its own configuration', async () => {
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['-l', 'gw2', '-e', 'exim_relay_gateway_state=absent']);
    expect(result.code, describeRun(result)).toBe(0);
    const { stdout } = await lab.exec('gw2', 'grep ^dc_relay_domains /etc/exim4/update-exim4.conf.conf; ls /etc/exim4/rcptsync /etc/exim4/conf.d/router /etc/exim4/conf.d/main 2>&1', { check: false });
    expect(stdout).toContain(`dc_relay_domains='${EXIM_SITE_DOMAIN}'`);
    expect(stdout).not.toContain('rcptsync_relay_gateway');
    expect(stdout).toMatch(/cannot access '\/etc\/exim4\/rcptsync'/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await probeRecipients(exim().address, ['alerts@news.example.test', `x@${EXIM_SITE_DOMAIN}`])).map((r) => r.text)).toEqual([
      EXIM_RELAY_DENIED,
      EXIM_ACCEPTED,
    ]);
  }, STEP_TIMEOUT);
});
