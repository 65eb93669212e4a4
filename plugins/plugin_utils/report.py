# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: aggregate audit records, render JUnit and SVG (controller side).

The role's templates stay thin: everything that sorts, counts, ranks or
escapes lives here, in plain functions over plain dicts, unit-tested in
``tests/unit/test_tcp_report_filters.py``.

Shape of the fleet summary returned by :func:`tcp_report_fleet` (written
as ``tcp-audit.json``; documented for users in README.md, "Fleet audit and report")::

    {"report_schema": 1,
     "run": {...},                     # caller-supplied run metadata, unchanged
     "totals": {"hosts", "compliant", "noncompliant", "unreachable", "failed",
                "findings": {severity: count}, "timewait_total"},
     "findings": [{"id", "severity", "title", "remediation", "hosts": [..], "count"}],
     "hosts": [{"host", "state", "status", "compliant", "error", "worst_severity",
                "finding_ids", "severity_counts", "timewait": {...}, "record"}]}

``state`` is the one word a person reads: compliant, noncompliant,
unreachable or failed. ``status`` keeps the record schema's vocabulary
(ok, unreachable, failed).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html import escape as html_escape
from typing import Any, Dict, Iterable, List, Mapping, Optional

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import (
    GATING, SEVERITIES, is_compliant, severity_counts, severity_rank, worst_severity)

REPORT_SCHEMA = 1
STATES = ('noncompliant', 'failed', 'unreachable', 'compliant')
STATE_RANK = {name: rank for rank, name in enumerate(STATES)}
# The few numbers of the module's `timewait` dict a fleet view needs.
TIMEWAIT_SUMMARY_KEYS = ('total', 'ipv4', 'ipv6', 'sockstat_tw', 'max_tw_buckets',
                         'bucket_utilization', 'overflow_total', 'port_pressure', 'method')
NO_RECORD_ERROR = ('no audit record: the host was unreachable or its audit failed '
                   'before recording (see the play output for this host)')
DROPPED_ERROR = ('the host dropped out of the run after its audit (a later task failed '
                 'or it became unreachable; see the play output for this host)')


class ReportError(ValueError):
    """Raised for input a report cannot be built from."""


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------

def _timewait_summary(record: Mapping[str, Any]) -> Dict[str, Any]:
    timewait = record.get('timewait') or {}
    return {key: timewait.get(key) for key in TIMEWAIT_SUMMARY_KEYS}


def _error_text(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get('msg') or error.get('error') or NO_RECORD_ERROR)
    return str(error) if error else NO_RECORD_ERROR


def _error_status(error: Any) -> str:
    if isinstance(error, Mapping) and error.get('status') in ('unreachable', 'failed'):
        return error['status']
    # A host without a record and without a recorded error dropped out of the
    # play before anything could note why; unreachable is the common cause.
    return 'unreachable'


def host_entry(host: str, record: Optional[Mapping[str, Any]], error: Any = None) -> Dict[str, Any]:
    """Build the report entry of one host from its record, or from the error that replaced it.

    An error wins over a record: a record may come from the fact cache of an
    earlier run, the error is from this one. The record is kept for reference
    but counts nowhere.
    """
    if error or not isinstance(record, Mapping):
        status = _error_status(error)
        return {
            'host': host, 'state': status, 'status': status, 'compliant': None,
            'error': _error_text(error), 'worst_severity': None, 'finding_ids': [],
            'severity_counts': severity_counts([]),
            'timewait': {key: None for key in TIMEWAIT_SUMMARY_KEYS},
            'record': dict(record) if isinstance(record, Mapping) else None,
        }
    findings = list(record.get('findings') or [])
    compliant = record.get('compliant')
    if not isinstance(compliant, bool):
        compliant = is_compliant(findings)
    return {
        'host': host,
        'state': 'compliant' if compliant else 'noncompliant',
        'status': 'ok',
        'compliant': compliant,
        'error': None,
        'worst_severity': worst_severity(findings),
        'finding_ids': sorted({f['id'] for f in findings if f.get('id')}),
        'severity_counts': severity_counts(findings),
        'timewait': _timewait_summary(record),
        'record': dict(record),
    }


def _findings_by_id(entries: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    by_id = {}  # type: Dict[str, Dict[str, Any]]
    for entry in entries:
        if entry['status'] != 'ok':
            continue
        for finding in (entry['record'] or {}).get('findings') or []:
            fid = finding.get('id') or 'UNKNOWN'
            item = by_id.setdefault(fid, {
                'id': fid,
                'severity': finding.get('severity'),
                'title': finding.get('title'),
                'remediation': finding.get('remediation'),
                'hosts': [],
            })
            # One id can carry different severities on different hosts only by
            # mistake; keep the worst so nothing is understated.
            if severity_rank(finding.get('severity')) < severity_rank(item['severity']):
                item['severity'] = finding.get('severity')
            if entry['host'] not in item['hosts']:
                item['hosts'].append(entry['host'])
    for item in by_id.values():
        item['hosts'].sort()
        item['count'] = len(item['hosts'])
    return sorted(by_id.values(), key=lambda i: (severity_rank(i['severity']), i['id']))


def _totals(entries: List[Dict[str, Any]]) -> Dict[str, Any]:
    states = {name: 0 for name in STATES}
    findings = {name: 0 for name in SEVERITIES}
    timewait_total = 0
    for entry in entries:
        states[entry['state']] += 1
        for severity, count in entry['severity_counts'].items():
            findings[severity] += count
        timewait_total += entry['timewait'].get('total') or 0
    totals = {'hosts': len(entries)}  # type: Dict[str, Any]
    totals.update(states)
    totals['findings'] = findings
    totals['timewait_total'] = timewait_total
    return totals


def tcp_report_hostvar(hosts: Iterable[str], hostvars: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """Return {host: hostvars[host][name], or None where the host does not define it}.

    Jinja's ``map(attribute=..., default=...)`` does not reach into Ansible's
    lazy hostvars, so the lookup is done here, host by host.
    """
    values = {}
    for host in hosts:
        try:
            host_vars = hostvars[host]
        except KeyError:
            values[host] = None
            continue
        values[host] = host_vars[name] if name in host_vars else None
    return values


def tcp_report_fleet(records: Optional[Mapping[str, Any]], hosts: Optional[Iterable[str]] = None,
                     errors: Optional[Mapping[str, Any]] = None,
                     run: Optional[Mapping[str, Any]] = None,
                     dropped: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Aggregate per-host audit records into the fleet summary (see the module docstring).

    records: {host: tcp_audit_record or None}; hosts: the hosts the report
    covers (default: the keys of records), each listed once, sorted; errors:
    {host: {status, msg} or message} for hosts whose audit did not finish;
    run: metadata copied to the summary as-is; dropped: hosts Ansible removed
    from the run before the report (failed or unreachable in an earlier task)
    that have no error of their own: `failed` when they have a record (they
    were reached), `unreachable` when they have none.
    """
    records = records or {}
    errors = dict((host, error) for host, error in (errors or {}).items() if error)
    for host in dropped or []:
        if host not in errors:
            if isinstance(records.get(host), Mapping):
                errors[host] = {'status': 'failed', 'msg': DROPPED_ERROR}
            else:
                errors[host] = {'status': 'unreachable', 'msg': NO_RECORD_ERROR}
    if hosts is None:
        hosts = records.keys()
    if isinstance(hosts, (str, bytes)):
        raise ReportError('hosts must be a list of inventory hostnames, got the string %r' % hosts)
    entries = [host_entry(str(host), records.get(host), errors.get(host)) for host in sorted(set(hosts))]
    return {
        'report_schema': REPORT_SCHEMA,
        'run': dict(run or {}),
        'totals': _totals(entries),
        'findings': _findings_by_id(entries),
        'hosts': entries,
    }


def _worst_key(entry: Mapping[str, Any]):
    counts = entry['severity_counts']
    utilization = entry['timewait'].get('bucket_utilization') or 0.0
    return (STATE_RANK[entry['state']], -counts['critical'], -counts['high'], -counts['medium'],
            -utilization, entry['host'])


def tcp_report_worst(fleet: Mapping[str, Any], limit: int = 10) -> List[Dict[str, Any]]:
    """Return up to ``limit`` hosts most at risk: non-compliant first, then by severity and table use.

    Unreachable and failed hosts rank after non-compliant ones (they are
    unknown, not known bad); compliant hosts come last and are only listed
    when they have findings.
    """
    ranked = sorted(fleet.get('hosts') or [], key=_worst_key)
    at_risk = [e for e in ranked if e['state'] != 'compliant' or e['finding_ids']]
    return at_risk[:max(int(limit), 0)]


def tcp_report_sorted_hosts(fleet: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Return every host entry, worst first (the default order of the HTML table)."""
    return sorted(fleet.get('hosts') or [], key=_worst_key)


# ---------------------------------------------------------------------------
# JUnit XML
# ---------------------------------------------------------------------------

def _junit_failure_text(entry: Mapping[str, Any]) -> str:
    lines = []
    for finding in (entry['record'] or {}).get('findings') or []:
        lines.append('[%s] %s %s: %s\n  remediation: %s' % (
            finding.get('severity'), finding.get('id'), finding.get('title'),
            finding.get('detail'), finding.get('remediation')))
    return '\n'.join(lines)


def tcp_report_junit(fleet: Mapping[str, Any], suite_name: str = 'harden-tcp audit') -> str:
    """Render the fleet summary as JUnit XML: one test case per host.

    A non-compliant host is a failure (its high/critical findings in the
    message, all findings in the text), an unreachable or failed host an
    error. Built with ElementTree so every host name and message is escaped.
    """
    entries = fleet.get('hosts') or []
    totals = fleet.get('totals') or _totals(list(entries))
    failures = totals.get('noncompliant', 0)
    errors = totals.get('unreachable', 0) + totals.get('failed', 0)
    attrs = {'name': suite_name, 'tests': str(len(entries)), 'failures': str(failures),
             'errors': str(errors), 'skipped': '0'}
    suites = ET.Element('testsuites', attrs)
    suite = ET.SubElement(suites, 'testsuite', attrs)
    for entry in entries:
        case = ET.SubElement(suite, 'testcase', {'classname': 'harden_tcp.compliance', 'name': entry['host']})
        if entry['state'] == 'noncompliant':
            blocking = [f for f in (entry['record'] or {}).get('findings') or []
                        if f.get('severity') in GATING]
            # One id can fire for several keys; name it once.
            message = '; '.join(dict.fromkeys('%s %s' % (f.get('id'), f.get('title')) for f in blocking))
            failure = ET.SubElement(case, 'failure', {'type': 'noncompliant', 'message': message or 'not compliant'})
            failure.text = _junit_failure_text(entry)
        elif entry['state'] in ('unreachable', 'failed'):
            error = ET.SubElement(case, 'error', {'type': entry['state'], 'message': entry['error'] or ''})
            error.text = entry['error']
        elif entry['finding_ids']:
            out = ET.SubElement(case, 'system-out')
            out.text = _junit_failure_text(entry)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding='unicode') + '\n'


# ---------------------------------------------------------------------------
# SVG chart and small text helpers for the templates
# ---------------------------------------------------------------------------

CHART_COLOURS = {'compliant': '#2e7d32', 'noncompliant': '#c62828'}


def _fmt_ratio(value: Optional[float]) -> str:
    return 'n/a' if value is None else '%.1f%%' % (value * 100)


def tcp_report_chart_svg(fleet: Mapping[str, Any], max_hosts: int = 60) -> str:
    """Return an inline SVG: TIME_WAIT per host against its tcp_max_tw_buckets limit.

    One row per audited host, worst first, at most ``max_hosts`` rows. Every
    row is scaled to its own limit (the full track), so hosts with different
    limits compare by how full their table is; the label gives the counts.
    Green is compliant, red not. Unreachable and failed hosts have no data
    and are left to the table.
    """
    audited = [e for e in tcp_report_sorted_hosts(fleet) if e['status'] == 'ok']
    shown = audited[:max(int(max_hosts), 0)]
    label_w, track_w, text_w, row_h, top = 220, 420, 250, 22, 30
    width = label_w + track_w + text_w
    height = top + row_h * len(shown) + 24
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="sans-serif" font-size="12">' % (width, height, width, height),
        '<title>TIME_WAIT sockets per host against tcp_max_tw_buckets</title>',
        '<text x="0" y="16" font-weight="bold">TIME_WAIT sockets / tcp_max_tw_buckets (bar = share of the limit)</text>',
    ]
    for index, entry in enumerate(shown):
        y = top + index * row_h
        tw = entry['timewait']
        count = tw.get('sockstat_tw') if tw.get('sockstat_tw') is not None else tw.get('total')
        limit = tw.get('max_tw_buckets')
        utilization = tw.get('bucket_utilization')
        if utilization is None and count is not None and limit:
            utilization = float(count) / limit
        bar_w = min(max(utilization or 0.0, 0.0), 1.0) * track_w
        if utilization and bar_w < 1:
            bar_w = 1.0  # a non-empty table stays visible
        colour = CHART_COLOURS.get(entry['state'], '#757575')
        parts.append('<g class="row %s">' % entry['state'])
        # The state shows even where the bar is too short to see: a coloured
        # mark and a coloured name.
        parts.append('<rect x="0" y="%d" width="10" height="10" fill="%s"/>' % (y + 5, colour))
        parts.append('<text x="16" y="%d" fill="%s">%s</text>' % (y + 14, colour, html_escape(entry['host'])))
        parts.append('<rect x="%d" y="%d" width="%d" height="14" fill="#eeeeee"/>' % (label_w, y + 3, track_w))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="14" fill="%s"><title>%s: %s of %s (%s)</title></rect>' % (
            label_w, y + 3, bar_w, colour, html_escape(entry['host']), count, limit, _fmt_ratio(utilization)))
        parts.append('<text x="%d" y="%d">%s / %s (%s)</text>' % (
            label_w + track_w + 8, y + 14, count, limit, _fmt_ratio(utilization)))
        parts.append('</g>')
    footer_y = top + row_h * len(shown) + 16
    note = 'green: compliant, red: not compliant'
    if len(audited) > len(shown):
        note += '; %d more audited hosts in the table' % (len(audited) - len(shown))
    parts.append('<text x="0" y="%d" fill="#555555">%s</text>' % (footer_y, note))
    parts.append('</svg>')
    return '\n'.join(parts)


def tcp_report_rank(value: Optional[str], kind: str = 'severity') -> int:
    """Sort rank of a severity (0 = critical) or of a host state (0 = noncompliant); unknown values last."""
    if kind == 'state':
        return STATE_RANK.get(value, len(STATES))  # type: ignore[arg-type]
    return severity_rank(value)


def tcp_report_md_cell(value: Any) -> str:
    """Make a value safe inside a Markdown table cell (pipes escaped, one line)."""
    if value is None:
        return ''
    text = ' '.join(str(value).split())
    return text.replace('\\', '\\\\').replace('|', '\\|')


def tcp_report_percent(value: Optional[float]) -> str:
    """Format a 0..1 ratio as a percentage with one decimal, 'n/a' for None."""
    return _fmt_ratio(value)


def tcp_report_finding_counts(findings: Optional[Iterable[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """Return [{id, severity, count}] per distinct finding id, sorted by id.

    One id can fire several times on a host (one finding per sysctl key);
    Prometheus rejects a whole textfile with duplicate series, so they are
    counted under one series per id.
    """
    by_id = {}  # type: Dict[str, Dict[str, Any]]
    for finding in findings or []:
        fid = finding.get('id') or 'UNKNOWN'
        item = by_id.setdefault(fid, {'id': fid, 'severity': finding.get('severity'), 'count': 0})
        if severity_rank(finding.get('severity')) < severity_rank(item['severity']):
            item['severity'] = finding.get('severity')
        item['count'] += 1
    return [by_id[fid] for fid in sorted(by_id)]


def tcp_report_prom_label(value: Any) -> str:
    """Escape a Prometheus label value (backslash, double quote, newline)."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def tcp_report_host_lines(fleet: Mapping[str, Any]) -> List[str]:
    """One line per host, worst first, for the play output: state, TIME_WAIT against the limit, finding ids."""
    lines = []
    for entry in tcp_report_sorted_hosts(fleet):
        if entry['status'] != 'ok':
            lines.append('%s: %s: %s' % (entry['host'], entry['state'], entry['error']))
            continue
        timewait = entry['timewait']
        lines.append('%s: %s, TIME_WAIT %s of %s buckets, findings: %s' % (
            entry['host'], entry['state'], timewait.get('total'), timewait.get('max_tw_buckets'),
            ', '.join(entry['finding_ids']) or 'none'))
    return lines
