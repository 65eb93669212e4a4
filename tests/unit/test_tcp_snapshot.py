# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/tcp_snapshot.py and its entry point plugins/modules/tcp_snapshot.py.

Everything happens under tmp_path: the snapshot directory, the files recorded
and a fake /proc/sys tree. The entry point is driven through the run_module
fixture (patch_module_args; exit_json/fail_json become results).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_snapshot as core
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_snapshot import SnapshotError
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_snapshot

as_root = pytest.mark.skipif(os.geteuid() != 0, reason='changing a file owner needs root')


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


def restore_all(snap, proc_sys=core.DEFAULT_PROC_SYS, clear=True):
    return core.restore(snap, core.load_manifest(snap), proc_sys, clear)


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
    assert not os.path.exists(snap)


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
    assert os.listdir(os.path.join(snap, 'files')) == []

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
    os.makedirs(snap)
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
    changes, cleared = core.restore(snap, core.load_manifest(snap), str(proc_sys))

    assert changes == ['sysctl net.ipv4.ip_local_port_range: 1024 65535 -> 32768 60999',
                       'sysctl net.ipv4.tcp_tw_reuse: 1 -> 2']
    assert (proc_sys / 'net' / 'ipv4' / 'tcp_tw_reuse').read_text() == '2\n'
    assert (proc_sys / 'net' / 'ipv4' / 'ip_local_port_range').read_text() == '32768 60999\n'
    assert not (proc_sys / 'net' / 'ipv4' / 'tcp_tw_recycle').exists()
    assert cleared and not os.path.exists(snap)


def test_a_sysctl_key_is_recorded_once(snap, proc_sys):
    core.save_sysctl(snap, ['net.ipv4.tcp_max_tw_buckets'], proc_sys=str(proc_sys))
    (proc_sys / 'net' / 'ipv4' / 'tcp_max_tw_buckets').write_text('262144\n')

    recorded, manifest = core.save_sysctl(snap, ['net/ipv4/tcp_max_tw_buckets'], manifest=core.load_manifest(snap),
                                          proc_sys=str(proc_sys))

    assert recorded == []
    assert manifest['sysctl']['net.ipv4.tcp_max_tw_buckets']['value'] == '5000'


def test_a_value_recorded_with_the_kernels_tab_is_equal_to_its_folded_form(snap, proc_sys):
    # A manifest written before values were folded holds the kernel's tab.
    os.makedirs(snap)
    Path(snap, 'manifest.json').write_text(json.dumps({
        'schema': 1, 'created': '2024-01-01T00:00:00Z', 'files': {},
        'sysctl': {'net.ipv4.ip_local_port_range': {'present': True, 'value': '32768\t60999', 'tag': ''}}}))

    changes, _manifest = core.restore(snap, core.load_manifest(snap), str(proc_sys), clear=False)

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
    assert result == {'changed': False, 'exists': False, 'recorded': [], 'restored': [], 'snapshot': {},
                      'dir': snap}
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
    assert Path(path).read_bytes() == b'a\n'
    assert not os.path.exists(snap)


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
    ({'operation': 'backup'}, 'value of operation must be one of: save_files, save_sysctl, status, restore, '
                              'got: backup'),
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
    assert sorted(documentation['options']) == ['clear', 'dir', 'keys', 'operation', 'paths', 'proc_sys', 'tag']
    assert documentation['options']['operation']['choices'] == list(core.OPERATIONS)
    assert sorted(returned) == ['dir', 'exists', 'recorded', 'restored', 'snapshot']
