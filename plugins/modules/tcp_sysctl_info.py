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
    not) and predicts two values per key, each with the file and line it comes from - C(boot), what the key gets
    at next boot (systemd-sysctl where systemd runs the boot, then an active tuned profile; without systemd,
    C(sysctl --system)), and C(system), what running C(sysctl --system) gives now.
  - Both predictions simulate the tools found on the host (systemd 247, 252 or 257 behaviour, procps 3.3 or 4.0,
    versions read from the installed files, nothing is run) - which files they read, how they parse lines and
    keys, globs and C(-key) exclusions, which value they write - and normalise values the way the kernel
    stores them (C(010) is C(8); text after a number and a blank is ignored); a value the kernel refuses is
    listed in C(rejected).
    README.md, "Which file wins at boot", says where the two tools differ.
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
  description:
    - One entry per requested key (dotted). C(boot) and C(system) are the values as the kernel stores them (null - the
      tool does not set the key), C(boot_source) and C(system_source) their C(path:line); C(boot_cancelled_by) names
      the C(-key) line that keeps systemd-sysctl from writing the key; C(settings) lists every line that sets the key
      with what the kernel keeps (C(stored)) and which tool writes it (the last 100; C(settings_omitted) counts the
      others); C(rejected) the written values the kernel refuses.
  type: dict
  returned: always
  sample:
    net.ipv4.tcp_tw_reuse:
      present: true
      runtime: "2"
      writable: true
      boot: "1"
      boot_source: /etc/sysctl.d/60-harden-tcp.conf:3
      boot_cancelled_by: null
      system: "1"
      system_source: /etc/sysctl.d/60-harden-tcp.conf:3
      settings: [{path: /etc/sysctl.d/60-harden-tcp.conf, line: 3, value: "1", stored: "1", reason: null,
                  boot: true, system: true}]
      settings_omitted: 0
      conflicting: false
      rejected: []
      overridden_by: []
      expected: "1"
files:
  description: Files the boot's tool reads, in the order it reads them.
  type: list
  elements: str
  returned: always
system_files:
  description: Files C(sysctl --system) reads, in the order it reads them (C(/etc/sysctl.conf) last).
  type: list
  elements: str
  returned: always
sysctl_tools:
  description:
    - "C(boot) - C({tool, version, reason}): C(systemd-sysctl), or C(sysctl --system) where systemd does not run the
      boot, or a null tool when neither exists. C(system) - C({tool, version, binary}) of procps' sysctl, null
      without it. C(tuned) - C({profiles, reapply_sysctl}) when a tuned profile is active, else null."
  type: dict
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
  description:
    - With O(profile_file) - C({file, rivals, winning_file, own_files, unbeaten}), from the same model, with the
      drop-in put in place in the simulation.
    - C(rivals) - the files whose settings beat the drop-in at its configured path, under either tool.
    - C(winning_file) - the path (the configured one, or C(zz-<name>), C(zzz-<name>)...) where it wins under both
      tools, else where it wins at boot, else null.
    - C(unbeaten) - per tool (C(boot), C(system)), the C(path:line) settings that still beat it at
      C(winning_file) (at the configured path when null), such as C(/etc/sysctl.conf), which procps reads last.
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
