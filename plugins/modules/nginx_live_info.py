#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: nginx_live_info
short_description: Tell whether the running nginx loaded the configuration files on disk
version_added: "1.0.0"
description:
  - Runs C(nginx -T -q) (read-only) for the list of files the configuration on disk is made of, finds the running
    master through its pid file, and compares when the master last loaded its configuration (the start of its current
    workers, read from C(/proc)) with when each of those files last changed (its ctime, and that of the file a link
    points to).
  - A file changed after the load means nginx serves something else than what is on disk (a reload that failed, or
    was never sent). The same check feeds C(nginx_live) of M(harden_tcp.tcp.tcp_audit_info) and so the audit record.
  - Read-only; always C(changed=false); supports check mode.
options:
  binary:
    description: The nginx binary; by default C(nginx) on PATH or in the usual sbin directories.
    type: path
  pid_file:
    description: The master's pid file; by default the one the C(pid) directive names, else C(/run/nginx.pid).
    type: path
attributes:
  check_mode:
    support: full
    description: Reads only.
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
- name: Does nginx serve the files on disk?
  harden_tcp.tcp.nginx_live_info:
  register: live
'''

RETURN = r'''
present:
  description: An nginx binary was found.
  type: bool
  returned: always
binary:
  description: The nginx binary used; null when none was found.
  type: str
  returned: always
running:
  description: A live nginx master was found through the pid file.
  type: bool
  returned: always
master_pid:
  description: Pid of the master; null when nginx is not running.
  type: int
  returned: always
pid_file:
  description: The pid file read.
  type: str
  returned: always
loaded_at:
  description: Unix time at which the master last loaded its configuration; null when not running.
  type: float
  returned: always
files:
  description: The files of the configuration on disk, as C(nginx -T) lists them (empty when it rejects them).
  type: list
  elements: str
  returned: always
changed_after_load:
  description: The files (C({path, changed})) that changed after the master last loaded its configuration.
  type: list
  elements: dict
  returned: always
loaded:
  description: True when the running master loaded the files on disk; null when nginx is not running or the
    configuration on disk is rejected by C(nginx -t).
  type: bool
  returned: always
error:
  description: What C(nginx -T) said when it rejected the configuration; null otherwise.
  type: str
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.nginx_live import (
    NGINX_DIRS, live_state, pid_file_of, runner, stderr_text)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            binary=dict(type='path'),
            pid_file=dict(type='path'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    binary = module.get_bin_path(params['binary'] or 'nginx', opt_dirs=NGINX_DIRS)
    if binary is None:
        module.exit_json(changed=False, present=False, binary=None, running=False, master_pid=None, pid_file=None,
                         loaded_at=None, files=[], changed_after_load=[], loaded=None, error=None)
    rc, dump, err = runner(module)([binary, '-T', '-q'])
    dump = dump if rc == 0 else ''
    state = live_state(dump, params['pid_file'] or pid_file_of(dump))
    module.exit_json(changed=False, present=True, binary=binary, error=None if rc == 0 else stderr_text(err), **state)


if __name__ == '__main__':
    main()
