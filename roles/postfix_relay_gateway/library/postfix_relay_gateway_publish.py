#!/usr/bin/python
# -*- coding: utf-8 -*-
# Documentation of the action plugin of the same name (action_plugins/), which
# does the work on the control node and over the connection; like Ansible's own
# action-only modules, this file is never run on a gateway.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
module: postfix_relay_gateway_publish
short_description: Send rendered tables compressed and publish them atomically on a Postfix gateway
description:
  - Packs the tables into one tar archive compressed with gzip (level 1) on the control node. With
    pipelining, the archive is the standard input of one script on the gateway (one SSH round trip);
    without it, it is uploaded into Ansible's remote temporary directory, which the script removes.
  - The script unpacks every table beside the published one under I(tmp_prefix), checks each file's
    sha256 against the manifest, builds it with postmap and looks up its first key. Only when every
    table is built does it rename, per table, the indexed file and then the source into place, and
    look the key up again under the published name.
  - A failed or partial transfer, a sha256 mismatch or a failed postmap stops before the first rename,
    so every published table stays in service; the temporary files are removed on exit.
  - In check mode nothing is transferred; the task reports C(changed) when there are tables.
options:
  src_dir:
    description: Directory of the rendered files on the control node.
    type: path
    required: true
  map_dir:
    description: Directory of the published tables on the gateway; created when missing.
    type: path
    required: true
  config_dir:
    description: Postfix configuration directory, passed as -c to postmap.
    type: path
    required: true
  map_type:
    description: Lookup table type (cdb, lmdb or hash).
    type: str
    required: true
  suffix:
    description: Suffix of the indexed file postmap writes for I(map_type).
    type: str
    required: true
  tmp_prefix:
    description: Prefix of the temporary names in I(map_dir).
    type: str
    required: true
  reload_marker:
    description: File created in I(map_dir) before the first rename; the reload handler removes it.
    type: path
    required: true
  tables:
    description: Tables to publish, each with C(name), C(sha256) and C(first) (a key to look up, or null).
    type: list
    elements: dict
    required: true
author: rcptsync maintainers
'''

RETURN = r'''
published:
  description: Names of the tables the task published (or would publish, in check mode).
  type: list
  returned: always
stdout_lines:
  description: One "published NAME" line per table the script renamed into place.
  type: list
  returned: when the script ran
transfer:
  description: Bytes of the tables (C(bytes)), of the archive sent (C(compressed)), and how it was sent
    (C(method), stdin or upload).
  type: dict
  returned: when the script ran
'''

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec={}, supports_check_mode=True)
    module.fail_json(msg='postfix_relay_gateway_publish runs as an action plugin of the postfix_relay_gateway role')


if __name__ == '__main__':
    main()
