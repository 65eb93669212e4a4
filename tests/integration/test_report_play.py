# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/report.yml and playbooks/merge_reports.yml run by ansible-playbook over a fleet of records.

No host is contacted: the inventory carries each host's audit record as a
variable (as the fact cache of an earlier run would) and every host has
`ansible_become: true` with a become program that always fails, so any task
that ran on a host or used become would fail the run. What is checked is what
Ansible itself reports: the recap (no change anywhere, no task on any host
but the first, which carries the run_once tasks), the custom stats
(set_stats), the files.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr

import synthetic_fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOSTS = 24
RECAP = re.compile(r'^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)', re.M)


@pytest.fixture(scope='module')
def fleet(tmp_path_factory):
    """(inventory path, records, errors, hosts) of a fleet that lives only in its inventory."""
    records, errors, hosts, _run = synthetic_fleet.fleet(HOSTS, seed=2)
    work = tmp_path_factory.mktemp('report-play')
    host_vars = {}
    for host in hosts:
        host_vars[host] = {}
        if host in records:
            host_vars[host]['tcp_audit_record'] = records[host]
        if host in errors:
            host_vars[host]['tcp_report_host_error'] = errors[host]
    # One host asks for the node_exporter textfile, written without become into a scratch path.
    asking = next(h for h in hosts if h in records and h not in errors)
    host_vars[asking].update(tcp_report_prometheus=True, ansible_become=False,
                             tcp_report_prometheus_path=str(work / 'textfile' / 'harden_tcp.prom'))
    inventory = {'all': {'hosts': host_vars, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'ansible_become': True, 'ansible_become_method': 'sudo', 'ansible_become_exe': '/bin/false'}}}
    path = work / 'inventory.json'
    path.write_text(json.dumps(inventory))
    return path, records, errors, hosts, asking


def playbook(inventory, name, *args):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory',
               ANSIBLE_SHOW_CUSTOM_STATS='true', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    result = subprocess.run(['ansible-playbook', '-i', str(inventory), str(ROOT / 'playbooks' / name), *args],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def recap(output):
    return {host: tuple(int(n) for n in numbers) for host, *numbers in RECAP.findall(output)}


def custom_stats(output):
    block = output.split('CUSTOM STATS: ', 1)[1]
    return json.JSONDecoder().raw_decode(block[block.index('{'):])[0]


@pytest.fixture(scope='module')
def one_shot(fleet, tmp_path_factory):
    """(output, report directory) of report.yml run once over the whole fleet."""
    directory = tmp_path_factory.mktemp('one-shot')
    rc, out = playbook(fleet[0], 'report.yml', '-e', 'tcp_report_dir=%s' % directory)
    assert rc == 0, out
    return out, directory


def test_the_report_writes_every_file_and_touches_no_host(fleet, one_shot):
    inventory, records, errors, hosts, asking = fleet
    out, tmp_path = one_shot
    counts = recap(out)
    assert set(counts) == set(hosts)
    assert all(failed == 0 and unreachable == 0 for _ok, _changed, unreachable, failed, _skip in counts.values()), out
    # The report changes nothing; the one host that asked for the textfile got
    # its directory created (a change, once). The run_once tasks count on the
    # first host, the textfile tasks on that host; every other host ran nothing.
    assert {host for host, numbers in counts.items() if numbers[1]} <= {asking}
    assert {host for host, numbers in counts.items() if numbers[0]} == {hosts[0], asking}
    report = json.loads((tmp_path / 'tcp-audit.json').read_text())
    expected = tr.tcp_report_fleet(records, hosts, errors)
    assert {e['host']: e['state'] for e in report['hosts']} == {e['host']: e['state'] for e in expected['hosts']}
    # These records were judged by another run (the synthetic fleet's), so every one is stale.
    assert report['totals']['stale'] == len([h for h in hosts if h in records and not errors.get(h)])
    assert report['run']['run_id'] != synthetic_fleet.RUN_ID and report['run']['inventory'] == [str(inventory)]
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ['tcp-audit.html', 'tcp-audit.json', 'tcp-audit.junit.xml', 'tcp-audit.md']
    textfile = (inventory.parent / 'textfile' / 'harden_tcp.prom').read_text()
    assert 'harden_tcp_audit_timestamp_seconds ' in textfile
    stats = custom_stats(out)['harden_tcp_report']
    assert stats['totals'] == report['totals'] and stats['files']['json'] == str(tmp_path / 'tcp-audit.json')
    assert stats['noncompliant_hosts'] == [e['host'] for e in report['hosts'] if e['state'] == 'noncompliant']
    assert stats['slice'] is None and stats['awx_job_id'] is None
    # A second run: no change on any host, the files written again, and nothing new since the first report.
    rc, out = playbook(inventory, 'report.yml', '-e', 'tcp_report_dir=%s' % tmp_path)
    assert rc == 0 and all(numbers[1] == 0 for numbers in recap(out).values()), out
    assert 'Report written: %s' % (tmp_path / 'tcp-audit.json') in out
    history = json.loads((tmp_path / 'tcp-audit.json').read_text())['history']
    assert history['previous']['path'] == str(tmp_path / 'tcp-audit.json')
    assert (history['new_findings'], history['fixed_findings'], history['state_changes']) == ([], [], [])


def test_check_mode_writes_the_report_unless_told_not_to(fleet, tmp_path):
    inventory = fleet[0]
    rc, out = playbook(inventory, 'report.yml', '--check', '-e', 'tcp_report_dir=%s' % (tmp_path / 'a'))
    assert rc == 0 and (tmp_path / 'a' / 'tcp-audit.json').exists(), out
    assert json.loads((tmp_path / 'a' / 'tcp-audit.json').read_text())['run']['check_mode'] is True
    rc, out = playbook(inventory, 'report.yml', '--check', '-e', 'tcp_report_dir=%s' % (tmp_path / 'b'),
                       '-e', 'tcp_report_write_in_check_mode=false')
    assert rc == 0 and not (tmp_path / 'b').exists(), out
    assert 'Report not written (--check with tcp_report_write_in_check_mode: false)' in out


def test_bad_settings_stop_the_report_naming_the_variable(fleet, tmp_path):
    inventory = fleet[0]
    rc, out = playbook(inventory, 'report.yml', '-e', 'tcp_report_dir=%s' % tmp_path, '-e', 'tcp_report_worst_hosts=many')
    assert rc != 0 and 'tcp_report_worst_hosts' in out and not tmp_path.joinpath('tcp-audit.json').exists()
    rc, out = playbook(inventory, 'report.yml', '-e', 'tcp_report_dir=%s' % tmp_path, '-e', 'tcp_report_slice_number=1')
    assert rc != 0 and 'tcp_report_slice_count' in out


def test_slices_merge_into_the_one_shot_report(fleet, one_shot, tmp_path):
    inventory, _records, _errors, hosts, _asking = fleet
    halves = (hosts[:HOSTS // 2], hosts[HOSTS // 2:])
    for number, part in enumerate(halves, 1):
        # AWX passes its job id as a number, in JSON extra variables.
        rc, out = playbook(inventory, 'report.yml', '--limit', ','.join(part), '-e', json.dumps({'awx_job_id': 700 + number}),
                           '-e', 'tcp_report_slice_number=%d' % number, '-e', 'tcp_report_slice_count=2',
                           '-e', 'tcp_report_dir=%s' % (tmp_path / 'slices'))
        assert rc == 0, out
        stats = custom_stats(out)['harden_tcp_report']
        assert stats['slice'] == {'number': number, 'count': 2} and stats['awx_job_id'] == 700 + number
    names = sorted(p.name for p in (tmp_path / 'slices').glob('*.json'))
    assert names == ['tcp-audit.awx-701.slice-1-of-2.json', 'tcp-audit.awx-702.slice-2-of-2.json']
    part = json.loads((tmp_path / 'slices' / names[0]).read_text())
    assert part['run']['partial'] is True and part['run']['limit'] == ','.join(halves[0])
    rc, out = playbook(inventory, 'merge_reports.yml', '-e', 'tcp_report_dir=%s' % (tmp_path / 'merged'),
                       '-e', json.dumps({'tcp_report_merge': [str(tmp_path / 'slices' / '*.json')]}))
    assert rc == 0 and 'Missing slices: none.' in out, out
    merged = json.loads((tmp_path / 'merged' / 'tcp-audit.merged.json').read_text())
    whole = json.loads((one_shot[1] / 'tcp-audit.json').read_text())

    def comparable(report):
        return {key: value for key, value in report.items() if key not in ('run', 'history')}
    assert comparable(merged) == comparable(whole)
    assert merged['run']['partial'] is False and merged['run']['merge']['duplicates'] == []
