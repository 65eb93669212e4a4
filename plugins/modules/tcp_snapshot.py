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
short_description: Snapshot files and sysctl runtime values before harden-tcp changes them, restore them, and lock the host
version_added: "1.0.0"
description:
  - Keeps one snapshot per host in O(dir) - a C(manifest.json) and one blob per file. harden-tcp creates that
    directory itself (mode C(0700)) with a marker file, C(.harden-tcp-snapshot); an existing directory without the
    marker is refused and left untouched, whatever the operation.
  - C(save_files) records, for every path not yet in the snapshot, its original bytes, mode and owner, or that it
    was absent (or a symbolic link and its target). A path already recorded is left alone, so the snapshot always
    holds the state from before the first change.
  - C(save_sysctl) does the same for the runtime values of sysctl keys (read from C(/proc/sys)); a key whose file
    would lie outside C(/proc/sys) is refused.
  - C(note_written) records what harden-tcp has just left at recorded paths, so that C(restore) can tell a later
    hand edit.
  - C(restore) writes every recorded file back byte for byte (removing those that were absent), then every
    recorded runtime value, then (with O(clear)) clears the snapshot. Before anything is restored the whole manifest
    is checked (fields, types, absolute normalised paths, keys confined to C(/proc/sys)), every blob against its
    sha256, every recorded key must still exist, and no recorded file may have been changed by hand since harden-tcp
    wrote it (unless O(force)); otherwise nothing changes and the message names each wrong record or file.
  - C(clear) removes the manifest and the blobs it lists, nothing else. C(status) only reads.
  - C(lock) takes the per-host lock (C(flock) on C(lock) in O(dir)), waiting at most O(lock_wait) seconds, and leaves
    a holder process that keeps it until C(unlock) or for O(lock_hold) seconds at most, so a crashed run cannot leave
    the host locked. C(unlock) releases the lock O(lock) names. Neither reports a change (C(lock) does when it creates
    O(dir)).
  - Check mode is supported by every operation; nothing is written in check mode.
options:
  operation:
    description: What to do.
    type: str
    required: true
    choices: [save_files, save_sysctl, note_written, status, restore, clear, lock, unlock]
  dir:
    description: Snapshot directory (absolute). It must not exist yet, or be harden-tcp's own (with its marker).
    type: path
    default: /var/lib/harden-tcp
  paths:
    description: Absolute file paths about to be replaced or created (C(save_files)), or just written (C(note_written)).
    type: list
    elements: path
    default: []
  keys:
    description: Sysctl keys, dotted or slashed (C(save_sysctl)).
    type: list
    elements: str
    default: []
  tag:
    description: Free text stored with each new record (the calling role), shown by C(status); with C(lock), the name
      of the run shown to a run that has to wait.
    type: str
    default: ''
  clear:
    description: With C(restore), clear the snapshot once everything was put back.
    type: bool
    default: true
  force:
    description: With C(restore), put originals back even over files changed by hand since harden-tcp wrote them
      (each is first kept in C(hand-edits/) in O(dir)).
    type: bool
    default: false
  lock_wait:
    description: With C(lock), how many seconds to wait for a lock another run holds before failing.
    type: int
    default: 300
  lock_hold:
    description: With C(lock), the longest time in seconds the lock is held; it is released then even when C(unlock)
      never comes (a crashed run).
    type: int
    default: 3600
  lock:
    description: With C(unlock), the RV(lock) that C(lock) returned.
    type: dict
    default: {}
  proc_sys:
    description: Root of the sysctl tree; tests point it elsewhere.
    type: path
    default: /proc/sys
attributes:
  check_mode:
    support: full
    description: Every operation computes what it would record or restore and writes nothing; C(lock) takes no lock.
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
- name: Take the per-host lock for the change phase
  harden_tcp.tcp.tcp_snapshot:
    operation: lock
    tag: harden
  register: lock

- name: Record the drop-in before it is written
  harden_tcp.tcp.tcp_snapshot:
    operation: save_files
    paths: [/etc/sysctl.d/60-harden-tcp.conf]
    tag: tcp_profile

- name: Note what was written, to tell hand edits at rollback
  harden_tcp.tcp.tcp_snapshot:
    operation: note_written
    paths: [/etc/sysctl.d/60-harden-tcp.conf]

- name: Put everything back
  harden_tcp.tcp.tcp_snapshot:
    operation: restore

- name: Release the lock
  harden_tcp.tcp.tcp_snapshot:
    operation: unlock
    lock: "{{ lock.lock }}"
'''

RETURN = r'''
exists:
  description: A snapshot exists (after the operation; C(restore) with C(clear) leaves none).
  type: bool
  returned: except with lock and unlock
recorded:
  description: Paths or keys newly recorded (or, with C(note_written), noted) by this call.
  type: list
  elements: str
  returned: except with lock and unlock
restored:
  description: "What C(restore) changed (or, in check mode, would change), one sentence per file or key,
    e.g. C(sysctl net.ipv4.tcp_tw_reuse: 1 -> 0)."
  type: list
  elements: str
  returned: except with lock and unlock
restored_files:
  description: The files C(restore) put back (or would), as C({path, tag}); the tag names the role that recorded it.
  type: list
  elements: dict
  returned: except with lock and unlock
snapshot:
  description: "The manifest without file contents, blob names or numeric ids -
    C({created, files: {path: {state, mode, owner, group, sha256, size, target, tag, written}},
    sysctl: {key: {present, value, tag}}}); empty when there is no snapshot."
  type: dict
  returned: except with lock and unlock
lock:
  description: "With C(lock), the holder of the lock: C({pid, start_ticks, started, until, tag, path}); pass it to
    C(unlock)."
  type: dict
  returned: with lock and unlock
waited:
  description: With C(lock), the seconds spent waiting for another run to release the lock.
  type: float
  returned: with lock
dir:
  description: The snapshot directory.
  type: str
  returned: always
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_lock import acquire, release
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
            force=dict(type='bool', default=False),
            lock_wait=dict(type='int', default=300),
            lock_hold=dict(type='int', default=3600),
            lock=dict(type='dict', default={}),
            proc_sys=dict(type='path', default=DEFAULT_PROC_SYS),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not os.path.isabs(params['dir']):
        module.fail_json(msg='tcp_snapshot_dir must be an absolute path; got %r' % params['dir'])
    snap_dir = os.path.normpath(params['dir'])
    try:
        if params['operation'] == 'lock':
            result = acquire(snap_dir, params['lock_wait'], params['lock_hold'], params['tag'], module.check_mode)
        elif params['operation'] == 'unlock':
            result = release(snap_dir, params['lock'], module.check_mode)
        else:
            result = run_operation(params['operation'], snap_dir=snap_dir, paths=params['paths'],
                                   keys=params['keys'], tag=params['tag'], clear=params['clear'],
                                   proc_sys=params['proc_sys'], check_mode=module.check_mode, force=params['force'])
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
