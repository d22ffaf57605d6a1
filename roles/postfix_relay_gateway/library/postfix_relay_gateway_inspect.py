#!/usr/bin/python
# -*- coding: utf-8 -*-
# Read-only look at a Postfix gateway in one module call: the table types it
# supports, the main.cf settings the role compares, the checksums of the
# published tables, leftovers to clean up, and settings that would let mail for
# unknown recipients past relay_recipient_maps.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_inspect
short_description: Inspect a Postfix relay gateway without changing it
description:
  - Runs postconf and postmap with -c I(config_dir) and reads the map directory.
  - Fails when postconf cannot read the configuration or I(map_type) is not supported.
options:
  config_dir:
    description: Postfix configuration directory.
    type: path
    required: true
  map_dir:
    description: Directory of the published tables.
    type: path
    required: true
  map_type:
    description: Table type the role publishes.
    type: str
    required: true
  maps:
    description: Names of the tables.
    type: list
    elements: str
    required: true
  suffixes:
    description: Indexed-file suffix per table type.
    type: dict
    required: true
  tmp_prefix:
    description: Prefix of the temporary names a publish uses.
    type: str
    required: true
  params:
    description: main.cf parameters to read (expanded, as postconf -x prints them).
    type: list
    elements: str
    required: true
  domains:
    description: Relayed domains, checked for settings that bypass the recipient table.
    type: list
    elements: str
    default: []
author: rcptsync maintainers
'''

RETURN = r'''
params:
  description: Parameter name to its expanded value.
  type: dict
  returned: success
sources:
  description: Table name to the sha256 of its published source, or null.
  type: dict
  returned: success
indexed:
  description: Table name to whether its indexed file of I(map_type) exists.
  type: dict
  returned: success
leftovers:
  description: Files of interrupted publishes (temporary names).
  type: list
  returned: success
other_types:
  description: Indexed files of other table types, to remove once Postfix no longer uses them.
  type: list
  returned: success
findings:
  description: Lines starting with BYPASS (a setting bypasses the table) or UNCHECKED (a table could not be queried).
  type: list
  returned: success
'''

import hashlib
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

TOKEN = re.compile(r'[^\s,]+')


def sha256_of(path):
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(1 << 20), b''):
                digest.update(block)
    except (IOError, OSError):
        return None
    return digest.hexdigest()


class Gateway(object):
    def __init__(self, module):
        self.module = module
        self.config_dir = module.params['config_dir']

    def postconf(self, *args):
        rc, out, err = self.module.run_command(['postconf', '-c', self.config_dir] + list(args))
        if rc != 0:
            self.module.fail_json(msg='postconf -c %s %s failed: %s' % (self.config_dir, ' '.join(args), err.strip()))
        return out

    def read_params(self, names):
        values = {}
        for line in self.postconf('-x', *names).splitlines():
            match = re.match(r'^(\S+) =[ ]?(.*)$', line)
            if match:
                values[match.group(1)] = match.group(2)
        return values

    def query(self, table, key):
        """True when found, False when not, an error text when postmap could not ask."""
        rc, out, err = self.module.run_command(['postmap', '-c', self.config_dir, '-q', key, table])
        if rc == 0:
            return True
        if err.strip():
            return err.strip().splitlines()[0]
        return False


def bypass_findings(gateway, domains):
    # smtpd accepts a recipient that matches recipient_canonical_maps,
    # canonical_maps or virtual_alias_maps before it consults the address class's
    # own table; a domain in mydestination or virtual_*_domains is not in the
    # relay class at all.
    findings = []
    names = ['receive_override_options', 'recipient_canonical_maps', 'canonical_maps', 'virtual_alias_maps',
             'virtual_mailbox_maps', 'mydestination', 'virtual_alias_domains', 'virtual_mailbox_domains']
    values = gateway.read_params(names)
    tokens = dict((name, TOKEN.findall(values.get(name, ''))) for name in names)
    if 'no_unknown_recipient_checks' in tokens['receive_override_options']:
        findings.append('BYPASS receive_override_options: no_unknown_recipient_checks turns the relay recipient check off')
    probe = 'rcptsync-bypass-probe-%d' % int(time.time())
    for name in ('recipient_canonical_maps', 'canonical_maps', 'virtual_alias_maps', 'virtual_mailbox_maps'):
        for table in tokens[name]:
            if '{' in table or '}' in table:
                findings.append('UNCHECKED %s: inline table %s is not checked' % (name, table))
                continue
            for domain in domains:
                for key in ('@' + domain, probe + '@' + domain):
                    found = gateway.query(table, key)
                    if found is True:
                        findings.append('BYPASS %s: %s matches %s, so every recipient at %s is accepted'
                                        % (name, table, key, domain))
                        break
                    if found:
                        findings.append('UNCHECKED %s: cannot query %s: %s' % (name, table, found))
                        break
    for name in ('mydestination', 'virtual_alias_domains', 'virtual_mailbox_domains'):
        for entry in tokens[name]:
            if entry.startswith('/'):
                findings.append('UNCHECKED %s: file %s is not checked' % (name, entry))
            elif ':' in entry:
                for domain in domains:
                    found = gateway.query(entry, domain)
                    if found is True:
                        findings.append('BYPASS %s: %s lists %s, so %s is not checked against relay_recipient_maps'
                                        % (name, entry, domain, domain))
                    elif found:
                        findings.append('UNCHECKED %s: cannot query %s: %s' % (name, entry, found))
            elif entry.lower() in domains:
                findings.append('BYPASS %s: lists %s, so %s is not checked against relay_recipient_maps'
                                % (name, entry.lower(), entry.lower()))
    return findings


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', required=True),
            map_dir=dict(type='path', required=True),
            map_type=dict(type='str', required=True),
            maps=dict(type='list', elements='str', required=True),
            suffixes=dict(type='dict', required=True),
            tmp_prefix=dict(type='str', required=True),
            params=dict(type='list', elements='str', required=True),
            domains=dict(type='list', elements='str', default=[]),
        ),
        supports_check_mode=True,
    )
    p = module.params
    gateway = Gateway(module)

    types = gateway.postconf('-m').split()
    if p['map_type'] not in types:
        module.fail_json(msg='Postfix (%s) does not support %s tables (supported: %s); install postfix-%s or set '
                             'postfix_relay_gateway_map_type' % (p['config_dir'], p['map_type'], ' '.join(types),
                                                                 p['map_type']))

    suffix = p['suffixes'][p['map_type']]
    other_suffixes = sorted(s for t, s in p['suffixes'].items() if t != p['map_type'])
    sources, indexed, leftovers, other_types = {}, {}, [], []
    for name in p['maps']:
        path = os.path.join(p['map_dir'], name)
        sources[name] = sha256_of(path)
        indexed[name] = os.path.exists('%s.%s' % (path, suffix))
        tmp = os.path.join(p['map_dir'], p['tmp_prefix'] + name)
        leftovers.extend(f for f in [tmp] + ['%s.%s' % (tmp, s) for s in p['suffixes'].values()] if os.path.exists(f))
        other_types.extend(f for f in ['%s.%s' % (path, s) for s in other_suffixes] if os.path.exists(f))

    module.exit_json(
        changed=False,
        types=types,
        params=gateway.read_params(p['params']),
        sources=sources,
        indexed=indexed,
        leftovers=sorted(set(leftovers)),
        other_types=other_types,
        findings=bypass_findings(gateway, [d.lower() for d in p['domains']]),
    )


if __name__ == '__main__':
    main()
