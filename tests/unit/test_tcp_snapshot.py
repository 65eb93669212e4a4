# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/tcp_snapshot.py and its entry point plugins/modules/tcp_snapshot.py.

Everything happens under tmp_path: the snapshot directory, the files recorded
and a fake /proc/sys tree. The entry point is driven through the run_module
fixture (patch_module_args; exit_json/fail_json become results).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import re
import signal
import stat
import threading
import time
from pathlib import Path

import pytest
import yaml

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_lock
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_snapshot as core
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_snapshot import SnapshotError
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_snapshot

# Skipped without root, except under CI (.ci/run), where a missing root is a failure to see.
as_root = pytest.mark.skipif(os.geteuid() != 0 and not os.environ.get('CI'), reason='changing a file owner needs root')


@pytest.fixture
def module():
    return tcp_snapshot


@pytest.fixture
def snap(tmp_path):
    """The snapshot directory (not created: the core creates it)."""
    return str(tmp_path / 'snap')


@pytest.fixture
def etc(tmp_path):
    """A directory standing in for /etc."""
    path = tmp_path / 'etc'
    path.mkdir()
    return path


@pytest.fixture
def proc_sys(tmp_path):
    """A fake /proc/sys with the values the kernel prints (a tab in ip_local_port_range)."""
    root = tmp_path / 'proc_sys'
    (root / 'net' / 'ipv4').mkdir(parents=True)
    (root / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('2\n')
    (root / 'net' / 'ipv4' / 'tcp_max_tw_buckets').write_text('5000\n')
    (root / 'net' / 'ipv4' / 'ip_local_port_range').write_text('32768\t60999\n')
    return root


def write(path: Path, content: bytes, mode: int) -> str:
    path.write_bytes(content)
    os.chmod(str(path), mode)
    return str(path)


def mode_of(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def restore_all(snap, proc_sys=core.DEFAULT_PROC_SYS, clear=True, force=False):
    changes, cleared, _files = core.restore(snap, core.load_manifest(snap), proc_sys, clear, force=force)
    return changes, cleared


def make_snapshot_dir(snap):
    """Create an (empty) harden-tcp snapshot directory, marker included."""
    core.ensure_snapshot_dir(snap)


def only_marker_left(snap):
    """True when the snapshot is gone and its directory holds only the marker."""
    return os.path.isdir(snap) and os.listdir(snap) == [core.MARKER]


# ------------------------------------------------------------------ files


def test_save_then_restore_round_trips_content_and_mode_byte_for_byte(snap, etc):
    original = b'# hand-written\r\nnet.ipv4.tcp_tw_reuse = 0\n\x00\xff no final newline'
    path = write(etc / 'sysctl.conf', original, 0o640)

    recorded, manifest = core.save_files(snap, [path], tag='tcp_profile')

    assert recorded == [path]
    assert manifest['files'][path]['state'] == 'present'
    assert manifest['files'][path]['mode'] == '0640'
    assert manifest['files'][path]['sha256'] == hashlib.sha256(original).hexdigest()
    assert manifest['files'][path]['size'] == len(original)
    assert manifest['files'][path]['tag'] == 'tcp_profile'

    write(etc / 'sysctl.conf', b'net.ipv4.tcp_tw_reuse = 1\n', 0o644)
    changes, cleared = restore_all(snap)

    assert Path(path).read_bytes() == original
    assert mode_of(path) == 0o640
    assert changes == ['file %s: original content restored (sha256 %s)'
                       % (path, hashlib.sha256(original).hexdigest()[:12])]
    assert cleared is True
    assert only_marker_left(snap)


def test_a_file_whose_only_change_is_its_mode_is_restored(snap, etc):
    path = write(etc / 'a.conf', b'x = 1\n', 0o600)
    core.save_files(snap, [path])
    os.chmod(path, 0o666)

    changes, _manifest = restore_all(snap)

    assert len(changes) == 1
    assert mode_of(path) == 0o600
    assert Path(path).read_bytes() == b'x = 1\n'


@as_root
def test_owner_and_group_are_recorded_and_restored(snap, etc):
    path = write(etc / 'owned.conf', b'owned\n', 0o644)
    os.chown(path, 1, 2)
    _recorded, manifest = core.save_files(snap, [path])
    assert (manifest['files'][path]['uid'], manifest['files'][path]['gid']) == (1, 2)

    os.chown(path, 0, 0)
    changes, _manifest = restore_all(snap)

    assert len(changes) == 1
    assert (os.stat(path).st_uid, os.stat(path).st_gid) == (1, 2)


def test_a_file_that_was_absent_is_removed_on_restore(snap, etc):
    path = str(etc / 'sysctl.d' / '60-harden-tcp.conf')

    recorded, manifest = core.save_files(snap, [path])
    assert recorded == [path]
    assert manifest['files'][path] == {'state': 'absent', 'tag': ''}
    assert sorted(os.listdir(snap)) == [core.MARKER, core.MANIFEST]

    os.makedirs(os.path.dirname(path))
    Path(path).write_text('net.ipv4.tcp_tw_reuse = 1\n')
    changes, _manifest = restore_all(snap)

    assert changes == ['file %s: removed (it did not exist before)' % path]
    assert not os.path.lexists(path)


def test_an_absent_file_still_absent_needs_no_change(snap, etc):
    path = str(etc / 'never.conf')
    core.save_files(snap, [path])

    changes, _manifest = restore_all(snap, clear=False)

    assert changes == []
    assert os.path.exists(os.path.join(snap, core.MANIFEST))


def test_a_symlink_is_restored_as_a_symlink(snap, etc):
    target = write(etc / 'real.conf', b'real\n', 0o644)
    link = str(etc / '99-sysctl.conf')
    os.symlink('real.conf', link)

    _recorded, manifest = core.save_files(snap, [link])
    assert manifest['files'][link]['state'] == 'link'
    assert manifest['files'][link]['target'] == 'real.conf'
    assert 'blob' not in manifest['files'][link]

    os.unlink(link)
    Path(link).write_text('replaced by a regular file\n')
    changes, _manifest = restore_all(snap)

    assert os.path.islink(link)
    assert os.readlink(link) == 'real.conf'
    assert Path(target).read_bytes() == b'real\n'
    assert changes == ['file %s: symbolic link to real.conf restored' % link]


def test_a_path_recorded_twice_keeps_the_first_original(snap, etc):
    path = write(etc / 'nginx.conf', b'first\n', 0o644)
    first, manifest = core.save_files(snap, [path], tag='nginx_keepalive')
    first_sha = manifest['files'][path]['sha256']

    write(etc / 'nginx.conf', b'second\n', 0o600)
    again, manifest = core.save_files(snap, [path, path + '/../nginx.conf'], tag='tcp_profile',
                                      manifest=core.load_manifest(snap))

    assert first == [path]
    assert again == []
    on_disk = core.load_manifest(snap)
    assert on_disk['files'][path]['sha256'] == first_sha == hashlib.sha256(b'first\n').hexdigest()
    assert on_disk['files'][path]['tag'] == 'nginx_keepalive'
    assert on_disk['files'][path]['mode'] == '0644'

    restore_all(snap)
    assert Path(path).read_bytes() == b'first\n'
    assert mode_of(path) == 0o644


def test_a_damaged_blob_fails_clearly_and_restores_nothing(snap, etc, proc_sys):
    good = write(etc / 'a.conf', b'a original\n', 0o644)
    bad = write(etc / 'b.conf', b'b original\n', 0o644)
    absent = str(etc / 'c.conf')
    core.save_files(snap, [good, bad, absent])
    core.save_sysctl(snap, ['net.ipv4.tcp_tw_reuse'], manifest=core.load_manifest(snap), proc_sys=str(proc_sys))
    Path(snap, core.blob_name(bad)).write_bytes(b'b tampered\n')

    write(etc / 'a.conf', b'a hardened\n', 0o644)
    write(etc / 'b.conf', b'b hardened\n', 0o644)
    Path(absent).write_text('created\n')
    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('1\n')

    with pytest.raises(SnapshotError) as failure:
        core.restore(snap, core.load_manifest(snap), str(proc_sys))

    message = str(failure.value)
    assert message.startswith('snapshot blob for %s is damaged (sha256 mismatch' % bad)
    assert message.endswith('nothing was restored')
    # Nothing at all was put back, and the snapshot is kept for a second look.
    assert Path(good).read_bytes() == b'a hardened\n'
    assert Path(bad).read_bytes() == b'b hardened\n'
    assert Path(absent).read_text() == 'created\n'
    assert (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').read_text() == '1\n'
    assert os.path.exists(os.path.join(snap, core.MANIFEST))


def test_a_missing_blob_fails_clearly(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path])
    os.unlink(os.path.join(snap, core.blob_name(path)))

    with pytest.raises(SnapshotError, match=r'^snapshot blob for .*a\.conf cannot be read .*nothing was restored$'):
        restore_all(snap)


def test_relative_paths_are_refused_before_anything_is_written(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)

    with pytest.raises(SnapshotError, match=r"^tcp_snapshot_paths must hold absolute paths; got 'etc/b.conf'$"):
        core.save_files(snap, [path, 'etc/b.conf'])

    assert not os.path.exists(snap)


def test_a_directory_is_refused(snap, etc):
    with pytest.raises(SnapshotError, match='is not a regular file or a symbolic link'):
        core.save_files(snap, [str(etc)])


def test_check_mode_records_nothing_on_disk(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)

    recorded, manifest = core.save_files(snap, [path], check_mode=True)

    assert recorded == [path]
    assert path in manifest['files']
    assert not os.path.exists(snap)


# ------------------------------------------------------------------ on-disk format


def test_layout_on_disk_is_root_only_with_one_blob_per_file(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path, str(etc / 'missing.conf')], tag='t')

    blob = 'files/' + hashlib.sha256(path.encode('utf-8')).hexdigest() + '.orig'
    assert core.blob_name(path) == blob
    assert mode_of(snap) == 0o700
    assert mode_of(os.path.join(snap, 'files')) == 0o700
    assert mode_of(os.path.join(snap, 'manifest.json')) == 0o600
    assert mode_of(os.path.join(snap, blob)) == 0o600
    assert os.listdir(os.path.join(snap, 'files')) == [os.path.basename(blob)]
    assert Path(snap, blob).read_bytes() == b'a\n'

    manifest = json.loads(Path(snap, 'manifest.json').read_text())
    assert sorted(manifest) == ['created', 'files', 'schema', 'sysctl']
    assert manifest['schema'] == 1
    assert sorted(manifest['files'][path]) == ['blob', 'gid', 'group', 'mode', 'owner', 'sha256', 'size', 'state',
                                               'tag', 'uid']
    assert manifest['files'][path]['blob'] == blob


def test_a_manifest_that_is_not_json_is_reported(snap):
    make_snapshot_dir(snap)
    Path(snap, 'manifest.json').write_text('{"files": ')

    with pytest.raises(SnapshotError, match=r'manifest .*manifest\.json is not valid JSON'):
        core.load_manifest(snap)


# ------------------------------------------------------------------ sysctl


def test_sysctl_values_are_saved_and_restored_against_a_fake_proc_sys(snap, proc_sys):
    recorded, manifest = core.save_sysctl(
        snap, ['net.ipv4.tcp_tw_reuse', 'net/ipv4/ip_local_port_range', 'net.ipv4.tcp_tw_recycle'],
        tag='tcp_profile', proc_sys=str(proc_sys))

    assert recorded == ['net.ipv4.tcp_tw_reuse', 'net.ipv4.ip_local_port_range', 'net.ipv4.tcp_tw_recycle']
    assert core.load_manifest(snap)['sysctl'] == manifest['sysctl'] == {
        'net.ipv4.tcp_tw_reuse': {'present': True, 'value': '2', 'tag': 'tcp_profile'},
        'net.ipv4.ip_local_port_range': {'present': True, 'value': '32768 60999', 'tag': 'tcp_profile'},
        'net.ipv4.tcp_tw_recycle': {'present': False, 'value': None, 'tag': 'tcp_profile'},
    }

    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('1\n')
    (proc_sys / 'net' / 'ipv4' / 'ip_local_port_range').write_text('1024\t65535\n')
    changes, cleared_now, _files = core.restore(snap, core.load_manifest(snap), str(proc_sys))

    assert changes == ['sysctl net.ipv4.ip_local_port_range: 1024 65535 -> 32768 60999',
                       'sysctl net.ipv4.tcp_tw_reuse: 1 -> 2']
    assert (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').read_text() == '2\n'
    assert (proc_sys / 'net' / 'ipv4' / 'ip_local_port_range').read_text() == '32768 60999\n'
    assert not (proc_sys / 'net' / 'ipv4' / 'tcp_tw_recycle').exists()
    assert cleared_now and only_marker_left(snap)


def test_a_sysctl_key_is_recorded_once(snap, proc_sys):
    core.save_sysctl(snap, ['net.ipv4.tcp_max_tw_buckets'], proc_sys=str(proc_sys))
    (proc_sys / 'net' / 'ipv4' / 'tcp_max_tw_buckets').write_text('262144\n')

    recorded, manifest = core.save_sysctl(snap, ['net/ipv4/tcp_max_tw_buckets'], manifest=core.load_manifest(snap),
                                          proc_sys=str(proc_sys))

    assert recorded == []
    assert manifest['sysctl']['net.ipv4.tcp_max_tw_buckets']['value'] == '5000'


def test_a_value_recorded_with_the_kernels_tab_is_equal_to_its_folded_form(snap, proc_sys):
    # A manifest written before values were folded holds the kernel's tab.
    make_snapshot_dir(snap)
    Path(snap, 'manifest.json').write_text(json.dumps({
        'schema': 1, 'created': '2024-01-01T00:00:00Z', 'files': {},
        'sysctl': {'net.ipv4.ip_local_port_range': {'present': True, 'value': '32768\t60999', 'tag': ''}}}))

    changes, _cleared, _files = core.restore(snap, core.load_manifest(snap), str(proc_sys), clear=False)

    assert changes == []


def test_a_recorded_key_that_disappeared_fails_before_any_file_is_restored(snap, etc, proc_sys):
    path = write(etc / 'a.conf', b'before\n', 0o644)
    core.save_files(snap, [path])
    core.save_sysctl(snap, ['net.ipv4.tcp_tw_reuse'], manifest=core.load_manifest(snap), proc_sys=str(proc_sys))
    write(etc / 'a.conf', b'after\n', 0o644)
    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').unlink()

    with pytest.raises(SnapshotError, match=r'^net\.ipv4\.tcp_tw_reuse was recorded but no longer exists in '):
        core.restore(snap, core.load_manifest(snap), str(proc_sys))

    assert Path(path).read_bytes() == b'after\n'


def test_key_handling_is_the_one_from_tcp_sysctl():
    assert core.normalize_key is tcp_sysctl.normalize_key
    assert core.read_runtime is tcp_sysctl.read_runtime
    # Writes go to the same file reads come from.
    assert core.proc_sys_path is tcp_sysctl.proc_sys_path


# ------------------------------------------------------------------ the module


def test_the_module_runs_the_core(module):
    assert module.run_operation is core.run_operation


def test_status_without_a_snapshot(module, run_module, snap):
    kind, result = run_module(module.main, {'operation': 'status', 'dir': snap})

    assert kind == 'exit'
    assert result == {'changed': False, 'exists': False, 'recorded': [], 'restored': [], 'restored_files': [],
                      'snapshot': {}, 'dir': snap}
    assert not os.path.exists(snap)


def test_restore_without_a_snapshot_is_refused(module, run_module, snap):
    kind, result = run_module(module.main, {'operation': 'restore', 'dir': snap})

    assert kind == 'fail'
    assert result['exists'] is False
    assert result['msg'].startswith('no harden-tcp snapshot in %s: nothing to roll back' % snap)


def test_module_saves_reports_and_restores(module, run_module, snap, etc, proc_sys):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    args = {'dir': snap, 'proc_sys': str(proc_sys), 'tag': 'tcp_profile'}

    kind, saved = run_module(module.main, dict(args, operation='save_files', paths=[path]))
    assert kind == 'exit'
    assert saved['changed'] is True
    assert saved['recorded'] == [path]
    assert saved['exists'] is True
    # The public manifest hides blob names and numeric ids.
    assert saved['snapshot']['files'][path] == {
        'state': 'present', 'mode': '0644', 'owner': saved['snapshot']['files'][path]['owner'],
        'group': saved['snapshot']['files'][path]['group'], 'sha256': hashlib.sha256(b'a\n').hexdigest(),
        'size': 2, 'tag': 'tcp_profile'}

    kind, again = run_module(module.main, dict(args, operation='save_files', paths=[path]))
    assert (kind, again['changed'], again['recorded']) == ('exit', False, [])

    kind, keys = run_module(module.main, dict(args, operation='save_sysctl', keys=['net/ipv4/tcp_tw_reuse']))
    assert (kind, keys['changed'], keys['recorded']) == ('exit', True, ['net.ipv4.tcp_tw_reuse'])

    kind, status = run_module(module.main, dict(args, operation='status'))
    assert (kind, status['changed'], status['exists']) == ('exit', False, True)
    assert status['snapshot']['sysctl'] == {'net.ipv4.tcp_tw_reuse': {'present': True, 'value': '2',
                                                                      'tag': 'tcp_profile'}}
    assert sorted(status['snapshot']) == ['created', 'files', 'sysctl']

    Path(path).write_bytes(b'changed\n')
    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('1\n')
    kind, restored = run_module(module.main, dict(args, operation='restore'))
    assert kind == 'exit'
    assert restored['changed'] is True
    assert restored['exists'] is False
    assert restored['snapshot'] == {}
    assert restored['restored'] == ['file %s: original content restored (sha256 %s)'
                                    % (path, hashlib.sha256(b'a\n').hexdigest()[:12]),
                                    'sysctl net.ipv4.tcp_tw_reuse: 1 -> 2']
    assert restored['restored_files'] == [{'path': path, 'tag': 'tcp_profile'}]
    assert Path(path).read_bytes() == b'a\n'
    assert only_marker_left(snap)


def test_module_check_mode_writes_nothing(module, run_module, snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path])
    Path(path).write_bytes(b'changed\n')

    kind, saved = run_module(module.main, {'operation': 'save_files', 'dir': snap, 'paths': [str(etc / 'new')],
                                           '_ansible_check_mode': True})
    assert (kind, saved['changed'], saved['recorded']) == ('exit', True, [str(etc / 'new')])
    assert str(etc / 'new') not in core.load_manifest(snap)['files']

    kind, restored = run_module(module.main, {'operation': 'restore', 'dir': snap, '_ansible_check_mode': True})
    assert (kind, restored['changed'], len(restored['restored'])) == ('exit', True, 1)
    assert Path(path).read_bytes() == b'changed\n'
    assert os.path.exists(os.path.join(snap, core.MANIFEST))


def test_module_restore_with_clear_false_keeps_the_snapshot_and_is_idempotent(module, run_module, snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path])

    kind, first = run_module(module.main, {'operation': 'restore', 'dir': snap, 'clear': False})

    assert (kind, first['changed'], first['restored'], first['exists']) == ('exit', False, [], True)


def test_module_reports_a_damaged_blob(module, run_module, snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path])
    Path(snap, core.blob_name(path)).write_bytes(b'b\n')

    kind, result = run_module(module.main, {'operation': 'restore', 'dir': snap})

    assert kind == 'fail'
    assert 'snapshot blob for %s is damaged' % path in result['msg']


@pytest.mark.parametrize('args, message', [
    ({}, 'missing required arguments: operation'),
    ({'operation': 'backup'}, 'value of operation must be one of: save_files, save_sysctl, note_written, status, '
                              'restore, clear, lock, unlock, got: backup'),
    ({'operation': 'status', 'clear': 'maybe'}, "argument 'clear' is of type"),
    ({'operation': 'status', 'dir': 'relative/snap'}, "tcp_snapshot_dir must be an absolute path; got 'relative/snap'"),
    ({'operation': 'save_files', 'dir': '/nonexistent-harden-tcp-test', 'paths': ['etc/x.conf']},
     "tcp_snapshot_paths must hold absolute paths; got 'etc/x.conf'"),
])
def test_module_argument_errors(module, run_module, args, message):
    kind, result = run_module(module.main, args)

    assert kind == 'fail'
    assert message in result['msg']
    assert not os.path.exists('/nonexistent-harden-tcp-test')


def test_module_documentation_parses_and_matches_the_argument_spec(module):
    # ansible-doc refuses the whole page when one description is not plain text.
    documentation = yaml.safe_load(module.DOCUMENTATION)
    returned = yaml.safe_load(module.RETURN)
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    assert all(isinstance(line, str) for line in documentation['description'])
    assert all(isinstance(value['description'], str) for value in documentation['options'].values())
    assert all(isinstance(value['description'], str) for value in returned.values())
    assert sorted(documentation['options']) == sorted(['clear', 'dir', 'force', 'keys', 'lock', 'lock_hold',
                                                       'lock_wait', 'operation', 'paths', 'proc_sys', 'tag'])
    assert documentation['options']['operation']['choices'] == list(core.OPERATIONS)
    assert sorted(returned) == ['dir', 'exists', 'lock', 'recorded', 'restored', 'restored_files', 'snapshot',
                                'waited']


# ------------------------------------------------------------------ the directory is harden-tcp's own


def tree_of(path):
    """{relative path: (mode, bytes or link target or None)} of everything under path, path itself included."""
    found = {'.': (stat.S_IMODE(os.lstat(path).st_mode), None)}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            content = os.readlink(full) if stat.S_ISLNK(st.st_mode) else \
                (Path(full).read_bytes() if stat.S_ISREG(st.st_mode) else None)
            found[os.path.relpath(full, path)] = (stat.S_IMODE(st.st_mode), content)
    return found


@pytest.fixture
def foreign(tmp_path):
    """A shared directory someone else owns: world-writable, sticky, with files of its own."""
    path = tmp_path / 'shared'
    path.mkdir()
    os.chmod(str(path), 0o1777)
    (path / 'report.csv').write_bytes(b'a,b\n')
    (path / 'files').mkdir()
    (path / 'files' / 'keep.orig').write_bytes(b'not ours\n')
    return str(path)


def test_a_new_snapshot_dir_is_created_root_only_with_its_marker(tmp_path, etc):
    snap = str(tmp_path / 'var' / 'lib' / 'harden-tcp')
    core.save_files(snap, [write(etc / 'a.conf', b'a\n', 0o644)])

    assert mode_of(snap) == 0o700
    assert Path(snap, core.MARKER).read_bytes() == core.MARKER_TEXT
    assert sorted(os.listdir(snap)) == [core.MARKER, 'files', 'manifest.json']


@pytest.mark.parametrize('operation', ['save_files', 'save_sysctl', 'note_written', 'status', 'restore', 'clear',
                                       'lock'])
def test_an_existing_foreign_directory_is_refused_and_left_untouched(module, run_module, foreign, etc, proc_sys,
                                                                     operation):
    before = tree_of(foreign)

    kind, result = run_module(module.main, {'operation': operation, 'dir': foreign, 'proc_sys': str(proc_sys),
                                            'paths': [write(etc / 'a.conf', b'a\n', 0o644)],
                                            'keys': ['net.ipv4.tcp_tw_reuse'], 'lock_wait': 0})

    assert kind == 'fail'
    assert result['msg'].startswith('tcp_snapshot_dir %s exists and has no marker file, so it is not a harden-tcp '
                                    'snapshot directory' % foreign)
    assert result['msg'].endswith('Nothing was changed.')
    assert tree_of(foreign) == before
    assert mode_of(foreign) == 0o1777


def test_an_empty_directory_is_foreign_too(tmp_path, etc):
    empty = tmp_path / 'empty'
    empty.mkdir(mode=0o755)

    with pytest.raises(SnapshotError, match='exists and has no marker file'):
        core.save_files(str(empty), [write(etc / 'a.conf', b'a\n', 0o644)])

    assert os.listdir(str(empty)) == [] and mode_of(str(empty)) == 0o755


def test_a_link_or_a_file_is_no_snapshot_dir(tmp_path, foreign):
    link = tmp_path / 'link'
    os.symlink(foreign, str(link))
    plain = tmp_path / 'plain'
    plain.write_text('x')

    with pytest.raises(SnapshotError, match='is a symbolic link'):
        core.load_manifest(str(link))
    with pytest.raises(SnapshotError, match='exists and is not a directory'):
        core.load_manifest(str(plain))


def test_a_snapshot_dir_of_harden_tcp_1_0_is_adopted_without_a_chmod(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path])
    os.unlink(os.path.join(snap, core.MARKER))
    os.chmod(snap, 0o750)

    assert core.load_manifest(snap)['files'][path]['state'] == 'present'
    core.save_files(snap, [str(etc / 'b.conf')], manifest=core.load_manifest(snap))

    assert os.path.isfile(os.path.join(snap, core.MARKER))
    assert mode_of(snap) == 0o750


def test_clearing_removes_only_the_manifest_and_the_blobs_it_lists(snap, etc):
    path = write(etc / 'a.conf', b'a\n', 0o644)
    core.save_files(snap, [path, str(etc / 'new.conf')])
    Path(snap, 'files', 'f' * 64 + '.orig').write_bytes(b'someone else put this here\n')
    Path(snap, 'notes.txt').write_bytes(b'an admin left a note\n')
    write(etc / 'a.conf', b'hardened\n', 0o644)

    restore_all(snap)

    assert sorted(os.listdir(snap)) == [core.MARKER, 'files', 'notes.txt']
    assert os.listdir(os.path.join(snap, 'files')) == ['f' * 64 + '.orig']


# ------------------------------------------------------------------ a damaged manifest changes nothing


@pytest.fixture
def hardened(snap, etc, proc_sys):
    """A snapshot of two files and a sysctl key, all three changed since: (paths, read_state)."""
    first = write(etc / 'a.conf', b'a original\n', 0o644)
    second = write(etc / 'b.conf', b'b original\n', 0o600)
    core.save_files(snap, [first, second])
    core.save_sysctl(snap, ['net.ipv4.tcp_tw_reuse'], manifest=core.load_manifest(snap), proc_sys=str(proc_sys))
    write(etc / 'a.conf', b'a hardened\n', 0o644)
    write(etc / 'b.conf', b'b hardened\n', 0o644)
    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('1\n')

    def state():
        return (Path(first).read_bytes(), Path(second).read_bytes(), mode_of(second),
                (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').read_text(),
                Path(snap, core.MANIFEST).read_bytes())
    return first, second, state


def edit_manifest(snap, change):
    manifest = json.loads(Path(snap, core.MANIFEST).read_text())
    change(manifest)
    Path(snap, core.MANIFEST).write_text(json.dumps(manifest))


def drop(field):
    return lambda record: record.pop(field)


def put(field, value):
    return lambda record: record.__setitem__(field, value)


@pytest.mark.parametrize('damage, wrong', [
    (drop('state'), "'state' is null, not one of present, absent, link"),
    (drop('mode'), "'mode' is missing"),
    (put('mode', None), "'mode' is null"),
    (put('mode', 644), "'mode' is 644, not an octal mode"),
    (put('uid', True), "'uid' is true, not a non-negative integer"),
    (put('gid', -1), "'gid' is -1, not a non-negative integer"),
    (put('sha256', 'abc'), "'sha256' is \"abc\", not a sha256 in hex"),
    (put('blob', '../../../etc/shadow'), "'blob' is \"../../../etc/shadow\", not \"files/"),
    (put('state', 'directory'), "'state' is \"directory\", not one of present, absent, link"),
    (put('written', {'state': 'present'}), ".written: 'sha256' is missing"),
    (put('tag', None), "'tag' is null"),
])
def test_a_damaged_file_record_is_named_and_nothing_is_restored(module, run_module, snap, proc_sys, hardened,
                                                                damage, wrong):
    first, _second, state = hardened
    edit_manifest(snap, lambda manifest: damage(manifest['files'][first]))
    before = state()

    kind, result = run_module(module.main, {'operation': 'restore', 'dir': snap, 'proc_sys': str(proc_sys)})

    assert kind == 'fail'
    assert result['msg'].startswith('the harden-tcp snapshot manifest %s/manifest.json is damaged, so nothing was '
                                    'changed: files["%s"]' % (snap, first))
    assert wrong in result['msg']
    assert state() == before


@pytest.mark.parametrize('path, wrong', [
    ('etc/a.conf', 'the path is not absolute'),
    ('/etc/nginx/../shadow', "the path has a '..' component"),
    ('/etc//a.conf', 'the path is not normalised (/etc/a.conf)'),
    ('/etc/./a.conf', 'the path is not normalised (/etc/a.conf)'),
    ('//etc/a.conf', 'the path is not absolute'),
    ('/', 'the path is not normalised (/)'),
])
def test_a_record_with_an_unsafe_path_is_refused(snap, hardened, path, wrong):
    first, _second, state = hardened

    def move(manifest):
        manifest['files'][path] = manifest['files'].pop(first)
    edit_manifest(snap, move)
    before = state()

    with pytest.raises(SnapshotError) as failure:
        core.load_manifest(snap)

    assert 'files[%s]: %s' % (json.dumps(path), wrong) in str(failure.value)
    assert state() == before


def test_a_record_inside_the_snapshot_dir_is_refused(snap, hardened):
    first, _second, _state = hardened
    edit_manifest(snap, lambda manifest: manifest['files'].__setitem__(
        os.path.join(snap, core.MANIFEST), manifest['files'][first]))

    with pytest.raises(SnapshotError, match='the path lies inside the snapshot directory'):
        core.load_manifest(snap)


@pytest.mark.parametrize('key, record, wrong', [
    ('net.//.//.//.etc.hostname', {'present': True, 'value': 'x', 'tag': ''},
     "the key escapes /proc/sys (a component is empty, '.' or '..': net/../../../etc/hostname)"),
    ('net/../../../etc/hostname', {'present': True, 'value': 'x', 'tag': ''},
     'the key is not in dotted form (net.//.//.//.etc.hostname)'),
    ('net..ipv4', {'present': True, 'value': 'x', 'tag': ''}, "a component is empty, '.' or '..'"),
    ('net.ipv4.tcp_tw_reuse', {'present': True, 'value': None, 'tag': ''}, "'value' is null, not one line of text"),
    ('net.ipv4.tcp_tw_reuse', {'present': True, 'value': '1\n2', 'tag': ''}, 'not one line of text'),
    ('net.ipv4.tcp_tw_reuse', {'present': 'yes', 'value': '1', 'tag': ''}, "'present' is \"yes\", not true or false"),
    ('net.ipv4.tcp_tw_reuse', {'present': False, 'value': '1', 'tag': ''}, 'although the key was absent'),
    ('net.ipv4.tcp_tw_reuse', {'value': '1', 'tag': ''}, "'present' is missing"),
])
def test_a_damaged_sysctl_record_is_named_and_nothing_is_restored(snap, proc_sys, hardened, key, record, wrong):
    _first, _second, state = hardened

    def swap(manifest):
        manifest['sysctl'] = {key: record}
    edit_manifest(snap, swap)
    before = state()

    with pytest.raises(SnapshotError) as failure:
        core.restore(snap, core.load_manifest(snap), str(proc_sys))

    assert 'sysctl[%s]: ' % json.dumps(key) in str(failure.value)
    assert wrong in str(failure.value)
    assert state() == before
    # Where the escaping keys point (net/../../../etc/hostname from the fake /proc/sys): nothing was written there.
    assert not os.path.exists(os.path.normpath(os.path.join(str(proc_sys), 'net', '..', '..', '..', 'etc', 'hostname')))


def test_every_damaged_record_is_listed(snap, hardened):
    first, second, _state = hardened
    edit_manifest(snap, lambda manifest: (manifest['files'][first].pop('mode'), manifest['files'][second].pop('size')))

    with pytest.raises(SnapshotError) as failure:
        core.load_manifest(snap)

    assert failure.value.result['problems'] == ['files["%s"]: \'mode\' is missing' % first,
                                                'files["%s"]: \'size\' is missing' % second]


@pytest.mark.parametrize('top, wrong', [
    ({'schema': 2}, "'schema' is 2, not 1"),
    ({'files': []}, "'files' is [], not an object"),
    ({'created': None}, "'created' is null, not a time stamp"),
])
def test_a_damaged_manifest_header_is_named(snap, hardened, top, wrong):
    edit_manifest(snap, lambda manifest: manifest.update(top))

    with pytest.raises(SnapshotError, match=re.escape(wrong)):
        core.load_manifest(snap)


def test_recording_a_key_that_leaves_proc_sys_is_refused_before_anything_is_written(snap, proc_sys):
    with pytest.raises(SnapshotError, match=re.escape(
            "cannot record sysctl key 'net/../../../etc/hostname': the key escapes /proc/sys")):
        core.save_sysctl(snap, ['net.ipv4.tcp_tw_reuse', 'net/../../../etc/hostname'], proc_sys=str(proc_sys))

    assert not os.path.exists(snap)


def test_recording_a_path_inside_the_snapshot_dir_is_refused(snap, etc):
    core.save_files(snap, [write(etc / 'a.conf', b'a\n', 0o644)])

    with pytest.raises(SnapshotError, match='lies inside the snapshot directory'):
        core.save_files(snap, [os.path.join(snap, 'manifest.json')], manifest=core.load_manifest(snap))


def test_accepted_keys_always_stay_inside_proc_sys(tmp_path):
    # Differential, on seeded random keys: whatever key_problem accepts, tcp_sysctl's
    # proc_sys_path (the path a restore writes to) puts strictly inside the tree.
    rng = random.Random(11)
    root = str(tmp_path / 'proc_sys')
    accepted = 0
    for _key in range(5000):
        raw = ''.join(rng.choice(['.', '/', 'a', 'b', '..', '//']) for _part in range(rng.randint(1, 8)))
        key = tcp_sysctl.normalize_key(raw)
        if core.key_problem(key) is None:
            accepted += 1
            target = os.path.normpath(tcp_sysctl.proc_sys_path(key, root))
            assert target.startswith(root + '/'), (raw, key, target)
            assert target == tcp_sysctl.proc_sys_path(key, root), (raw, key, target)
    assert accepted > 100
    assert core.key_problem('net.ipv4.conf.eth0/100.rp_filter') is None


def test_accepted_paths_are_absolute_and_normalised(tmp_path):
    rng = random.Random(7)
    snap = str(tmp_path / 'snap')
    accepted = 0
    for _path in range(5000):
        path = ''.join(rng.choice(['/', '.', '..', 'etc', 'a', '//']) for _part in range(rng.randint(1, 8)))
        if core.path_problem(path, snap) is None:
            accepted += 1
            assert path.startswith('/') and os.path.normpath(path) == path, path
            assert '..' not in path.split('/'), path
    assert accepted > 100


# ------------------------------------------------------------------ hand edits


def test_a_hand_edit_since_harden_tcp_wrote_refuses_the_rollback(snap, etc, proc_sys):
    path = write(etc / 'site', b'original\n', 0o644)
    other = write(etc / 'other', b'other original\n', 0o644)
    core.save_files(snap, [path, other])
    core.save_sysctl(snap, ['net.ipv4.tcp_tw_reuse'], manifest=core.load_manifest(snap), proc_sys=str(proc_sys))
    write(etc / 'site', b'written by harden-tcp\n', 0o644)
    write(etc / 'other', b'written by harden-tcp\n', 0o644)
    noted, _manifest = core.note_written(snap, [path, other], core.load_manifest(snap))
    assert noted == [path, other]
    write(etc / 'site', b'written by harden-tcp\n# and a line by hand\n', 0o644)
    (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('1\n')

    with pytest.raises(SnapshotError) as failure:
        core.restore(snap, core.load_manifest(snap), str(proc_sys))

    edited = hashlib.sha256(b'written by harden-tcp\n# and a line by hand\n').hexdigest()[:12]
    written = hashlib.sha256(b'written by harden-tcp\n').hexdigest()[:12]
    assert str(failure.value).startswith(
        'refusing to roll back: %s was changed since harden-tcp wrote it (it holds content sha256 %s, but harden-tcp '
        'last left content sha256 %s there). Rolling back would overwrite those hand edits; nothing was restored.'
        % (path, edited, written))
    assert 'tcp_rollback_force: true' in str(failure.value)
    assert Path(other).read_bytes() == b'written by harden-tcp\n'
    assert (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').read_text() == '1\n'

    changes, _cleared, files = core.restore(snap, core.load_manifest(snap), str(proc_sys), force=True)

    assert Path(path).read_bytes() == b'original\n' and Path(other).read_bytes() == b'other original\n'
    kept = os.listdir(os.path.join(snap, core.HAND_EDITS_DIR))
    assert len(kept) == 1 and kept[0].startswith('site.')
    assert Path(snap, core.HAND_EDITS_DIR, kept[0]).read_bytes() == b'written by harden-tcp\n# and a line by hand\n'
    assert changes[0].startswith('file %s: hand edit overwritten because tcp_rollback_force is true' % path)
    assert [item['path'] for item in files] == [other, path]
    assert sorted(os.listdir(snap)) == [core.MARKER, core.HAND_EDITS_DIR]


def test_a_file_removed_or_recreated_by_hand_counts_as_a_hand_edit(snap, etc):
    present = write(etc / 'present', b'original\n', 0o644)
    created = str(etc / 'created')
    core.save_files(snap, [present, created])
    write(etc / 'present', b'harden\n', 0o644)
    core.note_written(snap, [present, created], core.load_manifest(snap))
    os.unlink(present)
    Path(created).write_text('made by hand after harden-tcp removed it\n')

    reasons = dict((item['path'], item['reason']) for item in core.hand_edits(core.load_manifest(snap)))

    assert reasons == {
        present: 'it holds no file, but harden-tcp last left content sha256 %s there'
                 % hashlib.sha256(b'harden\n').hexdigest()[:12],
        created: 'it holds content sha256 %s, but harden-tcp last left no file there'
                 % hashlib.sha256(b'made by hand after harden-tcp removed it\n').hexdigest()[:12]}


def test_a_file_put_back_by_hand_or_never_noted_is_no_hand_edit(snap, etc):
    back = write(etc / 'back', b'original\n', 0o644)
    unnoted = write(etc / 'unnoted', b'original\n', 0o644)
    core.save_files(snap, [back, unnoted])
    write(etc / 'back', b'harden\n', 0o644)
    core.note_written(snap, [back], core.load_manifest(snap))
    write(etc / 'back', b'original\n', 0o644)
    write(etc / 'unnoted', b'anything\n', 0o644)

    assert core.hand_edits(core.load_manifest(snap)) == []


def test_noting_a_path_that_was_never_recorded_is_refused(snap, etc):
    core.save_files(snap, [write(etc / 'a', b'a\n', 0o644)])

    with pytest.raises(SnapshotError, match='is not recorded in the snapshot'):
        core.note_written(snap, [str(etc / 'b')], core.load_manifest(snap))


def test_noting_twice_changes_nothing(snap, etc):
    path = write(etc / 'a', b'a\n', 0o644)
    core.save_files(snap, [path])
    core.note_written(snap, [path], core.load_manifest(snap))

    assert core.note_written(snap, [path], core.load_manifest(snap))[0] == []


# ------------------------------------------------------------------ the lock (a real flock and holder process)


@pytest.fixture
def locks(snap):
    """Take locks in snap; every holder still alive at the end is released."""
    taken = []

    def take(**kwargs):
        result = tcp_lock.acquire(snap, kwargs.pop('wait', 0), kwargs.pop('hold', 60), **kwargs)
        taken.append(result['lock'])
        return result
    yield take
    for lock in taken:
        if tcp_lock.holder_alive(lock):
            os.kill(lock['pid'], signal.SIGTERM)


def flock_free(snap):
    fd = os.open(os.path.join(snap, 'lock'), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def test_the_lock_is_held_by_a_holder_process_until_released(snap, locks):
    taken = locks(tag='harden')
    lock = taken['lock']

    assert taken['changed'] and taken['waited'] == 0  # it created the directory
    assert tcp_lock.holder_alive(lock)
    assert tcp_lock.read_holder(os.path.join(snap, 'lock')) == lock
    assert lock['tag'] == 'harden' and re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', lock['started'])
    assert not flock_free(snap)

    with pytest.raises(SnapshotError) as failure:
        tcp_lock.acquire(snap, 1, 60, tag='rollback')
    assert str(failure.value).startswith(
        'another harden-tcp run holds the lock %s/lock: the harden run whose lock holder is pid %d, started %s'
        % (snap, lock['pid'], lock['started']))
    assert 'Waited 1 s (tcp_snapshot_lock_wait); nothing was changed' in str(failure.value)

    released = tcp_lock.release(snap, lock)

    assert not released['changed'] and not tcp_lock.holder_alive(lock)
    assert flock_free(snap)
    assert Path(snap, 'lock').read_bytes() == b''
    assert sorted(os.listdir(snap)) == [core.MARKER, 'lock']


def test_a_second_run_waits_for_the_first(snap, locks):
    first = locks()['lock']
    results = {}

    def second():
        results['second'] = locks(wait=30)
    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(1.5)
    assert 'second' not in results
    tcp_lock.release(snap, first)
    thread.join(30)

    assert results['second']['waited'] >= 1.0
    assert results['second']['lock']['pid'] != first['pid']
    assert tcp_lock.holder_alive(results['second']['lock'])


def test_a_crashed_run_leaves_a_lock_that_expires(snap, locks):
    lock = locks(hold=1)['lock']
    deadline = time.monotonic() + 10
    while tcp_lock.holder_alive(lock) and time.monotonic() < deadline:
        time.sleep(0.1)

    assert not tcp_lock.holder_alive(lock)
    assert flock_free(snap)
    with pytest.raises(SnapshotError, match='this run no longer held the harden-tcp lock'):
        tcp_lock.release(snap, lock)
    again = locks(wait=0)
    assert again['waited'] == 0 and not again['changed'] and tcp_lock.holder_alive(again['lock'])


def test_a_killed_holder_frees_the_lock_at_once(snap, locks):
    lock = locks()['lock']
    os.kill(lock['pid'], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while tcp_lock.holder_alive(lock) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert tcp_lock.holder_alive(locks(wait=2)['lock'])


def test_locking_in_check_mode_creates_nothing(snap):
    assert tcp_lock.acquire(snap, 0, 60, check_mode=True) == {'changed': True, 'lock': {}, 'waited': 0, 'dir': snap}
    assert not os.path.exists(snap)


def test_the_lock_lives_only_in_harden_tcps_own_directory(foreign):
    before = tree_of(foreign)

    with pytest.raises(SnapshotError, match='has no marker file'):
        tcp_lock.acquire(foreign, 0, 60)

    assert tree_of(foreign) == before


def test_noting_in_check_mode_without_a_snapshot_is_quiet(snap, etc):
    # In check mode nothing was recorded before, so there is nothing to note and no error.
    assert core.note_written(snap, [str(etc / 'a')], None, check_mode=True) == ([], None)
    assert not os.path.exists(snap)


# ------------------------------------------------------------------ the lock of one module call (tcp_profile)


def test_a_lock_for_one_call_is_the_module_own_flock_and_goes_with_it(snap):
    with tcp_lock.holding(snap, 0) as waited:
        assert waited == 0
        assert not flock_free(snap)
    assert flock_free(snap)
    assert sorted(os.listdir(snap)) == [core.MARKER, 'lock']


def test_a_lock_for_one_call_waits_for_a_held_lock_then_refuses_naming_the_holder(snap, locks):
    lock = locks(tag='harden')['lock']
    start = time.monotonic()
    with pytest.raises(SnapshotError) as failure:
        with tcp_lock.holding(snap, 1):
            raise AssertionError('the lock was taken while another run held it')
    assert time.monotonic() - start >= 1.0
    assert str(failure.value).startswith('another harden-tcp run holds the lock %s/lock: the harden run whose lock '
                                         'holder is pid %d' % (snap, lock['pid']))


def test_a_lock_this_run_holds_is_not_taken_again_but_must_still_be_its_own(snap, locks):
    lock = locks(tag='harden')['lock']
    with tcp_lock.holding(snap, 0, held=lock) as waited:
        assert waited == 0 and tcp_lock.holder_alive(lock)
    tcp_lock.release(snap, lock)
    with pytest.raises(SnapshotError) as failure:
        with tcp_lock.holding(snap, 0, held=lock):
            raise AssertionError('a released lock was taken as held')
    assert 'this run no longer holds the harden-tcp lock' in str(failure.value)


def test_a_lock_for_one_call_in_check_mode_creates_and_takes_nothing(tmp_path):
    snap = str(tmp_path / 'never')
    with tcp_lock.holding(snap, 0, check_mode=True) as waited:
        assert waited == 0
    assert not os.path.exists(snap)


def test_a_lock_for_one_call_gets_the_lock_once_another_run_releases_it_and_says_how_long_it_waited(snap, locks):
    first = locks(tag='harden')['lock']
    threading.Timer(1.5, tcp_lock.release, args=(snap, first)).start()
    with tcp_lock.holding(snap, 30, tag='tcp_profile') as waited:
        assert waited >= 1.0
        holder = tcp_lock.read_holder(os.path.join(snap, 'lock'))
        assert (holder['pid'], holder['call'], holder['tag']) == (os.getpid(), True, 'tcp_profile')
        assert tcp_lock.holder_alive(holder)
    assert Path(snap, 'lock').read_bytes() == b''


def test_a_run_that_meets_a_lock_held_for_one_call_is_told_which_process_holds_it(snap):
    with tcp_lock.holding(snap, 0, tag='tcp_profile'):
        with pytest.raises(SnapshotError) as failure:
            tcp_lock.acquire(snap, 1, 60, tag='rollback')
    assert str(failure.value).startswith(
        'another harden-tcp run holds the lock %s/lock: the tcp_profile run whose module is pid %d, started '
        % (snap, os.getpid()))
    assert 'it releases the lock when that call ends' in str(failure.value)
