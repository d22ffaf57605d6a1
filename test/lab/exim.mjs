/**
 * Real Exim 4 for the lab, without installing it: exim4-daemon-light and postfix
 * both provide (and conflict with) mail-transport-agent, so `apt-get install
 * exim4-daemon-light` would remove this machine's Postfix. Instead the Debian
 * packages are fetched with `apt-get download` (cached under /var/tmp), unpacked
 * with `dpkg-deb -x`, and an Exim gateway of the lab sees them where Debian puts
 * them: its private mount namespace overlays the unpacked /usr on the real one
 * (read-only) and bind-mounts private /etc/exim4, /var/lib/exim4, /var/spool/exim4,
 * /var/log/exim4 and /run/exim4. So the role under test meets a normal Debian
 * exim4: /usr/sbin/exim4, update-exim4.conf, Debian's split configuration under
 * /etc/exim4/conf.d, update-exim4.conf.conf.
 *
 * The host gets the Debian-exim system user (Exim refuses to start without it)
 * and empty mount points for those five directories; nothing else.
 *
 * Plain ESM with JSDoc, like lab.mjs.
 */
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './run.mjs';

/** Where the downloaded packages and their unpacked tree are kept between runs. */
export const EXIM_CACHE = '/var/tmp/rcptsync-exim-debs';
export const EXIM_PACKAGES = ['exim4-daemon-light', 'exim4-base', 'exim4-config', 'libidn12'];
export const EXIM_USER = 'Debian-exim';
/** Private to an Exim gateway (bind-mounted from its lab directory). */
export const EXIM_TREES = ['/etc/exim4', '/var/lib/exim4', '/var/spool/exim4', '/var/log/exim4', '/run/exim4'];
/** A domain the site relays itself (Debian's dc_relay_domains and hubbed_hosts): rcptsync must leave it alone. */
export const EXIM_SITE_DOMAIN = 'site.example.test';

/**
 * Downloads (once) and unpacks the packages; creates the Debian-exim user and the
 * mount points. Returns the unpacked root. @param {(message: string) => void} [log]
 */
export async function ensureExim(log = () => {}) {
  mkdirSync(EXIM_CACHE, { recursive: true });
  const debs = () => readdirSync(EXIM_CACHE).filter((f) => f.endsWith('.deb'));
  const missing = EXIM_PACKAGES.filter((pkg) => !debs().some((f) => f.startsWith(`${pkg}_`)));
  if (missing.length > 0) {
    log(`exim: apt-get download ${missing.join(' ')} into ${EXIM_CACHE}`);
    await run('apt-get', ['download', ...missing], { cwd: EXIM_CACHE, timeoutMs: 300_000 });
  }
  const root = join(EXIM_CACHE, 'root');
  const stamp = join(root, '.unpacked');
  const wanted = debs().sort().join('\n');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
    mkdirSync(root, { recursive: true });
    for (const deb of debs().sort()) await run('dpkg-deb', ['-x', join(EXIM_CACHE, deb), root]);
    writeFileSync(stamp, wanted);
  }
  const passwd = readFileSync('/etc/passwd', 'utf8');
  if (!passwd.split('\n').some((line) => line.startsWith(`${EXIM_USER}:`))) {
    await run('adduser', ['--system', '--group', '--quiet', '--home', '/var/spool/exim4', '--no-create-home', '--disabled-login', '--force-badname', EXIM_USER]);
  }
  for (const tree of EXIM_TREES) mkdirSync(tree, { recursive: true });
  return root;
}

/** Shell for the namespace holder: the unpacked /usr over the real one, read-only. @param {string} root */
export function eximOverlayCommand(root) {
  return `mount -t overlay rcptsync-exim -o 'lowerdir=${join(root, 'usr')}:/usr' /usr`;
}

/**
 * @typedef {object} EximSite
 * @property {boolean} [split] Debian's split configuration (conf.d/) instead of exim4.conf.template (default true)
 * @property {string[]} [relayDomains] the site's own dc_relay_domains (default [EXIM_SITE_DOMAIN])
 * @property {string} [siteNextHop] where hubbed_hosts routes the site's domains (default the list server)
 */

/**
 * The gateway's /etc/exim4 as a configured Debian install has it: the packaged
 * files, update-exim4.conf.conf as debconf writes it for an "internet site",
 * the site's own macros (host name, qualify domain) and a hubbed_hosts entry for
 * its own relay domain. @param {string} fs the host's tree root @param {string} root unpacked packages
 * @param {{ name: string, address: string }} host @param {string} siteNextHop @param {EximSite} [site]
 */
export function prepareEximTrees(fs, root, host, siteNextHop, site = {}) {
  const split = site.split ?? true;
  const relayDomains = site.relayDomains ?? [EXIM_SITE_DOMAIN];
  const etc = join(fs, 'etc/exim4');
  cpSync(join(root, 'etc/exim4'), etc, { recursive: true, preserveTimestamps: true });
  writeFileSync(
    join(etc, 'update-exim4.conf.conf'),
    [
      '# /etc/exim4/update-exim4.conf.conf (as debconf writes it; the lab gateway is an internet site)',
      "dc_eximconfig_configtype='internet'",
      "dc_other_hostnames=''",
      `dc_local_interfaces='${host.address}'`,
      "dc_readhost=''",
      `dc_relay_domains='${relayDomains.join(':')}'`,
      "dc_minimaldns='false'",
      "dc_relay_nets=''",
      "dc_smarthost=''",
      "CFILEMODE='644'",
      `dc_use_split_config='${split}'`,
      "dc_hide_mailname=''",
      "dc_mailname_in_oh='true'",
      "dc_localdelivery='mail_spool'",
      '',
    ].join('\n'),
  );
  const fqdn = `${host.name}.gateways.example.test`;
  // No /etc/mailname in the lab (it is the machine's file): the site names itself.
  const macros = `# The site's own macros.\nMAIN_HARDCODE_PRIMARY_HOSTNAME = ${fqdn}\nMAIN_QUALIFY_DOMAIN = ${fqdn}\n`;
  if (split) writeFileSync(join(etc, 'conf.d/main/000_localmacros'), macros);
  else writeFileSync(join(etc, 'exim4.conf.localmacros'), macros);
  writeFileSync(join(etc, 'hubbed_hosts'), relayDomains.map((d) => `${d}: ${siteNextHop}`).join('\n') + '\n');
  const uid = Number(idOf('/etc/passwd', EXIM_USER));
  const gid = Number(idOf('/etc/group', EXIM_USER));
  for (const [tree, mode] of /** @type {const} */ ([['var/lib/exim4', 0o755], ['var/spool/exim4', 0o750], ['var/log/exim4', 0o750], ['run/exim4', 0o755]])) {
    const dir = join(fs, tree);
    mkdirSync(dir, { recursive: true });
    chownSync(dir, uid, gid);
    chmodSync(dir, mode);
  }
  for (const sub of ['db', 'input', 'msglog']) {
    mkdirSync(join(fs, 'var/spool/exim4', sub), { recursive: true, mode: 0o750 });
    chownSync(join(fs, 'var/spool/exim4', sub), uid, gid);
  }
}

/** @param {string} file @param {string} name */
function idOf(file, name) {
  const line = readFileSync(file, 'utf8').split('\n').find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} in ${file}`);
  return line.split(':')[2];
}

/** The command that generates Debian's configuration and starts the daemon (inside the gateway). */
export const START_EXIM = 'update-exim4.conf && exim4 -bd -q30m';
/** The daemon's pid file (Debian's build). */
export const EXIM_PID_FILE = '/run/exim4/exim.pid';
