#!/usr/bin/python
# -*- coding: utf-8 -*-
# Read-only: the addresses a gateway accepts today for some domains, from the
# tables its relay_recipient_maps names (rcptsync's own too, when published), so
# that a first deploy can be compared with what the gateway does now.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_deployed
short_description: List the recipient addresses a Postfix gateway accepts today for some domains
description:
  - Reads every table of relay_recipient_maps (postconf -c I(config_dir)); lists its keys at
    I(domains) with postmap -s where the table type allows it (hash, btree, lmdb, texthash), or from its
    source file for cdb, dbm and sdbm. Other types (regexp, pcre, ldap, ...) are reported as unchecked.
  - Tells for each domain whether relay_domains relays it today and whether a table accepts every address
    there (a catch-all C(@domain) key, or one that answers an invented address).
options:
  config_dir:
    description: Postfix configuration directory.
    type: path
    required: true
  domains:
    description: Domains to list addresses for (lower case).
    type: list
    elements: str
    required: true
author: rcptsync maintainers
'''

RETURN = r'''
domains:
  description: Per domain, C(relayed) (bool), C(catch_all) (the table that accepts everything, or null) and
    C(addresses) (sorted, lower case).
  type: dict
  returned: success
unchecked:
  description: Tables whose keys could not be listed, with the reason.
  type: list
  returned: success
tables:
  description: The tables of relay_recipient_maps, in order.
  type: list
  returned: success
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

SEQUENCE_TYPES = ('hash', 'btree', 'lmdb', 'texthash')
SOURCE_TYPES = ('cdb', 'dbm', 'sdbm')


def tokens(value):
    out, current, depth = [], [], 0
    for char in value or '':
        if char == '{':
            depth += 1
        elif char == '}' and depth > 0:
            depth -= 1
        if depth == 0 and (char == ',' or char.isspace()):
            if current:
                out.append(''.join(current))
                current = []
            continue
        current.append(char)
    if current:
        out.append(''.join(current))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', required=True),
            domains=dict(type='list', elements='str', required=True),
        ),
        supports_check_mode=True,
    )
    config = module.params['config_dir']
    wanted = set(d.lower() for d in module.params['domains'])
    postconf = module.get_bin_path('postconf', required=True, opt_dirs=['/usr/sbin', '/sbin'])
    postmap = module.get_bin_path('postmap', required=True, opt_dirs=['/usr/sbin', '/sbin'])

    rc, out, err = module.run_command([postconf, '-c', config, '-x', '-h', 'relay_recipient_maps'])
    if rc != 0:
        module.fail_json(msg='postconf -c %s -x -h relay_recipient_maps failed: %s' % (config, err.strip()))
    tables = tokens(out.strip())

    def query(table, key):
        rc, _out, _err = module.run_command([postmap, '-c', config, '-q', key, table])
        return rc == 0

    result = dict((d, {'relayed': False, 'catch_all': None, 'addresses': set()}) for d in wanted)
    rc, out, err = module.run_command([postconf, '-c', config, '-x', '-h', 'relay_domains'])
    if rc != 0:
        module.fail_json(msg='postconf -c %s -x -h relay_domains failed: %s' % (config, err.strip()))
    relay_domains = tokens(out.strip())
    for domain in wanted:
        for entry in relay_domains:
            if entry.lower() == domain or (':' in entry and query(entry, domain)):
                result[domain]['relayed'] = True
                break

    unchecked = []
    probe = 'rcptsync-deployed-probe-%d' % int(time.time())
    for table in tables:
        kind, _, path = table.partition(':')
        for domain in wanted:
            if result[domain]['catch_all'] is None and (query(table, '@' + domain) or query(table, '%s@%s' % (probe, domain))):
                result[domain]['catch_all'] = table
        if kind in SEQUENCE_TYPES:
            rc, out, err = module.run_command([postmap, '-c', config, '-s', table])
            if rc != 0:
                unchecked.append('%s: postmap -s failed: %s' % (table, err.strip()))
                continue
            lines = out.splitlines()
        elif kind in SOURCE_TYPES and os.path.isfile(path):
            with open(path, 'rb') as handle:
                lines = [line.decode('utf-8', 'replace') for line in handle]
        else:
            unchecked.append('%s: the keys of a %s table cannot be listed' % (table, kind or 'file'))
            continue
        for line in lines:
            fields = line.split(None, 1)
            if not fields or fields[0].startswith('#'):
                continue
            key = fields[0].lower()
            local, at, domain = key.rpartition('@')
            if at and local and domain in result:
                result[domain]['addresses'].add(key)

    for domain in result.values():
        domain['addresses'] = sorted(domain['addresses'])
    module.exit_json(changed=False, domains=result, unchecked=unchecked, tables=tables)


if __name__ == '__main__':
    main()
