#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: nginx_reload
short_description: Reload nginx and confirm that the running master really loaded the new configuration
version_added: "1.0.0"
description:
  - Validates the whole configuration (C(nginx -T)), then reloads a running nginx - through systemd where systemd runs
    the unit whose main process is the master, otherwise with SIGHUP to the master, which is what C(nginx -s reload)
    sends. A stopped nginx is not started.
  - C(nginx -s reload) and C(systemctl reload nginx) exit 0 even when the master then rejects the configuration (for
    example a C(listen) address another process holds - C(bind() failed (98)) in the error log) and keeps its old
    workers and old configuration. So the module confirms, for at most O(timeout) seconds, that a new generation of
    worker processes appeared under the same master (read from C(/proc)) while the old workers retire, and that the
    error logs hold no C([emerg]) or C([alert]) line written since the reload. It reads the C(error_log) files of
    C(nginx -T), nginx's compiled-in error log and the log files the master holds open, from the offsets they had
    before the reload.
  - When nginx did not load the configuration the module fails with nginx's own error line, after waiting until the
    error logs have been quiet for a moment (nginx retries a busy address for a few seconds).
  - It then sends one HTTP request to each listening socket of the master and reports which answered (RV(serving)).
options:
  binary:
    description: The nginx binary.
    type: path
    default: /usr/sbin/nginx
  pid_file:
    description: The pid file of the nginx master.
    type: path
    default: /run/nginx.pid
  service:
    description: The systemd unit of nginx.
    type: str
    default: nginx
  method:
    description: How to reload; C(auto) uses systemd where systemd runs this master's unit, else a signal.
    type: str
    default: auto
    choices: [auto, systemd, signal]
  timeout:
    description: Seconds to wait for nginx to load the configuration.
    type: int
    default: 20
  probe:
    description: Send one HTTP request to each listening socket of the master after the reload.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Validates and reports what would be reloaded; sends nothing.
  diff_mode:
    support: none
    description: Nothing to show.
  platform:
    support: full
    platforms: linux
    description: Reads C(/proc) of a Linux host.
author: harden-tcp contributors (@harden-tcp)
'''

EXAMPLES = r'''
- name: Reload nginx and confirm it loaded the new files
  harden_tcp.tcp.nginx_reload:
    timeout: 20
  register: reload
'''

RETURN = r'''
validated:
  description: C(nginx -T) accepted the configuration.
  type: bool
  returned: always
running:
  description: A live nginx master was found through O(pid_file).
  type: bool
  returned: always
reloaded:
  description: A reload was sent.
  type: bool
  returned: always
loaded:
  description: The master started a new generation of workers, the old ones retire, and no C([emerg]) or C([alert])
    line was logged since the reload.
  type: bool
  returned: always
method:
  description: C(systemd) or C(signal); null when nginx is not running.
  type: str
  returned: always
master_pid:
  description: Pid of the nginx master; null when nginx is not running.
  type: int
  returned: always
workers_before:
  description: Pids of the master's current processes before the reload.
  type: list
  elements: int
  returned: always
workers_new:
  description: Pids of the processes started by the reload.
  type: list
  elements: int
  returned: always
errors:
  description: nginx's error lines since the reload (C([level] message), each once), or the output of a failed
    C(nginx -T) or C(systemctl reload).
  type: list
  elements: str
  returned: always
error_logs:
  description: The error log files read.
  type: list
  elements: str
  returned: always
waited:
  description: Seconds spent waiting for the outcome.
  type: float
  returned: always
serving:
  description: "C({answered, probes: [{address, port, connected, status, error}]}): C(answered) is true when a
    listening socket answered with an HTTP status line; null when not probed."
  type: dict
  returned: always
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.nginx_live import RELOAD_METHODS, reload_and_confirm, runner


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path', default='/usr/sbin/nginx'),
            pid_file=dict(type='path', default='/run/nginx.pid'),
            service=dict(type='str', default='nginx'),
            method=dict(type='str', default='auto', choices=list(RELOAD_METHODS)),
            timeout=dict(type='int', default=20),
            probe=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params['timeout'] < 1:
        module.fail_json(msg='timeout must be at least 1 second; got %d' % params['timeout'])
    binary = params['binary']
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        module.fail_json(msg='no nginx binary at %s (nginx_keepalive_binary)' % binary)

    ok, result = reload_and_confirm(runner(module), binary, params['pid_file'], service=params['service'],
                                    method=params['method'], timeout=params['timeout'],
                                    probe_listeners=params['probe'], check_mode=module.check_mode)
    if not ok:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
