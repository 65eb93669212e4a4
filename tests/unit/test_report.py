# -*- coding: utf-8 -*-
"""plugins/plugin_utils/report.py: aggregation, staleness, history, merging and the set_stats payload."""

from __future__ import annotations

import copy
import json
import pathlib
import random

import pytest
from ansible_collections.harden_tcp.tcp.plugins.filter.report import FilterModule
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files as rf
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import CATALOGUE, SEVERITY_RANK

import synthetic_fleet

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'report'


@pytest.fixture()
def data():
    return json.loads((FIXTURES / 'fleet.json').read_text())


@pytest.fixture()
def fleet(data):
    return tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], data['run'])


def by_host(fleet):
    return {entry['host']: entry for entry in fleet['hosts']}


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------

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
    assert (totals['hosts'], totals['compliant'], totals['noncompliant'], totals['unreachable'], totals['failed'],
            totals['stale']) == (8, 2, 3, 2, 1, 0)
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
    # Titles and remediations of known ids are the catalogue's, whatever a record says.
    assert drift['remediation'] == CATALOGUE['TW-SYSCTL-006']['remediation']


def test_findings_by_id_on_a_large_fleet_match_a_direct_count():
    records, errors, hosts, run = synthetic_fleet.fleet(600, seed=5)
    fleet = tr.tcp_report_fleet(records, hosts, errors, run)
    expected = {}
    for host in hosts:
        if host in records and not errors.get(host):
            for finding in records[host]['findings']:
                expected.setdefault(finding['id'], set()).add(host)
    assert {f['id']: set(f['hosts']) for f in fleet['findings']} == expected
    assert all(f['count'] == len(f['hosts']) == len(set(f['hosts'])) for f in fleet['findings'])


def test_run_metadata_is_copied(fleet, data):
    assert fleet['run'] == data['run'] and fleet['report_schema'] == 1 and fleet['history'] is None


def test_fleet_is_json_serialisable_and_deterministic(data):
    first = tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], data['run'])
    second = tr.tcp_report_fleet(data['records'], list(reversed(data['hosts'])), data['errors'], data['run'])
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_error_wins_over_a_stale_record(data):
    errors = {'web-01': {'status': 'unreachable', 'msg': 'gone'}}
    entry = by_host(tr.tcp_report_fleet(data['records'], ['web-01'], errors))['web-01']
    assert entry['state'] == 'unreachable' and entry['error'] == 'gone' and entry['stale'] is False


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


def test_worst_hosts_rank_noncompliant_first(fleet):
    worst = [e['host'] for e in tr.tcp_report_worst(fleet, 10)]
    assert worst[:3] == ['old-01', 'lb-<1>&"x"', 'web-02']
    assert worst[3:6] == ['db-02', 'db-01', 'db-03']
    # A compliant host is listed only when it has findings.
    assert 'web-03' in worst and 'web-01' not in worst
    assert len(tr.tcp_report_worst(fleet, 2)) == 2 and tr.tcp_report_worst(fleet, 0) == []


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


def test_host_lines_put_the_worst_first_name_errors_and_cap(data):
    fleet = tr.tcp_report_fleet(
        {'ok-1': {'compliant': True, 'findings': [], 'timewait': {'total': 3, 'max_tw_buckets': 262144}},
         'bad-1': {'compliant': False, 'timewait': {'total': 70000, 'max_tw_buckets': 262144},
                   'findings': [{'id': 'TW-SYSCTL-006', 'severity': 'high'}]}},
        ['ok-1', 'bad-1', 'gone-1'], {'gone-1': {'status': 'unreachable', 'msg': 'ssh: timed out'}})
    lines = tr.tcp_report_host_lines(fleet)
    assert lines == ['bad-1: noncompliant, TIME_WAIT 70000 of 262144 buckets, findings: TW-SYSCTL-006',
                     'gone-1: unreachable: ssh: timed out',
                     'ok-1: compliant, TIME_WAIT 3 of 262144 buckets, findings: none']
    assert tr.tcp_report_host_lines(fleet, 1)[1:] == ['... and 2 more hosts in the report files']


# ---------------------------------------------------------------------------
# Untrusted values
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (7, 7), (0.25, 0.25), ('12', 12), (' 0.5 ', 0.5), ('1e3', 1000.0), (-3, -3),
    (True, None), (float('nan'), None), (float('inf'), None), ('1e999', None), ('NaN', None), ('Infinity', None),
    ('<script>', None), ('12abc', None), ([1], None), ({'x': 1}, None), (None, None), ('9' * 50, None),
])
def test_number_accepts_only_finite_numbers(value, expected):
    assert tr.number(value) == expected and type(tr.number(value)) is type(expected)


def test_visible_makes_controls_and_xml_forbidden_characters_visible():
    text = tr.visible('a\x1b[31mb\x00c\x7fd\x85e\ufffef\ud800g\th\ni\rj', None)
    assert text == 'a\u241b[31mb\u2400c\u2421d\ufffde\ufffdf\ufffdg h i j'
    assert tr.visible('a\tb\nc\rd', None, multiline=True) == 'a\tb\nc\u240dd'
    assert tr.visible(None) == '' and tr.visible(12) == '12'


def test_visible_cuts_long_text_and_says_how_much():
    assert tr.visible('x' * 1010, 1000) == 'x' * 1000 + '… [10 more characters]'


def test_every_character_visible_leaves_is_allowed_in_xml():
    # XML 1.0 Char production: what ElementTree must never be handed.
    rng = random.Random(1)
    sample = ''.join(chr(rng.choice([rng.randrange(0, 0x100), rng.randrange(0xd7f0, 0xe010), rng.randrange(0xfff0, 0x10000)]))
                     for _char in range(5000))
    for char in tr.visible(sample, None, multiline=True):
        code = ord(char)
        assert code in (0x9, 0xa) or 0x20 <= code <= 0xd7ff or 0xe000 <= code <= 0xfffd, hex(code)
        assert not 0x7f <= code <= 0x9f, hex(code)


def test_malformed_records_are_read_as_far_as_they_go():
    fleet = tr.tcp_report_fleet({
        'h1': {'findings': ['x', {'id': ['list'], 'severity': {'x': 1}}, {'id': 'TW-SYSCTL-006', 'severity': 'high'}],
               'timewait': {'total': 'many', 'max_tw_buckets': '2048', 'bucket_utilization': float('nan')}},
        'h2': {'findings': 'nope', 'timewait': 'nope', 'compliant': 'yes'},
        'h3': 'not a record',
    })
    hosts = by_host(fleet)
    assert hosts['h1']['finding_ids'] == ['TW-SYSCTL-006', "['list']"] and hosts['h1']['state'] == 'noncompliant'
    assert hosts['h1']['timewait']['total'] is None and hosts['h1']['timewait']['max_tw_buckets'] == 2048
    assert hosts['h1']['timewait']['bucket_utilization'] is None
    assert hosts['h2']['state'] == 'compliant' and hosts['h2']['finding_ids'] == []
    assert hosts['h3']['state'] == 'unreachable'


# ---------------------------------------------------------------------------
# Stale records
# ---------------------------------------------------------------------------

def record(run_id=None, observed_at=None, high=False):
    findings = [{'id': 'TW-SYSCTL-006', 'severity': 'high'}] if high else []
    return {'findings': findings, 'compliant': not high, 'timewait': {}, 'run_id': run_id, 'observed_at': observed_at}


def test_a_record_of_another_run_is_stale():
    run = {'run_id': 'run-2', 'started_at': '2026-01-02T03:00:00Z'}
    fleet = tr.tcp_report_fleet({
        'this-run': record('run-2', '2026-01-02T03:00:05Z'),
        'cached': record('run-1', '2026-01-02T03:00:05Z'),      # the run id decides, not the clock
        'old-format': record(),                                   # no id, no time: not judged by this run
        'no-id-late': record(None, '2026-01-02T03:00:01Z'),
        'no-id-early': record(None, '2026-01-01T23:59:59Z'),
    }, run=run)
    stale = {host: entry['stale'] for host, entry in by_host(fleet).items()}
    assert stale == {'this-run': False, 'cached': True, 'old-format': True, 'no-id-late': True, 'no-id-early': True}
    assert fleet['totals']['stale'] == 4


def test_without_a_run_id_the_start_time_decides():
    run = {'started_at': '2026-01-02T03:00:00Z'}
    fleet = tr.tcp_report_fleet({'late': record('x', '2026-01-02T03:00:01Z'), 'early': record('x', '2026-01-02T02:59:59Z'),
                                 'unknown': record('x', 'yesterday')}, run=run)
    assert {h: e['stale'] for h, e in by_host(fleet).items()} == {'late': False, 'early': True, 'unknown': False}


def test_a_run_that_knows_nothing_flags_nothing(data):
    fleet = tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], {})
    assert fleet['totals']['stale'] == 0


# ---------------------------------------------------------------------------
# History
# ---------------------------------------------------------------------------

def test_history_lists_new_and_fixed_findings_and_state_changes():
    before = tr.tcp_report_fleet({'a': record(high=True), 'b': record(), 'c': record(), 'gone': record()},
                                 ['a', 'b', 'c', 'gone', 'u'])
    after_records = {'a': record(), 'b': record(high=True), 'c': record(), 'new': record(high=True)}
    after = tr.tcp_report_fleet(after_records, ['a', 'b', 'c', 'new', 'u'])
    history = tr.report_history(before, after, '/r/tcp-audit.json')
    assert [(f['host'], f['id']) for f in history['new_findings']] == [('b', 'TW-SYSCTL-006')]
    assert [(f['host'], f['id']) for f in history['fixed_findings']] == [('a', 'TW-SYSCTL-006')]
    assert history['new_findings'][0]['title'] == CATALOGUE['TW-SYSCTL-006']['title']
    assert history['state_changes'] == [{'host': 'a', 'before': 'noncompliant', 'after': 'compliant'},
                                        {'host': 'b', 'before': 'compliant', 'after': 'noncompliant'}]
    assert history['hosts_added'] == ['new'] and history['hosts_gone'] == ['gone']
    assert history['previous']['path'] == '/r/tcp-audit.json'


def test_an_unreachable_host_has_no_fixed_findings():
    before = tr.tcp_report_fleet({'a': record(high=True)})
    after = tr.tcp_report_fleet({}, ['a'], {'a': {'status': 'unreachable', 'msg': 'down'}})
    history = tr.report_history(before, after)
    assert history['fixed_findings'] == [] and history['state_changes'][0]['after'] == 'unreachable'


def test_a_previous_report_with_foreign_finding_ids_is_compared_without_them():
    before = json.loads(json.dumps(tr.tcp_report_fleet({'a': record(high=True)})))
    before['hosts'][0]['finding_ids'] = 7
    after = tr.tcp_report_fleet({'a': record(high=True)})
    history = tr.report_history(before, after)
    assert [item['id'] for item in history['new_findings']] == after['hosts'][0]['finding_ids'] != []


def test_no_previous_report_no_history(fleet):
    assert tr.report_history(None, fleet) is None


# ---------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------

def report_of(records, hosts, errors=None, run=None):
    """A report as written and read back, the way a merge sees it."""
    return json.loads(json.dumps(tr.tcp_report_fleet(records, hosts, errors, run)))


def comparable(fleet):
    """A report without its run metadata and history: what a merge must reproduce."""
    return {key: value for key, value in fleet.items() if key not in ('run', 'history')}


def test_merged_slices_equal_the_one_shot_report():
    records, errors, hosts, run = synthetic_fleet.fleet(300, seed=7)
    one_shot = report_of(records, hosts, errors, run)
    halves = [hosts[0::2], hosts[1::2]]
    slices = [report_of({h: records.get(h) for h in part}, part, {h: errors[h] for h in part if h in errors},
                        dict(run, slice={'number': number, 'count': 2}))
              for number, part in enumerate(halves, 1)]
    merged = tr.merge_reports([('s1.json', slices[0]), ('s2.json', slices[1])], {'generated_at': 'now'})
    assert comparable(json.loads(json.dumps(merged))) == comparable(one_shot)
    assert merged['run']['merge']['missing_slices'] == [] and merged['run']['partial'] is False
    assert [s['slice'] for s in merged['run']['merge']['sources']] == [{'number': 1, 'count': 2}, {'number': 2, 'count': 2}]
    # Stale flags are each source's own decision, kept as they were.
    assert merged['totals']['stale'] == one_shot['totals']['stale'] > 0


def test_a_missing_slice_makes_the_merge_partial():
    part = report_of({'a': record()}, ['a'], run={'slice': {'number': 2, 'count': 3}})
    merged = tr.merge_reports([('s2.json', part)])
    assert merged['run']['merge']['missing_slices'] == [1, 3] and merged['run']['partial'] is True


def test_the_newest_entry_of_a_duplicated_host_wins():
    old = report_of({'a': record('r1', '2026-01-01T00:00:00Z', high=True), 'b': record('r1', '2026-01-01T00:00:00Z')},
                    ['a', 'b'], run={'generated_at': '2026-01-01T00:00:10Z'})
    new = report_of({'a': record('r2', '2026-01-02T00:00:00Z')}, ['a', 'b'],
                    {'b': {'status': 'unreachable', 'msg': 'down'}}, {'generated_at': '2026-01-02T00:00:10Z'})
    merged = tr.merge_reports([('new.json', new), ('old.json', old)])
    hosts = by_host(merged)
    assert hosts['a']['state'] == 'compliant' and hosts['a']['run_id'] == 'r2'
    # An unreachable entry is dated by its report: newer than b's record, so b is unreachable now.
    assert hosts['b']['state'] == 'unreachable'
    assert merged['run']['merge']['duplicates'] == [
        {'host': 'a', 'sources': ['new.json', 'old.json'], 'kept': 'new.json'},
        {'host': 'b', 'sources': ['new.json', 'old.json'], 'kept': 'new.json'}]


def test_merge_ignores_entries_that_are_not_hosts():
    merged = tr.merge_reports([('x.json', {'hosts': ['junk', {'host': 3}, {'host': 'a', 'status': 'ok', 'record': record()}]})])
    assert [e['host'] for e in merged['hosts']] == ['a']


# ---------------------------------------------------------------------------
# set_stats payload and small helpers
# ---------------------------------------------------------------------------

def test_stats_payload_is_the_documented_contract(fleet):
    fleet['run'] = dict(fleet['run'], run_id='run-9', awx={'job_id': 42}, slice={'number': 1, 'count': 2})
    payload = tr.stats_payload(fleet, {'json': '/r/tcp-audit.json'})
    assert set(payload) == {'totals', 'noncompliant_hosts', 'unreachable_hosts', 'failed_hosts', 'files', 'run_id',
                            'awx_job_id', 'slice'}
    assert payload['totals'] == fleet['totals']
    assert payload['noncompliant_hosts'] == ['lb-<1>&"x"', 'old-01', 'web-02']
    assert payload['unreachable_hosts'] == ['db-01', 'db-03'] and payload['failed_hosts'] == ['db-02']
    assert (payload['run_id'], payload['awx_job_id'], payload['slice']) == ('run-9', 42, {'number': 1, 'count': 2})
    fleet['run'] = {}
    assert tr.stats_payload(fleet, {})['slice'] is None and tr.stats_payload(fleet, {})['awx_job_id'] is None


def test_finding_counts_merge_duplicate_ids(data):
    counts = tr.finding_counts(data['records']['old-01']['findings'])
    assert counts == [
        {'id': 'TW-SYSCTL-001', 'severity': 'critical', 'count': 1},
        {'id': 'TW-SYSCTL-003', 'severity': 'high', 'count': 1},
        {'id': 'TW-SYSCTL-005', 'severity': 'medium', 'count': 1},
        {'id': 'TW-SYSCTL-006', 'severity': 'high', 'count': 1},
    ]
    assert tr.finding_counts(None) == []


def test_prom_label_escaping():
    assert tr.prom_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'


def test_epoch_of_an_observation_time():
    assert tr.epoch('2026-01-02T03:04:05Z') == 1767323045
    assert tr.epoch('<script>') == 0 and tr.epoch(None) == 0


def test_percent():
    assert tr.percent(0.9521) == '95.2%' and tr.percent(None) == 'n/a' and tr.percent('x') == 'n/a'


def test_filter_module_exposes_every_documented_filter():
    names = set(FilterModule().filters())
    documented = {path.stem for path in (pathlib.Path(tr.__file__).parents[1] / 'filter').glob('tcp_report_*.yml')}
    assert names == documented


def test_file_names_carry_the_job_and_the_slice():
    assert rf.base_name() == 'tcp-audit'
    assert rf.base_name(123, {'number': 2, 'count': 4}) == 'tcp-audit.awx-123.slice-2-of-4'
    assert rf.base_name('../../etc/x y', None) == 'tcp-audit.awx-_etc_x_y'
    assert rf.base_name(merged=True) == 'tcp-audit.merged'
