/**
 * Non-root SSH with become (issue 14, §4): Ansible reaches gw2 as an unprivileged
 * user (rcptdeploy, which exists only inside gw2) and becomes root with sudo; gw1
 * stays root. The whole flow on real components: sync.yml with the real CLI and
 * Mailman 3, then SMTP probes at RCPT time; a second run changes nothing; without
 * become the role cannot touch gw2's Postfix and fails before anything changes.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startLab, type Lab } from '../lab/lab.mjs';
import { describeRun, runPlaybook } from '../lab/ansible.mjs';
import { probeRecipients } from '../lab/smtp-probe.mjs';
import { run } from '../lab/run.mjs';

const STEP_TIMEOUT = 600_000;
const USER = 'rcptdeploy';
let lab: Lab;

const reply = async (address: string) => (await probeRecipients(lab.host('gw2').address, [address]))[0]?.text ?? '';

async function eventually(address: string, expected: RegExp): Promise<string> {
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    last = await reply(address);
    if (expected.test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return last;
}

beforeAll(async () => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) throw new Error('dist/bin.js is missing: run `npm run build` (npm test does it first)');
  lab = await startLab({ gatewayLogins: { gw2: USER } });
}, STEP_TIMEOUT);

afterAll(async () => {
  await lab?.stop();
}, 60_000);

describe('a gateway reached as an unprivileged user with sudo', () => {
  it('the user is not root on gw2, and exists only there', async () => {
    const { stdout } = await lab.exec('gw2', `runuser -u ${USER} -- id -u; runuser -u ${USER} -- sudo -n id -u`);
    expect(stdout.trim().split('\n')).toEqual(['64900', '0']);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain(`${USER}:`);
  });

  it('without become the role cannot change gw2: it fails at the first write, and main.cf is untouched', async () => {
    const rendered = await run(process.execPath, [join(REPO_ROOT, 'dist', 'bin.js'), 'sync', '-i', lab.inventoryFile, '-o', lab.renderedDir, '--state-dir', lab.stateDir], {
      check: false,
      cwd: REPO_ROOT,
      env: lab.env,
    });
    expect(rendered.code, rendered.stderr).toBe(0);
    const result = await runPlaybook(lab, 'playbooks/deploy.yml', ['--limit', 'gw2', '-e', 'ansible_become=false']);
    expect(result.code).not.toBe(0);
    expect(result.stdout, describeRun(result)).toMatch(/mkdir: cannot create directory '\/etc\/postfix\/rcptsync': Permission denied/);
    expect(existsSync(lab.hostPath('gw2', '/etc/postfix/rcptsync'))).toBe(false);
    expect(readFileSync(lab.hostPath('gw2', '/etc/postfix/main.cf'), 'utf8')).not.toContain('rcptsync');
  }, STEP_TIMEOUT);

  it('sync.yml publishes on gw2 through sudo: the tables are root\'s, unknown recipients get 550, list addresses 250', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.recap['gw2'], describeRun(result)).toMatchObject({ failed: 0, unreachable: 0 });
    expect(await eventually('alerts@news.example.test', /^250 /)).toBe('250 2.1.5 Ok');
    expect(await reply('alerts-bounces+someone=example.org@news.example.test')).toBe('250 2.1.5 Ok');
    expect(await reply('nosuchlist@news.example.test')).toMatch(/^550 5\.1\.1 .*User unknown in relay recipient table/);
    const table = statSync(lab.hostPath('gw2', '/etc/postfix/rcptsync/relay_recipients.cdb'));
    expect(table.uid).toBe(0);
    const sshdLog = readFileSync(join(lab.host('gw2').root, 'ssh', 'sshd.log'), 'utf8');
    expect(sshdLog).toMatch(new RegExp(`Accepted publickey for ${USER} from ${lab.controlAddress.replaceAll('.', '\\.')}`));
    expect(sshdLog).not.toMatch(/Accepted publickey for root/);
  }, STEP_TIMEOUT);

  it('a second run changes nothing, and verify.yml passes', async () => {
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    expect(result.code, describeRun(result)).toBe(0);
    for (const gateway of lab.gateways) {
      expect(result.recap[gateway.name], describeRun(result)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    }
    const verify = await runPlaybook(lab, 'playbooks/verify.yml');
    expect(verify.code, describeRun(verify)).toBe(0);
  }, STEP_TIMEOUT);
});
