# -*- coding: utf-8 -*-
"""plugins/plugin_utils/report_files.py and report_cli.py: names, the JSON layout, history on disk, merging files."""

from __future__ import annotations

import io
import json
import os
import pathlib
import time

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_cli
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files as rf

import synthetic_fleet

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'report'


def strict_json(text):
    """json.loads that refuses what Python's json accepts but JSON does not (NaN, Infinity)."""
    def refuse(token):
        raise ValueError('not JSON: %s' % token)
    return json.loads(text, parse_constant=refuse)


@pytest.fixture()
def fleet():
    records, errors, hosts, run = synthetic_fleet.fleet(120, seed=3)
    return tr.tcp_report_fleet(records, hosts, errors, run)


def test_json_is_one_document_with_one_host_per_line(fleet):
    out = io.StringIO()
    rf.write_json(fleet, out)
    text = out.getvalue()
    assert strict_json(text) == json.loads(json.dumps(fleet))
    lines = text.splitlines()
    assert lines[0] == '{' and lines[-1] == ']}'
    assert len([line for line in lines if line.startswith('{"host":')]) == len(fleet['hosts'])


def test_non_finite_numbers_from_a_host_become_null():
    fleet = tr.tcp_report_fleet({'h': {'findings': [], 'timewait': {'total': float('nan'), 'x': [float('inf')]}}})
    out = io.StringIO()
    rf.write_json(fleet, out)
    record = strict_json(out.getvalue())['hosts'][0]['record']
    assert record['timewait'] == {'total': None, 'x': [None]}


def test_read_back_whole_or_only_the_keys_history_needs(fleet, tmp_path):
    path = tmp_path / 'tcp-audit.json'
    with path.open('w') as out:
        rf.write_json(fleet, out)
    assert rf.read_report(str(path)) == json.loads(json.dumps(fleet))
    slim = rf.read_report(str(path), rf.HISTORY_KEYS)
    assert slim['hosts'][0] == {key: fleet['hosts'][0][key] for key in rf.HISTORY_KEYS}
    assert slim['run'] == fleet['run']


def test_reports_in_another_layout_are_read_whole(fleet, tmp_path):
    path = tmp_path / 'pretty.json'
    path.write_text(json.dumps(fleet, indent=2))
    assert rf.read_report(str(path), ['host'])['hosts'][0] == {'host': fleet['hosts'][0]['host']}


@pytest.mark.parametrize('content', ['', 'not json', '[]', '{"hosts": 3}', '{\n"run":{},\n"hosts":[\n{"host":'])
def test_what_is_not_a_report_is_refused_with_its_name(tmp_path, content):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(rf.ReportFileError, match='bad.json'):
        rf.read_report(str(path))


def test_previous_report_is_the_newest_of_the_same_family(tmp_path):
    def touch(name, age):
        path = tmp_path / name
        path.write_text('{}')
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    touch('tcp-audit.awx-1.slice-1-of-2.json', 30)
    touch('tcp-audit.awx-2.slice-1-of-2.json', 20)
    touch('tcp-audit.awx-3.slice-2-of-2.json', 10)
    touch('tcp-audit.awx-4.json', 5)
    touch('tcp-audit.merged.json', 1)
    assert rf.previous_report_path(str(tmp_path), 'tcp-audit.awx-9.slice-1-of-2').endswith('awx-2.slice-1-of-2.json')
    assert rf.previous_report_path(str(tmp_path), 'tcp-audit').endswith('tcp-audit.awx-4.json')
    assert rf.previous_report_path(str(tmp_path), 'tcp-audit.merged').endswith('tcp-audit.merged.json')
    assert rf.previous_report_path(str(tmp_path), 'tcp-audit.slice-1-of-3') is None
    assert rf.previous_report_path(str(tmp_path / 'missing'), 'tcp-audit') is None


def test_write_reports_compares_with_the_file_it_replaces(tmp_path):
    records, errors, hosts, run = synthetic_fleet.fleet(40, seed=9)
    first = tr.tcp_report_fleet(records, hosts, errors, run)
    files = rf.write_reports(first, str(tmp_path), 'tcp-audit', ['markdown'])
    assert sorted(files) == ['json', 'markdown'] and first['history'] is None
    assert oct(os.stat(files['json']).st_mode & 0o777) == '0o644'
    fixed = next(h for h in hosts if h in records and records[h]['findings'] and h not in errors)
    records = dict(records, **{fixed: dict(records[fixed], findings=[], compliant=True)})
    second = tr.tcp_report_fleet(records, hosts, errors, run)
    rf.write_reports(second, str(tmp_path), 'tcp-audit', [])
    history = strict_json((tmp_path / 'tcp-audit.json').read_text())['history']
    assert history['previous']['path'] == files['json']
    assert {f['host'] for f in history['fixed_findings']} == {fixed} and history['new_findings'] == []
    # No stray temporary files are left beside the reports.
    assert sorted(os.listdir(tmp_path)) == ['tcp-audit.json', 'tcp-audit.md']


def test_an_unreadable_previous_report_is_said_not_fatal(tmp_path, fleet):
    (tmp_path / 'tcp-audit.json').write_text('garbage')
    rf.write_reports(fleet, str(tmp_path), 'tcp-audit', [])
    assert 'not a readable JSON report' in fleet['history']['error']


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path, fleet):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    with pytest.raises(rf.ReportFileError, match='cannot create the report directory'):
        rf.write_reports(fleet, str(blocker / 'reports'), 'tcp-audit', [])


def test_cli_merges_slices_and_says_when_one_is_missing(tmp_path, capsys):
    records, errors, hosts, run = synthetic_fleet.fleet(60, seed=11)
    for number, part in enumerate((hosts[:30], hosts[30:]), 1):
        fleet = tr.tcp_report_fleet(records, part, errors, dict(run, slice={'number': number, 'count': 2}))
        rf.write_reports(fleet, str(tmp_path / 'in'), rf.base_name(7, {'number': number, 'count': 2}), [])
    assert report_cli.main(['merge', '--dir', str(tmp_path / 'out'), str(tmp_path / 'in' / '*.json')]) == 0
    summary = json.loads(capsys.readouterr().out)
    merged = rf.read_report(summary['files']['json'])
    assert [e['host'] for e in merged['hosts']] == sorted(hosts)
    assert sorted(summary['files']) == list(sorted(rf.FORMATS))
    assert report_cli.main(['merge', '--dir', str(tmp_path / 'out'),
                            str(tmp_path / 'in' / 'tcp-audit.awx-7.slice-1-of-2.json')]) == report_cli.EXIT_INCOMPLETE
    assert json.loads(capsys.readouterr().out)['merge']['missing_slices'] == [2]
    assert report_cli.main(['merge', '--dir', str(tmp_path / 'out'), str(tmp_path / 'nothing-*.json')]) == 2
    assert 'no report matches' in capsys.readouterr().err
