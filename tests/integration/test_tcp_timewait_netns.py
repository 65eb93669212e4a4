# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_timewait_info against real TIME_WAIT sockets in a private network namespace.

One child process runs under `unshare -n` (twgen.py integration-child): it
brings lo up, adds fd00::2/128, leaves known numbers of TIME_WAIT sockets
towards IPv4, IPv6 and IPv4-mapped IPv6 destinations, then counts them with
`ss`, with the core (netlink, procfs, auto), with the module file run as a
process, and with `ansible localhost -m tcp_timewait_info`. This test checks
that every count agrees. The namespace, and its sockets, die with the child.

Needs root and unshare(1); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Dict

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import twgen  # noqa: E402


def _skip_reason() -> str:
    if os.geteuid() != 0:
        return 'needs root to create a network namespace (unshare -n)'
    if shutil.which('unshare') is None:
        return 'unshare(1) is not installed'
    if shutil.which('ss') is None or shutil.which('ip') is None:
        return 'ss/ip (iproute2) are not installed'
    probe = subprocess.run(twgen.unshare_command(['true']), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=False)
    if probe.returncode != 0:
        return 'unshare -n is not permitted here: %s' % probe.stderr.decode(errors='replace').strip()
    return ''


@pytest.fixture(scope='module')
def report() -> Dict[str, object]:
    reason = _skip_reason()
    if reason and os.environ.get('CI'):
        pytest.fail('%s; a CI machine must run this test' % reason)
    if reason:
        pytest.skip(reason)
    proc = subprocess.run(twgen.unshare_command([sys.executable, twgen.__file__, 'integration-child']),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def remotes_of(timewait: Dict[str, object]) -> Dict[str, int]:
    return {'%s %d' % (entry['address'], entry['port']): entry['count'] for entry in timewait['by_remote']}


def local_ports_of(timewait: Dict[str, object]) -> Dict[str, int]:
    return {str(entry['port']): entry['count'] for entry in timewait['by_local_port']}


def test_ss_sees_exactly_the_planned_sockets(report):
    assert report['ss']['remotes'] == report['expected']
    assert report['ss_total'] == report['ss_total_after'] == sum(report['expected'].values())


@pytest.mark.parametrize('method', ['netlink', 'procfs', 'auto'])
def test_core_counts_match_ss(report, method):
    timewait = report['core'][method]
    assert timewait['method'] == ('procfs' if method == 'procfs' else 'netlink')
    assert timewait['method_fallback_reason'] is None
    assert timewait['total'] == report['ss_total']
    assert remotes_of(timewait) == report['expected']
    assert local_ports_of(timewait) == report['ss']['local_ports']
    # ::1, fd00::2 and the IPv4-mapped ::ffff:127.0.0.1 are IPv6; the rest IPv4.
    assert timewait['ipv6'] == 700 + 300 + 150
    assert timewait['ipv4'] == 1200 + 600 + 400 + 250
    assert timewait['sockstat_tw'] == timewait['total']
    assert timewait['by_remote_address'][:2] == [
        {'address': '127.0.0.1', 'count': 1200}, {'address': '127.0.0.2', 'count': 1000}]
    low, high = timewait['ephemeral_port_range']
    assert timewait['port_pressure'] == round(1200 / (high - low + 1), 4)
    assert timewait['bucket_utilization'] == round(timewait['sockstat_tw'] / timewait['max_tw_buckets'], 4)
    assert isinstance(timewait['overflow_total'], int)


@pytest.mark.parametrize('method', ['netlink', 'procfs'])
def test_module_process_matches_ss(report, method):
    run = report['process'][method]
    assert run['rc'] == 0, run['stderr']
    assert run['result']['changed'] is False
    timewait = run['result']['timewait']
    assert timewait['method'] == method
    assert timewait['total'] == report['ss_total']
    assert remotes_of(timewait) == report['expected']


@pytest.mark.parametrize('method', ['auto', 'procfs'])
def test_ansible_adhoc_matches_ss(report, method):
    run = report['adhoc'][method]
    assert run['rc'] == 0, run['stdout'] + run['stderr']
    timewait = run['result']['timewait']
    assert run['result']['changed'] is False
    assert timewait['total'] == report['ss_total']
    assert timewait['method'] == ('netlink' if method == 'auto' else 'procfs')
    assert timewait['by_remote'] == [
        {'address': '127.0.0.1', 'port': 7001, 'count': 1200},
        {'address': '::1', 'port': 7004, 'count': 700},
        {'address': '127.0.0.2', 'port': 7001, 'count': 600},
    ]
