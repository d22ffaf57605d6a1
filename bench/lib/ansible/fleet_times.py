# -*- coding: utf-8 -*-
# Ansible callback for bench/fleet.mjs: one JSON line per host and task (handlers
# too) with its start and end on the wall clock, to $FLEET_TIMES_LOG. The junit
# callback's times start at the task's first start, which under deploy.yml's
# serial batches counts the canary batch into every later gateway's time.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = '''
    name: fleet_times
    type: aggregate
    short_description: per host and task start and end times, for bench/fleet.mjs
    description: writes one JSON line per finished host task to $FLEET_TIMES_LOG
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'fleet_times'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get('FLEET_TIMES_LOG')
        self._starts = {}
        self._play_start = time.time()

    def _write(self, record):
        if self._path:
            with open(self._path, 'a', encoding='utf-8') as out:
                out.write(json.dumps(record) + '\n')

    def v2_playbook_on_play_start(self, play):
        self._write({'event': 'play', 'name': play.get_name(), 'at': time.time()})

    def v2_runner_on_start(self, host, task):
        self._starts[(host.get_name(), task._uuid)] = time.time()

    def _done(self, result, status):
        host = result._host.get_name()
        task = result._task
        start = self._starts.pop((host, task._uuid), None)
        self._write({'host': host, 'task': task.get_name(), 'start': start, 'end': time.time(), 'status': status,
                     'changed': bool(result._result.get('changed', False))})

    def v2_runner_on_ok(self, result):
        self._done(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._done(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._done(result, 'unreachable')
