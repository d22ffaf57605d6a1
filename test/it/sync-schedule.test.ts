/**
 * roles/sync_schedule through the real ansible-playbook (playbooks/schedule.yml,
 * local connection), with the unit and cron directories in a scratch directory:
 * the job runs as a dedicated user by default, root is refused unless allowed,
 * the units pass `systemd-analyze verify`, a second run changes nothing, and the
 * cron line logs the job's exit status.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { buildAndInstallCollection } from '../helpers/install.js';

/** A system account made by the role; removed again afterwards. */
const TEST_USER = 'rcptsync-schedtest';

let dir: string;

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { status: number; output: string } {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? dir,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1', ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', ...options.env },
  });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, output: `${result.stdout}\n${result.stderr}` };
}

/** playbooks/schedule.yml with the files going to `name`'s scratch directories. */
function schedule(name: string, vars: Record<string, unknown>): { status: number; output: string; systemd: string; cron: string } {
  const systemd = join(dir, name, 'systemd');
  const cron = join(dir, name, 'cron');
  mkdirSync(systemd, { recursive: true });
  mkdirSync(cron, { recursive: true });
  const extra = {
    sync_schedule_systemd_dir: systemd,
    sync_schedule_cron_dir: cron,
    sync_schedule_inventory: join(REPO, 'inventory', 'example'),
    ...vars,
  };
  const result = run('ansible-playbook', ['-i', join(REPO, 'inventory', 'example'), join(REPO, 'playbooks', 'schedule.yml'), '-e', JSON.stringify(extra)]);
  return { ...result, systemd, cron };
}

function recap(output: string): { changed: number; failed: number } {
  const match = /localhost\s+: ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)/.exec(output);
  if (!match) throw new Error(`no play recap in:\n${output}`);
  return { changed: Number(match[1]), failed: Number(match[2]) };
}

function removeTestUser(): void {
  if (spawnSync('getent', ['passwd', TEST_USER]).status === 0) spawnSync('userdel', [TEST_USER]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rcptsync-schedule-'));
  removeTestUser();
});

afterAll(() => {
  removeTestUser();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sync_schedule', () => {
  it('runs the job as the unprivileged rcptsync user by default', () => {
    const result = schedule('default', { sync_schedule_create_user: false });
    expect(recap(result.output).failed, result.output).toBe(0);
    const service = readFileSync(join(result.systemd, 'rcptsync-sync.service'), 'utf8');
    expect(service).toMatch(/^User=rcptsync$/m);
    expect(service).toMatch(/^StateDirectory=rcptsync$/m);
    expect(service).toMatch(/^NoNewPrivileges=yes$/m);
    expect(service).toContain(`Environment=ANSIBLE_ROLES_PATH=${join(REPO, 'roles')}\n`);
    expect(service).not.toMatch(/^OnFailure=/m);
  });

  it('creates a system user without a login shell, and installs units that systemd-analyze verify accepts', () => {
    const home = join(dir, 'home');
    const vars = {
      sync_schedule_user: TEST_USER,
      sync_schedule_home: home,
      sync_schedule_on_failure: ['rcptsync-alert@%n.service'],
    };
    const first = schedule('user', vars);
    expect(recap(first.output).failed, first.output).toBe(0);
    const entry = spawnSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).stdout.trim().split(':');
    expect(entry[5]).toBe(home);
    expect(entry[6]).toBe('/usr/sbin/nologin');
    expect(Number(entry[2])).toBeLessThan(1000); // a system account
    expect(existsSync(home)).toBe(true);

    const service = join(first.systemd, 'rcptsync-sync.service');
    const timer = join(first.systemd, 'rcptsync-sync.timer');
    expect(readFileSync(service, 'utf8')).toMatch(new RegExp(`^User=${TEST_USER}$`, 'm'));
    expect(readFileSync(service, 'utf8')).toMatch(/^OnFailure=rcptsync-alert@%n\.service$/m);
    // OnFailure= names a unit that does not exist here; give verify a template of that name.
    writeFileSync(join(first.systemd, 'rcptsync-alert@.service'), '[Unit]\nDescription=alert\n[Service]\nType=oneshot\nExecStart=/bin/true %i\n');
    const verify = run('systemd-analyze', ['verify', '--man=no', service, timer], { env: { SYSTEMD_UNIT_PATH: `${first.systemd}:` } });
    expect(verify.output.trim(), verify.output).toBe('');
    expect(verify.status).toBe(0);

    const second = schedule('user', vars);
    expect(recap(second.output), second.output).toEqual({ changed: 0, failed: 0 });
  });

  it('from the installed collection: runs rcptsync.rcptsync.sync by name with the collections path, in units systemd-analyze verify accepts', () => {
    const collection = buildAndInstallCollection(join(dir, 'collection'));
    const systemd = join(dir, 'collection', 'systemd');
    mkdirSync(systemd, { recursive: true });
    const extra = { sync_schedule_systemd_dir: systemd, sync_schedule_cron_dir: join(dir, 'collection'), sync_schedule_create_user: false };
    const result = run('ansible-playbook', ['-i', join(REPO, 'inventory', 'example'), 'rcptsync.rcptsync.schedule', '-e', JSON.stringify(extra)], {
      env: { ANSIBLE_COLLECTIONS_PATH: collection.collectionsPath, ANSIBLE_ROLES_PATH: join(dir, 'no-roles') },
    });
    expect(recap(result.output).failed, result.output).toBe(0);
    const service = join(systemd, 'rcptsync-sync.service');
    const text = readFileSync(service, 'utf8');
    expect(text).toContain(`Environment=ANSIBLE_COLLECTIONS_PATH=${collection.collectionsPath}\n`);
    expect(text).toContain(`WorkingDirectory=${collection.root}\n`);
    expect(text).toMatch(new RegExp(`^ExecStart=/usr/bin/flock .* /usr/bin/ansible-playbook -i ${join(REPO, 'inventory', 'example')} rcptsync\\.rcptsync\\.sync$`, 'm'));
    const verify = run('systemd-analyze', ['verify', '--man=no', service, join(systemd, 'rcptsync-sync.timer')], { env: { SYSTEMD_UNIT_PATH: `${systemd}:` } });
    expect(verify.output.trim(), verify.output).toBe('');
    expect(verify.status).toBe(0);
  }, 120_000);

  it('leaves an existing account as the site made it', () => {
    // The previous test's account, given a shell by the site.
    execFileSync('usermod', ['--shell', '/bin/sh', TEST_USER]);
    const result = schedule('existing', { sync_schedule_user: TEST_USER, sync_schedule_home: join(dir, 'elsewhere') });
    expect(recap(result.output).failed, result.output).toBe(0);
    const entry = spawnSync('getent', ['passwd', TEST_USER], { encoding: 'utf8' }).stdout.trim().split(':');
    expect(entry[6]).toBe('/bin/sh');
    expect(entry[5]).toBe(join(dir, 'home'));
    expect(existsSync(join(dir, 'elsewhere'))).toBe(false);
  });

  it('refuses root unless sync_schedule_allow_root is set', () => {
    const refused = schedule('root', { sync_schedule_user: 'root' });
    expect(recap(refused.output).failed).toBe(1);
    expect(refused.output).toContain('sync_schedule_user is root');
    expect(existsSync(join(refused.systemd, 'rcptsync-sync.service'))).toBe(false);

    const allowed = schedule('root', { sync_schedule_user: 'root', sync_schedule_allow_root: true });
    expect(recap(allowed.output).failed, allowed.output).toBe(0);
    expect(readFileSync(join(allowed.systemd, 'rcptsync-sync.service'), 'utf8')).toMatch(/^User=root$/m);
  });

  it('cron: replaces the units, and the line logs the exit status of the job', () => {
    const name = 'cron';
    const first = schedule(name, { sync_schedule_create_user: false, sync_schedule_user: 'nobody' });
    expect(existsSync(join(first.systemd, 'rcptsync-sync.service'))).toBe(true);
    const lock = join(dir, name, 'lock');
    // Stands in for ansible-playbook: fails the way a refused sync does.
    const fake = join(dir, name, 'ansible-playbook');
    writeFileSync(fake, '#!/bin/sh\necho "sync refused: $*"\nexit 3\n');
    chmodSync(fake, 0o755);
    const result = schedule(name, {
      sync_schedule_create_user: false,
      sync_schedule_user: 'nobody',
      sync_schedule_method: 'cron',
      sync_schedule_cron_random_delay: 0,
      sync_schedule_lock_file: lock,
      sync_schedule_ansible_playbook: fake,
      sync_schedule_inventory: '/srv/inventory',
      sync_schedule_playbook: '/srv/rcptsync/playbooks/sync.yml',
      sync_schedule_extra_args: ['-e', 'rcptsync_serial=1'],
    });
    expect(recap(result.output).failed, result.output).toBe(0);
    expect(existsSync(join(result.systemd, 'rcptsync-sync.service'))).toBe(false);
    expect(existsSync(join(result.systemd, 'rcptsync-sync.timer'))).toBe(false);
    const file = readFileSync(join(result.cron, 'rcptsync-sync'), 'utf8');
    expect(file).toContain(`ANSIBLE_ROLES_PATH=${join(REPO, 'roles')}\n`);
    const line = file.split('\n').find((text) => /^\d/.test(text));
    expect(line).toBeDefined();
    const fields = line!.split(' ');
    expect(fields.slice(0, 6)).toEqual(['30', '2', '*', '*', '*', 'nobody']);

    // Run the command as cron would (SHELL=/bin/sh), with logger writing to a file.
    const bin = join(dir, name, 'bin');
    const log = join(dir, name, 'syslog');
    mkdirSync(bin);
    writeFileSync(join(bin, 'logger'), `#!/bin/sh\n[ "$1" = -t ] && [ "$2" = rcptsync-sync ] || exit 64\ncat >> ${log}\n`);
    chmodSync(join(bin, 'logger'), 0o755);
    const job = run('/bin/sh', ['-c', fields.slice(6).join(' ')], { env: { PATH: `${bin}:/usr/bin:/bin` } });
    expect(job.status, job.output).toBe(0);
    const logged = readFileSync(log, 'utf8');
    expect(logged).toContain('sync refused: -i /srv/inventory /srv/rcptsync/playbooks/sync.yml -e rcptsync_serial=1\n');
    expect(logged).toMatch(/\nexit status 3\n$/);
  });
});
