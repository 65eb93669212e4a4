# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the library/tcp_timewait_info.py entry point.

Arguments go in through patch_module_args; exit_json and fail_json become
exceptions (see the run_module fixture in conftest.py). The counting core is
pointed at recorded /proc trees, so values are known.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_timewait as core
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_timewait_info

FIXTURES_DIR = Path(__file__).resolve().parent / 'fixtures'
RECORDED = str(FIXTURES_DIR / 'proc_recorded')
OLD_KERNEL = str(FIXTURES_DIR / 'proc_old_kernel')


little_endian_only = pytest.mark.skipif(sys.byteorder != 'little',
                                        reason='the /proc fixtures were recorded on a little-endian host')


@pytest.fixture
def module():
    """The entry point."""
    return tcp_timewait_info


def refuse_netlink(_include_ipv6):
    raise PermissionError(errno.EPERM, 'Operation not permitted')


@pytest.fixture
def on_tree(monkeypatch, module):
    """Point the module's core call at a recorded /proc tree (and optionally fake netlink)."""
    def use(proc_root, netlink=core.count_netlink):
        monkeypatch.setattr(module, 'gather_timewait',
                            functools.partial(core.gather_timewait, proc_root=proc_root, netlink=netlink))
    return use


def test_the_module_runs_the_core(module):
    assert module.gather_timewait is core.gather_timewait


def test_unknown_method_is_refused_by_the_argument_spec(module, run_module):
    kind, result = run_module(module.main, {'method': 'ebpf'})
    assert kind == 'fail'
    assert result['msg'] == 'value of method must be one of: auto, netlink, procfs, got: ebpf'


def test_negative_top_n_fails_with_a_sentence(module, run_module):
    kind, result = run_module(module.main, {'top_n': -3})
    assert kind == 'fail'
    assert result['msg'] == 'top_n must be 0 (keep all entries) or a positive integer, got -3'


def test_top_n_must_be_an_integer(module, run_module):
    kind, result = run_module(module.main, {'top_n': 'many'})
    assert kind == 'fail'
    assert 'top_n' in result['msg'] and 'int' in result['msg']


def test_unknown_option_is_refused(module, run_module):
    kind, result = run_module(module.main, {'proc_root': '/tmp'})
    assert kind == 'fail'
    assert 'Unsupported parameters' in result['msg'] and 'proc_root' in result['msg']


@little_endian_only
def test_procfs_result_on_the_old_kernel_tree(module, run_module, on_tree):
    on_tree(OLD_KERNEL)
    kind, result = run_module(module.main, {'method': 'procfs', 'top_n': 1})
    assert kind == 'exit'
    assert set(result) == {'changed', 'timewait'}
    assert result['changed'] is False
    timewait = result['timewait']
    assert (timewait['total'], timewait['ipv4'], timewait['ipv6'], timewait['sockstat_tw']) == (5, 5, 0, 6)
    assert timewait['by_remote'] == [{'address': '10.0.0.5', 'port': 8080, 'count': 3}]
    assert timewait['by_remote_address'] == [{'address': '10.0.0.5', 'count': 4}]
    assert timewait['by_local_port'] == [{'port': 0xD2F0, 'count': 2}]
    assert timewait['overflow_total'] is None
    assert timewait['method'] == 'procfs'


@little_endian_only
def test_check_mode_reports_the_same_and_no_change(module, run_module, on_tree):
    on_tree(RECORDED)
    kind, result = run_module(module.main, {'method': 'procfs', '_ansible_check_mode': True, 'top_n': 0})
    assert kind == 'exit' and result['changed'] is False
    assert result['timewait']['total'] == 8
    assert len(result['timewait']['by_remote']) == 4


@little_endian_only
def test_include_ipv6_false(module, run_module, on_tree):
    on_tree(RECORDED)
    kind, result = run_module(module.main, {'method': 'procfs', 'include_ipv6': False})
    assert kind == 'exit'
    assert (result['timewait']['ipv4'], result['timewait']['ipv6']) == (5, 0)
    assert all(':' not in entry['address'] for entry in result['timewait']['by_remote'])


@little_endian_only
def test_auto_falls_back_and_reports_why(module, run_module, on_tree):
    on_tree(RECORDED, netlink=refuse_netlink)
    kind, result = run_module(module.main, {})
    assert kind == 'exit'
    assert result['timewait']['method'] == 'procfs'
    assert 'Operation not permitted' in result['timewait']['method_fallback_reason']


def test_netlink_refused_under_method_netlink_fails_with_errno_text(module, run_module, on_tree):
    on_tree(RECORDED, netlink=refuse_netlink)
    kind, result = run_module(module.main, {'method': 'netlink'})
    assert kind == 'fail'
    assert result['msg'] == 'netlink sock_diag socket failed: [EPERM] Operation not permitted'


def test_missing_sockstat_fails_naming_the_file(module, run_module, on_tree, tmp_path):
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'tcp').write_text('  sl  local_address rem_address   st\n')
    on_tree(str(tmp_path))
    kind, result = run_module(module.main, {'method': 'procfs'})
    assert kind == 'fail'
    sockstat = os.path.join(str(tmp_path), 'net/sockstat')
    assert result['msg'] == 'cannot read %s: [Errno 2] No such file or directory: %r' % (sockstat, sockstat)


def test_live_run_on_this_host(module, run_module):
    """The real thing on this machine: netlink if allowed, otherwise procfs."""
    kind, result = run_module(module.main, {'top_n': 3})
    assert kind == 'exit' and result['changed'] is False
    timewait = result['timewait']
    assert timewait['kernel'] == os.uname().release
    assert timewait['method'] in ('netlink', 'procfs')
    assert timewait['total'] == timewait['ipv4'] + timewait['ipv6']
    assert len(timewait['by_remote']) <= 3


def test_docs_are_yaml_and_return_matches_the_result(module):
    documentation = yaml.safe_load(module.DOCUMENTATION)
    returned = yaml.safe_load(module.RETURN)
    yaml.safe_load(module.EXAMPLES)
    assert documentation['module'] == 'tcp_timewait_info'
    assert set(documentation['options']) == {'method', 'top_n', 'include_ipv6'}
    assert documentation['options']['method']['choices'] == list(core.METHODS)
    result = core.gather_timewait(method='procfs', proc_root=RECORDED)
    assert set(returned) == {'timewait'}
    assert set(returned['timewait']['contains']) == set(result)
