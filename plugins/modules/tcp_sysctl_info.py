#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_sysctl_info
short_description: Runtime and boot-time values of sysctl keys, and which file sets them
version_added: "1.0.0"
description:
  - In one call, reads the runtime value of each requested key from C(/proc/sys) (present or not, writable or
    not), parses every sysctl.d file and C(/etc/sysctl.conf) in the order C(sysctl --system) applies them, and
    returns per key the value that wins at next boot, where it comes from, every setting and whether files
    disagree.
  - Order modelled - C(*.conf) in C(/etc/sysctl.d), C(/run/sysctl.d), C(/usr/local/lib/sysctl.d),
    C(/usr/lib/sysctl.d), C(/lib/sysctl.d) (a name in an earlier directory masks the same name later; files
    applied in lexical order of base name), then C(/etc/sysctl.conf) last; an active tuned profile's
    C([sysctl]) section is included.
  - Also returns the kernel release, MemTotal, whether C(/proc/sys) is mounted read-only, and the container
    runtime, so callers need no fact gathering.
  - Read-only; always C(changed=false); supports check mode.
options:
  proc_sys:
    description: Root of the sysctl tree (tests point it at a recorded tree).
    type: path
    default: /proc/sys
  root:
    description: Root under which the configuration directories are read (tests).
    type: path
    default: /
extends_documentation_fragment:
  - harden_tcp.tcp.sysctl
  - harden_tcp.tcp.sysctl.info_attributes
author: harden-tcp contributors (@harden-tcp)
'''

EXAMPLES = r'''
- name: Observe the TIME_WAIT-related sysctl keys
  harden_tcp.tcp.tcp_sysctl_info:
    expected: {net.ipv4.tcp_tw_reuse: "1", net.ipv4.tcp_timestamps: "1"}
    profile_file: /etc/sysctl.d/60-harden-tcp.conf
  register: sysctl_info
'''

RETURN = r'''
sysctl:
  description: One entry per requested key (dotted).
  type: dict
  returned: always
  sample:
    net.ipv4.tcp_tw_reuse:
      present: true
      runtime: "2"
      writable: true
      boot: "1"
      boot_source: /etc/sysctl.d/60-harden-tcp.conf:3
      settings: [{path: /etc/sysctl.d/60-harden-tcp.conf, line: 3, value: "1"}]
      conflicting: false
      overridden_by: []
      expected: "1"
files:
  description: Files that apply at boot, in the order they apply.
  type: list
  elements: str
  returned: always
proc_sys_writable:
  description: C(/proc/sys) is not mounted read-only.
  type: bool
  returned: always
memtotal_mb:
  description: MemTotal in MiB, null when unknown.
  type: int
  returned: always
auto_max_tw_buckets:
  description: The C(auto) bucket count, null unless O(auto_max_tw_buckets) was given.
  type: int
  returned: always
kernel:
  description: C({release, version}); the version is for display, key presence is looked up.
  type: dict
  returned: always
container:
  description: Container runtime (docker, podman, lxc...) or null.
  type: str
  returned: always
profile:
  description: With O(profile_file) - C({file, rivals, winning_file, own_files}); C(winning_file) is null when
    renaming cannot win (a rival is /etc/sysctl.conf).
  type: dict
  returned: when profile_file is set
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import ARGUMENT_SPEC, gather


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ARGUMENT_SPEC,
            proc_sys=dict(type='path', default='/proc/sys'),
            root=dict(type='path', default='/'),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = gather(params['keys'], expected=params['expected'], profile_file=params['profile_file'],
                        proc_sys=params['proc_sys'], root=params['root'], auto=params['auto_max_tw_buckets'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='cannot read sysctl state: %s' % exc)
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
