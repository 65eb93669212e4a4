# -*- coding: utf-8 -*-
"""Unit tests of plugins/plugin_utils/report.py: aggregation and JUnit/SVG rendering."""

from __future__ import annotations

import copy
import json
import pathlib
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.harden_tcp.tcp.plugins.filter.report import FilterModule
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import SEVERITY_RANK

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'report'


@pytest.fixture()
def data():
    return json.loads((FIXTURES / 'fleet.json').read_text())


@pytest.fixture()
def fleet(data):
    return tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], data['run'])


def by_host(fleet):
    return {entry['host']: entry for entry in fleet['hosts']}


def test_every_host_is_listed_once_in_name_order(fleet, data):
    assert [e['host'] for e in fleet['hosts']] == sorted(set(data['hosts']))


def test_states_follow_records_and_errors(fleet):
    states = {host: e['state'] for host, e in by_host(fleet).items()}
    assert states == {
        'web-01': 'compliant', 'web-02': 'noncompliant', 'web-03': 'compliant',
        'lb-<1>&"x"': 'noncompliant', 'old-01': 'noncompliant',
        'db-01': 'unreachable', 'db-02': 'failed', 'db-03': 'unreachable',
    }


def test_unreachable_and_failed_hosts_keep_their_error_text(fleet):
    hosts = by_host(fleet)
    assert hosts['db-01']['error'] == 'Failed to connect to the host via ssh: Connection timed out'
    assert hosts['db-02']['error'].startswith('The module tcp_timewait_info failed')
    assert hosts['db-03']['error'] == tr.NO_RECORD_ERROR
    assert hosts['db-01']['compliant'] is None and hosts['db-01']['record'] is None


def test_totals(fleet):
    totals = fleet['totals']
    assert (totals['hosts'], totals['compliant'], totals['noncompliant'], totals['unreachable'], totals['failed']) == (8, 2, 3, 2, 1)
    assert totals['findings'] == {'critical': 1, 'high': 4, 'medium': 5, 'low': 0, 'info': 0}
    assert totals['timewait_total'] == 12 + 40 + 0 + 7800 + 3


def test_findings_by_id_sorted_by_severity_with_hosts(fleet):
    findings = fleet['findings']
    assert [f['id'] for f in findings][:2] == ['TW-SYSCTL-001', 'TW-SYSCTL-003']
    severities = [SEVERITY_RANK[f['severity']] for f in findings]
    assert severities == sorted(severities)
    drift = next(f for f in findings if f['id'] == 'TW-SYSCTL-006')
    # Two findings with the same id on old-01 count the host once.
    assert drift['hosts'] == ['old-01', 'web-02'] and drift['count'] == 2
    assert drift['remediation'] == 'Run harden-tcp.yml to apply the profile.'


def test_run_metadata_is_copied(fleet, data):
    assert fleet['run'] == data['run'] and fleet['report_schema'] == 1


def test_fleet_is_json_serialisable_and_deterministic(data):
    first = tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], data['run'])
    second = tr.tcp_report_fleet(data['records'], list(reversed(data['hosts'])), data['errors'], data['run'])
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_error_wins_over_a_stale_record(data):
    errors = {'web-01': {'status': 'unreachable', 'msg': 'gone'}}
    entry = by_host(tr.tcp_report_fleet(data['records'], ['web-01'], errors))['web-01']
    assert entry['state'] == 'unreachable' and entry['error'] == 'gone'


def test_compliance_is_judged_when_the_record_lacks_it(data):
    record = copy.deepcopy(data['records']['web-02'])
    del record['compliant']
    assert tr.tcp_report_fleet({'h': record})['hosts'][0]['state'] == 'noncompliant'


def test_hosts_default_to_the_records_and_reject_a_string(data):
    assert tr.tcp_report_fleet(data['records'])['totals']['hosts'] == 5
    with pytest.raises(tr.ReportError):
        tr.tcp_report_fleet(data['records'], 'web-01')


def test_empty_fleet():
    fleet = tr.tcp_report_fleet({}, [])
    assert fleet['totals']['hosts'] == 0 and fleet['findings'] == [] and fleet['hosts'] == []
    ET.fromstring(tr.tcp_report_junit(fleet).split('\n', 1)[1])
    ET.fromstring(tr.tcp_report_chart_svg(fleet))


def test_worst_hosts_rank_noncompliant_first(fleet):
    worst = [e['host'] for e in tr.tcp_report_worst(fleet, 10)]
    assert worst[:3] == ['old-01', 'lb-<1>&"x"', 'web-02']
    assert worst[3:6] == ['db-02', 'db-01', 'db-03']
    # A compliant host is listed only when it has findings.
    assert 'web-03' in worst and 'web-01' not in worst
    assert len(tr.tcp_report_worst(fleet, 2)) == 2 and tr.tcp_report_worst(fleet, 0) == []


def test_junit_counts_and_cases(fleet):
    xml = tr.tcp_report_junit(fleet)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(xml.split('\n', 1)[1])
    suite = root.find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors')) == ('8', '3', '3')
    cases = {case.get('name'): case for case in suite.findall('testcase')}
    assert set(cases) == set(by_host(fleet))
    assert cases['web-02'].find('failure').get('message') == 'TW-SYSCTL-006 Runtime value differs from the profile'
    assert cases['old-01'].find('failure').get('message').count('TW-SYSCTL-006') == 1
    assert cases['db-01'].find('error').get('type') == 'unreachable'
    assert cases['db-02'].find('error').get('type') == 'failed'
    assert cases['web-01'].find('failure') is None and cases['web-01'].find('error') is None
    assert 'TW-SYSCTL-008' in cases['web-03'].find('system-out').text
    # Markup in a host name is escaped, not interpreted.
    assert 'lb-<1>&"x"' in cases


def test_chart_svg_is_well_formed_and_scaled_to_each_limit(fleet):
    svg = ET.fromstring(tr.tcp_report_chart_svg(fleet))
    rows = svg.findall('{http://www.w3.org/2000/svg}g')
    # Only audited hosts have a bar; unreachable and failed ones are in the table.
    assert len(rows) == 5
    lb = next(r for r in rows if r.find('{http://www.w3.org/2000/svg}text').text == 'lb-<1>&"x"')
    usage_bar = lb.findall('{http://www.w3.org/2000/svg}rect')[2]
    assert float(usage_bar.get('width')) == pytest.approx(0.9521 * 420, abs=0.1)
    assert usage_bar.get('fill') == tr.CHART_COLOURS['noncompliant']
    assert '7800 / 8192 (95.2%)' in ET.tostring(lb, encoding='unicode')


def test_chart_svg_caps_rows_and_says_so(fleet):
    svg = tr.tcp_report_chart_svg(fleet, max_hosts=2)
    assert svg.count('<g class="row') == 2 and '3 more audited hosts in the table' in svg


def test_md_cell_escapes_pipes_and_folds_lines():
    assert tr.tcp_report_md_cell('a | b\n c') == 'a \\| b c'
    assert tr.tcp_report_md_cell(None) == ''


def test_percent():
    assert tr.tcp_report_percent(0.9521) == '95.2%' and tr.tcp_report_percent(None) == 'n/a'


def test_finding_counts_merge_duplicate_ids(data):
    counts = tr.tcp_report_finding_counts(data['records']['old-01']['findings'])
    assert counts == [
        {'id': 'TW-SYSCTL-001', 'severity': 'critical', 'count': 1},
        {'id': 'TW-SYSCTL-003', 'severity': 'high', 'count': 1},
        {'id': 'TW-SYSCTL-005', 'severity': 'medium', 'count': 1},
        {'id': 'TW-SYSCTL-006', 'severity': 'high', 'count': 1},
    ]
    assert tr.tcp_report_finding_counts(None) == []


def test_prom_label_escaping():
    assert tr.tcp_report_prom_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_filter_module_exposes_every_filter():
    names = set(FilterModule().filters())
    assert {'tcp_report_fleet', 'tcp_report_junit', 'tcp_report_chart_svg', 'tcp_report_worst'} <= names


def test_hostvar_returns_none_where_undefined():
    hostvars = {'a': {'tcp_audit_record': {'x': 1}}, 'b': {}}
    assert tr.tcp_report_hostvar(['a', 'b', 'c'], hostvars, 'tcp_audit_record') == {'a': {'x': 1}, 'b': None, 'c': None}


def test_dropped_hosts_are_failed_with_a_record_and_unreachable_without(data):
    fleet = tr.tcp_report_fleet(data['records'], ['web-02', 'db-03', 'web-01'], {}, None, dropped=['web-02', 'db-03'])
    hosts = by_host(fleet)
    assert hosts['web-02']['state'] == 'failed' and hosts['web-02']['error'] == tr.DROPPED_ERROR
    # The record is kept for reference but its findings count nowhere.
    assert hosts['web-02']['record']['host'] == 'web-02' and fleet['findings'] == []
    assert hosts['db-03']['state'] == 'unreachable' and hosts['web-01']['state'] == 'compliant'


def test_a_recorded_error_wins_over_dropped(data):
    fleet = tr.tcp_report_fleet(data['records'], ['db-01'], data['errors'], dropped=['db-01'])
    assert by_host(fleet)['db-01']['error'].startswith('Failed to connect')


def test_host_lines_put_the_worst_first_and_name_errors(data):
    fleet = tr.tcp_report_fleet(
        {'ok-1': {'compliant': True, 'findings': [], 'timewait': {'total': 3, 'max_tw_buckets': 262144}},
         'bad-1': {'compliant': False, 'timewait': {'total': 70000, 'max_tw_buckets': 262144},
                   'findings': [{'id': 'TW-SYSCTL-006', 'severity': 'high'}]}},
        ['ok-1', 'bad-1', 'gone-1'], {'gone-1': {'status': 'unreachable', 'msg': 'ssh: timed out'}})
    lines = tr.tcp_report_host_lines(fleet)
    assert lines[-1] == 'ok-1: compliant, TIME_WAIT 3 of 262144 buckets, findings: none'
    assert 'bad-1: noncompliant, TIME_WAIT 70000 of 262144 buckets, findings: TW-SYSCTL-006' in lines
    assert 'gone-1: unreachable: ssh: timed out' in lines
    assert len(lines) == 3
