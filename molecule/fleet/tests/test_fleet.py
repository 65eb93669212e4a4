"""Verify the fleet report against the states prepare.yml created.

These tests run on the controller: they read the report files from the
Molecule ephemeral directory and look into the containers with `docker exec`
(the stopped one cannot be reached through Ansible), so none of them takes
testinfra's `host` fixture.
"""

import datetime
import json
import os
import pathlib
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

EPHEMERAL = pathlib.Path(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'])
REPORTS = EPHEMERAL / 'reports'
SCALE = EPHEMERAL / 'scale'      # side_effect.yml: slices, their merge, the ansible-runner run
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
    assert (totals['hosts'], totals['compliant'], totals['noncompliant'], totals['unreachable'], totals['failed'],
            totals['stale']) == (5, 2, 2, 1, 0, 0)
    assert report['run']['check_mode'] is False and report['run']['slice'] is None


def test_every_record_comes_from_the_run_that_wrote_the_report(report):
    audited = [entry for entry in hosts(report).values() if entry['status'] == 'ok']
    assert {entry['run_id'] for entry in audited} == {report['run']['run_id']}
    assert all(report['run']['started_at'] <= entry['observed_at'] <= report['run']['generated_at'] for entry in audited)


def test_the_idempotence_run_compared_itself_with_the_converge_report(report):
    history = report['history']
    assert history['previous']['path'] == str(REPORTS / 'tcp-audit.json')
    assert history['state_changes'] == [] and history['new_findings'] == [] and history['fixed_findings'] == []


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
    names = [''.join(row.find(XHTML + 'td').itertext()) for row in table.find(XHTML + 'tbody').findall(XHTML + 'tr')]
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


@pytest.mark.parametrize('name', RUNNING)
def test_audit_left_sysctl_files_as_prepare_wrote_them(name):
    files = sorted(docker_exec(name, 'ls', '/etc/sysctl.d').split())
    expected = ['60-harden-tcp.conf', 'README.sysctl']
    # procps on Debian 11 and 12 links /etc/sysctl.conf in as 99-sysctl.conf; Debian 13 no longer does.
    if int(docker_exec(name, 'cat', '/etc/debian_version').split('.')[0]) < 13:
        expected.append('99-sysctl.conf')
    if name == 'fleet-conflict':
        expected.append('99-zz-conflict.conf')
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


def test_prometheus_textfile_carries_the_audit_time():
    # The last audit that wrote it: slice 1 of side_effect.yml (ansible-runner's inventory does not ask for it).
    text = docker_exec('fleet-compliant', 'cat', PROM)
    stamp = next(line.split()[1] for line in text.splitlines() if line.startswith('harden_tcp_audit_timestamp_seconds '))
    last = json.loads((SCALE / 'slices' / 'tcp-audit.slice-1-of-2.json').read_text())
    observed = hosts(last)['fleet-compliant']['observed_at']
    assert int(stamp) == int(datetime.datetime.strptime(observed, '%Y-%m-%dT%H:%M:%SZ')
                             .replace(tzinfo=datetime.timezone.utc).timestamp())


# ---------------------------------------------------------------------------
# side_effect.yml: two slices and their merge; ansible-runner as AWX runs it
# ---------------------------------------------------------------------------

def by_host_view(report):
    """What a merge must reproduce of each host: its state and findings (TIME_WAIT counts move between runs)."""
    return {entry['host']: (entry['state'], entry['finding_ids'], entry['severity_counts'])
            for entry in report['hosts']}


def test_each_slice_report_is_partial_and_named_after_its_slice():
    names = sorted(path.name for path in (SCALE / 'slices').glob('*.json'))
    assert names == ['tcp-audit.slice-1-of-2.json', 'tcp-audit.slice-2-of-2.json']
    first = json.loads((SCALE / 'slices' / names[0]).read_text())
    assert first['run']['slice'] == {'number': 1, 'count': 2} and first['run']['partial'] is True
    assert sorted(hosts(first)) == ['fleet-compliant', 'fleet-drifted']


def test_the_merged_slices_equal_the_one_shot_report(report):
    merged = json.loads((SCALE / 'merged' / 'tcp-audit.merged.json').read_text())
    assert by_host_view(merged) == by_host_view(report)
    counts = ('hosts', 'compliant', 'noncompliant', 'unreachable', 'failed', 'stale', 'findings')
    assert {key: merged['totals'][key] for key in counts} == {key: report['totals'][key] for key in counts}
    assert [(f['id'], f['hosts']) for f in merged['findings']] == [(f['id'], f['hosts']) for f in report['findings']]
    merge = merged['run']['merge']
    assert merge['missing_slices'] == [] and merge['duplicates'] == [] and merged['run']['partial'] is False
    assert sorted(source['slice']['number'] for source in merge['sources']) == [1, 2]


RUNNER = SCALE / 'runner' / 'artifacts' / 'audit'
PERSISTENT = SCALE / 'persistent'
STATS_CONTRACT = {'totals', 'noncompliant_hosts', 'unreachable_hosts', 'failed_hosts', 'files', 'run_id',
                  'awx_job_id', 'slice'}


def untagged(value):
    """Ansible 2.19's fact cache wraps tagged values as {value, tags, __ansible_type}: the plain values."""
    if isinstance(value, dict):
        if '__ansible_type' in value and 'value' in value:
            return untagged(value['value'])
        return {key: untagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [untagged(item) for item in value]
    return value


@pytest.fixture(scope='module')
def runner_stats():
    """The playbook_on_stats event ansible-runner recorded: where AWX takes a job's artifacts from."""
    assert (RUNNER / 'status').read_text() == 'successful' and (RUNNER / 'rc').read_text() == '0'
    events = [json.loads(path.read_text()) for path in (RUNNER / 'job_events').glob('*.json')]
    return next(event for event in events if event.get('event') == 'playbook_on_stats')['event_data']


def test_runner_run_changed_nothing_and_failed_nowhere(runner_stats):
    assert runner_stats['failures'] == {} and runner_stats['dark'] == {} and runner_stats['changed'] == {}


def test_set_stats_reach_the_runner_artifacts_with_the_contract(runner_stats):
    stats = runner_stats['artifact_data']['harden_tcp_report']
    assert set(stats) == STATS_CONTRACT
    assert stats['awx_job_id'] == 4242 and stats['slice'] == {'number': 2, 'count': 2}
    assert stats['totals']['hosts'] == 1 and stats['totals']['compliant'] == 1 and stats['noncompliant_hosts'] == []
    assert stats['files']['json'] == str(PERSISTENT / 'tcp-audit.awx-4242.slice-2-of-2.json')


def test_runner_reports_land_in_the_persistent_directory_named_after_job_and_slice(runner_stats):
    names = sorted(path.name for path in PERSISTENT.iterdir())
    assert names == ['tcp-audit.awx-4242.slice-2-of-2.' + suffix for suffix in ('html', 'json', 'junit.xml', 'md')]
    report = json.loads((PERSISTENT / names[1]).read_text())
    run = report['run']
    assert run['awx']['job_id'] == 4242 and run['awx']['workflow_job_id'] == 4240 and run['partial'] is True
    assert run['run_id'] == runner_stats['artifact_data']['harden_tcp_report']['run_id']
    # The record ansible-runner kept in its fact cache (Ansible's jsonfile format) is from this run.
    cache_file, = (RUNNER / 'fact_cache').glob('*fleet-compliant')
    cached = untagged(json.loads(json.loads(cache_file.read_text())['__payload__']))['tcp_audit_record']
    assert cached['run_id'] == run['run_id'] and hosts(report)['fleet-compliant']['stale'] is False
    # Nothing was written inside the private data directory's project (the checkout).
    assert not (SCALE / 'runner' / 'project' / 'reports' / names[1]).exists()
