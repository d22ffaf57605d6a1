# -*- coding: utf-8 -*-
# Sends the stale tables compressed and publishes them on the gateway in one task.
#
# On the control node the tables go into one tar archive, gzip level 1 (a
# rendered relay_recipients shrinks about 12x, in about 0.1 s per million
# entries). With pipelining (ansible.cfg), the archive is the standard input of
# one shell script on the gateway: one SSH round trip, no temporary directory,
# nothing copied from Ansible's temp dir into the map directory. Without it
# (pipelining off, su, or a connection that cannot pipe data), the archive is
# uploaded into Ansible's remote temp directory first and the same script reads
# it from there (and removes the directory itself).
#
# The script, under set -e: unpacks every table beside the published one under
# a temporary name (so nothing crosses file systems), checks each file's sha256
# against the manifest, builds it with postmap and looks up its first key; only
# when every table is built does it rename, per table, the indexed file and then
# the source into place and look the key up again under the published name. A
# failed or partial transfer (gzip and tar check their own framing and CRC), a
# sha256 mismatch or a failed postmap stops before the first rename: every
# published table stays as it was, and the temporary files are removed on exit.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import os
import tarfile
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six.moves import shlex_quote
from ansible.plugins.action import ActionBase

# zlib level 1: tables are text with long shared runs (domains, "OK"); higher
# levels gain a few percent of size for several times the CPU (bench/README.md).
COMPRESS_LEVEL = 1


def archive_tables(src_dir, tables, tmp_prefix):
    """The tables as one gzip'd tar, each under its temporary name, root's, 0644."""
    buffer = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buffer, mode='w:gz', compresslevel=COMPRESS_LEVEL, format=tarfile.PAX_FORMAT) as archive:
        for table in tables:
            path = os.path.join(src_dir, table['name'])
            with open(path, 'rb') as handle:
                info = tarfile.TarInfo(tmp_prefix + table['name'])
                info.size = os.fstat(handle.fileno()).st_size
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = 'root'
                info.mtime = now
                archive.addfile(info, handle)
    return buffer.getvalue()


def publish_script(args, upload=None):
    """The gateway's side. upload: the archive's path on the gateway, or None to read it from standard input."""
    q = shlex_quote
    config = q(args['config_dir'])
    map_type = args['map_type']
    suffix = args['suffix']
    tables = args['tables']
    temporary = []
    for table in tables:
        tmp = args['tmp_prefix'] + table['name']
        temporary += [tmp, tmp + '.' + suffix]
    cleanup = 'rm -f %s' % ' '.join(q(name) for name in temporary)
    if upload is not None:
        cleanup += '; rm -rf %s' % q(os.path.dirname(upload))
    lines = [
        'set -e',
        'umask 022',
        'mkdir -p %s' % q(args['map_dir']),
        'cd %s' % q(args['map_dir']),
        # Whatever happens, no temporary file stays behind (a signal exits, so the
        # EXIT trap runs too). Renamed files are no longer there to remove.
        "trap %s EXIT" % q(cleanup),
        "trap 'exit 1' HUP INT TERM PIPE",
        # --no-same-owner: the files are the (become) user's that unpacks them,
        # root, whoever logged in; postmap would otherwise drop privileges to the
        # owner of the source and fail to write beside it.
        'tar -x -z --no-same-owner -m -f %s' % (q(upload) if upload is not None else '-'),
    ]
    for table in tables:
        tmp = args['tmp_prefix'] + table['name']
        lines += [
            'chmod 0644 %s' % q(tmp),
            # The unpacked file must be the file the manifest describes.
            'echo %s | sha256sum --check --strict --quiet >/dev/null || { echo %s >&2; exit 1; }'
            % (q('%s  %s' % (table['sha256'], tmp)),
               q('%s: the transferred file does not have the manifest\'s sha256 %s' % (table['name'], table['sha256']))),
            'postmap -c %s %s:%s' % (config, map_type, q(tmp)),
        ]
        if table.get('first'):
            lines.append('postmap -c %s -q %s %s:%s >/dev/null' % (config, q(table['first']), map_type, q(tmp)))
    # Until the reload handler removes it: a run that stops after a rename but
    # before its reload leaves the marker, and the next run reloads.
    lines.append(': > %s' % q(args['reload_marker']))
    for table in tables:
        name = table['name']
        tmp = args['tmp_prefix'] + name
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
    # No temporary directory up front: the piped path needs none (the fallback makes its own).
    TRANSFERS_FILES = False
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

        data = archive_tables(src_dir, tables, args['tmp_prefix'])
        total = sum(os.path.getsize(os.path.join(src_dir, name)) for name in names)
        result['transfer'] = {'bytes': total, 'compressed': len(data)}
        if self._is_pipelining_enabled('new'):
            result['transfer']['method'] = 'stdin'
            run = self._low_level_execute_command(publish_script(args), sudoable=True, in_data=data,
                                                  executable='/bin/sh')
        else:
            result['transfer']['method'] = 'upload'
            upload_dir = self._make_tmp_path()
            run = None
            try:
                upload = self._transfer_data(upload_dir + '/tables.tar.gz', data)
                # Lets an unprivileged SSH user hand the archive to the become user.
                self._fixup_perms2([upload_dir, upload])
                run = self._low_level_execute_command(publish_script(args, upload), sudoable=True,
                                                      executable='/bin/sh')
            finally:
                if run is not None and run['rc'] == 0:
                    # The script removed the directory (its EXIT trap): no round trip for that.
                    self._connection._shell.tmpdir = None
                else:
                    self._remove_tmp_path(upload_dir)

        result['rc'] = run['rc']
        result['stdout'] = to_text(run.get('stdout', ''))
        result['stderr'] = to_text(run.get('stderr', ''))
        result['stdout_lines'] = result['stdout'].splitlines()
        if run['rc'] != 0:
            done = [line[len('published '):] for line in result['stdout_lines'] if line.startswith('published ')]
            result['failed'] = True
            result['msg'] = ('publishing %s in %s failed with exit code %d (%s): %s'
                             % (', '.join(names), args['map_dir'], run['rc'],
                                'replaced before the failure: %s; the others are unchanged' % ', '.join(done)
                                if done else 'every published table is unchanged',
                                result['stderr'].strip()))
        return result
