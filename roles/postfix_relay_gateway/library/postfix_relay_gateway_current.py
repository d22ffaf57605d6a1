#!/usr/bin/python
# -*- coding: utf-8 -*-
# The role's cheap check (tasks/current.yml): is this gateway exactly as the last
# complete run of the role left it, for the same inputs? Then the run stops here.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_current
short_description: Tell whether a Postfix gateway is as the last complete run of the role left it
description:
  - Computes a fingerprint of the gateway from I(inputs) (what the control node will deploy and
    with which settings), the content of every file under I(config_dir) outside I(map_dir)
    (main.cf, master.cf and the site's own tables there), the name, size and modification time
    of every file in I(map_dir), and the postconf binary (size and modification time).
  - The published tables in I(map_dir) must have the sha256 of I(tables) and their indexed
    files must exist; there must be no pending-reload marker.
  - With I(record=false) reports C(current) (the fingerprint equals the recorded one and the
    tables match); with I(record=true) writes the fingerprint to I(fingerprint_file). Never
    reports C(changed), since the record is the role's bookkeeping, like the reload marker.
options:
  inputs:
    description: A string that changes whenever what the role would do changes (sha256 of the manifest entries
      of this gateway, the role's variables and its files).
    type: str
    required: true
  config_dir:
    description: Postfix's configuration directory (main.cf, master.cf).
    type: path
    required: true
  map_dir:
    description: The directory of rcptsync's published tables.
    type: path
    required: true
  tables:
    description: Table name to the manifest's sha256 of its source.
    type: dict
    required: true
  suffix:
    description: Suffix of the indexed file of each table (cdb, lmdb, db).
    type: str
    required: true
  reload_marker:
    description: The file a run leaves while a reload is still owed.
    type: path
    required: true
  fingerprint_file:
    description: Where the fingerprint of the last complete run is kept.
    type: path
    required: true
  record:
    description: Write the fingerprint (after a complete run) instead of comparing with it.
    type: bool
    default: false
author: rcptsync maintainers
'''

RETURN = r'''
current:
  description: The gateway is as the last complete run left it, for the same inputs.
  type: bool
reason:
  description: Why not (empty when current).
  type: str
inputs:
  description: The I(inputs) compared, for the record at the end of the same run (tasks/record.yml), which
    so records what this run validated and deployed, without working it out again.
  type: str
'''

import hashlib
import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(params):
    config_dir = os.path.realpath(params['config_dir'])
    map_dir = os.path.realpath(params['map_dir'])
    fingerprint_file = os.path.realpath(params['fingerprint_file'])
    config = {}
    for top, dirs, files in os.walk(config_dir):
        dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(top, d)) != map_dir)
        for name in sorted(files):
            path = os.path.join(top, name)
            if os.path.isfile(path):
                config[os.path.relpath(path, config_dir)] = sha256_file(path)
    listing = {}
    if os.path.isdir(map_dir):
        for name in sorted(os.listdir(map_dir)):
            path = os.path.join(map_dir, name)
            if os.path.realpath(path) == fingerprint_file:
                continue
            st = os.lstat(path)
            listing[name] = [st.st_size, st.st_mtime_ns, st.st_mode]
    postconf = shutil.which('postconf', path=os.environ.get('PATH', '') + ':/usr/sbin:/usr/local/sbin')
    binary = None
    if postconf:
        st = os.stat(postconf)
        binary = [postconf, st.st_size, st.st_mtime_ns]
    text = json.dumps({'inputs': params['inputs'], 'config': config, 'map_dir': listing, 'postconf': binary}, sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def tables_match(params):
    for name, expected in sorted(params['tables'].items()):
        source = os.path.join(params['map_dir'], name)
        if not os.path.isfile(source) or not os.path.isfile('%s.%s' % (source, params['suffix'])):
            return '%s or its indexed file is missing' % source
        if sha256_file(source) != expected:
            return '%s differs from the manifest' % source
    return ''


def main():
    module = AnsibleModule(
        argument_spec=dict(
            inputs=dict(type='str', required=True),
            config_dir=dict(type='path', required=True),
            map_dir=dict(type='path', required=True),
            tables=dict(type='dict', required=True),
            suffix=dict(type='str', required=True),
            reload_marker=dict(type='path', required=True),
            fingerprint_file=dict(type='path', required=True),
            record=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['record']:
        if not module.check_mode and os.path.isdir(params['map_dir']):
            now = fingerprint(params)  # before the temporary file below exists in map_dir
            temporary = params['fingerprint_file'] + '.tmp'
            with open(temporary, 'w', encoding='utf-8') as handle:
                handle.write(now + '\n')
            os.rename(temporary, params['fingerprint_file'])
        module.exit_json(changed=False, current=True, reason='')
    # The cheap reasons first: a changed table (the usual reason for a run) costs
    # one sha256 of the published source, not the whole fingerprint.
    reason = ''
    if os.path.exists(params['reload_marker']):
        reason = 'a reload is pending'
    else:
        reason = tables_match(params)
    if not reason:
        now = fingerprint(params)
        try:
            with open(params['fingerprint_file'], encoding='utf-8') as handle:
                recorded = handle.read().strip()
        except OSError:
            recorded = ''
        if not recorded:
            reason = 'no complete run recorded'
        elif recorded != now:
            reason = 'the inputs, the Postfix configuration or the map directory changed since the last complete run'
    module.exit_json(changed=False, current=not reason, reason=reason, inputs=params['inputs'])


if __name__ == '__main__':
    main()
