#!/usr/bin/env node
/**
 * The demo: rcptsync's whole job on one machine. It starts the end-to-end lab (a
 * Mailman 3 list server and two Postfix gateways, each in its own network
 * namespace on a private bridge), runs `ansible-playbook playbooks/sync.yml`
 * against it, and shows what the gateways now answer at RCPT time.
 *
 *   npm run demo                      # build, then run this
 *   node examples/demo/run.mjs --keep # leave the lab running to explore it
 *   node examples/demo/run.mjs --stop # tear down a kept lab
 *   node examples/demo/run.mjs --exim # gw2 runs Debian's exim4 instead of Postfix: both kinds side by side
 *
 * Needs root on Debian (network namespaces); installs the Debian packages it needs
 * when they are missing, or, when not root, says what to install and exits 2.
 * Exit codes: 0 every probe answered as expected, 1 a step failed or a probe did
 * not, 2 missing prerequisites, 130 interrupted.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

import { ensureSystemPackages } from '../../test/lab/system-packages.mjs';

const usage = `Usage: node examples/demo/run.mjs [--exim] [--keep | --stop]
  --exim   gw2 is a Debian exim4 gateway (unpacked packages, never installed), gw1 stays Postfix;
           its own lab (${'/var/tmp/rcptsync-lab-exim'}, bridge rsbr4, 10.213.4.0/24); give --exim to --stop too
  --keep   leave the lab running after the demo and print how to reach it
  --stop   tear down a lab left running by --keep
  -h       this help`;

/** The --exim lab: its own directory and network, so it never tears down the default lab. */
const EXIM_LAB = { dir: '/var/tmp/rcptsync-lab-exim', network: { bridge: 'rsbr4', netnsPrefix: 'rsex-', subnet: '10.213.4' }, gatewayMtas: { gw2: /** @type {const} */ ('exim') } };

const out = (/** @type {string} */ text = '') => process.stdout.write(`${text}\n`);

async function main() {
  let options;
  try {
    options = parseArgs({ options: { keep: { type: 'boolean' }, stop: { type: 'boolean' }, exim: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (error) {
    process.stderr.write(`${/** @type {Error} */ (error).message}\n${usage}\n`);
    return 2;
  }
  if (options.help) {
    out(usage);
    return 0;
  }
  const missing = checkPrerequisites();
  if (missing !== null) return missing;

  // Imported only now: the lab needs the packages above (and yaml from node_modules).
  const { startLab, stopLab, REPO_ROOT, DEFAULT_LAB_DIR, INITIAL_LISTS, ALIASES_DOMAIN, ALIAS_KEYS } = await import('../../test/lab/lab.mjs');
  const { runPlaybook, describeRun } = await import('../../test/lab/ansible.mjs');
  const { probeRecipients } = await import('../../test/lab/smtp-probe.mjs');

  const exim = Boolean(options.exim);
  const labDir = exim ? EXIM_LAB.dir : DEFAULT_LAB_DIR;
  const stop = () => (exim ? stopLab(EXIM_LAB.dir, EXIM_LAB.network) : stopLab());
  if (options.stop) {
    await stop();
    out(`Lab in ${labDir} torn down.`);
    return 0;
  }
  if (!existsSync(join(REPO_ROOT, 'dist', 'bin.js'))) {
    process.stderr.write('dist/bin.js is missing: run `npm run demo` (it builds first) or `npm run build`.\n');
    return 2;
  }

  let interrupted = false;
  const onSignal = (/** @type {NodeJS.Signals} */ signal) => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\n${signal}: tearing the lab down...\n`);
    // startLab may be tearing down its half-built lab at the same moment: retry once.
    stop()
      .catch(() => new Promise((resolve) => setTimeout(resolve, 1000)).then(() => stop()))
      .catch((error) => process.stderr.write(`teardown failed: ${error.message}; run node examples/demo/run.mjs --stop\n`))
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  let keep = false;
  try {
    out(`== Starting the lab: list1 (Mailman 3), gw1 (Postfix) and gw2 (${exim ? "Debian's exim4" : 'Postfix'}), each in its own network namespace`);
    const lab = await startLab({ ...(exim ? EXIM_LAB : {}), log: (message) => out(`   ${message}`) });
    keep = Boolean(options.keep);
    for (const host of Object.values(lab.hosts)) {
      out(`   ${host.name.padEnd(5)} ${host.address.padEnd(12)} ${host.role === 'list' ? `lists: ${INITIAL_LISTS.join(', ')}; aliases for ${ALIASES_DOMAIN}` : `${host.mta}, relays ${host.domains.join(', ')} to list1`}`);
    }

    out();
    out(`== ${lab.playbookArgv('playbooks/sync.yml').join(' ')}`);
    const result = await runPlaybook(lab, 'playbooks/sync.yml');
    for (const line of rcptsyncSummary(result.stdout)) out(`   ${line}`);
    const recapAt = result.stdout.lastIndexOf('PLAY RECAP');
    if (recapAt >= 0) for (const line of result.stdout.slice(recapAt).trim().split('\n')) out(`   ${line.trimEnd()}`);
    if (result.code !== 0) {
      process.stderr.write(`The sync failed.\n${describeRun(result)}\n`);
      return 1;
    }
    out(`   (${result.seconds.toFixed(1)} s)`);

    out();
    out('== What the gateways answer now (EHLO, MAIL FROM:<>, RCPT TO; no DATA, nothing is queued)');
    // gw2's answers are Exim's with --exim (it folds its long 550 into two lines; shown as one).
    const eximGw2 = exim;
    const accepted = '250 2.1.5 Ok';
    const unknown = (/** @type {string} */ a) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown in relay recipient table`;
    const denied = (/** @type {string} */ a) => `554 5.7.1 <${a}>: Relay access denied`;
    const gw2Accepted = () => (eximGw2 ? '250 Accepted' : accepted);
    const gw2Unknown = (/** @type {string} */ a) => (eximGw2 ? `550 5.1.1 <${a}>: unknown user` : unknown(a));
    /** @type {Array<[string, string, (address: string) => string, string]>} */
    const probes = [
      ['gw1', 'announce@lists.example.test', () => accepted, 'a list'],
      ['gw1', 'announce-request@lists.example.test', () => accepted, 'one of its 8 sub-addresses'],
      ['gw1', 'announce-bounces+alice=example.org@lists.example.test', () => accepted, 'a VERP bounce'],
      ['gw1', 'Users@Lists.Example.Test', () => accepted, 'mixed case'],
      ['gw1', `${ALIAS_KEYS[0]}@${ALIASES_DOMAIN}`, () => accepted, 'from the aliases file'],
      ['gw1', 'postmaster@lists.example.test', () => accepted, 'postmaster@, always'],
      ['gw1', 'nosuchlist@lists.example.test', unknown, 'unknown: rejected at SMTP time, no backscatter'],
      ['gw1', 'weekly@news.example.test', denied, 'relayed by gw2, not gw1'],
      ['gw2', 'weekly-bounces@news.example.test', gw2Accepted, 'a list on the other domain'],
      ['gw2', 'weekly-confirm+0123456789abcdef@news.example.test', gw2Accepted, 'a confirmation cookie'],
      ['gw2', 'nosuchlist@news.example.test', gw2Unknown, 'unknown'],
      ...(/** @type {Array<[string, string, (address: string) => string, string]>} */ (
        eximGw2 ? [['gw2', 'anyone@site.example.test', gw2Accepted, "the Exim site's own relay domain, untouched"]] : []
      )),
    ];
    const oneLine = (/** @type {string} */ text) => text.replace(/^(\d{3})-/, '$1 ').replace(/\n\d{3}[ -](?:\d\.\d{1,3}\.\d{1,3} )?/g, ' ');
    let failures = 0;
    for (const [name, address, expected, why] of probes) {
      const [reply] = await probeRecipients(lab.host(name).address, [address]);
      const ok = reply !== undefined && oneLine(reply.text) === expected(address);
      if (!ok) failures++;
      out(`   ${ok ? 'ok ' : 'BAD'} ${name} RCPT TO:<${address}>  (${why})`);
      out(`       ${reply?.text ?? 'no reply'}${ok ? '' : `\n       expected: ${expected(address)}`}`);
    }

    const swaks = spawnSync('swaks', ['--quit-after', 'RCPT', '--server', lab.host('gw1').address, '--from', '<>', '--to', 'nosuchlist@lists.example.test', '--helo', 'demo.example.test'], { encoding: 'utf8' });
    if (swaks.error === undefined) {
      out();
      out(`== The same with swaks (exit ${swaks.status}; 24 means a recipient was rejected)`);
      for (const line of `${swaks.stdout}${swaks.stderr}`.trim().split('\n')) out(`   ${line}`);
    }

    out();
    out(failures === 0 ? `All ${probes.length} probes answered as expected (${elapsed()}).` : `${failures} of ${probes.length} probes did not answer as expected (${elapsed()}).`);
    if (keep) printHowToExplore(lab, REPO_ROOT);
    return failures === 0 ? 0 : 1;
  } catch (error) {
    if (!interrupted) process.stderr.write(`demo failed: ${/** @type {Error} */ (error).stack ?? error}\n`);
    return 1;
  } finally {
    if (!keep && !interrupted) {
      await stop();
      out('== Lab torn down.');
    }
  }
}

/** @param {import('../../test/lab/lab.mjs').Lab} lab @param {string} repoRoot */
function printHowToExplore(lab, repoRoot) {
  const ssh = `ssh -i ${lab.privateKeyFile} -o UserKnownHostsFile=${lab.knownHostsFile}`;
  out(`
== The lab keeps running (--keep). To explore it:
   ${ssh} root@${lab.host('gw1').address}      # a gateway: postconf -n; ls /etc/postfix/rcptsync
   ${ssh} root@${lab.host('list1').address}    # the list server: ${lab.mailmanListsCommand}
   swaks --quit-after RCPT --server ${lab.host('gw1').address} --from '<>' --to someone@lists.example.test
   cd ${repoRoot} && ANSIBLE_NOCOLOR=1 ${lab.playbookArgv('playbooks/sync.yml').join(' ')}
   inventory: ${lab.inventoryFile}   rendered tree: ${lab.renderedDir}
   gateway log: ${lab.hostPath('gw1', '/var/lib/postfix/maillog')}
   tear down: node examples/demo/run.mjs --stop${lab.host('gw2').mta === 'exim' ? ' --exim' : ''}`);
}

/** The lines rcptsync printed, as the playbook shows them (its "Show what rcptsync did" task). @param {string} stdout */
function rcptsyncSummary(stdout) {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => line.includes('"__rcptsync_sync.stdout_lines": ['));
  if (start < 0) return [];
  /** @type {string[]} */
  const summary = [];
  for (const line of lines.slice(start + 1)) {
    const item = line.trim().replace(/,$/, '');
    if (!item.startsWith('"')) break;
    try {
      summary.push(/** @type {string} */ (JSON.parse(item)));
    } catch {
      summary.push(item);
    }
  }
  return summary;
}

/**
 * Root (for the namespaces), then the Debian packages through the install step
 * that `npm test` and CI share.
 * @returns {number | null} an exit code to stop with, or null to go on
 */
function checkPrerequisites() {
  if (process.getuid?.() !== 0) {
    process.stderr.write('The demo needs root: it creates network namespaces, a bridge and runs sshd and Postfix in them.\n');
    ensureSystemPackages();
    process.stderr.write('Then run it as root: sudo npm run demo\n');
    return 2;
  }
  return ensureSystemPackages({ log: out });
}

process.exitCode = await main();
