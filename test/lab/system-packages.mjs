#!/usr/bin/env node
/**
 * The one install step for the Debian packages that the demo, the tests and CI
 * need: `npm run demo`, `npm test` (its pretest) and `.ci/run` all call it, so a
 * fresh Debian 12 machine needs nothing else. It installs what is missing when
 * run as root, and otherwise names what is missing and how to install it.
 *
 *   node test/lab/system-packages.mjs     # exit 0 when everything is installed
 *
 * Plain Node built-ins only: it runs before `npm ci` has to have worked.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * sshd, Postfix, Mailman 3 and Sympa (on SQLite: dbconfig-sqlite3) for the labs, ansible for the roles, swaks for SMTP probes, iproute2 and util-linux
 * for namespaces; prometheus for promtool (the alert rules of examples/monitoring), systemd for systemd-analyze
 * verify of the scheduled units (neither is started: nothing runs as a service here).
 */
export const REQUIRED_PACKAGES = [
  'openssh-server', 'openssh-client', 'postfix', 'postfix-lmdb', 'postfix-cdb', 'mailman3', 'sympa', 'dbconfig-sqlite3',
  'ansible-core', 'ansible-lint', 'swaks', 'iproute2', 'util-linux', 'sudo', 'git', 'ca-certificates',
  'prometheus', 'systemd',
];

/**
 * Answers for the packages' install-time questions: no mail setup of the machine's own, Mailman and Sympa on
 * SQLite, no web server for Sympa. Sympa's domain defaults to `hostname --fqdn`; a bare host name there makes
 * `listmaster@name` invalid and its postinst fails, so it gets a fixed one (the labs use their own sympa.conf).
 */
const DEBCONF_SELECTIONS = [
  'postfix postfix/main_mailer_type select No configuration',
  'mailman3 mailman3/dbconfig-install boolean true',
  'mailman3 mailman3/database-type select sqlite3',
  'sympa sympa/dbconfig-install boolean true',
  'sympa sympa/database-type select sqlite3',
  'sympa sympa/hostname string localhost.localdomain',
  'sympa sympa/listmaster string listmaster@localhost.localdomain',
  'sympa wwsympa/webserver_type select Other',
  'sympa sympa/use_soap boolean false',
].join('\n');

/**
 * Installs the missing packages when root; otherwise says what is missing.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {number | null} an exit code to stop with (2), or null when everything is there
 */
export function ensureSystemPackages({ log = (line) => process.stdout.write(`${line}\n`) } = {}) {
  if (process.platform !== 'linux' || !existsSync('/etc/debian_version')) {
    process.stderr.write('rcptsync\'s demo and tests run on Debian (12) or a derivative: they use network namespaces and the Debian packages of Postfix, Mailman 3 and Ansible.\n');
    return 2;
  }
  const missing = missingPackages();
  if (missing.length === 0) return null;
  if (process.getuid?.() !== 0) {
    process.stderr.write(`Missing Debian packages: ${missing.join(' ')}\n${installHelp(missing)}`);
    return 2;
  }
  log(`== Installing the missing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  /** @type {Array<[string, string[], string | undefined]>} */
  const steps = [
    ['debconf-set-selections', [], `${DEBCONF_SELECTIONS}\n`],
    ['apt-get', ['update', '-q'], undefined],
    ['apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], undefined],
  ];
  for (const [command, args, input] of steps) {
    const result = spawnSync(command, args, { env, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'inherit', 'inherit'] });
    if (result.status !== 0) {
      process.stderr.write(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal}).\n${installHelp(missing)}`);
      return 2;
    }
  }
  const still = missingPackages();
  if (still.length > 0) {
    process.stderr.write(`Still missing after apt-get: ${still.join(' ')}\n`);
    return 2;
  }
  return null;
}

/** @returns {string[]} the required packages that dpkg does not report as installed */
export function missingPackages() {
  const result = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...REQUIRED_PACKAGES], { encoding: 'utf8' });
  const installed = new Set(
    (result.stdout ?? '').split('\n').filter((line) => line.endsWith(' install ok installed')).map((line) => line.split(' ')[0]),
  );
  return REQUIRED_PACKAGES.filter((name) => !installed.has(name));
}

/** @param {string[]} missing */
function installHelp(missing) {
  return `Install them as root with:
  echo 'postfix postfix/main_mailer_type select No configuration' | sudo debconf-set-selections
  sudo apt-get update
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(' ')}
or run this step as root: sudo node test/lab/system-packages.mjs
(--no-install-recommends skips the ~260 MB ansible collections that ansible-core recommends; nothing is started by the install.)
`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = ensureSystemPackages() ?? 0;
}
