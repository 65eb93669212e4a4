#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record what harden-tcp is about to replace, and put it back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_snapshot
short_description: Snapshot files and sysctl runtime values before harden-tcp changes them, and restore them
description:
  - Keeps one snapshot per host in O(dir) (root-only, mode C(0700)): a C(manifest.json) and one blob per file.
  - C(save_files) records, for every path not yet in the snapshot, its original bytes, mode and owner, or that it
    was absent (or a symbolic link and its target). A path already recorded is left alone, so the snapshot always
    holds the state from before the first change.
  - C(save_sysctl) does the same for the runtime values of sysctl keys (read from C(/proc/sys)).
  - C(restore) writes every recorded file back byte for byte (removing those that were absent), then every
    recorded runtime value, then removes the snapshot. C(status) only reads.
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
author: harden-tcp contributors
'''

EXAMPLES = r'''
- name: Record the drop-in before it is written
  tcp_snapshot:
    operation: save_files
    paths: [/etc/sysctl.d/60-harden-tcp.conf]
    tag: tcp_profile

- name: Put everything back
  tcp_snapshot:
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
  description: What C(restore) changed, one entry per file or key, e.g. C(file /etc/x: rewritten).
  type: list
  elements: str
  returned: always
snapshot:
  description: The manifest (without file contents) - C({files: {path: {state, mode, owner, group, sha256, tag}},
    sysctl: {key: {present, value, tag}}, created}).
  type: dict
  returned: always
'''

import datetime
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule

MANIFEST = 'manifest.json'
SCHEMA = 1


def dotted(key):
    """Return a sysctl key in dotted form whatever the input separator."""
    return key.strip().strip('/').replace('/', '.')


def proc_path(proc_sys, key):
    """Return the /proc/sys file of a dotted key."""
    return os.path.join(proc_sys, *dotted(key).split('.'))


def blob_name(path):
    """Return the blob file name for a recorded path: stable, flat, collision free."""
    return 'files/' + hashlib.sha256(path.encode('utf-8')).hexdigest() + '.orig'


def empty_manifest():
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return {'schema': SCHEMA, 'created': now, 'files': {}, 'sysctl': {}}


def load_manifest(snap_dir):
    """Return the manifest dict, or None when there is no snapshot."""
    try:
        with open(os.path.join(snap_dir, MANIFEST), 'r') as handle:
            return json.load(handle)
    except (IOError, OSError):
        return None


def atomic_write(path, data, mode):
    """Write bytes to path through a temporary file in the same directory."""
    directory = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tcp_snapshot.')
    try:
        with os.fdopen(fd, 'wb') as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_dir(path):
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    os.chmod(path, 0o700)


def write_manifest(snap_dir, manifest):
    ensure_dir(snap_dir)
    ensure_dir(os.path.join(snap_dir, 'files'))
    data = json.dumps(manifest, indent=2, sort_keys=True).encode('utf-8') + b'\n'
    atomic_write(os.path.join(snap_dir, MANIFEST), data, 0o600)


def name_of(uid, gid):
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return owner, group


def observe_file(path):
    """Return (record, content bytes or None) describing path as it is now."""
    try:
        st = os.lstat(path)
    except OSError:
        return {'state': 'absent'}, None
    owner, group = name_of(st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return {'state': 'link', 'target': os.readlink(path), 'owner': owner, 'group': group,
                'uid': st.st_uid, 'gid': st.st_gid}, None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError('%s is not a regular file or a symbolic link; tcp_snapshot records files only' % path)
    with open(path, 'rb') as handle:
        content = handle.read()
    record = {'state': 'present', 'mode': '%04o' % stat.S_IMODE(st.st_mode), 'owner': owner, 'group': group,
              'uid': st.st_uid, 'gid': st.st_gid, 'sha256': hashlib.sha256(content).hexdigest(),
              'size': len(content)}
    return record, content


def read_runtime(proc_sys, key):
    """Return (present, value) of a sysctl key; value keeps the kernel's separators, without the newline."""
    try:
        with open(proc_path(proc_sys, key), 'r') as handle:
            return True, handle.read().rstrip('\n')
    except (IOError, OSError):
        return False, None


def normalise(value):
    return ' '.join(value.split()) if value is not None else None


def save_files(module, snap_dir, manifest):
    new = manifest if manifest is not None else empty_manifest()
    recorded, blobs = [], {}
    for path in module.params['paths']:
        if not os.path.isabs(path):
            module.fail_json(msg='tcp_snapshot_paths must hold absolute paths; got %r' % path)
        path = os.path.normpath(path)
        if path in new['files']:
            continue
        try:
            record, content = observe_file(path)
        except (ValueError, IOError, OSError) as exc:
            module.fail_json(msg=str(exc))
        record['tag'] = module.params['tag']
        if content is not None:
            record['blob'] = blob_name(path)
            blobs[record['blob']] = content
        new['files'][path] = record
        recorded.append(path)
    if recorded and not module.check_mode:
        ensure_dir(snap_dir)
        ensure_dir(os.path.join(snap_dir, 'files'))
        for name, content in blobs.items():
            atomic_write(os.path.join(snap_dir, name), content, 0o600)
        write_manifest(snap_dir, new)
    return recorded, new


def save_sysctl(module, snap_dir, manifest):
    new = manifest if manifest is not None else empty_manifest()
    recorded = []
    for key in module.params['keys']:
        key = dotted(key)
        if key in new['sysctl']:
            continue
        present, value = read_runtime(module.params['proc_sys'], key)
        new['sysctl'][key] = {'present': present, 'value': value, 'tag': module.params['tag']}
        recorded.append(key)
    if recorded and not module.check_mode:
        write_manifest(snap_dir, new)
    return recorded, new


def restore_file(module, snap_dir, path, record):
    """Put one file back; return a sentence when something changed (or would), else None."""
    current, content = observe_file(path) if os.path.lexists(path) else ({'state': 'absent'}, None)
    check = module.check_mode
    if record['state'] == 'absent':
        if current['state'] == 'absent':
            return None
        if not check:
            os.unlink(path)
        return 'file %s: removed (it did not exist before)' % path
    if record['state'] == 'link':
        if current['state'] == 'link' and current['target'] == record['target']:
            return None
        if not check:
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink(record['target'], path)
            os.lchown(path, record['uid'], record['gid'])
        return 'file %s: symbolic link to %s restored' % (path, record['target'])
    with open(os.path.join(snap_dir, record['blob']), 'rb') as handle:
        original = handle.read()
    if hashlib.sha256(original).hexdigest() != record['sha256']:
        module.fail_json(msg='snapshot blob for %s is damaged (sha256 mismatch); nothing more restored' % path)
    same = (current['state'] == 'present' and content == original and current['mode'] == record['mode']
            and current['uid'] == record['uid'] and current['gid'] == record['gid'])
    if same:
        return None
    if not check:
        if current['state'] == 'link':
            os.unlink(path)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            os.makedirs(parent, 0o755)
        atomic_write(path, original, int(record['mode'], 8))
        os.chown(path, record['uid'], record['gid'])
    return 'file %s: original content restored (sha256 %s)' % (path, record['sha256'][:12])


def restore_sysctl(module, key, record):
    if not record['present']:
        return None
    present, value = read_runtime(module.params['proc_sys'], key)
    if not present:
        module.fail_json(msg='%s was recorded but no longer exists in %s' % (key, module.params['proc_sys']))
    if normalise(value) == normalise(record['value']):
        return None
    if not module.check_mode:
        try:
            with open(proc_path(module.params['proc_sys'], key), 'w') as handle:
                handle.write(record['value'] + '\n')
        except (IOError, OSError) as exc:
            module.fail_json(msg='cannot write %s back to %r: %s (is /proc/sys read-only?)'
                             % (key, record['value'], exc))
    return 'sysctl %s: %s -> %s' % (key, normalise(value), normalise(record['value']))


def restore(module, snap_dir, manifest):
    if manifest is None:
        module.fail_json(msg='no harden-tcp snapshot in %s: nothing to roll back (harden-tcp.yml has not changed '
                             'this host, or it was already rolled back)' % snap_dir, exists=False)
    changes = []
    for path in sorted(manifest['files']):
        change = restore_file(module, snap_dir, path, manifest['files'][path])
        if change:
            changes.append(change)
    for key in sorted(manifest['sysctl']):
        change = restore_sysctl(module, key, manifest['sysctl'][key])
        if change:
            changes.append(change)
    cleared = False
    if module.params['clear']:
        cleared = True
        if not module.check_mode:
            shutil.rmtree(snap_dir)
    return changes, cleared


def public(manifest):
    """Return the manifest without internal fields, for the module result."""
    if manifest is None:
        return {}
    files = {}
    for path, record in manifest['files'].items():
        files[path] = dict((k, v) for k, v in record.items() if k not in ('blob', 'uid', 'gid'))
    return {'created': manifest.get('created'), 'files': files, 'sysctl': manifest['sysctl']}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            operation=dict(type='str', required=True, choices=['save_files', 'save_sysctl', 'status', 'restore']),
            dir=dict(type='path', default='/var/lib/harden-tcp'),
            paths=dict(type='list', elements='path', default=[]),
            keys=dict(type='list', elements='str', default=[], no_log=False),
            tag=dict(type='str', default=''),
            clear=dict(type='bool', default=True),
            proc_sys=dict(type='path', default='/proc/sys'),
        ),
        supports_check_mode=True,
    )
    snap_dir = module.params['dir']
    if not os.path.isabs(snap_dir):
        module.fail_json(msg='tcp_snapshot_dir must be an absolute path; got %r' % snap_dir)
    manifest = load_manifest(snap_dir)
    operation = module.params['operation']
    recorded, restored = [], []
    if operation == 'save_files':
        recorded, manifest = save_files(module, snap_dir, manifest)
        changed = bool(recorded)
    elif operation == 'save_sysctl':
        recorded, manifest = save_sysctl(module, snap_dir, manifest)
        changed = bool(recorded)
    elif operation == 'restore':
        restored, cleared = restore(module, snap_dir, manifest)
        changed = bool(restored) or cleared
        if cleared:
            manifest = None
    else:
        changed = False
    module.exit_json(changed=changed, exists=manifest is not None, recorded=recorded, restored=restored,
                     snapshot=public(manifest), dir=snap_dir)


if __name__ == '__main__':
    main()
