# -*- coding: utf-8 -*-
# Uploads the stale tables and publishes them on the gateway in one task: one
# SFTP transfer per file into Ansible's remote temporary directory, then one shell
# script that, for each table, moves the upload beside the published table under
# a temporary name, checks its sha256 against the manifest, builds it with
# postmap, looks up its first key, renames the indexed file and then the source
# into place, and looks the key up again under the published name. set -e: any
# failure stops before that table's rename, so the published table stays in
# service. ansible.builtin.copy followed by a shell task costs four more SSH
# round trips and two module runs (stat, copy) for the same bytes.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six.moves import shlex_quote
from ansible.plugins.action import ActionBase


def publish_script(args, upload_dir):
    q = shlex_quote
    config = q(args['config_dir'])
    map_type = args['map_type']
    suffix = args['suffix']
    lines = [
        'set -e',
        'umask 022',
        'mkdir -p %s' % q(args['map_dir']),
        'cd %s' % q(args['map_dir']),
        # Until the reload handler removes it: a run that stops before its reload
        # leaves the marker, and the next run reloads.
        ': > %s' % q(args['reload_marker']),
    ]
    for table in args['tables']:
        name = table['name']
        tmp = args['tmp_prefix'] + name
        lines += [
            'mv -f %s %s' % (q(upload_dir + '/' + name), q(tmp)),
            # An upload by an unprivileged SSH user (become) is still that user's:
            # postmap would drop root privileges to it and fail to write beside it.
            'chown 0:0 %s' % q(tmp),
            'chmod 0644 %s' % q(tmp),
            # The upload must still be the file the manifest describes.
            'echo %s | sha256sum --check --strict --quiet' % q('%s  %s' % (table['sha256'], tmp)),
            'postmap -c %s %s:%s' % (config, map_type, q(tmp)),
        ]
        if table.get('first'):
            lines.append('postmap -c %s -q %s %s:%s >/dev/null' % (config, q(table['first']), map_type, q(tmp)))
        lines += [
            'mv -f %s %s' % (q(tmp + '.' + suffix), q(name + '.' + suffix)),
            'mv -f %s %s' % (q(tmp), q(name)),
        ]
        if table.get('first'):
            # The published table answers its first key.
            lines.append('postmap -c %s -q %s %s:%s >/dev/null' % (config, q(table['first']), map_type, q(name)))
        lines.append('echo %s' % q('published ' + name))
    return '\n'.join(lines) + '\n'


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(('src_dir', 'map_dir', 'config_dir', 'map_type', 'suffix', 'tmp_prefix', 'tables',
                             'reload_marker'))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        for key in self._VALID_ARGS:
            if key not in args:
                raise AnsibleActionFail('postfix_relay_gateway_publish: missing argument %s' % key)
        tables = args['tables']
        names = [table['name'] for table in tables]
        result['published'] = names
        if not tables:
            result['changed'] = False
            return result
        src_dir = self._loader.path_dwim(args['src_dir'])
        for name in names:
            if not os.path.isfile(os.path.join(src_dir, name)):
                raise AnsibleActionFail('%s: no such rendered file' % os.path.join(src_dir, name))
        result['changed'] = True
        if self._task.check_mode:
            result['msg'] = 'would publish %s in %s' % (', '.join(names), args['map_dir'])
            return result

        try:
            upload_dir = self._make_tmp_path()
            remote_files = []
            for name in names:
                remote_files.append(self._transfer_file(os.path.join(src_dir, name), upload_dir + '/' + name))
            # Lets an unprivileged SSH user hand the files to the become user.
            self._fixup_perms2([upload_dir] + remote_files)
            script = publish_script(args, upload_dir)
            run = self._low_level_execute_command(script, sudoable=True, executable='/bin/sh')
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

        result['rc'] = run['rc']
        result['stdout'] = to_text(run.get('stdout', ''))
        result['stderr'] = to_text(run.get('stderr', ''))
        result['stdout_lines'] = result['stdout'].splitlines()
        if run['rc'] != 0:
            result['failed'] = True
            result['msg'] = ('publishing %s in %s failed with exit code %d (the published tables before the failing '
                             'one were replaced, the rest are unchanged): %s'
                             % (', '.join(names), args['map_dir'], run['rc'], result['stderr'].strip()))
        return result
