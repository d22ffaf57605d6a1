#!/usr/bin/python
# -*- coding: utf-8 -*-
# Writes the main.cf changes that postfix_relay_gateway_inspect worked out, in one
# module call: a copy of main.cf beside it first, the values main.cf had before
# rcptsync first changed each parameter into a record (so that state: absent can
# put them back), the pending-reload marker (removed by the handler after the
# reload), then one postconf -e (and one postconf -X for parameters that go back
# to their default).

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_settings
short_description: Change main.cf parameters of a Postfix gateway, keeping a backup and a record
description:
  - Copies main.cf to I(backup_file), records the previous values in I(record_file), creates
    I(reload_marker), then runs postconf -e (and postconf -X for parameters set to null).
  - Supports check mode and diff mode (the diff shows each parameter's old and new line).
options:
  config_dir:
    description: Postfix configuration directory.
    type: path
    required: true
  changes:
    description: Parameter to its new value; null removes the parameter from main.cf (back to its default).
    type: dict
    required: true
  before:
    description: Parameter to its current main.cf value (null when main.cf does not set it).
    type: dict
    required: true
  state:
    description: C(present) records previous values; C(absent) removes the record after restoring them.
    type: str
    choices: [present, absent]
    default: present
  record_file:
    description: JSON record of the values main.cf had before rcptsync changed them.
    type: path
    required: true
  backup_file:
    description: Copy of main.cf made before the change.
    type: path
    required: true
  reload_marker:
    description: Created before the change; the reload handler removes it.
    type: path
    required: true
author: rcptsync maintainers
'''

RETURN = r'''
backup_file:
  description: The copy of main.cf made before the change.
  type: str
  returned: changed and not check mode
'''

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule


def line(name, value):
    return '%s = %s\n' % (name, value) if value is not None else '# %s: not set (Postfix default)\n' % name


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config_dir=dict(type='path', required=True),
            changes=dict(type='dict', required=True),
            before=dict(type='dict', required=True),
            state=dict(type='str', choices=['present', 'absent'], default='present'),
            record_file=dict(type='path', required=True),
            backup_file=dict(type='path', required=True),
            reload_marker=dict(type='path', required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    changes, before = p['changes'], p['before']
    main_cf = os.path.join(p['config_dir'], 'main.cf')
    result = dict(changed=bool(changes))
    if changes and module._diff:
        names = sorted(changes)
        result['diff'] = dict(
            before_header=main_cf, after_header=main_cf,
            before=''.join(line(n, before.get(n)) for n in names),
            after=''.join(line(n, changes[n]) for n in names))
    if not changes or module.check_mode:
        module.exit_json(**result)

    shutil.copy2(main_cf, p['backup_file'])
    record_dir = os.path.dirname(p['record_file'])
    if p['state'] == 'present':
        if not os.path.isdir(record_dir):
            os.makedirs(record_dir, 0o755)
        try:
            with open(p['record_file']) as handle:
                record = json.load(handle)
        except (IOError, OSError, ValueError):
            record = {}
        for name, value in changes.items():
            record.setdefault(name, {'before': before.get(name)})['set'] = value
        tmp = p['record_file'] + '.tmp'
        with open(tmp, 'w') as handle:
            json.dump(record, handle, indent=1, sort_keys=True)
            handle.write('\n')
        os.rename(tmp, p['record_file'])
    if os.path.isdir(os.path.dirname(p['reload_marker'])):
        with open(p['reload_marker'], 'a'):
            pass

    postconf = [module.get_bin_path('postconf', required=True, opt_dirs=['/usr/sbin', '/sbin']), '-c', p['config_dir']]
    sets = ['%s=%s' % (n, v) for n, v in sorted(changes.items()) if v is not None]
    removes = sorted(n for n, v in changes.items() if v is None)
    for argv in ([postconf + ['-e'] + sets] if sets else []) + ([postconf + ['-X'] + removes] if removes else []):
        rc, _out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg='%s failed: %s (main.cf before the change: %s)' % (' '.join(argv[:4]), err.strip(),
                                                                                   p['backup_file']))
    if p['state'] == 'absent' and os.path.exists(p['record_file']):
        os.remove(p['record_file'])
    result['backup_file'] = p['backup_file']
    module.exit_json(**result)


if __name__ == '__main__':
    main()
