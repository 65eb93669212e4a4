# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report as Markdown (people, tickets), JUnit XML (CI) and a node_exporter textfile (Prometheus).

Every value that came from a host goes through report.visible() (no control
characters, nothing XML forbids, bounded length) and then the escaping of its
context: md() for Markdown, ElementTree for XML, label escaping and number
coercion for the textfile.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Mapping, Optional

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import GATING

# Renderer limits, with their defaults (the role's tcp_report_* variables set them).
OPTIONS = {
    'worst_hosts': 10,          # hosts under "Hosts most at risk"
    'md_hosts_per_finding': 20,  # host names per finding id
    'history_rows': 50,         # rows per history table (new, fixed, state changes)
}
_MD_SPECIAL = re.compile(r'([\\`*_\[\]<>&|~])')


def md(value: Any, limit: Optional[int] = 300) -> str:
    """Text for a Markdown table cell or heading: one line, bounded, markup characters backslash-escaped.

    Escaping <, > and & keeps a host's text from becoming HTML in a renderer
    that allows inline HTML; escaping | keeps the table's columns.
    """
    return _MD_SPECIAL.sub(r'\\\1', rp.visible(value, limit))


def _opt(options: Mapping[str, Any], key: str) -> int:
    return rp.option(options, key, OPTIONS)


def run_rows(run: Mapping[str, Any]) -> List[List[str]]:
    """(label, value) rows describing the run; shared with the HTML page."""
    rows = [['Generated (UTC)', run.get('generated_at')], ['Run started (UTC)', run.get('started_at')],
            ['Run id', run.get('run_id')], ['ansible-core', run.get('ansible_version')],
            ['Inventory', ', '.join(str(i) for i in run.get('inventory') or []) or None],
            ['Limit', run.get('limit')], ['Play', run.get('play')]]
    awx = run.get('awx') if isinstance(run.get('awx'), dict) else {}
    if awx:
        rows.append(['AWX job', ' '.join('%s=%s' % (k, v) for k, v in sorted(awx.items()) if v not in (None, ''))])
    slice_ = run.get('slice')
    if isinstance(slice_, dict):
        rows.append(['Slice', '%s of %s' % (slice_.get('number'), slice_.get('count'))])
    if run.get('check_mode'):
        rows.append(['Check mode', 'yes (--check)'])
    return [[label, rp.visible(value, 500)] for label, value in rows if value not in (None, '')]


def notices(fleet: Mapping[str, Any]) -> List[str]:
    """Sentences a reader must see before trusting the numbers: partial report, stale records, merge problems."""
    run = fleet.get('run') or {}
    totals = fleet['totals']
    found = []
    slice_ = run.get('slice')
    if isinstance(slice_, dict):
        found.append('Partial report: slice %s of %s of a sliced job; merge the slices for the whole fleet '
                     '(playbook harden_tcp.tcp.merge_reports).' % (slice_.get('number'), slice_.get('count')))
    merge = run.get('merge') if isinstance(run.get('merge'), dict) else {}
    if merge.get('missing_slices'):
        found.append('Partial report: slices %s are missing from this merge.'
                     % ', '.join(str(n) for n in merge['missing_slices']))
    if len(merge.get('slice_counts') or []) > 1:
        found.append('The merged reports disagree on the number of slices (%s).'
                     % ', '.join(str(n) for n in merge['slice_counts']))
    if merge.get('duplicates'):
        found.append('%d hosts appear in more than one merged report; the newest record of each is kept.'
                     % len(merge['duplicates']))
    if run.get('limit'):
        found.append('Limited run (--limit %s): hosts outside the limit are not in this report.'
                     % rp.visible(run['limit'], 200))
    if totals.get('stale'):
        found.append('%d hosts have a stale record: it was not made by this run (a cached record of an earlier '
                     'one), so it may not describe the host as it is now.' % totals['stale'])
    return found


def _history_markdown(history: Optional[Mapping[str, Any]], rows: int) -> List[str]:
    if not history:
        return ['No previous report to compare with.', '']
    if history.get('error'):
        return ['The previous report could not be read: %s' % md(history['error'], 500), '']
    prev = history.get('previous') or {}
    lines = ['Compared with the report generated %s (%s): %d new findings, %d fixed, %d hosts changed state, '
             '%d hosts added, %d gone.' % (
                 md(prev.get('generated_at') or 'at an unknown time'), md(prev.get('path') or 'path unknown'),
                 len(history['new_findings']), len(history['fixed_findings']), len(history['state_changes']),
                 len(history['hosts_added']), len(history['hosts_gone'])), '']
    for title, key in (('New findings', 'new_findings'), ('Fixed findings', 'fixed_findings')):
        items = history[key]
        if items:
            lines += ['### %s' % title, '', '| Host | Id | Severity | Title |', '|---|---|---|---|']
            lines += ['| %s | %s | %s | %s |' % (md(i['host']), md(i['id']), md(i['severity']), md(i['title']))
                      for i in items[:rows]]
            lines += _more(len(items) - rows) + ['']
    if history['state_changes']:
        lines += ['### Hosts whose state changed', '', '| Host | Before | Now |', '|---|---|---|']
        lines += ['| %s | %s | %s |' % (md(c['host']), md(c['before']), md(c['after']))
                  for c in history['state_changes'][:rows]]
        lines += _more(len(history['state_changes']) - rows) + ['']
    return lines


def _more(count: int) -> List[str]:
    return ['', '... and %d more in the JSON report.' % count] if count > 0 else []


def markdown(fleet: Mapping[str, Any], options: Optional[Mapping[str, Any]] = None,
             names: Optional[Mapping[str, str]] = None) -> str:
    """Render the Markdown summary: run, notices, totals, changes since the previous report, worst hosts, findings."""
    options = options or {}
    json_name = md((names or {}).get('json') or 'tcp-audit.json')
    totals = fleet['totals']
    lines = ['<!-- Generated by harden_tcp.tcp.tcp_report from %s; edits are lost on the next run. -->' % json_name,
             '# TCP TIME_WAIT audit: %d of %d hosts not compliant' % (totals['noncompliant'], totals['hosts']), '']
    for notice in notices(fleet):
        lines += ['> **%s**' % md(notice, 1000), '']
    lines += ['| Run | |', '|---|---|'] + ['| %s | %s |' % (label, md(value)) for label, value in run_rows(fleet['run'])]
    lines += ['', '| Hosts | Compliant | Not compliant | Unreachable | Failed | Stale | TIME_WAIT sockets |',
              '|---:|---:|---:|---:|---:|---:|---:|',
              '| %d | %d | %d | %d | %d | %d | %d |' % (
                  totals['hosts'], totals['compliant'], totals['noncompliant'], totals['unreachable'],
                  totals['failed'], totals['stale'], totals['timewait_total']), '',
              'Findings by severity: %s.' % ', '.join('%s %d' % item for item in totals['findings'].items()),
              'A host is compliant when it has no finding of severity high or critical.', '',
              '## Since the previous report', '']
    lines += _history_markdown(fleet.get('history'), _opt(options, 'history_rows'))
    lines += ['## Hosts most at risk', '']
    worst = rp.tcp_report_worst(fleet, _opt(options, 'worst_hosts'))
    if worst:
        lines += ['| Host | State | Worst | Findings | TIME_WAIT / limit | Table use | Error |',
                  '|---|---|---|---|---:|---:|---|']
        for entry in worst:
            timewait = entry['timewait']
            lines.append('| %s | %s%s | %s | %s | %s / %s | %s | %s |' % (
                md(entry['host']), entry['state'], ' (stale)' if entry['stale'] else '', entry['worst_severity'] or '',
                md(', '.join(entry['finding_ids'])), rp.number_text(timewait['sockstat_tw']), rp.number_text(timewait['max_tw_buckets']),
                rp.percent(timewait['bucket_utilization']), md(entry['error'], 200)))
    else:
        lines.append('No host has a finding, and every host answered.')
    lines += ['', '## Findings by id', '']
    per_finding = max(_opt(options, 'md_hosts_per_finding'), 1)
    for item in fleet['findings']:
        hosts = ', '.join(md(host, 200) for host in item['hosts'][:per_finding])
        if item['count'] > per_finding:
            hosts += ', and %d more (see %s)' % (item['count'] - per_finding, json_name)
        lines += ['### %s (%s): %s' % (md(item['id'], 100), md(item['severity']), md(item['title'])), '',
                  '- Hosts (%d): %s' % (item['count'], hosts),
                  '- Remediation: %s' % md(item['remediation'], 1000), '']
    if not fleet['findings']:
        lines += ['No findings.', '']
    return '\n'.join(lines)


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------

def _finding_text(findings: List[Dict[str, Any]]) -> str:
    return '\n'.join('[%s] %s %s: %s%s\n  remediation: %s' % (
        f['severity'], f['id'], f['title'], f['detail'], ' (%s)' % f['source'] if f['source'] else '',
        f['remediation']) for f in findings)


def junit(fleet: Mapping[str, Any], suite_name: str = 'harden-tcp audit') -> str:
    """Render the fleet summary as JUnit XML: one test case per host.

    A non-compliant host is a failure (its high/critical findings in the
    message, all findings in the text), an unreachable or failed host an
    error, a compliant host with findings keeps them in system-out. Host text
    goes through visible(), so the document is well-formed whatever a host
    sent (XML 1.0 forbids most control characters even as references).
    """
    entries = fleet.get('hosts') or []
    totals = fleet.get('totals') or {}
    attrs = {'name': rp.visible(suite_name, 200), 'tests': str(len(entries)),
             'failures': str(totals.get('noncompliant', 0)),
             'errors': str(totals.get('unreachable', 0) + totals.get('failed', 0)), 'skipped': '0'}
    suites = ET.Element('testsuites', attrs)
    suite = ET.SubElement(suites, 'testsuite', attrs)
    for entry in entries:
        case = ET.SubElement(suite, 'testcase', {'classname': 'harden_tcp.compliance',
                                                 'name': rp.visible(entry['host'], 1000)})
        findings = rp.record_findings(entry['record']) if entry['status'] == 'ok' else []
        if entry['state'] == 'noncompliant':
            blocking = [f for f in findings if f['severity'] in GATING]
            # One id can fire for several keys; name it once.
            message = '; '.join(dict.fromkeys('%s %s' % (f['id'], f['title']) for f in blocking))
            failure = ET.SubElement(case, 'failure', {'type': 'noncompliant',
                                                      'message': rp.visible(message or 'not compliant', 2000)})
            failure.text = rp.visible(_finding_text(findings), 20000, multiline=True)
        elif entry['state'] in ('unreachable', 'failed'):
            error = ET.SubElement(case, 'error', {'type': entry['state'], 'message': rp.visible(entry['error'], 2000)})
            error.text = rp.visible(entry['error'], 20000, multiline=True)
        elif findings:
            out = ET.SubElement(case, 'system-out')
            out.text = rp.visible(_finding_text(findings), 20000, multiline=True)
        if entry['stale']:
            ET.SubElement(case, 'system-err').text = 'stale record: not made by this run (observed %s, run %s)' % (
                rp.visible(entry['observed_at'] or 'at an unknown time', 40), rp.visible(entry['run_id'] or 'unknown', 200))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding='unicode') + '\n'


# ---------------------------------------------------------------------------
# node_exporter textfile (one host)
# ---------------------------------------------------------------------------

# (name, type, help): every metric the textfile can hold. The alert rules and
# the dashboard in monitoring/ use these names (tests/monitoring checks it).
TEXTFILE_METRICS = (
    ('harden_tcp_timewait_sockets', 'gauge', 'TIME_WAIT sockets counted by the audit, per address family.'),
    ('harden_tcp_timewait_buckets_used', 'gauge', 'TIME_WAIT buckets in use (the tw field of /proc/net/sockstat).'),
    ('harden_tcp_max_tw_buckets', 'gauge', 'The net.ipv4.tcp_max_tw_buckets limit.'),
    ('harden_tcp_port_pressure', 'gauge',
     'Largest TIME_WAIT count towards one destination over the ephemeral port range size (0..1).'),
    ('harden_tcp_timewait_overflow_total', 'counter', 'TCPTimeWaitOverflow since boot (/proc/net/netstat).'),
    ('harden_tcp_compliant', 'gauge', '1 when the host has no finding of severity high or critical.'),
    ('harden_tcp_findings', 'gauge', 'Findings of the audit, per severity.'),
    ('harden_tcp_finding', 'gauge', 'Findings of the audit, per finding id (one id can fire for several keys).'),
    ('harden_tcp_audit_timestamp_seconds', 'gauge',
     'When the audit observed the host (Unix time, 0 when unknown); the textfile is stale when this is old.'),
)


def _label(value: Any) -> str:
    return rp.prom_label(rp.visible(value, 200))


def textfile(record: Mapping[str, Any]) -> str:
    """The Prometheus text-format metrics of one host's audit record.

    A value that is not a number gets no sample (never a made-up 0), except
    the audit time, which is 0 when unknown so that the staleness alert fires.
    One series per finding id: one id can fire for several keys, and
    node_exporter rejects a whole file with duplicate series.
    """
    record = record if isinstance(record, dict) else {}
    timewait = record.get('timewait') if isinstance(record.get('timewait'), dict) else {}
    findings = rp.record_findings(record)
    compliant = record.get('compliant')
    if not isinstance(compliant, bool):
        compliant = not any(f['severity'] in GATING for f in findings)
    samples = {
        'harden_tcp_timewait_sockets': [('{family="ipv4"}', timewait.get('ipv4')), ('{family="ipv6"}', timewait.get('ipv6'))],
        'harden_tcp_timewait_buckets_used': [('', timewait.get('sockstat_tw'))],
        'harden_tcp_max_tw_buckets': [('', timewait.get('max_tw_buckets'))],
        'harden_tcp_port_pressure': [('', timewait.get('port_pressure'))],
        'harden_tcp_timewait_overflow_total': [('', timewait.get('overflow_total'))],
        'harden_tcp_compliant': [('', 1 if compliant else 0)],
        'harden_tcp_findings': [('{severity="%s"}' % severity, count)
                                for severity, count in sorted(rp.severity_counts(findings).items())],
        'harden_tcp_finding': [('{id="%s",severity="%s"}' % (_label(item['id']), _label(item['severity'] or 'unknown')),
                                item['count']) for item in rp.finding_counts(findings)],
        'harden_tcp_audit_timestamp_seconds': [('', rp.epoch(record.get('observed_at')))],
    }
    lines = []
    for name, kind, help_text in TEXTFILE_METRICS:
        values = [(labels, rp.number(value)) for labels, value in samples[name] if rp.number(value) is not None]
        if values:
            lines += ['# HELP %s %s' % (name, help_text), '# TYPE %s %s' % (name, kind)]
            lines += ['%s%s %s' % (name, labels, repr(value) if isinstance(value, float) else value)
                      for labels, value in values]
    return '\n'.join(lines) + '\n'
