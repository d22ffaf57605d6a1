#!/usr/bin/env python3
"""Compare a gateway's rendered relay_recipients with the addresses it accepts
today (postfix_relay_gateway_deployed), per domain, with rcptsync's removal
thresholds. Runs on the control node. Usage:
  compare_deployed.py GATEWAY RENDERED_RELAY_RECIPIENTS < facts.json

facts.json: {"deployed": <the module's result>, "thresholds": {"max_removal_percent": 30,
"removal_floor": 10, "max_removals": null, "min_entries": 0}, "domain_settings": {...}}.
Prints one JSON object {"lines": [...], "refused": [...]}; exit status 0 whenever
the comparison ran.
"""
import json
import sys

SAMPLE = 10


def rendered_keys(path):
    keys = {}
    with open(path, encoding='utf-8', errors='replace') as handle:
        for line in handle:
            fields = line.split(None, 1)
            if not fields or fields[0].startswith('#'):
                continue
            key = fields[0].lower()
            keys.setdefault(key.rpartition('@')[2], set()).add(key)
    return keys


def main(argv):
    gateway, path = argv[1], argv[2]
    facts = json.load(sys.stdin)
    deployed = facts['deployed']
    rendered = rendered_keys(path)
    lines, refused = [], []
    for table in deployed.get('unchecked', []):
        lines.append('%s: UNCHECKED %s; the addresses it accepts are not in the comparison' % (gateway, table))
    for domain in sorted(deployed['domains']):
        today_facts = deployed['domains'][domain]
        today = set(today_facts['addresses'])
        new = rendered.get(domain, set())
        limits = dict(facts['thresholds'])
        limits.update({k: v for k, v in (facts.get('domain_settings') or {}).get(domain, {}).items() if k in limits})
        # Ansible hands templated numbers over as text; "None" or "" is no limit.
        limits = dict((k, None if v in (None, '', 'None') else float(v)) for k, v in limits.items())
        limits['max_removal_percent'] = 100.0 if limits['max_removal_percent'] is None else limits['max_removal_percent']
        limits['removal_floor'] = limits['removal_floor'] or 0
        limits['min_entries'] = limits['min_entries'] or 0
        added, removed = sorted(new - today), sorted(today - new)
        head = '%s: %s: accepted today %d, rendered %d: +%d -%d =%d' % (
            gateway, domain, len(today), len(new), len(added), len(removed), len(new & today))
        if not today_facts['relayed']:
            lines.append('%s (not relayed today: every address is new, mail for the domain gets 554 now)' % head)
            continue
        if today_facts['catch_all']:
            lines.append('%s; today %s accepts every address at %s, so every unknown address is accepted now and '
                         'will get 550' % (head, today_facts['catch_all'], domain))
            continue
        lines.append(head + (': ' + ', '.join(removed[:SAMPLE]) + (' ...' if len(removed) > SAMPLE else '')
                             + ' would be refused' if removed else ''))
        reasons = []
        if limits.get('max_removals') is not None and len(removed) > limits['max_removals']:
            reasons.append('%d entries would be removed, over the limit of %d' % (len(removed), int(limits['max_removals'])))
        if len(today) >= limits['removal_floor'] and today:
            share = 100.0 * len(removed) / len(today)
            if share > limits['max_removal_percent']:
                reasons.append('%d of %d entries (%.1f%%) would be removed, over %g%%'
                               % (len(removed), len(today), share, limits['max_removal_percent']))
        if len(new) < limits['min_entries']:
            reasons.append('%d entries, under the minimum of %d' % (len(new), int(limits['min_entries'])))
        for reason in reasons:
            refused.append('%s: %s: %s' % (gateway, domain, reason))
    print(json.dumps({'lines': lines, 'refused': refused}))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
