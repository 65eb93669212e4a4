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

    <snap_dir>/                     0700, created by this code (never an existing directory)
      .harden-tcp-snapshot          the marker: this directory belongs to harden-tcp
      lock                          the per-host lock (module_utils/tcp_lock.py)
      manifest.json                 0600, see below
      files/<sha256 of path>.orig   0600, the original bytes of one file
      hand-edits/                   content a forced rollback replaced (kept, never cleared)

The manifest is ``{schema: 1, created, files: {path: file record},
sysctl: {dotted key: sysctl record}}``. A file record is
``{state: present|absent|link, tag}`` plus, as they apply,
``mode`` ('0644'), ``owner``, ``group``, ``uid``, ``gid``, ``sha256``,
``size``, ``blob`` (``files/<sha256 of path>.orig``), ``target`` (of a link)
and ``written``: what harden-tcp last left at the path
(``{state, sha256 | target}``), so a rollback can tell a hand edit.
A sysctl record is ``{present, value, tag}``; ``value`` is the runtime value
with whitespace folded to single spaces ('32768 60999'), or None when the key
did not exist.

A path or key is recorded once: later calls leave its record alone, so the
snapshot always holds the state from before harden-tcp first changed it.
A manifest is checked whole (fields, types, confined paths and keys) before
anything is recorded or restored: a damaged one changes nothing.
"""

from __future__ import absolute_import, annotations, division, print_function

import datetime
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import fold, normalize_key, proc_sys_path, read_runtime

MANIFEST = 'manifest.json'
MARKER = '.harden-tcp-snapshot'
MARKER_TEXT = b'This directory belongs to harden-tcp (role tcp_snapshot): its snapshot, lock and kept hand edits.\n'
FILES_DIR = 'files'
HAND_EDITS_DIR = 'hand-edits'
SCHEMA = 1
DEFAULT_DIR = '/var/lib/harden-tcp'
DEFAULT_PROC_SYS = '/proc/sys'
OPERATIONS = ('save_files', 'save_sysctl', 'note_written', 'status', 'restore', 'clear', 'lock', 'unlock')
STATES = ('present', 'absent', 'link')
# How many problems a refusal lists, and how long a run waits for a directory
# another run is creating at the same moment to get its marker.
MAX_PROBLEMS = 10
MARKER_WAIT = 2.0

HEX64_RE = re.compile(r'^[0-9a-f]{64}$')
MODE_RE = re.compile(r'^[0-7]{4}$')
BLOB_RE = re.compile(r'^[0-9a-f]{64}\.orig$')

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


# ------------------------------------------------------------------ the directory


def blob_name(path: str) -> str:
    """Return the blob file name for a recorded path: stable, flat, collision free."""
    return FILES_DIR + '/' + hashlib.sha256(path.encode('utf-8')).hexdigest() + '.orig'


def utc_now() -> str:
    """Return the current UTC time as 2024-01-01T00:00:00Z."""
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def empty_manifest() -> Manifest:
    """Return a new manifest with no records, stamped with the current UTC time."""
    return {'schema': SCHEMA, 'created': utc_now(), 'files': {}, 'sysctl': {}}


def is_legacy_snapshot(snap_dir: str) -> bool:
    """True for a snapshot directory written before the marker existed.

    It holds nothing but manifest.json (schema 1) and files/ with blobs: the
    layout harden-tcp 1.0.0 wrote, which it may keep using.
    """
    try:
        names = set(os.listdir(snap_dir))
        blobs = os.listdir(os.path.join(snap_dir, FILES_DIR)) if FILES_DIR in names else []
        with open(os.path.join(snap_dir, MANIFEST), 'r') as handle:
            manifest = json.load(handle)
    except (IOError, OSError, ValueError):
        return False
    return (MANIFEST in names and names <= {MANIFEST, FILES_DIR}
            and (FILES_DIR not in names or stat.S_ISDIR(os.lstat(os.path.join(snap_dir, FILES_DIR)).st_mode))
            and all(BLOB_RE.match(name) for name in blobs)
            and isinstance(manifest, dict) and manifest.get('schema') == SCHEMA)


def foreign_dir_error(snap_dir: str, why: str) -> SnapshotError:
    """Return the refusal of a tcp_snapshot_dir that is not harden-tcp's own directory."""
    return SnapshotError(
        'tcp_snapshot_dir %s %s, so it is not a harden-tcp snapshot directory (those hold the marker file %s). '
        'harden-tcp neither changes nor removes anything in a directory it did not create: set tcp_snapshot_dir to a '
        'path that does not exist yet (harden-tcp creates it, root-only) or to an existing harden-tcp snapshot '
        'directory. Nothing was changed.' % (snap_dir, why, MARKER), exists=False)


def check_snapshot_dir(snap_dir: str) -> bool:
    """Return True when snap_dir is harden-tcp's snapshot directory, False when it does not exist.

    Raises SnapshotError for anything else: a file, a symbolic link, or a
    directory without the marker (someone else's, even an empty one).
    """
    if not os.path.isabs(snap_dir) or os.path.normpath(snap_dir) != snap_dir:
        raise SnapshotError('tcp_snapshot_dir must be an absolute, normalised path; got %r' % snap_dir)
    try:
        st = os.lstat(snap_dir)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise foreign_dir_error(snap_dir, 'is a symbolic link')
    if not stat.S_ISDIR(st.st_mode):
        raise foreign_dir_error(snap_dir, 'exists and is not a directory')
    try:
        marker = os.lstat(os.path.join(snap_dir, MARKER))
    except FileNotFoundError:
        if is_legacy_snapshot(snap_dir):
            return True
        raise foreign_dir_error(snap_dir, 'exists and has no marker file')
    if not stat.S_ISREG(marker.st_mode):
        raise foreign_dir_error(snap_dir, 'holds a marker that is not a regular file')
    return True


def ensure_snapshot_dir(snap_dir: str, check_mode: bool = False) -> None:
    """Create snap_dir root-only with its marker, or accept it when it is already harden-tcp's.

    Only a directory created here is given mode 0700; an existing one keeps
    its mode. Another run creating the same directory at the same moment is
    waited for (at most MARKER_WAIT seconds), not mistaken for a stranger.
    """
    if check_snapshot_dir(snap_dir):
        if not os.path.lexists(os.path.join(snap_dir, MARKER)) and not check_mode:
            atomic_write(os.path.join(snap_dir, MARKER), MARKER_TEXT, 0o600)
        return
    if check_mode:
        return
    parent = os.path.dirname(snap_dir)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o755)
    try:
        os.mkdir(snap_dir, 0o700)
    except FileExistsError:
        deadline = time.monotonic() + MARKER_WAIT
        while not os.path.lexists(os.path.join(snap_dir, MARKER)) and time.monotonic() < deadline:
            time.sleep(0.05)
        check_snapshot_dir(snap_dir)
        return
    os.chmod(snap_dir, 0o700)
    atomic_write(os.path.join(snap_dir, MARKER), MARKER_TEXT, 0o600)


# ------------------------------------------------------------------ checking a manifest


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def path_problem(path: Any, snap_dir: str) -> Optional[str]:
    """Return why a recorded path is unacceptable, or None.

    Acceptable: an absolute, normalised path with no '..' component, outside
    the snapshot directory.
    """
    if not isinstance(path, str) or not path:
        return 'the path is not a non-empty string'
    if '\x00' in path:
        return 'the path holds a NUL character'
    if not path.startswith('/') or path.startswith('//'):
        return 'the path is not absolute'
    if '..' in path.split('/'):
        return "the path has a '..' component"
    if os.path.normpath(path) != path or path == '/':
        return 'the path is not normalised (%s)' % os.path.normpath(path)
    if path == snap_dir or path.startswith(snap_dir.rstrip('/') + '/'):
        return 'the path lies inside the snapshot directory'
    return None


def key_problem(key: Any) -> Optional[str]:
    """Return why a sysctl key is unacceptable, or None.

    Acceptable: a dotted key whose file lies under /proc/sys. A component that
    stands for '.', '..' or nothing would leave it (net/../../../etc/hostname).
    """
    if not isinstance(key, str) or not key:
        return 'the key is not a non-empty string'
    if any(char.isspace() or char == '\x00' for char in key):
        return 'the key holds whitespace or a NUL character'
    if normalize_key(key) != key:
        return 'the key is not in dotted form (%s)' % normalize_key(key)
    components = [part.replace('/', '.') for part in key.split('.')]
    if any(component in ('', '.', '..') for component in components):
        return "the key escapes /proc/sys (a component is empty, '.' or '..': %s)" % '/'.join(components)
    return None


def _field_problems(where: str, record: Record, spec: Dict[str, Any]) -> List[str]:
    problems = []
    for field, (check, wanted) in spec.items():
        if field not in record:
            problems.append('%s: %r is missing' % (where, field))
        elif record[field] is None:
            problems.append('%s: %r is null' % (where, field))
        elif not check(record[field]):
            problems.append('%s: %r is %s, not %s' % (where, field, json.dumps(record[field])[:80], wanted))
    return problems


_TEXT = (lambda value: isinstance(value, str), 'a string')
_NAME = (lambda value: isinstance(value, str) and value != '' and '\x00' not in value, 'a non-empty string')
_ID = (_is_count, 'a non-negative integer')
_SHA = (lambda value: isinstance(value, str) and bool(HEX64_RE.match(value)), 'a sha256 in hex')
_OWNER_SPEC = {'owner': _NAME, 'group': _NAME, 'uid': _ID, 'gid': _ID}


def file_record_problems(path: str, record: Any, snap_dir: str) -> List[str]:
    """Return what is wrong with one file record (its path included); [] when it is sound."""
    where = 'files[%s]' % json.dumps(path)
    problem = path_problem(path, snap_dir)
    if problem:
        return ['%s: %s' % (where, problem)]
    if not isinstance(record, dict):
        return ['%s: the record is %s, not an object' % (where, json.dumps(record)[:80])]
    if record.get('state') not in STATES:
        return ['%s: %r is %s, not one of present, absent, link' % (where, 'state', json.dumps(record.get('state')))]
    spec: Dict[str, Any] = {'tag': _TEXT}
    if record['state'] == 'present':
        spec.update(_OWNER_SPEC)
        spec.update({'mode': (lambda value: isinstance(value, str) and bool(MODE_RE.match(value)), 'an octal mode'),
                     'sha256': _SHA, 'size': _ID,
                     'blob': (lambda value: value == blob_name(path), json.dumps(blob_name(path)))})
    elif record['state'] == 'link':
        spec.update(_OWNER_SPEC)
        spec['target'] = _NAME
    problems = _field_problems(where, record, spec)
    written = record.get('written')
    if 'written' in record:
        if not isinstance(written, dict) or written.get('state') not in STATES:
            problems.append('%s: %r is %s, not {state: present|absent|link, ...}'
                            % (where, 'written', json.dumps(written)[:80]))
        elif written['state'] == 'present':
            problems.extend(_field_problems(where + '.written', written, {'sha256': _SHA}))
        elif written['state'] == 'link':
            problems.extend(_field_problems(where + '.written', written, {'target': _NAME}))
    return problems


def sysctl_record_problems(key: str, record: Any) -> List[str]:
    """Return what is wrong with one sysctl record (its key included); [] when it is sound."""
    where = 'sysctl[%s]' % json.dumps(key)
    problem = key_problem(key)
    if problem:
        return ['%s: %s' % (where, problem)]
    if not isinstance(record, dict):
        return ['%s: the record is %s, not an object' % (where, json.dumps(record)[:80])]
    problems = _field_problems(where, record, {'present': (lambda value: isinstance(value, bool), 'true or false'),
                                               'tag': _TEXT})
    if problems:
        return problems
    value = record.get('value')
    if record['present'] and not (isinstance(value, str) and '\n' not in value and '\x00' not in value):
        problems.append('%s: %r is %s, not one line of text' % (where, 'value', json.dumps(value)[:80]))
    if not record['present'] and value is not None:
        problems.append('%s: %r is %s although the key was absent (expected null)'
                        % (where, 'value', json.dumps(value)[:80]))
    return problems


def manifest_problems(manifest: Any, snap_dir: str) -> List[str]:
    """Return every problem of a parsed manifest, record by record; [] when all of it is sound."""
    if not isinstance(manifest, dict):
        return ['the manifest is %s, not an object' % type(manifest).__name__]
    problems = []
    if manifest.get('schema') != SCHEMA:
        problems.append('%r is %s, not %d' % ('schema', json.dumps(manifest.get('schema')), SCHEMA))
    if not isinstance(manifest.get('created'), str):
        problems.append('%r is %s, not a time stamp' % ('created', json.dumps(manifest.get('created'))[:40]))
    for section in ('files', 'sysctl'):
        if not isinstance(manifest.get(section), dict):
            problems.append('%r is %s, not an object' % (section, json.dumps(manifest.get(section))[:40]))
    if problems:
        return problems
    for path in sorted(manifest['files']):
        problems.extend(file_record_problems(path, manifest['files'][path], snap_dir))
    for key in sorted(manifest['sysctl']):
        problems.extend(sysctl_record_problems(key, manifest['sysctl'][key]))
    return problems


def load_manifest(snap_dir: str) -> Optional[Manifest]:
    """Return the checked manifest in snap_dir, or None when there is no snapshot.

    Raises SnapshotError when snap_dir is not harden-tcp's directory, or when
    the manifest cannot be read, is not JSON, or any record is unsound: the
    message names each wrong record.
    """
    if not check_snapshot_dir(snap_dir):
        return None
    path = os.path.join(snap_dir, MANIFEST)
    try:
        with open(path, 'r') as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except (IOError, OSError) as exc:
        raise SnapshotError('cannot read the harden-tcp snapshot manifest %s: %s; nothing was changed' % (path, exc))
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise SnapshotError('the harden-tcp snapshot manifest %s is not valid JSON (%s); nothing was changed. Restore '
                            'it from a backup or remove it by hand' % (path, exc))
    problems = manifest_problems(manifest, snap_dir)
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise SnapshotError(
            'the harden-tcp snapshot manifest %s is damaged, so nothing was changed: %s%s. Repair those records '
            '(or restore the manifest from a backup) and run again; nothing restores from a damaged snapshot.'
            % (path, '; '.join(problems[:MAX_PROBLEMS]), ' (and %d more)' % more if more > 0 else ''),
            problems=problems)
    return manifest


# ------------------------------------------------------------------ writing


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


def ensure_private_subdir(path: str) -> None:
    """Create a subdirectory of the snapshot directory root-only, if it does not exist."""
    if not os.path.isdir(path):
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)


def write_snapshot(snap_dir: str, manifest: Manifest, blobs: Optional[Dict[str, bytes]] = None) -> None:
    """Write the blobs, then the manifest that refers to them (so a manifest never names a missing blob)."""
    ensure_snapshot_dir(snap_dir)
    if blobs:
        ensure_private_subdir(os.path.join(snap_dir, FILES_DIR))
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


def written_state(observed: Record) -> Record:
    """Return the ``written`` field for a path as observed: what a hand edit is told apart from."""
    if observed['state'] == 'present':
        return {'state': 'present', 'sha256': observed['sha256']}
    if observed['state'] == 'link':
        return {'state': 'link', 'target': observed['target']}
    return {'state': 'absent'}


def same_state(observed: Record, reference: Record) -> bool:
    """True when an observed path holds what a record (or its ``written`` field) describes."""
    if observed['state'] != reference.get('state'):
        return False
    if observed['state'] == 'present':
        return observed['sha256'] == reference.get('sha256')
    if observed['state'] == 'link':
        return observed['target'] == reference.get('target')
    return True


def describe(observed: Record) -> str:
    """Return a few words on an observed path, for messages."""
    if observed['state'] == 'present':
        return 'content sha256 %s' % observed['sha256'][:12]
    if observed['state'] == 'link':
        return 'a symbolic link to %s' % observed['target']
    return 'no file'


# ------------------------------------------------------------------ saving


def normal_path(raw: str, snap_dir: str) -> str:
    """Return a path to record, normalised; raise SnapshotError for a relative or confined path."""
    if not isinstance(raw, str) or not os.path.isabs(raw):
        raise SnapshotError('tcp_snapshot_paths must hold absolute paths; got %r' % (raw,))
    path = os.path.normpath(raw)
    problem = path_problem(path, snap_dir)
    if problem:
        raise SnapshotError('cannot record %r: %s' % (raw, problem))
    return path


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
        path = normal_path(raw, snap_dir)
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
    the new manifest). A key missing from proc_sys is recorded as not present; a key that would leave
    proc_sys is refused before anything is written."""
    new = manifest if manifest is not None else empty_manifest()
    wanted = []
    for raw in keys:
        key = normalize_key(raw)
        problem = key_problem(key)
        if problem:
            raise SnapshotError('cannot record sysctl key %r: %s' % (raw, problem))
        wanted.append(key)
    recorded: List[str] = []
    for key in wanted:
        if key in new['sysctl']:
            continue
        runtime = read_runtime(key, proc_sys)
        new['sysctl'][key] = {'present': runtime['present'], 'value': runtime['runtime'], 'tag': tag}
        recorded.append(key)
    if recorded and not check_mode:
        write_snapshot(snap_dir, new)
    return recorded, new


def note_written(snap_dir: str, paths: Iterable[str], manifest: Optional[Manifest],
                 check_mode: bool = False) -> Tuple[List[str], Optional[Manifest]]:
    """Record what harden-tcp has just left at each path (``written``); return (paths noted, manifest).

    Called after a change went live, so a rollback can tell a later hand edit
    from harden-tcp's own work. Every path must already be recorded (in check
    mode, where nothing was recorded, the others are passed over).
    """
    if manifest is None and check_mode:
        return [], None
    if manifest is None:
        raise SnapshotError('there is no harden-tcp snapshot in %s to note written files in' % snap_dir)
    noted = []
    for raw in paths:
        path = normal_path(raw, snap_dir)
        if path not in manifest['files'] and check_mode:
            continue
        if path not in manifest['files']:
            raise SnapshotError('%s is not recorded in the snapshot: record it (save_files) before writing it' % path)
        written = written_state(observe_file(path)[0])
        if manifest['files'][path].get('written') != written:
            manifest['files'][path]['written'] = written
            noted.append(path)
    if noted and not check_mode:
        write_snapshot(snap_dir, manifest)
    return noted, manifest


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


def hand_edits(manifest: Manifest) -> List[Dict[str, str]]:
    """Return the recorded files changed since harden-tcp last wrote them: [{path, reason}].

    A file already back in its original state is no edit to protect; a record
    without ``written`` (a snapshot from before harden-tcp noted its writes) is
    not judged.
    """
    edited = []
    for path in sorted(manifest['files']):
        record = manifest['files'][path]
        written = record.get('written')
        if written is None:
            continue
        current = observe_file(path)[0]
        if same_state(current, written) or same_state(current, record):
            continue
        edited.append({'path': path, 'reason': 'it holds %s, but harden-tcp last left %s there'
                       % (describe(current), describe(written))})
    return edited


def keep_hand_edit(snap_dir: str, path: str) -> Optional[str]:
    """Copy a hand-edited file into the snapshot directory before a forced rollback replaces it.

    Returns where it was kept (None for a link or no file: nothing to keep).
    """
    current, content = observe_file(path)
    if content is None:
        return None
    ensure_private_subdir(os.path.join(snap_dir, HAND_EDITS_DIR))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    kept = os.path.join(snap_dir, HAND_EDITS_DIR, '%s.%s.%s' % (
        os.path.basename(path), hashlib.sha256(path.encode('utf-8')).hexdigest()[:12], stamp))
    atomic_write(kept, content, 0o600)
    return kept


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


def clear_snapshot(snap_dir: str, manifest: Manifest, check_mode: bool = False) -> None:
    """Remove the manifest, then the blobs it lists, then files/ if that left it empty.

    Nothing else in the directory is touched: the marker, the lock and kept
    hand edits stay, and so does the directory.
    """
    if check_mode:
        return
    os.unlink(os.path.join(snap_dir, MANIFEST))
    for path in sorted(manifest['files']):
        blob = manifest['files'][path].get('blob')
        if blob and os.path.lexists(os.path.join(snap_dir, blob)):
            os.unlink(os.path.join(snap_dir, blob))
    try:
        os.rmdir(os.path.join(snap_dir, FILES_DIR))
    except OSError:
        pass


def restore(snap_dir: str, manifest: Optional[Manifest], proc_sys: str = DEFAULT_PROC_SYS, clear: bool = True,
            check_mode: bool = False, force: bool = False) -> Tuple[List[str], bool, List[Dict[str, str]]]:
    """Restore every recorded file (sorted by path), then every recorded runtime value, then clear the
    snapshot when ``clear``; return (one sentence per change, whether the snapshot is (or would be) cleared,
    [{path, tag}] of the files put back).

    Blobs, keys and hand edits are checked first, so a damaged snapshot, or a
    file changed by hand since harden-tcp wrote it (unless ``force``), changes
    nothing. A forced rollback keeps each hand-edited file in hand-edits/.
    """
    if manifest is None:
        raise SnapshotError('no harden-tcp snapshot in %s: nothing to roll back (harden-tcp.yml has not changed '
                            'this host, or it was already rolled back)' % snap_dir, exists=False)
    originals = read_blobs(snap_dir, manifest)
    check_sysctl_keys(manifest, proc_sys)
    edited = hand_edits(manifest)
    if edited and not force:
        raise SnapshotError(
            'refusing to roll back: %s. Rolling back would overwrite those hand edits; nothing was restored. Look at '
            'them, then roll back with tcp_rollback_force: true to put the originals back anyway (each hand-edited '
            'file is then kept in %s first).'
            % ('; '.join('%s was changed since harden-tcp wrote it (%s)' % (item['path'], item['reason'])
                         for item in edited), os.path.join(snap_dir, HAND_EDITS_DIR)),
            hand_edits=edited)
    changes: List[str] = []
    restored_files: List[Dict[str, str]] = []
    for item in edited:
        kept = None if check_mode else keep_hand_edit(snap_dir, item['path'])
        changes.append('file %s: hand edit overwritten because tcp_rollback_force is true (%s)%s'
                       % (item['path'], item['reason'], '; kept in %s' % kept if kept else ''))
    for path in sorted(manifest['files']):
        change = restore_file(path, manifest['files'][path], originals.get(path), check_mode)
        if change:
            changes.append(change)
            restored_files.append({'path': path, 'tag': manifest['files'][path]['tag']})
    for key in sorted(manifest['sysctl']):
        change = restore_sysctl(key, manifest['sysctl'][key], proc_sys, check_mode)
        if change:
            changes.append(change)
    if clear:
        clear_snapshot(snap_dir, manifest, check_mode)
    return changes, clear, restored_files


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
                  proc_sys: str = DEFAULT_PROC_SYS, check_mode: bool = False, force: bool = False) -> Dict[str, Any]:
    """Carry out one snapshot operation (not lock or unlock: module_utils/tcp_lock.py) and return the module
    result: ``{changed, exists, recorded, restored, restored_files, snapshot, dir}``.

    ``exists`` describes the snapshot after the operation (in check mode: as it
    would be). Raises SnapshotError.
    """
    if operation not in OPERATIONS or operation in ('lock', 'unlock'):
        raise SnapshotError('operation must be one of %s; got %r'
                            % (', '.join(op for op in OPERATIONS if op not in ('lock', 'unlock')), operation))
    if not os.path.isabs(snap_dir):
        raise SnapshotError('tcp_snapshot_dir must be an absolute path; got %r' % snap_dir)
    manifest = load_manifest(snap_dir)
    recorded: List[str] = []
    restored: List[str] = []
    restored_files: List[Dict[str, str]] = []
    changed = False
    if operation == 'save_files':
        recorded, manifest = save_files(snap_dir, paths, tag, manifest, check_mode)
        changed = bool(recorded)
    elif operation == 'save_sysctl':
        recorded, manifest = save_sysctl(snap_dir, keys, tag, manifest, proc_sys, check_mode)
        changed = bool(recorded)
    elif operation == 'note_written':
        recorded, manifest = note_written(snap_dir, paths, manifest, check_mode)
        changed = bool(recorded)
    elif operation == 'restore':
        restored, cleared, restored_files = restore(snap_dir, manifest, proc_sys, clear, check_mode, force)
        changed = bool(restored) or cleared
        if cleared:
            manifest = None
    elif operation == 'clear' and manifest is not None:
        clear_snapshot(snap_dir, manifest, check_mode)
        manifest, changed = None, True
    return {'changed': changed, 'exists': manifest is not None, 'recorded': recorded, 'restored': restored,
            'restored_files': restored_files, 'snapshot': public(manifest), 'dir': snap_dir}
