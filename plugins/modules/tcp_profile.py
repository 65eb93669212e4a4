#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_profile
short_description: Apply and persist the safe TCP TIME_WAIT sysctl profile in one task
version_added: "1.0.0"
description:
  - The change phase of roles/tcp_profile in one task per host. Its options are the C(tcp_profile_*) role variables
    without their prefix (roles/tcp_profile/README.md says what each value does).
  - On the controller, the action plugin of the same name checks every option (types, ranges, combinations, the
    drop-in path) before the host is contacted, reads the host (or takes O(observed), the audit's read made with the
    same expectations), decides the values, the drop-in path and the stale drop-ins, and renders O(template). On a host
    where the drop-in, the runtime values and the stale drop-ins already match, it stops there, and the host is not
    contacted again.
  - Otherwise the module, on the host, takes the per-host harden-tcp lock (or checks that O(lock), a lock this run
    already holds, is still its own), reads the host again, and carries out the plan only if that fresh read gives the
    same plan (else the action plugin plans again from it). It records what it is about to change in the snapshot
    (tag C(tcp_profile)), writes the drop-in (root, 0644, atomically), removes stale drop-ins, notes what it wrote, and
    runs C(sysctl -w) for the keys whose runtime value differs.
  - A read-only C(/proc/sys) fails the host (O(strict)) or is reported as finding TW-SYSCTL-010 and skipped.
options:
  tw_reuse:
    description: net.ipv4.tcp_tw_reuse (0 off, 1 on, 2 loopback only).
    type: int
    default: 1
    choices: [0, 1, 2]
  timestamps:
    description: net.ipv4.tcp_timestamps; must not be 0 while O(tw_reuse) is 1 or 2.
    type: int
    default: 1
    choices: [0, 1, 2]
  max_tw_buckets:
    description: net.ipv4.tcp_max_tw_buckets, V(auto) or an integer from 4096 to 4194304.
    type: raw
    default: auto
  max_tw_buckets_per_mib:
    description: Buckets per MiB of MemTotal in the V(auto) formula (at least 1).
    type: int
    default: 16
  max_tw_buckets_min:
    description: Lower bound of the V(auto) formula (4096 to 4194304).
    type: int
    default: 32768
  max_tw_buckets_max:
    description: Upper bound of the V(auto) formula (at least O(max_tw_buckets_min), at most 4194304).
    type: int
    default: 1048576
  sysctl_file:
    description: The drop-in, directly in C(/etc/sysctl.d/), its name ending in C(.conf).
    type: str
    default: /etc/sysctl.d/60-harden-tcp.conf
  fix_conflicts:
    description: Rename the drop-in to the first name that wins over rival settings (other files are never edited).
    type: bool
    default: false
  strict:
    description: Fail on a read-only C(/proc/sys) (V(true)), or record finding TW-SYSCTL-010 and skip the host.
    type: bool
    default: true
  template:
    description: Controller side. The template of the drop-in, looked up like M(ansible.builtin.template)'s C(src).
      It sees the play's variables and C(__tcp_profile_values) (key to value) and C(__tcp_profile_info) (the read).
    type: str
    default: harden-tcp.conf.j2
  snapshot_dir:
    description: The snapshot directory (and its lock), as C(tcp_snapshot_dir).
    type: path
    default: /var/lib/harden-tcp
  lock_wait:
    description: Seconds to wait for another run's lock before failing, as C(tcp_snapshot_lock_wait).
    type: int
    default: 300
  lock:
    description: A lock this run already holds (the RV(harden_tcp.tcp.tcp_snapshot#module:lock) that
      C(operation=lock) returned); the module then checks it is still held and does not take it again.
    type: dict
    default: {}
  observed:
    description: Controller side. An earlier read of this host (C(tcp_audit_sysctl), which
      M(harden_tcp.tcp.tcp_audit_info) keeps with O(harden_tcp.tcp.tcp_audit_info#module:keep)). Used only when it was
      read with the same expectations, drop-in path and sizing; the module reads the host again under the lock
      before it changes anything.
    type: dict
  validate_only:
    description: Controller side. Only check the options (harden-tcp.yml does so before it takes the lock around
      nginx work) and contact nothing.
    type: bool
    default: false
  _plan:
    description: Internal, set by the action plugin - the plan it made (values, file, stale, readonly).
    type: dict
  _content:
    description: Internal, set by the action plugin - the rendered drop-in.
    type: str
attributes:
  action:
    support: full
    description: The action plugin validates, plans and renders on the controller.
  check_mode:
    support: full
    description: Says what would change (with a diff of the drop-in) and changes nothing; no lock is taken.
  diff_mode:
    support: full
    description: The drop-in's old and new content (or mode and owner), and each stale drop-in removed.
  platform:
    support: full
    platforms: linux
    description: Reads and writes C(/proc/sys) and C(/etc/sysctl.d) of a Linux host.
author: harden-tcp contributors (@harden-tcp)
'''

EXAMPLES = r'''
- name: Apply the profile with a fixed bucket count
  harden_tcp.tcp.tcp_profile:
    max_tw_buckets: 262144
  register: tcp_profile_result
'''

RETURN = r'''
applied:
  description: False where the profile was skipped (read-only C(/proc/sys) with O(strict) false).
  type: bool
  returned: always
readonly:
  description: C(/proc/sys) or a profile key cannot be written.
  type: bool
  returned: always
file:
  description: The drop-in path the profile uses (O(sysctl_file), or the renamed one with O(fix_conflicts)).
  type: str
  returned: always
values:
  description: The values written, key to value (tcp_tw_recycle only where the kernel has it).
  type: dict
  returned: always
rivals:
  description: Files whose settings beat O(sysctl_file) at boot or under C(sysctl --system).
  type: list
  elements: str
  returned: always
unbeaten:
  description: Per tool (C(boot), C(system)), the C(path:line) settings that still beat the drop-in.
  type: dict
  returned: always
conflicts_fixed:
  description: The drop-in was renamed so that it wins.
  type: bool
  returned: always
findings:
  description: TW-SYSCTL-010 where the host was skipped, else empty.
  type: list
  elements: dict
  returned: always
written:
  description: The drop-in was (in check mode, would be) written.
  type: bool
  returned: always
removed:
  description: Stale drop-ins of this role that were (would be) removed.
  type: list
  elements: str
  returned: always
drift:
  description: The C(key=value) arguments given (in check mode, to be given) to C(sysctl -w).
  type: list
  elements: str
  returned: always
waited:
  description: Seconds spent waiting for another run's lock (0 when nothing had to change).
  type: float
  returned: always
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.nginx_live import read_text
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_lock import holding
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_profile import (
    ARGUMENT_SPEC, FILE_MODE, content_digest, is_pending, pending, plan, profile_read, same_plan)
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_snapshot import (
    SnapshotError, atomic_write, load_manifest, note_written, save_files, save_sysctl)
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import gather

TAG = 'tcp_profile'


def diffs(planned, observed, content, change):
    """What --diff shows: the drop-in's content or attributes, and each stale drop-in removed."""
    path = planned['file']
    current = observed['profile']['states'].get(path) or {'state': 'absent'}
    shown = []
    if change['file']:
        before = (read_text(path) or '') if current['state'] == 'file' else ''
        if before != content:
            shown.append({'before': before, 'after': content, 'before_header': path, 'after_header': path})
        if current['state'] == 'file':
            owner = '%s:%s' % (current.get('uid'), current.get('gid'))
            if (current.get('mode'), owner) != ('%04o' % FILE_MODE, '0:0'):
                shown.append({'before': {'path': path, 'mode': current.get('mode'), 'owner': owner},
                              'after': {'path': path, 'mode': '%04o' % FILE_MODE, 'owner': '0:0'}})
    for stale in change['stale']:
        shown.append({'before': read_text(stale) or '', 'after': '', 'before_header': stale,
                      'after_header': '%s (removed)' % stale})
    return shown


def carry_out(module, planned, observed, content, snap_dir):
    """Make the host match the plan (the read ``observed`` was taken under the lock); return the module result."""
    change = pending(planned, observed, content_digest(content))
    path = planned['file']
    result = {'changed': is_pending(change), 'written': change['file'], 'removed': change['stale'],
              'drift': change['drift']}
    if module._diff:
        result['diff'] = diffs(planned, observed, content, change)
    if module.check_mode or not result['changed']:
        return result
    paths = [path] + change['stale']
    # The snapshot first: a rollback restores what was here before this run's first change.
    manifest = load_manifest(snap_dir)
    manifest = save_files(snap_dir, paths, TAG, manifest)[1]
    manifest = save_sysctl(snap_dir, sorted(planned['values']), TAG, manifest)[1]
    try:
        if change['file']:
            atomic_write(path, content.encode('utf-8'), FILE_MODE)
            os.chown(path, 0, 0)
        for stale in change['stale']:
            os.unlink(stale)
    except (IOError, OSError) as exc:
        # Part may be written: say so (changed), note what is there now, so a rollback can tell it from a hand edit.
        note_written(snap_dir, paths, manifest)
        module.fail_json(msg='cannot write the TCP profile drop-in: %s; the snapshot holds what was there before '
                             '(rollback-tcp.yml puts it back)' % exc, **result)
    note_written(snap_dir, paths, manifest)
    if change['drift']:
        # It writes into the network namespace the host or container runs in.
        rc, stdout, stderr = module.run_command(['sysctl', '-w'] + change['drift'])
        if rc != 0:
            why = (stderr or stdout).strip()
            module.fail_json(msg='sysctl -w %s failed (rc %d): %s' % (' '.join(change['drift']), rc, why), **result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(ARGUMENT_SPEC, _plan=dict(type='dict'), _content=dict(type='str', no_log=False)),
        supports_check_mode=True,
    )
    params = module.params
    if params['_plan'] is None or params['_content'] is None:
        module.fail_json(msg='tcp_profile runs through its action plugin (harden_tcp.tcp.tcp_profile), which plans '
                             'and renders the drop-in on the controller; call it as a task, not with the module alone')
    if not os.path.isabs(params['snapshot_dir']):
        module.fail_json(msg='tcp_snapshot_dir must be an absolute path; got %r' % params['snapshot_dir'])
    snap_dir = os.path.normpath(params['snapshot_dir'])
    read = profile_read(params)
    try:
        with holding(snap_dir, params['lock_wait'], params['lock'], module.check_mode, tag=TAG) as waited:
            observed = gather(read['keys'], expected=read['expected'], profile_file=read['profile_file'],
                              auto=read['auto_max_tw_buckets'])
            planned = plan(observed, params['sysctl_file'], params['fix_conflicts'])
            if not same_plan(planned, params['_plan']):
                # The host changed since the controller's read: it plans again from this one.
                module.exit_json(changed=False, replan=True, observed=observed, waited=waited)
            result = carry_out(module, planned, observed, params['_content'], snap_dir)
    except SnapshotError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except (IOError, OSError, ValueError) as exc:
        module.fail_json(msg='cannot apply the TCP profile: %s' % exc)
    result['waited'] = waited
    module.exit_json(**result)


if __name__ == '__main__':
    main()
