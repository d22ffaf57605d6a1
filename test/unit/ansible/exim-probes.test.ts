/**
 * The Exim role's probes (roles/exim_relay_gateway/library/exim_relay_gateway_config.py)
 * without Exim: the parsers on captured real exim4 4.96 output
 * (test/fixtures/exim-probes/), and the whole probe run against a fake exim4
 * that answers like Debian's configuration does (an accept for listed addresses,
 * rcptsync's refusal, Debian's "too many bad recipients", a site's drop,
 * recipients_max, a site redirect) and logs each time it is started. The module
 * runs in the Python that runs this test, with AnsibleModule stubbed: only its
 * probe functions are called.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../../helpers/cli.js';

const MODULE = join(REPO, 'roles', 'exim_relay_gateway', 'library', 'exim_relay_gateway_config.py');
const fixture = (name: string) => readFileSync(join(REPO, 'test', 'fixtures', 'exim-probes', name), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'rcptsync-exim-probes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Calls one function of the module with JSON arguments; returns its JSON result. */
function call(fn: string, ...args: unknown[]): any {
  const script = `
import importlib.util, json, sys, types
for name in ('ansible', 'ansible.module_utils', 'ansible.module_utils.basic'):
    sys.modules[name] = types.ModuleType(name)
sys.modules['ansible.module_utils.basic'].AnsibleModule = object
spec = importlib.util.spec_from_file_location('m', sys.argv[1])
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
request = json.load(sys.stdin)
if request['fn'] == 'probes':
    # module=None: probe() does not use it; stats is filled in as in the module's run.
    stats = {}
    print(json.dumps([m.probes(None, *request['args'], stats=stats), stats]))
else:
    print(json.dumps(getattr(m, request['fn'])(*request['args'])))
`;
  const result = spawnSync('python3', ['-c', script, MODULE], { input: JSON.stringify({ fn, args }), encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`python3 ${fn}: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

describe('the -bh reply parser on real exim4 4.96 output', () => {
  it('matches each reply to its RCPT, a 550 does not end the session, and a folded reply is one line', () => {
    const [replies, why] = call('rcpt_replies', fixture('bh-session.txt'), 7);
    expect(why).toBeNull();
    expect(replies).toEqual([
      '250 Accepted',
      '250 Accepted',
      '550 5.1.1 <rcptsync-probe-5a1f0c9e2b7d@d1.example.test>: unknown user',
      '250 Accepted',
      '250 Accepted',
      // 550-5.1.1 <...>: / 550 5.1.1 unknown user, as Exim folds a long reply
      '550 5.1.1 <rcptsync-probe-0b8e44d1c3a6@a-rather-long-subdomain-for-folding.lists.example.test>: unknown user',
      '550 relay not permitted',
    ]);
    // Exactly rcptsync's refusal for that address, as the ACL words it.
    expect(call('refusal', false, 'rcptsync-probe-0b8e44d1c3a6@a-rather-long-subdomain-for-folding.lists.example.test')).toBe(replies[5]);
  });

  it('a two-line banner and 250-/250 RCPT replies count once each', () => {
    const [replies] = call('rcpt_replies', fixture('bh-multiline.txt'), 6);
    expect(replies).toEqual([
      "250 accepted before rcptsync's ACL by a site statement",
      "250 accepted before rcptsync's ACL by a site statement",
      "250 accepted before rcptsync's ACL by a site statement",
      '250 Accepted',
      '250 Accepted',
      '550 5.1.1 <rcptsync-probe-e3d9b6a4f028@d3.example.test>: unknown user',
    ]);
  });

  it('a session the ACL dropped leaves the RCPTs after it unanswered (null), not passed', () => {
    const [replies] = call('rcpt_replies', fixture('bh-drop.txt'), 7);
    expect(replies.slice(0, 5)).toEqual([
      '250 Accepted',
      '250 Accepted',
      '550 5.1.1 <rcptsync-probe-5a1f0c9e2b7d@d1.example.test>: unknown user',
      '250 Accepted',
      '550 5.7.1 too many recipients for this test',
    ]);
    expect(replies.slice(5)).toEqual([null, null]);
  });

  it('recipients_max answers 452 too many recipients, for unknown recipients too', () => {
    const [replies] = call('rcpt_replies', fixture('bh-recipients-max.txt'), 7);
    expect(replies.slice(3)).toEqual(Array(4).fill('452 too many recipients'));
  });

  it('no RCPT counts as answered when the session refused HELO or MAIL, or gave more replies than commands', () => {
    const refusedMail = '220 gw ESMTP\r\n250 gw Hello\r\n550 no null senders here\r\n503 sender not yet given\r\n221 bye\r\n';
    expect(call('rcpt_replies', refusedMail, 1)).toEqual([[null], 'the session got "220 gw ESMTP" / "250 gw Hello" / "550 no null senders here" before any RCPT']);
    expect(call('rcpt_replies', '', 2)[0]).toEqual([null, null]);
    const extra = '220 gw\r\n250 hi\r\n250 OK\r\n250 Accepted\r\n250 Accepted\r\n221 bye\r\n';
    expect(call('rcpt_replies', extra, 1)[0]).toEqual([null]);
    // A multi-line reply cut off before its last line is no reply.
    expect(call('rcpt_replies', '220 gw\r\n250 hi\r\n250 OK\r\n250-Accepted\r\n', 1)[0]).toEqual([null]);
  });
});

describe('the -bt parser on real exim4 4.96 output (addresses on standard input)', () => {
  it('names the router of each address routed as it is, and leaves out redirected and undeliverable ones', () => {
    expect(call('routers_of', fixture('bt-stdin.txt'))).toEqual({
      'abuse@d1.example.test': 'rcptsync_relay_gateway',
      'list@a-rather-long-subdomain-for-folding.lists.example.test': 'rcptsync_relay_gateway',
    });
  });
});

/** A fake exim4: -bh and -bt as Debian's configuration with rcptsync's ACL answers, per a JSON "configuration" given with -C. */
const FAKE_EXIM = `#!/usr/bin/env python3
import json, re, sys
args = sys.argv[1:]
conf = json.load(open(args[1]))
args = args[2:]
with open(conf['log'], 'a') as log:
    log.write(' '.join(args[:1]) + '\\n')
listed = set(conf.get('listed', []))
def domain(address):
    return address.rpartition('@')[2].lower()
out = sys.stdout
if args[0] == '-bh':
    if conf.get('dead'):
        sys.stderr.write('exim: cannot start\\n')
        sys.exit(1)
    out.write('\\n**** SMTP testing session as if from host %s\\n**** This is not for real!\\n\\n' % args[1])
    out.write('220-fake.example ESMTP Exim 4.96\\r\\n220 a banner of two lines\\r\\n')
    rcpt = accepted = 0
    for line in sys.stdin:
        command = line.rstrip('\\r\\n')
        if command.startswith('HELO'):
            out.write('250 fake.example Hello\\r\\n')
        elif command.startswith('MAIL'):
            out.write('250 OK\\r\\n')
        elif command == 'QUIT':
            out.write('221 fake.example closing connection\\r\\n')
            break
        elif command.startswith('RCPT TO:<'):
            address = command[9:-1]
            rcpt += 1
            sys.stderr.write('>>> using ACL "acl_check_rcpt"\\n')
            if conf.get('drop_after') and rcpt > conf['drop_after']:
                out.write('550 dropped by the site\\r\\n')
                break
            if conf.get('recipients_max') and accepted >= conf['recipients_max']:
                out.write('452 too many recipients\\r\\n')
                continue
            if rcpt > 10 and accepted < rcpt // 2:
                out.write('550 Rejected for too many bad recipients\\r\\n')
                continue
            if domain(address) in conf.get('bypass', []):
                sys.stderr.write('>>> accept: condition test succeeded in ACL "acl_check_rcpt"\\n')
                out.write('250-accepted by a site statement\\r\\n250 before rcptsync\\r\\n')
                accepted += 1
                continue
            if re.sub(r'\\+[^@]*@', '@', address).lower() in listed:
                out.write('250 Accepted\\r\\n')
                accepted += 1
                continue
            sys.stderr.write('>>> deny: condition test succeeded in ACL "acl_check_rcpt"\\n')
            code, status = conf.get('refusal', '550 5.1.1').split()
            if len(address) > 60:
                out.write('%s-%s <%s>:\\r\\n%s %s unknown user\\r\\n' % (code, status, address, code, status))
            else:
                out.write('%s %s <%s>: unknown user\\r\\n' % (code, status, address))
    sys.exit(0)
if args[0] == '-bt':
    addresses = args[1:] or [line.strip() for line in sys.stdin if line.strip()]
    prompt = '' if args[1:] else '> '
    for address in addresses:
        if domain(address) in conf.get('route_bypass', []):
            out.write('%spostmaster@site.example.test\\n    <-- %s\\n  router = hubbed_hosts, transport = remote_smtp\\n' % (prompt, address))
        elif address.lower() in listed:
            out.write('%s%s\\n  router = rcptsync_relay_gateway, transport = remote_smtp\\n  host 10.0.0.1 [10.0.0.1]\\n' % (prompt, address))
        else:
            out.write('%s%s is undeliverable: Unrouteable address\\n' % (prompt, address))
    out.write(prompt + '\\n' if prompt else '')
    sys.exit(0)
sys.exit(2)
`;
const fakeExim = join(work, 'exim4');
writeFileSync(fakeExim, FAKE_EXIM);
chmodSync(fakeExim, 0o755);

interface Site {
  bypass?: string[];
  route_bypass?: string[];
  drop_after?: number;
  recipients_max?: number;
  dead?: boolean;
  refusal?: string;
  /** domains whose addresses the site refuses though they are listed (a broken recipients file) */
  refusedListed?: string[];
}

/** Runs the module's probes for n domains against the fake exim4; returns the findings, the counts and the processes started. */
function probeDomains(n: number, site: Site = {}, softReject = false) {
  const dir = mkdtempSync(join(work, 'gw-'));
  const domains = Array.from({ length: n }, (_, i) => `d${i + 1}.example.test`).sort();
  const keys = domains.flatMap((d) => [`abuse@${d}`, `list@${d}`, `postmaster@${d}`]);
  writeFileSync(join(dir, 'recipients'), '# rendered\n' + keys.map((k) => `${k} OK\n`).join(''));
  const log = join(dir, 'exim.log');
  writeFileSync(log, '');
  const refused = new Set(site.refusedListed ?? []);
  writeFileSync(join(dir, 'site.json'), JSON.stringify({ ...site, log, listed: keys.filter((k) => !refused.has(k.split('@')[1]!)) }));
  const [findings, counted] = call('probes', fakeExim, join(dir, 'site.json'), dir, domains, softReject, '192.0.2.1');
  const started = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
  return { findings: findings as string[], stats: counted as Record<string, number>, started, domains };
}

describe('the probes against a fake exim4: a constant number of processes, every probe answered', () => {
  it('400 domains: 1,200 RCPT in one -bh session, 400 routes in one -bt, no finding', () => {
    const run = probeDomains(400);
    expect(run.findings).toEqual([]);
    expect(run.stats).toEqual({ rcpt: 1200, route: 400, exim_processes: 2, rechecked: 0 });
    expect(run.started).toEqual(['-bh', '-bt']);
  });

  it('a bypass in two of 400 domains: those two probes again alone, the message as before with the ACL trace', () => {
    const run = probeDomains(400, { bypass: ['d17.example.test', 'd300.example.test'] });
    expect(run.stats).toEqual({ rcpt: 1200, route: 400, exim_processes: 4, rechecked: 2 });
    expect(run.findings).toHaveLength(2);
    expect(run.findings[0]).toMatch(
      /^BYPASS d17\.example\.test: RCPT TO:<rcptsync-probe-[0-9a-f]{12}@d17\.example\.test> got "250 accepted by a site statement before rcptsync" from a client outside relay_from_hosts, not 5xx: something in acl_check_rcpt accepts recipients of d17\.example\.test before rcptsync's ACL runs \(ACL trace: >>> using ACL "acl_check_rcpt" \| >>> accept: condition test succeeded in ACL "acl_check_rcpt"\)$/,
    );
    expect(run.findings[1]).toMatch(/^BYPASS d300\.example\.test: RCPT TO:<rcptsync-probe-/);
  });

  it('a site router that takes one of 400 domains: that route again alone, the message as before', () => {
    const run = probeDomains(400, { route_bypass: ['d5.example.test'] });
    expect(run.stats).toMatchObject({ exim_processes: 3, rechecked: 1 });
    expect(run.findings).toEqual([
      'BYPASS d5.example.test: abuse@d5.example.test is routed by hubbed_hosts, not rcptsync_relay_gateway: a router before it takes the relayed domain ' +
        '(postmaster@site.example.test\n    <-- abuse@d5.example.test\n  router = hubbed_hosts, transport = remote_smtp)',
    ]);
  });

  it('a session the site drops after 100 RCPT goes on in a new session from the first unanswered one', () => {
    const run = probeDomains(400, { drop_after: 100 });
    expect(run.findings).toEqual([]);
    // 1,200 RCPT, 101 answered per session (the 101st with the drop's 550, probed again alone).
    const sessions = Math.ceil(1200 / 101);
    expect(run.stats).toEqual({ rcpt: 1200, route: 400, exim_processes: sessions + 1 + (sessions - 1), rechecked: sessions - 1 });
  });

  it('recipients_max: a 452 too many recipients is no answer, the rest go into the next session', () => {
    const run = probeDomains(400, { recipients_max: 300 });
    expect(run.findings).toEqual([]);
    // 800 listed addresses to accept, 300 per session.
    expect(run.stats).toEqual({ rcpt: 1200, route: 400, exim_processes: 3 + 1, rechecked: 0 });
  });

  it("Debian's too many bad recipients, after listed addresses are refused: only the really refused ones are reported, the others are probed alone and pass", () => {
    const refusedListed = ['d1.example.test', 'd10.example.test', 'd11.example.test', 'd12.example.test', 'd13.example.test', 'd14.example.test'];
    const run = probeDomains(50, { refusedListed });
    // Each refused domain: its two listed probes, and its route (-bt refuses an unlisted address here).
    expect(run.findings.filter((f) => f.startsWith('REFUSED'))).toHaveLength(2 * refusedListed.length);
    expect(run.findings.filter((f) => f.startsWith('BYPASS') && !f.includes(' is routed by '))).toEqual([]);
    for (const domain of refusedListed) expect(run.findings.some((f) => f.startsWith(`REFUSED ${domain}: RCPT TO:<abuse@${domain}> got "550 5.1.1 <abuse@${domain}>: unknown user"`))).toBe(true);
    // The session went on refusing the rest with "too many bad recipients"; each of those was probed alone.
    expect(run.stats.rechecked).toBeGreaterThan(2 * refusedListed.length + refusedListed.length);
  });

  it('an Exim that answers nothing: every probe is probed alone, and none counts as passed', () => {
    const run = probeDomains(3, { dead: true });
    expect(run.stats).toEqual({ rcpt: 9, route: 3, exim_processes: 1 + 1 + 9, rechecked: 9 });
    expect(run.findings.filter((f) => f.startsWith('BYPASS') && f.includes('got "(no reply: exim: cannot start)"'))).toHaveLength(3);
    expect(run.findings.filter((f) => f.startsWith('REFUSED') && f.includes('got "(no reply: exim: cannot start)"'))).toHaveLength(6);
  });

  it('soft reject: the session passes only 450 4.1.1, and a 550 is reported as not 4xx', () => {
    expect(probeDomains(20, { refusal: '450 4.1.1' }, true).findings).toEqual([]);
    const hard = probeDomains(2, {}, true);
    expect(hard.findings).toHaveLength(2);
    expect(hard.findings[0]).toMatch(/^BYPASS d1\.example\.test: RCPT TO:<rcptsync-probe-[0-9a-f]{12}@d1\.example\.test> got "550 5\.1\.1 <rcptsync-probe-[0-9a-f]{12}@d1\.example\.test>: unknown user" from a client outside relay_from_hosts, not 4xx/);
  });
});
