# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record what harden-tcp is about to replace, and put it back.

Core of the ``tcp_snapshot`` module. Runs on managed hosts: Python 3.8,
standard library only. Every function takes the snapshot directory and the
sysctl tree as parameters, so unit tests work in a temporary directory.
Errors are raised as :class:`SnapshotError`; the module turns them into
``fail_json``.

On-disk layout (one snapshot per host)::

    <snap_dir>/                     0700
      manifest.json                 0600, see below
      files/<sha256 of path>.orig   0600, the original bytes of one file

The manifest is ``{schema: 1, created, files: {path: file record},
sysctl: {dotted key: sysctl record}}``. A file record is
``{state: present|absent|link, tag}`` plus, as they apply,
``mode`` ('0644'), ``owner``, ``group``, ``uid``, ``gid``, ``sha256``,
``size``, ``blob`` (relative to <snap_dir>) and ``target`` (of a link).
A sysctl record is ``{present, value, tag}``; ``value`` is the runtime value
with whitespace folded to single spaces ('32768 60999'), or None when the key
did not exist.

A path or key is recorded once: later calls leave its record alone, so the
snapshot always holds the state from before harden-tcp first changed it.
"""

from __future__ import absolute_import, annotations, division, print_function

import datetime
import grp
import hashlib
import json
import os
import pwd
import shutil
import stat
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import fold, normalize_key, proc_sys_path, read_runtime

MANIFEST = 'manifest.json'
SCHEMA = 1
DEFAULT_DIR = '/var/lib/harden-tcp'
DEFAULT_PROC_SYS = '/proc/sys'
OPERATIONS = ('save_files', 'save_sysctl', 'status', 'restore')

Manifest = Dict[str, Any]
Record = Dict[str, Any]


class SnapshotError(Exception):
    """An operation cannot be carried out; the message says why and what to do.

    ``result`` holds extra fields for the module's failure result
    (for example ``exists``).
    """

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.result = result


# ------------------------------------------------------------------ storage


def blob_name(path: str) -> str:
    """Return the blob file name for a recorded path: stable, flat, collision free."""
    return 'files/' + hashlib.sha256(path.encode('utf-8')).hexdigest() + '.orig'


def empty_manifest() -> Manifest:
    """Return a new manifest with no records, stamped with the current UTC time."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return {'schema': SCHEMA, 'created': now, 'files': {}, 'sysctl': {}}


def load_manifest(snap_dir: str) -> Optional[Manifest]:
    """Return the manifest in snap_dir, or None when there is no snapshot."""
    path = os.path.join(snap_dir, MANIFEST)
    try:
        with open(path, 'r') as handle:
            text = handle.read()
    except (IOError, OSError):
        return None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise SnapshotError('the harden-tcp snapshot manifest %s is not valid JSON (%s); restore it from a '
                            'backup or remove %s by hand' % (path, exc, snap_dir))
    if not isinstance(manifest, dict) or not isinstance(manifest.get('files'), dict) \
            or not isinstance(manifest.get('sysctl'), dict):
        raise SnapshotError('the harden-tcp snapshot manifest %s lacks its "files" and "sysctl" maps; restore it '
                            'from a backup or remove %s by hand' % (path, snap_dir))
    return manifest


def atomic_write(path: str, data: bytes, mode: int) -> None:
    """Write bytes to path with the given mode, through a temporary file in the same directory."""
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


def ensure_private_dir(path: str) -> None:
    """Create path if needed and make it root-only (0700): it holds copies of configuration files."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    os.chmod(path, 0o700)


def write_snapshot(snap_dir: str, manifest: Manifest, blobs: Optional[Dict[str, bytes]] = None) -> None:
    """Write the blobs, then the manifest that refers to them (so a manifest never names a missing blob)."""
    ensure_private_dir(snap_dir)
    ensure_private_dir(os.path.join(snap_dir, 'files'))
    for name, content in (blobs or {}).items():
        atomic_write(os.path.join(snap_dir, name), content, 0o600)
    data = json.dumps(manifest, indent=2, sort_keys=True).encode('utf-8') + b'\n'
    atomic_write(os.path.join(snap_dir, MANIFEST), data, 0o600)


# ------------------------------------------------------------------ observing


def owner_names(uid: int, gid: int) -> Tuple[str, str]:
    """Return the user and group names of uid and gid (the numbers as text when unknown)."""
    try:
        owner = pwd.getpwuid(uid).pw_name
    except KeyError:
        owner = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return owner, group


def observe_file(path: str) -> Tuple[Record, Optional[bytes]]:
    """Return (record without tag, content bytes or None) describing path as it is now.

    Raises SnapshotError for anything but a regular file, a symbolic link or
    nothing, and when the file cannot be read.
    """
    try:
        st = os.lstat(path)
    except OSError:
        return {'state': 'absent'}, None
    owner, group = owner_names(st.st_uid, st.st_gid)
    if stat.S_ISLNK(st.st_mode):
        return {'state': 'link', 'target': os.readlink(path), 'owner': owner, 'group': group,
                'uid': st.st_uid, 'gid': st.st_gid}, None
    if not stat.S_ISREG(st.st_mode):
        raise SnapshotError('%s is not a regular file or a symbolic link; tcp_snapshot records files only' % path)
    try:
        with open(path, 'rb') as handle:
            content = handle.read()
    except (IOError, OSError) as exc:
        raise SnapshotError('cannot read %s to record it: %s' % (path, exc))
    record = {'state': 'present', 'mode': '%04o' % stat.S_IMODE(st.st_mode), 'owner': owner, 'group': group,
              'uid': st.st_uid, 'gid': st.st_gid, 'sha256': hashlib.sha256(content).hexdigest(),
              'size': len(content)}
    return record, content


# ------------------------------------------------------------------ saving


def save_files(snap_dir: str, paths: Iterable[str], tag: str = '', manifest: Optional[Manifest] = None,
               check_mode: bool = False) -> Tuple[List[str], Manifest]:
    """Record every path not yet in the snapshot; return (paths newly recorded, the new manifest).

    Every path is checked and read before anything is written, so a refused
    path leaves the snapshot as it was. Nothing is written in check mode, or
    when every path was already recorded.
    """
    new = manifest if manifest is not None else empty_manifest()
    recorded: List[str] = []
    blobs: Dict[str, bytes] = {}
    for raw in paths:
        if not os.path.isabs(raw):
            raise SnapshotError('tcp_snapshot_paths must hold absolute paths; got %r' % raw)
        path = os.path.normpath(raw)
        if path in new['files']:
            continue
        record, content = observe_file(path)
        record['tag'] = tag
        if content is not None:
            record['blob'] = blob_name(path)
            blobs[record['blob']] = content
        new['files'][path] = record
        recorded.append(path)
    if recorded and not check_mode:
        write_snapshot(snap_dir, new, blobs)
    return recorded, new


def save_sysctl(snap_dir: str, keys: Iterable[str], tag: str = '', manifest: Optional[Manifest] = None,
                proc_sys: str = DEFAULT_PROC_SYS, check_mode: bool = False) -> Tuple[List[str], Manifest]:
    """Record the runtime value of every key not yet in the snapshot; return (dotted keys newly recorded,
    the new manifest). A key missing from proc_sys is recorded as not present."""
    new = manifest if manifest is not None else empty_manifest()
    recorded: List[str] = []
    for raw in keys:
        key = normalize_key(raw)
        if key in new['sysctl']:
            continue
        runtime = read_runtime(key, proc_sys)
        new['sysctl'][key] = {'present': runtime['present'], 'value': runtime['runtime'], 'tag': tag}
        recorded.append(key)
    if recorded and not check_mode:
        write_snapshot(snap_dir, new)
    return recorded, new


# ------------------------------------------------------------------ restoring


def read_blobs(snap_dir: str, manifest: Manifest) -> Dict[str, bytes]:
    """Return {path: original bytes} of every recorded regular file, each checked against its sha256.

    Run before anything is restored: a damaged or missing blob raises
    SnapshotError and the host is left untouched.
    """
    originals: Dict[str, bytes] = {}
    for path in sorted(manifest['files']):
        record = manifest['files'][path]
        if record['state'] != 'present':
            continue
        blob = os.path.join(snap_dir, record['blob'])
        try:
            with open(blob, 'rb') as handle:
                original = handle.read()
        except (IOError, OSError) as exc:
            raise SnapshotError('snapshot blob for %s cannot be read (%s); nothing was restored' % (path, exc))
        if hashlib.sha256(original).hexdigest() != record['sha256']:
            raise SnapshotError('snapshot blob for %s is damaged (sha256 mismatch: %s holds %s, the manifest '
                                'says %s); nothing was restored'
                                % (path, blob, hashlib.sha256(original).hexdigest(), record['sha256']))
        originals[path] = original
    return originals


def ensure_parent(path: str) -> None:
    """Create the directory a restored file goes into, if it was removed since."""
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)


def restore_file(path: str, record: Record, original: Optional[bytes], check_mode: bool = False) -> Optional[str]:
    """Put one file back; return a sentence when something changed (or would), else None.

    ``original`` is the verified content of a 'present' record (None otherwise).
    """
    current, content = observe_file(path)
    if record['state'] == 'absent':
        if current['state'] == 'absent':
            return None
        if not check_mode:
            os.unlink(path)
        return 'file %s: removed (it did not exist before)' % path
    if record['state'] == 'link':
        if current['state'] == 'link' and current['target'] == record['target']:
            return None
        if not check_mode:
            if os.path.lexists(path):
                os.unlink(path)
            ensure_parent(path)
            os.symlink(record['target'], path)
            os.lchown(path, record['uid'], record['gid'])
        return 'file %s: symbolic link to %s restored' % (path, record['target'])
    same = (current['state'] == 'present' and content == original and current['mode'] == record['mode']
            and current['uid'] == record['uid'] and current['gid'] == record['gid'])
    if same:
        return None
    if not check_mode:
        if current['state'] == 'link':
            os.unlink(path)
        ensure_parent(path)
        atomic_write(path, original, int(record['mode'], 8))
        os.chown(path, record['uid'], record['gid'])
    return 'file %s: original content restored (sha256 %s)' % (path, record['sha256'][:12])


def check_sysctl_keys(manifest: Manifest, proc_sys: str) -> None:
    """Raise SnapshotError, before anything is restored, when a recorded key has disappeared."""
    for key in sorted(manifest['sysctl']):
        if manifest['sysctl'][key]['present'] and not read_runtime(key, proc_sys)['present']:
            raise SnapshotError('%s was recorded but no longer exists in %s; nothing was restored' % (key, proc_sys))


def restore_sysctl(key: str, record: Record, proc_sys: str = DEFAULT_PROC_SYS,
                   check_mode: bool = False) -> Optional[str]:
    """Write one recorded runtime value back; return a sentence when it changed (or would), else None.
    A key that did not exist when recorded is left alone."""
    if not record['present']:
        return None
    runtime = read_runtime(key, proc_sys)
    if not runtime['present']:
        raise SnapshotError('%s was recorded but no longer exists in %s' % (key, proc_sys))
    if fold(runtime['runtime']) == fold(record['value']):
        return None
    if not check_mode:
        try:
            with open(proc_sys_path(key, proc_sys), 'w') as handle:
                handle.write(record['value'] + '\n')
        except (IOError, OSError) as exc:
            raise SnapshotError('cannot write %s back to %r: %s (is /proc/sys read-only?)'
                                % (key, record['value'], exc))
    return 'sysctl %s: %s -> %s' % (key, fold(runtime['runtime']), fold(record['value']))


def restore(snap_dir: str, manifest: Optional[Manifest], proc_sys: str = DEFAULT_PROC_SYS, clear: bool = True,
            check_mode: bool = False) -> Tuple[List[str], bool]:
    """Restore every recorded file (sorted by path), then every recorded runtime value, then remove the
    snapshot when ``clear``; return (one sentence per change, whether the snapshot is (or would be) cleared).

    Blobs and keys are checked first, so a damaged snapshot changes nothing.
    """
    if manifest is None:
        raise SnapshotError('no harden-tcp snapshot in %s: nothing to roll back (harden-tcp.yml has not changed '
                            'this host, or it was already rolled back)' % snap_dir, exists=False)
    originals = read_blobs(snap_dir, manifest)
    check_sysctl_keys(manifest, proc_sys)
    changes: List[str] = []
    for path in sorted(manifest['files']):
        change = restore_file(path, manifest['files'][path], originals.get(path), check_mode)
        if change:
            changes.append(change)
    for key in sorted(manifest['sysctl']):
        change = restore_sysctl(key, manifest['sysctl'][key], proc_sys, check_mode)
        if change:
            changes.append(change)
    if clear and not check_mode:
        shutil.rmtree(snap_dir)
    return changes, clear


# ------------------------------------------------------------------ the module's operation


def public(manifest: Optional[Manifest]) -> Dict[str, Any]:
    """Return the manifest without internal fields (blob, uid, gid), for the module result; {} for none."""
    if manifest is None:
        return {}
    files = {}
    for path, record in manifest['files'].items():
        files[path] = dict((k, v) for k, v in record.items() if k not in ('blob', 'uid', 'gid'))
    return {'created': manifest.get('created'), 'files': files, 'sysctl': manifest['sysctl']}


def run_operation(operation: str, snap_dir: str = DEFAULT_DIR, paths: Iterable[str] = (),
                  keys: Iterable[str] = (), tag: str = '', clear: bool = True,
                  proc_sys: str = DEFAULT_PROC_SYS, check_mode: bool = False) -> Dict[str, Any]:
    """Carry out one module operation and return the module result:
    ``{changed, exists, recorded, restored, snapshot, dir}``.

    ``exists`` describes the snapshot after the operation (in check mode: as it
    would be). Raises SnapshotError.
    """
    if operation not in OPERATIONS:
        raise SnapshotError('operation must be one of %s; got %r' % (', '.join(OPERATIONS), operation))
    if not os.path.isabs(snap_dir):
        raise SnapshotError('tcp_snapshot_dir must be an absolute path; got %r' % snap_dir)
    manifest = load_manifest(snap_dir)
    recorded: List[str] = []
    restored: List[str] = []
    changed = False
    if operation == 'save_files':
        recorded, manifest = save_files(snap_dir, paths, tag, manifest, check_mode)
        changed = bool(recorded)
    elif operation == 'save_sysctl':
        recorded, manifest = save_sysctl(snap_dir, keys, tag, manifest, proc_sys, check_mode)
        changed = bool(recorded)
    elif operation == 'restore':
        restored, cleared = restore(snap_dir, manifest, proc_sys, clear, check_mode)
        changed = bool(restored) or cleared
        if cleared:
            manifest = None
    return {'changed': changed, 'exists': manifest is not None, 'recorded': recorded, 'restored': restored,
            'snapshot': public(manifest), 'dir': snap_dir}
