# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report: aggregate audit records, compare with the previous report, merge reports.

Controller side, standard library only, pure functions over plain dicts. The
renderers are report_text.py (Markdown, JUnit) and report_html.py (the page);
report_files.py names, reads and writes the files; the action plugin
``harden_tcp.tcp.tcp_report`` and the merge CLI (report_cli.py) drive them.

Every value in a record is untrusted (a managed host, or a fact cache anyone
could edit, produced it): numbers are coerced with :func:`number`, text is
made safe for its output format by the renderers (:func:`visible` removes
what XML forbids and what a reader cannot see), and nothing here raises on a
malformed record: a host whose record is not what the schema says is shown
with what can be read from it.

Shape of the fleet summary returned by :func:`tcp_report_fleet` (written as
``tcp-audit.json``; documented for users in roles/tcp_report/README.md)::

    {"report_schema": 1,
     "run": {...},                     # run metadata (see roles/tcp_report/README.md)
     "totals": {"hosts", "compliant", "noncompliant", "unreachable", "failed", "stale",
                "findings": {severity: count}, "timewait_total"},
     "findings": [{"id", "severity", "title", "remediation", "hosts": [..], "count"}],
     "history": {...} or None,         # see report_history()
     "hosts": [{"host", "state", "status", "compliant", "error", "worst_severity",
                "finding_ids", "severity_counts", "timewait": {...}, "observed_at",
                "run_id", "stale", "record"}]}

``state`` is the one word a person reads: compliant, noncompliant,
unreachable or failed. ``status`` keeps the record schema's vocabulary
(ok, unreachable, failed).
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.run import TIME_FORMAT
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import (
    CATALOGUE, GATING, SEVERITIES, SEVERITY_RANK, severity_counts, severity_rank, worst_severity)

REPORT_SCHEMA = 1
STATES = ('noncompliant', 'failed', 'unreachable', 'compliant')
STATE_RANK = {name: rank for rank, name in enumerate(STATES)}
# The numbers of the module's `timewait` dict a fleet view needs, and the one text.
TIMEWAIT_NUMBERS = ('total', 'ipv4', 'ipv6', 'sockstat_tw', 'max_tw_buckets',
                    'bucket_utilization', 'overflow_total', 'port_pressure')
TIMEWAIT_SUMMARY_KEYS = TIMEWAIT_NUMBERS + ('method',)
NO_RECORD_ERROR = ('no audit record: the host was unreachable or its audit failed '
                   'before recording (see the play output for this host)')
DROPPED_ERROR = ('the host dropped out of the run after its audit (a later task failed '
                 'or it became unreachable; see the play output for this host)')
# observed_at and run start times: UTC, to the second, as the judge writes them.
TIMESTAMP = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ')


class ReportError(ValueError):
    """Raised for input a report cannot be built from."""


# ---------------------------------------------------------------------------
# Untrusted values
# ---------------------------------------------------------------------------

_NUMBER = re.compile(r'-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?')


def number(value: Any) -> Optional[float]:
    """Return value as an int or a finite float, or None when it is not a number.

    Numeric strings count (a record read back from JSON by other tools may
    carry them); booleans, NaN, infinities and anything else do not.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and len(value) < 40 and _NUMBER.fullmatch(value.strip()):
        parsed = float(value)
        if not math.isfinite(parsed):
            return None
        return int(parsed) if parsed.is_integer() and not re.search('[.eE]', value) else parsed
    return None


def _picture_table() -> Dict[int, str]:
    """str.translate table: characters XML 1.0 forbids or a reader cannot see, made visible."""
    table = {code: chr(0x2400 + code) for code in range(0x20)}   # C0 controls: their Unicode pictures
    table[0x7f] = '\u2421'                                        # DEL
    for code in list(range(0x80, 0xa0)) + [0xfffe, 0xffff] + list(range(0xd800, 0xe000)):
        table[code] = '\ufffd'                                    # C1 controls, non-characters, lone surrogates
    return table


# One line (table cells, attributes, labels): tab, CR and LF are spaces.
_PICTURES_SINGLE_LINE = {**_picture_table(), 0x09: ' ', 0x0a: ' ', 0x0d: ' '}
# Several lines (JUnit text, finding details): tab and LF stay.
_PICTURES_MULTILINE = {code: text for code, text in _picture_table().items() if code not in (0x09, 0x0a)}


def visible(value: Any, limit: Optional[int] = 500, multiline: bool = False) -> str:
    """Return value as text every output format can carry and a person can read.

    None is ''. Control characters become their Unicode pictures (ESC is
    U+241B, so an ANSI colour code shows as text instead of colouring a
    terminal), characters XML 1.0 forbids become U+FFFD, and tabs and line
    breaks become spaces unless ``multiline``. Text longer than ``limit``
    characters is cut, saying how much was left out (the JSON report keeps
    all of it).
    """
    if value is None:
        return ''
    text = value if isinstance(value, str) else str(value)
    if limit is not None and len(text) > limit:
        text = '%s… [%d more characters]' % (text[:limit], len(text) - limit)
    elif text.isascii() and text.isprintable():
        return text  # the common case, decided in C: nothing to replace
    return text.translate(_PICTURES_MULTILINE if multiline else _PICTURES_SINGLE_LINE)


def _text_or_none(value: Any) -> Optional[str]:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _timestamp(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and TIMESTAMP.fullmatch(value) else None


def _findings(record: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """The record's findings as well-formed dicts: id and severity are text, anything else is dropped."""
    raw = record.get('findings')
    if not isinstance(raw, list):
        return []
    findings = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        severity = item.get('severity')
        findings.append({
            'id': _text_or_none(item.get('id')) or 'UNKNOWN',
            'severity': severity if isinstance(severity, str) and severity in SEVERITY_RANK else None,
            'title': _text_or_none(item.get('title')),
            'detail': _text_or_none(item.get('detail')),
            'remediation': _text_or_none(item.get('remediation')),
            'source': _text_or_none(item.get('source')),
        })
    return findings


def record_findings(record: Any) -> List[Dict[str, Any]]:
    """A record's findings for people to read: [] for anything that is not a record.

    Known ids carry the catalogue's title and remediation, whatever the
    record says: a host cannot reword the advice a report gives.
    """
    findings = _findings(record) if isinstance(record, dict) else []
    for item in findings:
        known = CATALOGUE.get(item['id'])
        if known:
            item['title'], item['remediation'] = known['title'], known['remediation']
    return findings


def option(options: Mapping[str, Any], key: str, defaults: Mapping[str, int]) -> int:
    """A renderer limit: options[key] as a whole number >= 0, else its default."""
    value = options.get(key)
    return max(int(value), 0) if number(value) is not None else defaults[key]


# ---------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------

def _timewait_summary(record: Mapping[str, Any]) -> Dict[str, Any]:
    timewait = record.get('timewait')
    if not isinstance(timewait, dict):
        timewait = {}
    summary = {key: number(timewait.get(key)) for key in TIMEWAIT_NUMBERS}  # type: Dict[str, Any]
    summary['method'] = _text_or_none(timewait.get('method'))
    return summary


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return _text_or_none(error.get('msg') or error.get('error')) or NO_RECORD_ERROR
    return _text_or_none(error) or NO_RECORD_ERROR


def _error_status(error: Any) -> str:
    if isinstance(error, dict) and error.get('status') in ('unreachable', 'failed'):
        return error['status']
    # A host without a record and without a recorded error dropped out of the
    # play before anything could note why; unreachable is the common cause.
    return 'unreachable'


def host_entry(host: str, record: Any, error: Any = None) -> Dict[str, Any]:
    """Build the report entry of one host from its record, or from the error that replaced it.

    An error wins over a record: a record may come from the fact cache of an
    earlier run, the error is from this one. The record is kept for reference
    but counts nowhere. ``stale`` is decided later, against the run.
    """
    if error or not isinstance(record, dict):
        status = _error_status(error)
        return {
            'host': host, 'state': status, 'status': status, 'compliant': None,
            'error': _error_text(error), 'worst_severity': None, 'finding_ids': [],
            'severity_counts': {name: 0 for name in SEVERITIES},
            'timewait': {key: None for key in TIMEWAIT_SUMMARY_KEYS},
            'observed_at': _timestamp(record.get('observed_at')) if isinstance(record, dict) else None,
            'run_id': _text_or_none(record.get('run_id')) if isinstance(record, dict) else None,
            'stale': False,
            'record': record if isinstance(record, dict) else None,
        }
    findings = _findings(record)
    compliant = record.get('compliant')
    if not isinstance(compliant, bool):
        compliant = not any(item['severity'] in GATING for item in findings)
    return {
        'host': host,
        'state': 'compliant' if compliant else 'noncompliant',
        'status': 'ok',
        'compliant': compliant,
        'error': None,
        'worst_severity': worst_severity(findings),
        'finding_ids': sorted({item['id'] for item in findings}),
        'severity_counts': severity_counts(findings),
        'timewait': _timewait_summary(record),
        'observed_at': _timestamp(record.get('observed_at')),
        'run_id': _text_or_none(record.get('run_id')),
        'stale': False,
        'record': record,
    }


def is_stale(entry: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """True when an audited host's record was not made by this run (a cached record of an earlier one).

    The run id decides when the run has one (a record without an id was not
    judged by this run); else the record's observed_at against the run's
    start. Hosts without a record are never stale: they are unreachable or
    failed.
    """
    if entry['status'] != 'ok':
        return False
    run_id, started = run.get('run_id'), _timestamp(run.get('started_at'))
    if run_id:
        return entry['run_id'] != run_id
    if started and entry['observed_at']:
        return entry['observed_at'] < started
    return False


def _findings_by_id(entries: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Findings grouped by id with the hosts that have them: one pass, a set per id."""
    by_id = {}  # type: Dict[str, Dict[str, Any]]
    hosts_by_id = {}  # type: Dict[str, Dict[str, None]]
    for entry in entries:
        if entry['status'] != 'ok':
            continue
        for finding in _findings(entry['record']):
            fid = finding['id']
            item = by_id.get(fid)
            if item is None:
                known = CATALOGUE.get(fid)
                # The catalogue's words where the id is known; a host cannot reword them.
                item = by_id[fid] = {
                    'id': fid,
                    'severity': known['severity'] if known else finding['severity'],
                    'title': known['title'] if known else finding['title'],
                    'remediation': known['remediation'] if known else finding['remediation'],
                }
                hosts_by_id[fid] = {}
            elif severity_rank(finding['severity']) < severity_rank(item['severity']):
                # One id with different severities on different hosts is a mistake;
                # keep the worst so nothing is understated.
                item['severity'] = finding['severity']
            hosts_by_id[fid][entry['host']] = None
    for fid, item in by_id.items():
        item['hosts'] = sorted(hosts_by_id[fid])
        item['count'] = len(item['hosts'])
    return sorted(by_id.values(), key=lambda i: (severity_rank(i['severity']), i['id']))


def _totals(entries: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    states = {name: 0 for name in STATES}
    findings = {name: 0 for name in SEVERITIES}
    timewait_total = 0
    stale = 0
    for entry in entries:
        states[entry['state']] += 1
        for severity, count in entry['severity_counts'].items():
            findings[severity] += count
        timewait_total += entry['timewait'].get('total') or 0
        stale += 1 if entry['stale'] else 0
    totals = {'hosts': len(entries)}  # type: Dict[str, Any]
    totals.update(states)
    totals['stale'] = stale
    totals['findings'] = findings
    totals['timewait_total'] = timewait_total
    return totals


def tcp_report_fleet(records: Optional[Mapping[str, Any]], hosts: Optional[Iterable[str]] = None,
                     errors: Optional[Mapping[str, Any]] = None,
                     run: Optional[Mapping[str, Any]] = None,
                     dropped: Optional[Iterable[str]] = None,
                     stale_hosts: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Aggregate per-host audit records into the fleet summary (see the module docstring).

    records: {host: tcp_audit_record or None}; hosts: the hosts the report
    covers (default: the keys of records), each listed once, sorted; errors:
    {host: {status, msg} or message} for hosts whose audit did not finish;
    run: run metadata copied to the summary (its run_id and started_at decide
    which records are stale); dropped: hosts Ansible removed from the run
    before the report (failed or unreachable in an earlier task) that have no
    error of their own: `failed` when they have a record (they were reached),
    `unreachable` when they have none; stale_hosts: when given, exactly these
    hosts are stale (a merge keeps what each source report decided).
    """
    records = records or {}
    run = dict(run or {})
    errors = {host: error for host, error in (errors or {}).items() if error}
    for host in dropped or []:
        if host not in errors:
            if isinstance(records.get(host), dict):
                errors[host] = {'status': 'failed', 'msg': DROPPED_ERROR}
            else:
                errors[host] = {'status': 'unreachable', 'msg': NO_RECORD_ERROR}
    if hosts is None:
        hosts = records.keys()
    if isinstance(hosts, (str, bytes)):
        raise ReportError('hosts must be a list of inventory hostnames, got the string %r' % hosts)
    entries = [host_entry(str(host), records.get(host), errors.get(host)) for host in sorted({str(h) for h in hosts})]
    forced = None if stale_hosts is None else set(stale_hosts)
    for entry in entries:
        entry['stale'] = (entry['host'] in forced and entry['status'] == 'ok') if forced is not None else is_stale(entry, run)
    return {
        'report_schema': REPORT_SCHEMA,
        'run': run,
        'totals': _totals(entries),
        'findings': _findings_by_id(entries),
        'history': None,
        'hosts': entries,
    }


# ---------------------------------------------------------------------------
# Ranking and the one-line summaries
# ---------------------------------------------------------------------------

def worst_key(entry: Mapping[str, Any]) -> Tuple[Any, ...]:
    """Sort key, most at risk first: state, then critical/high/medium counts, then table use, then name."""
    counts = entry['severity_counts']
    utilization = number(entry['timewait'].get('bucket_utilization')) or 0.0
    return (STATE_RANK.get(entry['state'], len(STATES)), -counts['critical'], -counts['high'], -counts['medium'],
            -utilization, entry['host'])


def sorted_hosts(fleet: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Return every host entry, worst first (the order of the HTML table and the play output)."""
    return sorted(fleet.get('hosts') or [], key=worst_key)


def tcp_report_worst(fleet: Mapping[str, Any], limit: int = 10) -> List[Dict[str, Any]]:
    """Return up to ``limit`` hosts most at risk: non-compliant first, then by severity and table use.

    Unreachable and failed hosts rank after non-compliant ones (they are
    unknown, not known bad); compliant hosts come last and are only listed
    when they have findings.
    """
    at_risk = [e for e in sorted_hosts(fleet) if e['state'] != 'compliant' or e['finding_ids']]
    return at_risk[:max(int(limit), 0)]


def tcp_report_host_lines(fleet: Mapping[str, Any], limit: Optional[int] = None) -> List[str]:
    """One line per host, worst first, for the play output: state, TIME_WAIT against the limit, finding ids.

    With ``limit``, at most that many host lines and one line saying how many
    more hosts the report files hold.
    """
    ranked = sorted_hosts(fleet)
    shown = ranked if limit is None else ranked[:max(int(limit), 0)]
    lines = []
    for entry in shown:
        name = visible(entry['host'], 200)
        if entry['status'] != 'ok':
            lines.append('%s: %s: %s' % (name, entry['state'], visible(entry['error'], 300)))
            continue
        timewait = entry['timewait']
        lines.append('%s: %s%s, TIME_WAIT %s of %s buckets, findings: %s' % (
            name, entry['state'], ' (stale record)' if entry['stale'] else '',
            number_text(timewait.get('total'), 'n/a'), number_text(timewait.get('max_tw_buckets'), 'n/a'),
            visible(', '.join(entry['finding_ids']), 300) or 'none'))
    if len(ranked) > len(shown):
        lines.append('... and %d more hosts in the report files' % (len(ranked) - len(shown)))
    return lines


def number_text(value: Any, missing: str = '') -> str:
    """A number as the reports print it ('%g'), or ``missing`` for anything that is not a number."""
    value = number(value)
    return missing if value is None else '%g' % value


def percent(value: Any) -> str:
    """A 0..1 ratio as a percentage with one decimal; 'n/a' for anything that is not a number."""
    value = number(value)
    return 'n/a' if value is None else '%.1f%%' % (value * 100)


def finding_counts(findings: Optional[Iterable[Mapping[str, Any]]]) -> List[Dict[str, Any]]:
    """Return [{id, severity, count}] per distinct finding id, sorted by id.

    One id can fire several times on a host (one finding per sysctl key);
    Prometheus rejects a whole textfile with duplicate series, so they are
    counted under one series per id.
    """
    by_id = {}  # type: Dict[str, Dict[str, Any]]
    for finding in _findings({'findings': list(findings or [])}):
        item = by_id.setdefault(finding['id'], {'id': finding['id'], 'severity': finding['severity'], 'count': 0})
        if severity_rank(finding['severity']) < severity_rank(item['severity']):
            item['severity'] = finding['severity']
        item['count'] += 1
    return [by_id[fid] for fid in sorted(by_id)]


def epoch(value: Any) -> int:
    """Unix time of a UTC timestamp as the judge writes it (``2026-01-02T03:04:05Z``); 0 when it is not one."""
    stamp = _timestamp(value)
    if stamp is None:
        return 0
    parsed = datetime.datetime.strptime(stamp, TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    return int(parsed.timestamp())


def prom_label(value: Any) -> str:
    """Escape a Prometheus label value (backslash, double quote, newline)."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


# ---------------------------------------------------------------------------
# History: what changed since the previous report
# ---------------------------------------------------------------------------

def _finding_label(fid: str, by_id: Mapping[str, Mapping[str, Any]]) -> Dict[str, Any]:
    known = by_id.get(fid) or CATALOGUE.get(fid) or {}
    return {'id': fid, 'severity': known.get('severity'), 'title': known.get('title')}


def report_history(previous: Optional[Mapping[str, Any]], fleet: Mapping[str, Any],
                   previous_path: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """Compare the fleet with the previous report: new and fixed findings, state changes, hosts added and gone.

    ``previous`` is a report as read back by report_files.read_report (hosts
    need host, state, status and finding_ids). A finding is a (host, id)
    pair; new and fixed findings are counted only on hosts audited in both
    reports (an unreachable host's findings are unknown, not fixed). Returns
    None when there is no previous report.
    """
    if not previous:
        return None
    before = {e['host']: e for e in previous.get('hosts') or [] if isinstance(e, dict) and isinstance(e.get('host'), str)}
    now = {e['host']: e for e in fleet['hosts']}
    labels = {}  # type: Dict[str, Dict[str, Any]]
    for source in (previous.get('findings') or [], fleet.get('findings') or []):
        for item in source:
            if isinstance(item, dict) and isinstance(item.get('id'), str):
                labels[item['id']] = item
    new_findings, fixed_findings, state_changes = [], [], []
    for host in sorted(set(before) & set(now)):
        old, new = before[host], now[host]
        if old.get('state') != new['state']:
            state_changes.append({'host': host, 'before': _text_or_none(old.get('state')), 'after': new['state']})
        if old.get('status') == 'ok' and new['status'] == 'ok':
            # A previous report is a file in a shared directory: a foreign one may hold anything.
            old_ids = {str(i) for i in old['finding_ids']} if isinstance(old.get('finding_ids'), list) else set()
            new_ids = set(new['finding_ids'])
            new_findings.extend(dict(_finding_label(fid, labels), host=host) for fid in sorted(new_ids - old_ids))
            fixed_findings.extend(dict(_finding_label(fid, labels), host=host) for fid in sorted(old_ids - new_ids))
    prev_run = previous.get('run') if isinstance(previous.get('run'), dict) else {}
    return {
        'previous': {'path': previous_path, 'generated_at': _text_or_none(prev_run.get('generated_at')),
                     'run_id': _text_or_none(prev_run.get('run_id'))},
        'new_findings': new_findings,
        'fixed_findings': fixed_findings,
        'state_changes': state_changes,
        'hosts_added': sorted(set(now) - set(before)),
        'hosts_gone': sorted(set(before) - set(now)),
    }


# ---------------------------------------------------------------------------
# Merging reports (slices, or several controllers)
# ---------------------------------------------------------------------------

def _source_label(run: Mapping[str, Any], path: str) -> Dict[str, Any]:
    awx = run.get('awx') if isinstance(run.get('awx'), dict) else {}
    return {'path': path, 'run_id': _text_or_none(run.get('run_id')),
            'generated_at': _timestamp(run.get('generated_at')),
            'awx_job_id': awx.get('job_id'), 'slice': _slice(run.get('slice'))}


def _slice(value: Any) -> Optional[Dict[str, int]]:
    if not isinstance(value, dict):
        return None
    num, count = number(value.get('number')), number(value.get('count'))
    if isinstance(num, int) and isinstance(count, int) and 1 <= num <= count:
        return {'number': num, 'count': count}
    return None


def merge_reports(reports: Sequence[Tuple[str, Mapping[str, Any]]], run: Optional[Mapping[str, Any]] = None
                  ) -> Dict[str, Any]:
    """Merge fleet reports into one: the newest entry per host, duplicates and missing slices flagged.

    ``reports``: (path, report) pairs, as read back by report_files.read_report.
    A host's entry is dated by its record's observed_at, or by its report's
    generated_at when it has no record (unreachable, failed); the newest wins,
    ties go to the report given last. ``run``: metadata of the merge itself;
    ``run.merge`` gets the sources, the duplicates and the missing slices, and
    ``run.partial`` is true when a slice is missing. The totals, findings and
    host entries are rebuilt with tcp_report_fleet, so a merge of slices equals
    the one-shot report of the same hosts apart from run metadata.
    """
    chosen = {}  # type: Dict[str, Tuple[Tuple[str, int], Mapping[str, Any], int]]
    seen = {}  # type: Dict[str, List[int]]
    sources = []
    for index, (path, report) in enumerate(reports):
        report_run = report.get('run') if isinstance(report.get('run'), dict) else {}
        sources.append(dict(_source_label(report_run, path), hosts=0))
        generated = _timestamp(report_run.get('generated_at')) or ''
        for entry in report.get('hosts') or []:
            if not isinstance(entry, dict) or not isinstance(entry.get('host'), str):
                continue
            host = entry['host']
            sources[index]['hosts'] += 1
            seen.setdefault(host, []).append(index)
            dated = ((_timestamp(entry.get('observed_at')) if entry.get('status') == 'ok' else None) or generated, index)
            if host not in chosen or dated >= chosen[host][0]:
                chosen[host] = (dated, entry, index)
    records, errors, stale = {}, {}, []
    for host, (_dated, entry, _index) in chosen.items():
        records[host] = entry.get('record') if isinstance(entry.get('record'), dict) else None
        if entry.get('status') != 'ok':
            errors[host] = {'status': entry.get('status') if entry.get('status') in ('unreachable', 'failed') else 'unreachable',
                            'msg': _text_or_none(entry.get('error')) or NO_RECORD_ERROR}
        elif entry.get('stale'):
            stale.append(host)
    duplicates = [{'host': host, 'sources': [sources[i]['path'] for i in indexes], 'kept': sources[chosen[host][2]]['path']}
                  for host, indexes in sorted(seen.items()) if len(indexes) > 1]
    counts = sorted({s['slice']['count'] for s in sources if s['slice']})
    numbers = {s['slice']['number'] for s in sources if s['slice']}
    missing = [n for n in range(1, max(counts) + 1) if n not in numbers] if counts else []
    merged_run = dict(run or {})
    merged_run['merge'] = {'sources': sources, 'duplicates': duplicates, 'missing_slices': missing,
                           'slice_counts': counts}
    merged_run['partial'] = bool(missing) or len(counts) > 1
    return tcp_report_fleet(records, sorted(chosen), errors, merged_run, stale_hosts=stale)


# ---------------------------------------------------------------------------
# What set_stats hands to AWX and the play output
# ---------------------------------------------------------------------------

def stats_payload(fleet: Mapping[str, Any], files: Mapping[str, str]) -> Dict[str, Any]:
    """The ``harden_tcp_report`` set_stats data (roles/tcp_report/README.md, "Variables exported")."""
    run = fleet.get('run') or {}
    awx = run.get('awx') if isinstance(run.get('awx'), dict) else {}
    by_state = {state: [] for state in STATES}  # type: Dict[str, List[str]]
    for entry in fleet['hosts']:
        by_state[entry['state']].append(entry['host'])
    return {
        'totals': fleet['totals'],
        'noncompliant_hosts': by_state['noncompliant'],
        'unreachable_hosts': by_state['unreachable'],
        'failed_hosts': by_state['failed'],
        'files': dict(files),
        'run_id': run.get('run_id'),
        'awx_job_id': awx.get('job_id'),
        'slice': _slice(run.get('slice')),
    }
