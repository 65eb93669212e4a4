#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_snapshot
short_description: Snapshot files and sysctl runtime values before harden-tcp changes them, and restore them
version_added: "1.0.0"
description:
  - Keeps one snapshot per host in O(dir) (root-only, mode C(0700)) - a C(manifest.json) and one blob per file.
  - C(save_files) records, for every path not yet in the snapshot, its original bytes, mode and owner, or that it
    was absent (or a symbolic link and its target). A path already recorded is left alone, so the snapshot always
    holds the state from before the first change.
  - C(save_sysctl) does the same for the runtime values of sysctl keys (read from C(/proc/sys)).
  - C(restore) writes every recorded file back byte for byte (removing those that were absent), then every
    recorded runtime value, then removes the snapshot. Every blob is checked against its sha256, and every
    recorded key must still exist, before anything is restored, so a damaged snapshot changes nothing.
    C(status) only reads.
  - Check mode is supported by every operation; nothing is written in check mode.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [save_files, save_sysctl, status, restore]
  dir:
    description: Snapshot directory (absolute).
    type: path
    default: /var/lib/harden-tcp
  paths:
    description: Absolute file paths about to be replaced or created (C(save_files)).
    type: list
    elements: path
    default: []
  keys:
    description: Sysctl keys, dotted or slashed (C(save_sysctl)).
    type: list
    elements: str
    default: []
  tag:
    description: Free text stored with each new record (the calling role), shown by C(status).
    type: str
    default: ''
  clear:
    description: With C(restore), remove the snapshot once everything was put back.
    type: bool
    default: true
  proc_sys:
    description: Root of the sysctl tree; tests point it elsewhere.
    type: path
    default: /proc/sys
attributes:
  check_mode:
    support: full
    description: Every operation computes what it would record or restore and writes nothing.
  diff_mode:
    support: none
    description: The RV(restored) sentences say what changed; no diff is produced.
  platform:
    support: full
    platforms: linux
    description: Reads and writes C(/proc/sys) and files of a Linux host.
author: harden-tcp contributors (@harden-tcp)
'''

EXAMPLES = r'''
- name: Record the drop-in before it is written
  harden_tcp.tcp.tcp_snapshot:
    operation: save_files
    paths: [/etc/sysctl.d/60-harden-tcp.conf]
    tag: tcp_profile

- name: Put everything back
  harden_tcp.tcp.tcp_snapshot:
    operation: restore
'''

RETURN = r'''
exists:
  description: A snapshot exists (after the operation; C(restore) with C(clear) leaves none).
  type: bool
  returned: always
recorded:
  description: Paths or keys newly recorded by this call.
  type: list
  elements: str
  returned: always
restored:
  description: "What C(restore) changed (or, in check mode, would change), one sentence per file or key,
    e.g. C(sysctl net.ipv4.tcp_tw_reuse: 1 -> 0)."
  type: list
  elements: str
  returned: always
snapshot:
  description: "The manifest without file contents, blob names or numeric ids -
    C({created, files: {path: {state, mode, owner, group, sha256, size, target, tag}},
    sysctl: {key: {present, value, tag}}}); empty when there is no snapshot."
  type: dict
  returned: always
dir:
  description: The snapshot directory.
  type: str
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_snapshot import DEFAULT_DIR, DEFAULT_PROC_SYS, OPERATIONS, SnapshotError, run_operation


def main():
    module = AnsibleModule(
        argument_spec=dict(
            operation=dict(type='str', required=True, choices=list(OPERATIONS)),
            dir=dict(type='path', default=DEFAULT_DIR),
            paths=dict(type='list', elements='path', default=[]),
            keys=dict(type='list', elements='str', default=[], no_log=False),
            tag=dict(type='str', default=''),
            clear=dict(type='bool', default=True),
            proc_sys=dict(type='path', default=DEFAULT_PROC_SYS),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = run_operation(params['operation'], snap_dir=params['dir'], paths=params['paths'],
                               keys=params['keys'], tag=params['tag'], clear=params['clear'],
                               proc_sys=params['proc_sys'], check_mode=module.check_mode)
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
