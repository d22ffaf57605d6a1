#!/usr/bin/env python3
"""Probe a gateway at RCPT time: known addresses must get 250, unknown ones the
configured reject code. No mail is queued: every transaction ends with RSET.

Usage: rcpt_probe.py --host H --port P --recipients FILE [--sample N]
                     [--max-domains N] [--reject-code 550] [--helo NAME] [--sender ADDR]

FILE is the rendered relay_recipients table. Prints one JSON object
{"probes": [{"address", "expect", "code", "reply", "ok"}], "failed": N} and
exits 0 when every probe got what it should, 1 when not, 2 when the gateway
could not be reached.
"""
import argparse
import json
import secrets
import smtplib
import socket
import sys

# Postfix slows down (smtpd_soft_error_limit) after ten rejected commands in one
# session, so sessions are kept short.
PROBES_PER_SESSION = 5


def read_keys(path):
    keys = []
    with open(path, encoding='utf-8', errors='replace') as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith('#'):
                keys.append(line.split()[0])
    return keys


def choose(keys, sample, max_domains):
    """Known addresses to probe: the first of each domain, an even spread over the
    table, a VERP bounce and a confirmation form, and a mixed-case form."""
    by_domain = {}
    for key in keys:
        by_domain.setdefault(key.rpartition('@')[2], key)
    domains = sorted(by_domain)[:max_domains]
    known = [by_domain[d] for d in domains]
    step = max(1, len(keys) // max(1, sample))
    known += keys[::step][:sample]
    for suffix, extension in (('-bounces', 'user=example.org'), ('-confirm', secrets.token_hex(8))):
        match = next((k for k in keys if k.partition('@')[0].endswith(suffix)), None)
        if match:
            local, _, domain = match.partition('@')
            known.append('%s+%s@%s' % (local, extension, domain))
    plain = next((k for k in keys if k[:1].isalpha()), None)
    if plain:
        local, _, domain = plain.partition('@')
        known.append(local[:1].upper() + local[1:] + '@' + domain.upper())
    known = list(dict.fromkeys(known))
    present = set(keys)
    unknown = []
    for domain in domains:
        while True:
            candidate = 'rcptsync-verify-%s@%s' % (secrets.token_hex(6), domain)
            if candidate not in present:
                unknown.append(candidate)
                break
    return known, unknown


def probe(args, addresses):
    """address -> (code, reply text)"""
    results = {}
    for start in range(0, len(addresses), PROBES_PER_SESSION):
        with smtplib.SMTP(args.host, args.port, local_hostname=args.helo, timeout=args.timeout) as session:
            session.ehlo_or_helo_if_needed()
            for address in addresses[start:start + PROBES_PER_SESSION]:
                code, reply = session.mail(args.sender)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, reply)
                code, reply = session.rcpt(address)
                results[address] = (code, '%d %s' % (code, reply.decode('utf-8', 'replace')))
                session.rset()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', required=True)
    parser.add_argument('--port', type=int, default=25)
    parser.add_argument('--recipients', required=True)
    parser.add_argument('--sample', type=int, default=20)
    parser.add_argument('--max-domains', type=int, default=20)
    parser.add_argument('--reject-code', type=int, default=550)
    parser.add_argument('--helo', default='rcptsync-verify.invalid')
    parser.add_argument('--sender', default='')
    parser.add_argument('--timeout', type=float, default=30)
    args = parser.parse_args()

    known, unknown = choose(read_keys(args.recipients), args.sample, args.max_domains)
    try:
        replies = probe(args, known + unknown)
    except (OSError, socket.error, smtplib.SMTPException) as error:
        print(json.dumps({'error': '%s:%d: %s' % (args.host, args.port, error), 'probes': [], 'failed': 0}))
        return 2
    probes = []
    for address in known + unknown:
        expect = 250 if address in known else args.reject_code
        code, reply = replies[address]
        probes.append({'address': address, 'expect': expect, 'code': code, 'reply': reply, 'ok': code == expect})
    failed = sum(1 for p in probes if not p['ok'])
    print(json.dumps({'probes': probes, 'failed': failed}))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
