"""Verify the fleet report against the states prepare.yml created.

These tests run on the controller: they read the report files from the
Molecule ephemeral directory and look into the containers with `docker exec`
(the stopped one cannot be reached through Ansible), so none of them takes
testinfra's `host` fixture.
"""

import json
import os
import pathlib
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

REPORTS = pathlib.Path(os.environ['MOLECULE_EPHEMERAL_DIRECTORY']) / 'reports'
XHTML = '{http://www.w3.org/1999/xhtml}'
EXPECTED_STATE = {
    'fleet-compliant': 'compliant',
    'fleet-drifted': 'noncompliant',
    'fleet-conflict': 'compliant',
    'fleet-timewait': 'noncompliant',
    'fleet-stopped': 'unreachable',
}
RUNNING = sorted(set(EXPECTED_STATE) - {'fleet-stopped'})
PROM = '/var/lib/prometheus/node-exporter/harden_tcp.prom'


@pytest.fixture(scope='module')
def report():
    return json.loads((REPORTS / 'tcp-audit.json').read_text())


def hosts(report):
    return {entry['host']: entry for entry in report['hosts']}


def docker_exec(name, *argv):
    return subprocess.run(['docker', 'exec', name, *argv], check=True, capture_output=True, text=True).stdout


def test_json_lists_the_right_state_for_every_host(report):
    assert {host: entry['state'] for host, entry in hosts(report).items()} == EXPECTED_STATE


def test_json_totals_match(report):
    totals = report['totals']
    assert (totals['hosts'], totals['compliant'], totals['noncompliant'], totals['unreachable'], totals['failed']) == (5, 2, 2, 1, 0)
    assert report['run']['check_mode'] is False


def test_findings_explain_each_state(report):
    entries = hosts(report)
    assert entries['fleet-compliant']['worst_severity'] in (None, 'medium', 'low', 'info')
    assert 'TW-SYSCTL-006' in entries['fleet-drifted']['finding_ids']
    assert {'TW-SYSCTL-007', 'TW-SYSCTL-008'} <= set(entries['fleet-conflict']['finding_ids'])
    assert 'TW-PORT-001' in entries['fleet-timewait']['finding_ids']
    assert entries['fleet-timewait']['timewait']['port_pressure'] > 0.5
    by_id = {finding['id']: finding for finding in report['findings']}
    assert by_id['TW-SYSCTL-008']['hosts'] == ['fleet-conflict']
    assert by_id['TW-PORT-001']['remediation']


def test_stopped_host_is_unreachable_with_the_error_text(report):
    entry = hosts(report)['fleet-stopped']
    assert entry['status'] == 'unreachable' and entry['record'] is None
    # Without pipelining Ansible cannot create its temporary directory; with
    # it, docker exec itself says the container is not running.
    assert 'Failed to create temporary directory' in entry['error'] or 'is not running' in entry['error']


def test_junit_parses_and_counts_match(report):
    root = ET.parse(REPORTS / 'tcp-audit.junit.xml').getroot()
    suite = root.find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors')) == ('5', '2', '1')
    cases = {case.get('name'): case for case in suite.findall('testcase')}
    assert set(cases) == set(EXPECTED_STATE)
    assert cases['fleet-drifted'].find('failure') is not None
    assert cases['fleet-stopped'].find('error').get('type') == 'unreachable'
    assert cases['fleet-compliant'].find('failure') is None


def test_html_is_well_formed_and_holds_every_host():
    root = ET.parse(REPORTS / 'tcp-audit.html').getroot()
    table = next(t for t in root.iter(XHTML + 'table') if t.get('id') == 'hosts')
    names = [row.find(XHTML + 'td').text for row in table.find(XHTML + 'tbody').findall(XHTML + 'tr')]
    assert sorted(names) == sorted(EXPECTED_STATE)
    assert root.find('.//{http://www.w3.org/2000/svg}svg') is not None


def test_markdown_summary_counts():
    text = (REPORTS / 'tcp-audit.md').read_text()
    assert '# TCP TIME_WAIT audit: 2 of 5 hosts not compliant' in text
    assert '### TW-PORT-001 (high)' in text


def test_stopped_container_is_still_stopped():
    state = subprocess.run(['docker', 'inspect', '-f', '{{.State.Running}}', 'fleet-stopped'],
                           check=True, capture_output=True, text=True).stdout.strip()
    assert state == 'false'


def image_files(name, directory):
    """The files a fresh container of the instance's image has in directory."""
    image = subprocess.run(['docker', 'inspect', '-f', '{{.Config.Image}}', name],
                           check=True, capture_output=True, text=True).stdout.strip()
    return subprocess.run(['docker', 'run', '--rm', '--network', 'none', image, 'ls', directory],
                          check=True, capture_output=True, text=True).stdout.split()


@pytest.mark.parametrize('name', RUNNING)
def test_audit_left_sysctl_files_as_prepare_wrote_them(name):
    files = sorted(docker_exec(name, 'ls', '/etc/sysctl.d').split())
    # The image's own files (README.sysctl; Debian 11 and 12 also link
    # 99-sysctl.conf to /etc/sysctl.conf) plus what prepare wrote.
    expected = image_files(name, '/etc/sysctl.d') + ['60-harden-tcp.conf']
    if name == 'fleet-conflict':
        expected.append('99-zz-conflict.conf')
    assert 'README.sysctl' in expected
    assert files == sorted(expected)
    profile = docker_exec(name, 'cat', '/etc/sysctl.d/60-harden-tcp.conf')
    assert sorted(line for line in profile.splitlines() if line.strip()) == sorted(
        ['net.ipv4.tcp_tw_reuse=1', 'net.ipv4.tcp_timestamps=1', 'net.ipv4.tcp_max_tw_buckets=262144'])


@pytest.mark.parametrize('name', RUNNING)
def test_audit_left_runtime_values_as_prepare_set_them(name):
    values = {key: docker_exec(name, 'cat', '/proc/sys/net/ipv4/' + key).split()
              for key in ('tcp_tw_reuse', 'tcp_timestamps', 'tcp_max_tw_buckets', 'ip_local_port_range')}
    drifted = name == 'fleet-drifted'
    assert values['tcp_tw_reuse'] == ['0' if drifted else '1']
    assert values['tcp_timestamps'] == ['0' if drifted else '1']
    assert values['tcp_max_tw_buckets'] == ['262144']
    assert values['ip_local_port_range'] == (['40000', '40199'] if name == 'fleet-timewait' else ['32768', '60999'])


def test_prometheus_textfile_on_the_host_that_asked_for_it():
    text = docker_exec('fleet-compliant', 'cat', PROM)
    samples = [line for line in text.splitlines() if line and not line.startswith('#')]
    assert 'harden_tcp_compliant 1' in samples
    assert 'harden_tcp_max_tw_buckets 262144' in samples
    for line in samples:
        assert re.fullmatch(r'[a-z_]+(\{[^}]*\})? -?[0-9.e+-]+', line), line
    mode = docker_exec('fleet-compliant', 'stat', '-c', '%a', PROM).strip()
    assert mode == '644'


@pytest.mark.parametrize('name', sorted(set(RUNNING) - {'fleet-compliant'}))
def test_no_textfile_where_prometheus_is_off(name):
    result = subprocess.run(['docker', 'exec', name, 'test', '-e', PROM], check=False)
    assert result.returncode == 1
