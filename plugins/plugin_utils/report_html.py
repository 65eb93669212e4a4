# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet report as one self-contained HTML page.

The page is well-formed XHTML served as HTML: summary, run, notices, the
changes since the previous report, findings by id and a chart are rendered
here; the host table is drawn by the page's own script from a JSON data block
(sort, filter by state, finding id and name, pages of rows, a detail row per
host), so 20,000 hosts stay one quick page. The first page of rows is also
rendered here, for readers without JavaScript.

Safety: every host value passes report.visible() and html.escape() (text and
attribute values, quotes included) or report.number(); the data block is
JSON with <, > and & escaped, so it can neither end the script element nor
break the XML; the script only ever sets textContent and known attributes.
A Content-Security-Policy allows no network access at all and only the
page's own script (by its hash), so even markup a bug let through could not
run or fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_text
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import SEVERITIES, severity_rank

# Renderer limits, with their defaults (the role's tcp_report_* variables set them).
OPTIONS = {
    'chart_max_hosts': 60,     # bars in the chart, worst first
    'html_max_hosts': 20000,   # hosts in the page, worst first; the JSON report has them all
    'history_rows': 50,        # rows per history list
    'page_rows': 100,          # host rows per page of the table
}
STATE_LABELS = {'noncompliant': 'not compliant', 'failed': 'failed', 'unreachable': 'unreachable',
                'compliant': 'compliant'}
CHART_COLOURS = {'compliant': '#2e7d32', 'noncompliant': '#c62828'}
# Record keys the detail row shows, or leaves out, on purpose; any other key
# (added by a later version of the audit) is shown under "More from the record".
KNOWN_RECORD_KEYS = frozenset(('schema', 'host', 'status', 'phase', 'kernel', 'memtotal_mb', 'container',
                               'proc_sys_writable', 'sysctl', 'timewait', 'findings', 'severity_counts',
                               'compliant', 'observed_at', 'run_id'))
TOP_DESTINATIONS = 10
TEXT = 300          # characters of a host value shown in a cell
LONG_TEXT = 2000    # characters of a finding detail or an error
EXTRA_BUDGET = 3000  # characters of "More from the record" per host


def _opt(options: Mapping[str, Any], key: str) -> int:
    return rp.option(options, key, OPTIONS)


def _t(value: Any, limit: Optional[int] = TEXT) -> str:
    """Host text for HTML text or a quoted attribute value."""
    return escape(rp.visible(value, limit), quote=True)


def _n(value: Any) -> Optional[float]:
    return rp.number(value)


# ---------------------------------------------------------------------------
# The data block the page's script draws the host table from
# ---------------------------------------------------------------------------

def _bounded(value: Any, budget: List[int], depth: int = 0) -> Any:
    """A JSON-safe copy of value with bounded depth, width and text: what 'More from the record' shows."""
    if budget[0] <= 0:
        return '…'
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return rp.number(value)
    if isinstance(value, dict):
        if depth >= 4:
            return '{…}'
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index >= 30 or budget[0] <= 0:
                out['…'] = '%d more keys' % (len(value) - index)
                break
            out[rp.visible(key, 80)] = _bounded(item, budget, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        if depth >= 4:
            return '[…]'
        items = [_bounded(item, budget, depth + 1) for item in list(value)[:20]]
        if len(value) > 20:
            items.append('… %d more items' % (len(value) - 20))
        return items
    text = rp.visible(value, 300)
    budget[0] -= len(text) + 8
    return text


def _sysctl_rows(record: Mapping[str, Any], keys: Dict[str, int]) -> List[List[Any]]:
    sysctl = record.get('sysctl')
    rows = []
    if isinstance(sysctl, dict):
        for key in sorted(sysctl, key=str):
            entry = sysctl[key] if isinstance(sysctl[key], dict) else {}
            name = rp.visible(key, 100)
            index = keys.setdefault(name, len(keys))
            rows.append([index, rp.visible(entry.get('runtime'), 100), rp.visible(entry.get('boot'), 100),
                         rp.visible(entry.get('boot_source'), TEXT), rp.visible(entry.get('expected'), 100),
                         1 if entry.get('present') else 0])
    return rows


def _destinations(timewait: Mapping[str, Any]) -> List[List[Any]]:
    rows = []
    by_remote = timewait.get('by_remote')
    for item in (by_remote if isinstance(by_remote, list) else [])[:TOP_DESTINATIONS]:
        if isinstance(item, dict):
            rows.append([rp.visible(item.get('address'), 100), _n(item.get('port')), _n(item.get('count'))])
    return rows


def _info_rows(entry: Mapping[str, Any], record: Mapping[str, Any]) -> List[List[str]]:
    kernel = record.get('kernel') if isinstance(record.get('kernel'), dict) else {}
    nginx = record.get('nginx') if isinstance(record.get('nginx'), dict) else {}
    timewait = record.get('timewait') if isinstance(record.get('timewait'), dict) else {}
    port_range = timewait.get('ephemeral_port_range')
    rows = [
        ['Observed (UTC)', entry['observed_at'] or 'unknown'],
        ['Run id', entry['run_id']],
        ['Stale', 'yes: this record was not made by this run' if entry['stale'] else None],
        ['Audit phase', record.get('phase')],
        ['Kernel', kernel.get('release')],
        ['Memory (MiB)', rp.number_text(record.get('memtotal_mb'))],
        ['Container', record.get('container')],
        ['/proc/sys writable', {True: 'yes', False: 'no'}.get(record.get('proc_sys_writable'))],
        ['nginx', (nginx.get('version') or 'present, version unknown') if nginx.get('present') else 'not found'],
        ['TIME_WAIT count method', timewait.get('method')],
        ['Ephemeral port range', ' to '.join(rp.number_text(p) for p in port_range)
         if isinstance(port_range, list) and len(port_range) == 2 else None],
        ['TCPTimeWaitOverflow since boot', rp.number_text(timewait.get('overflow_total'))],
    ]
    return [[label, rp.visible(value, TEXT)] for label, value in rows if value not in (None, '')]


def _detail(entry: Mapping[str, Any], ids: Mapping[str, int], keys: Dict[str, int]) -> Dict[str, Any]:
    record = entry['record'] if isinstance(entry['record'], dict) else {}
    detail = {}  # type: Dict[str, Any]
    if entry['error']:
        detail['e'] = rp.visible(entry['error'], LONG_TEXT, multiline=True)
    if entry['status'] == 'ok':
        detail['f'] = [[ids.get(f['id'], -1), rp.visible(f['id'], 100), _sev(f['severity']),
                        rp.visible(f['detail'], LONG_TEXT), rp.visible(f['source'], TEXT)]
                       for f in rp.record_findings(record)]
        detail['k'] = _sysctl_rows(record, keys)
        timewait = record.get('timewait') if isinstance(record.get('timewait'), dict) else {}
        detail['t'] = _destinations(timewait)
    detail['i'] = _info_rows(entry, record)
    extra = {key: value for key, value in record.items() if key not in KNOWN_RECORD_KEYS}
    nginx = extra.get('nginx')
    if isinstance(nginx, dict):
        # present and version are in the host facts above; the rest (details
        # other audits add) is shown as it is.
        extra['nginx'] = {k: v for k, v in nginx.items() if k not in ('present', 'version')}
        if not extra['nginx']:
            del extra['nginx']
    if extra:
        detail['x'] = _bounded(extra, [EXTRA_BUDGET])
    return detail


def _sev(severity: Any) -> int:
    """The catalogue's rank of a severity (0 = critical); -1 for none, which the page shows blank."""
    return severity_rank(severity) if severity in SEVERITIES else -1


def page_data(fleet: Mapping[str, Any], listed: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """The JSON the page's script reads: lookup tables, one compact row and one detail per listed host."""
    ids = {item['id']: index for index, item in enumerate(fleet['findings'])}
    keys = {}  # type: Dict[str, int]
    rows, details = [], []
    for entry in listed:
        timewait = entry['timewait']
        rows.append([rp.visible(entry['host'], TEXT), rp.STATES.index(entry['state']), _sev(entry['worst_severity']),
                     [ids[fid] for fid in entry['finding_ids'] if fid in ids],
                     _n(timewait['sockstat_tw']), _n(timewait['max_tw_buckets']),
                     _n(timewait['bucket_utilization']), _n(timewait['port_pressure']),
                     1 if entry['stale'] else 0])
        details.append(_detail(entry, ids, keys))
    return {
        'states': list(rp.STATES),
        'stateLabels': [STATE_LABELS[s] for s in rp.STATES],
        'severities': list(SEVERITIES),
        'ids': [[rp.visible(i['id'], 100), _sev(i['severity']), rp.visible(i['title'], TEXT),
                 rp.visible(i['remediation'], LONG_TEXT), i['count']] for i in fleet['findings']],
        'keys': sorted(keys, key=keys.get),
        'hosts': rows,
        'details': details,
        'omitted': len(fleet['hosts']) - len(listed),
    }


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its script element, open a comment or break the XML: <, > and & as \\u escapes."""
    text = json.dumps(data, separators=(',', ':'), ensure_ascii=False, allow_nan=False)
    return text.replace('&', '\\u0026').replace('<', '\\u003c').replace('>', '\\u003e')


# ---------------------------------------------------------------------------
# Server-rendered parts
# ---------------------------------------------------------------------------

def chart_svg(fleet: Mapping[str, Any], max_hosts: int = 60) -> str:
    """Inline SVG: TIME_WAIT per host against its tcp_max_tw_buckets limit, worst first.

    Every row is scaled to its own limit (the full track), so hosts with
    different limits compare by how full their table is; the label gives the
    counts. Green is compliant, red not. Unreachable and failed hosts have no
    data and are left to the table.
    """
    audited = [e for e in rp.sorted_hosts(fleet) if e['status'] == 'ok']
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
        timewait = entry['timewait']
        count = timewait['sockstat_tw'] if timewait['sockstat_tw'] is not None else timewait['total']
        limit = timewait['max_tw_buckets']
        utilization = timewait['bucket_utilization']
        if utilization is None and count is not None and limit:
            utilization = float(count) / limit
        bar_w = min(max(utilization or 0.0, 0.0), 1.0) * track_w
        if utilization and bar_w < 1:
            bar_w = 1.0  # a non-empty table stays visible
        colour = CHART_COLOURS.get(entry['state'], '#757575')
        name = _t(entry['host'], 40)
        counts = '%s / %s (%s)' % (rp.number_text(count, 'n/a'), rp.number_text(limit, 'n/a'), rp.percent(utilization))
        parts.append('<g class="row %s">' % entry['state'])
        # The state shows even where the bar is too short to see: a coloured
        # mark and a coloured name.
        parts.append('<rect x="0" y="%d" width="10" height="10" fill="%s"/>' % (y + 5, colour))
        parts.append('<text x="16" y="%d" fill="%s">%s</text>' % (y + 14, colour, name))
        parts.append('<rect x="%d" y="%d" width="%d" height="14" fill="#eeeeee"/>' % (label_w, y + 3, track_w))
        parts.append('<rect x="%d" y="%d" width="%.1f" height="14" fill="%s"><title>%s: %s</title></rect>' % (
            label_w, y + 3, bar_w, colour, _t(entry['host'], TEXT), counts))
        parts.append('<text x="%d" y="%d">%s</text>' % (label_w + track_w + 8, y + 14, counts))
        parts.append('</g>')
    footer_y = top + row_h * len(shown) + 16
    note = 'green: compliant, red: not compliant'
    if len(audited) > len(shown):
        note += '; %d more audited hosts in the table' % (len(audited) - len(shown))
    parts.append('<text x="0" y="%d" fill="#555555">%s</text>' % (footer_y, note))
    parts.append('</svg>')
    return '\n'.join(parts)


def _ids_html(ids: Sequence[str]) -> str:
    return ' '.join('<span class="id">%s</span>' % _t(fid, 100) for fid in ids)


def _static_rows(listed: Sequence[Mapping[str, Any]], count: int) -> str:
    """The first rows of the host table, for readers without JavaScript (the script redraws them)."""
    rows = []
    for entry in listed[:count]:
        timewait = entry['timewait']
        rows.append(
            '<tr><td class="host">%s</td><td class="state %s">%s%s</td><td>%s</td><td class="ids">%s</td>'
            '<td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td></tr>' % (
                _t(entry['host']), entry['state'], STATE_LABELS[entry['state']],
                ' <span class="stale">stale</span>' if entry['stale'] else '',
                entry['worst_severity'] or '', _ids_html(entry['finding_ids']) or _t(entry['error'], 200),
                rp.number_text(timewait['sockstat_tw']), rp.number_text(timewait['max_tw_buckets']),
                rp.percent(timewait['bucket_utilization']) if timewait['bucket_utilization'] is not None else '',
                rp.percent(timewait['port_pressure']) if timewait['port_pressure'] is not None else ''))
    return '\n'.join(rows)


def _history_html(history: Optional[Mapping[str, Any]], rows: int) -> str:
    """Counts first; each list folded in a <details> element (no script needed to open it)."""
    if not history:
        return '<p>No previous report to compare with.</p>'
    if history.get('error'):
        return '<p class="notice">The previous report could not be read: %s</p>' % _t(history['error'], 500)
    prev = history.get('previous') or {}
    path = prev.get('path') or 'path unknown'
    parts = ['<p>Compared with the report generated <span class="nw">%s</span> (<span class="path" title="%s">%s</span>).</p>' % (
        _t(prev.get('generated_at') or 'at an unknown time'), _t(path), _t(path.rsplit('/', 1)[-1]))]
    parts.append('<ul class="tiles small">%s</ul>' % ''.join(
        '<li><strong>%d</strong> %s</li>' % (len(history[key]), label) for key, label in (
            ('new_findings', 'new findings'), ('fixed_findings', 'fixed findings'),
            ('state_changes', 'hosts changed state'), ('hosts_added', 'hosts added'), ('hosts_gone', 'hosts gone'))))
    for key, title in (('new_findings', 'New findings'), ('fixed_findings', 'Fixed findings')):
        items = history[key]
        if items:
            parts.append('<details><summary>%s (%d)</summary><table class="history %s"><thead><tr><th>Host</th><th>Id</th>'
                         '<th>Severity</th><th>Title</th></tr></thead><tbody>%s</tbody></table>%s</details>' % (
                             title, len(items), key.replace('_', '-'), ''.join(
                                 '<tr><td class="host">%s</td><td><span class="id">%s</span></td><td>%s</td><td>%s</td></tr>'
                                 % (_t(i['host']), _t(i['id'], 100), _t(i['severity']), _t(i['title']))
                                 for i in items[:rows]), _more_html(len(items) - rows)))
    changes = history['state_changes']
    if changes:
        parts.append('<details><summary>Hosts whose state changed (%d)</summary><table class="history state-changes"><thead>'
                     '<tr><th>Host</th><th>Before</th><th>Now</th></tr></thead><tbody>%s</tbody></table>%s</details>' % (
                         len(changes), ''.join(
                             '<tr><td class="host">%s</td><td class="state %s">%s</td><td class="state %s">%s</td></tr>' % (
                                 _t(c['host']), _t(c['before'], 20), _t(STATE_LABELS.get(c['before'], c['before'])),
                                 c['after'], STATE_LABELS[c['after']]) for c in changes[:rows]),
                         _more_html(len(changes) - rows)))
    return '\n'.join(parts)


def _more_html(count: int) -> str:
    return '<p class="more">… and %d more in the JSON report.</p>' % count if count > 0 else ''


def _findings_html(fleet: Mapping[str, Any]) -> str:
    if not fleet['findings']:
        return '<p>No findings.</p>'
    rows = ''.join(
        '<tr><td><span class="id">%s</span></td><td class="sev %s">%s</td><td class="num">%d</td><td>%s</td><td>%s</td>'
        '<td><button type="button" class="show-hosts" data-finding="%d">Show hosts</button></td></tr>' % (
            _t(item['id'], 100), _t(item['severity'], 20), _t(item['severity'], 20), item['count'],
            _t(item['title']), _t(item['remediation'], LONG_TEXT), index)
        for index, item in enumerate(fleet['findings']))
    return ('<table id="findings"><thead><tr><th>Id</th><th>Severity</th><th>Hosts</th><th>Title</th><th>Remediation</th>'
            '<th></th></tr></thead><tbody>%s</tbody></table>' % rows)


CSS = """
:root { --ok: #2e7d32; --bad: #c62828; --grey: #616161; --stale: #ad5700; --line: #e0e0e0; --bg2: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; }
header, main { padding: 0 2rem; max-width: 110rem; margin: 0 auto; }
header { padding-top: 1.2rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.6rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
.lead { font-size: 1.1rem; margin: 0.2rem 0 1rem; }
.notice { background: #fff4e5; border-left: 4px solid var(--stale); padding: 0.5rem 0.8rem; margin: 0.5rem 0; }
dl.run { display: grid; grid-template-columns: max-content 1fr; gap: 0.15rem 1rem; margin: 0.5rem 0; font-size: 0.9rem; }
dl.run dt { color: var(--grey); }
dl.run dd { margin: 0; overflow-wrap: anywhere; }
ul.tiles { list-style: none; display: flex; flex-wrap: wrap; gap: 0.6rem; padding: 0; margin: 0.6rem 0; }
ul.tiles li { background: var(--bg2); border-radius: 6px; padding: 0.5rem 0.9rem; min-width: 8rem; }
ul.tiles li strong { display: block; font-size: 1.6rem; line-height: 1.1; }
ul.tiles.small li strong { font-size: 1.2rem; }
ul.tiles li.noncompliant strong { color: var(--bad); }
ul.tiles li.compliant strong { color: var(--ok); }
ul.tiles li.tile-stale strong { color: var(--stale); }
table { border-collapse: collapse; margin: 0.4rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.3rem 0.55rem; text-align: left; vertical-align: top; }
thead th { background: var(--bg2); position: sticky; top: 0; z-index: 1; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.id, .nw, td.host, .state, .sev, .path { white-space: nowrap; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85em; background: #eef1f5;
      border-radius: 3px; padding: 0 0.25rem; display: inline-block; margin: 0.05rem 0; }
td.host { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.9em; }
.state.compliant { color: var(--ok); } .state.noncompliant { color: var(--bad); font-weight: 600; }
.state.unreachable, .state.failed { color: var(--grey); font-weight: 600; }
.sev.critical, .sev.high { color: var(--bad); font-weight: 600; }
.stale { color: #fff; background: var(--stale); border-radius: 3px; padding: 0 0.3rem; font-size: 0.8em; }
.controls { display: flex; flex-wrap: wrap; gap: 0.4rem 1.2rem; align-items: center; margin: 0.5rem 0;
            background: var(--bg2); padding: 0.5rem 0.8rem; border-radius: 6px; }
.controls label { white-space: nowrap; }
button { font: inherit; cursor: pointer; }
th button.sort { background: none; border: 0; padding: 0; font-weight: 600; white-space: nowrap; }
th[aria-sort="ascending"] button.sort::after { content: " \\25B2"; }
th[aria-sort="descending"] button.sort::after { content: " \\25BC"; }
button.toggle { background: none; border: 0; padding: 0 0.3rem 0 0; font-family: inherit; }
tr.detail > td { background: #fbfcfe; padding: 0.6rem 1rem 1rem 2rem; }
tr.detail table { font-size: 0.9em; }
tr.detail h4 { margin: 0.7rem 0 0.2rem; font-size: 0.95rem; }
tr.detail .mismatch { color: var(--bad); font-weight: 600; }
tr.detail pre { white-space: pre-wrap; margin: 0; }
.wide { overflow-x: auto; }
td.ids { min-width: 15rem; }
.pager { margin: 0.5rem 0; display: flex; gap: 0.8rem; align-items: center; }
.more { color: var(--grey); }
footer { color: var(--grey); font-size: 0.85rem; padding: 2rem; }
details { margin: 0.3rem 0; }
details > summary { cursor: pointer; font-weight: 600; }
button.show-hosts { white-space: nowrap; }
"""

# The page's script: draws the host table from the data block. It only ever
# sets textContent and a few known attributes, so host values stay text.
SCRIPT = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("report-data").textContent);
  var PAGE = parseInt(document.getElementById("hosts").getAttribute("data-page-rows"), 10) || 100;
  var sortCol = -1, sortDir = 1, page = 0, view = [], open = {};
  var stateBoxes = Array.prototype.slice.call(document.querySelectorAll("input.state-filter"));
  var staleBox = document.getElementById("filter-stale");
  var idSelect = document.getElementById("filter-finding");
  var search = document.getElementById("filter-host");
  var tbody = document.querySelector("#hosts tbody");
  var status = document.getElementById("hosts-status");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function pct(v) { return v === null ? "" : (v * 100).toFixed(1) + "%"; }
  function num(v) { return v === null ? "" : String(v); }
  var keyOf = [
    function (h) { return h[0].toLowerCase(); },
    function (h) { return h[1]; },
    function (h) { return h[2] < 0 ? 99 : h[2]; },
    function (h) { return h[3].length; },
    function (h) { return h[4] === null ? -1 : h[4]; },
    function (h) { return h[5] === null ? -1 : h[5]; },
    function (h) { return h[6] === null ? -1 : h[6]; },
    function (h) { return h[7] === null ? -1 : h[7]; }
  ];

  function compute() {
    var states = {}, q = search.value.trim().toLowerCase(), fid = parseInt(idSelect.value, 10);
    stateBoxes.forEach(function (box) { states[box.value] = box.checked; });
    view = [];
    for (var i = 0; i < D.hosts.length; i++) {
      var h = D.hosts[i];
      if (!states[D.states[h[1]]]) { continue; }
      if (staleBox.checked && !h[8]) { continue; }
      if (fid >= 0 && h[3].indexOf(fid) < 0) { continue; }
      if (q && h[0].toLowerCase().indexOf(q) < 0) { continue; }
      view.push(i);
    }
    if (sortCol >= 0) {
      // Each key computed once, then a stable sort (ties keep the worst-first order).
      var key = keyOf[sortCol];
      var keyed = view.map(function (i) { return [key(D.hosts[i]), i]; });
      keyed.sort(function (a, b) {
        if (a[0] < b[0]) { return -sortDir; }
        if (a[0] > b[0]) { return sortDir; }
        return a[1] - b[1];
      });
      view = keyed.map(function (pair) { return pair[1]; });
    }
    page = 0;
  }

  function kvTable(rows) {
    var table = el("table", "kv"), body = el("tbody");
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("th", null, row[0]));
      tr.appendChild(el("td", null, row[1]));
      body.appendChild(tr);
    });
    table.appendChild(body);
    return table;
  }
  function grid(headers, rows, fill) {
    var table = el("table"), head = el("thead"), hr = el("tr"), body = el("tbody");
    headers.forEach(function (h) { hr.appendChild(el("th", null, h)); });
    head.appendChild(hr);
    table.appendChild(head);
    rows.forEach(function (row) { var tr = el("tr"); fill(tr, row); body.appendChild(tr); });
    table.appendChild(body);
    return table;
  }
  function tree(value) {
    if (value === null || typeof value !== "object") { return el("span", null, value === null ? "null" : value); }
    var list = el(Array.isArray(value) ? "ol" : "dl");
    if (Array.isArray(value)) {
      value.forEach(function (item) { var li = el("li"); li.appendChild(tree(item)); list.appendChild(li); });
    } else {
      Object.keys(value).forEach(function (k) {
        list.appendChild(el("dt", null, k));
        var dd = el("dd"); dd.appendChild(tree(value[k])); list.appendChild(dd);
      });
    }
    return list;
  }

  function detailCell(index) {
    var d = D.details[index], td = el("td");
    td.colSpan = 8;
    if (d.e) { td.appendChild(el("h4", null, "Error")); td.appendChild(el("pre", null, d.e)); }
    if (d.f) {
      td.appendChild(el("h4", null, "Findings (" + d.f.length + ")"));
      if (d.f.length) {
        td.appendChild(grid(["Id", "Severity", "Title", "Detail", "Source", "Remediation"], d.f, function (tr, f) {
          var meta = f[0] >= 0 ? D.ids[f[0]] : null;
          var idCell = el("td"); idCell.appendChild(el("span", "id", f[1])); tr.appendChild(idCell);
          tr.appendChild(el("td", "sev " + (D.severities[f[2]] || ""), D.severities[f[2]] || "unknown"));
          tr.appendChild(el("td", null, meta ? meta[2] : ""));
          tr.appendChild(el("td", null, f[3]));
          tr.appendChild(el("td", "path", f[4]));
          tr.appendChild(el("td", null, meta ? meta[3] : ""));
        }));
      } else { td.appendChild(el("p", null, "No findings.")); }
    }
    if (d.k && d.k.length) {
      td.appendChild(el("h4", null, "Kernel settings"));
      td.appendChild(grid(["Key", "Runtime", "At next boot", "Set by", "Expected"], d.k, function (tr, k) {
        tr.appendChild(el("td", "path", D.keys[k[0]]));
        tr.appendChild(el("td", k[4] && k[1] !== k[4] ? "mismatch" : null, k[5] ? k[1] : "absent on this kernel"));
        tr.appendChild(el("td", k[2] && k[2] !== k[1] ? "mismatch" : null, k[2]));
        tr.appendChild(el("td", "path", k[3]));
        tr.appendChild(el("td", null, k[4]));
      }));
    }
    if (d.t) {
      td.appendChild(el("h4", null, "Top TIME_WAIT destinations"));
      if (d.t.length) {
        td.appendChild(grid(["Address", "Port", "Sockets"], d.t, function (tr, t) {
          tr.appendChild(el("td", "path", t[0])); tr.appendChild(el("td", "num", num(t[1])));
          tr.appendChild(el("td", "num", num(t[2])));
        }));
      } else { td.appendChild(el("p", null, "No TIME_WAIT sockets.")); }
    }
    td.appendChild(el("h4", null, "Host"));
    td.appendChild(kvTable(d.i));
    if (d.x) { td.appendChild(el("h4", null, "More from the record")); td.appendChild(tree(d.x)); }
    return td;
  }

  function hostRow(index) {
    var h = D.hosts[index], tr = el("tr", "host-row");
    tr.setAttribute("data-index", String(index));
    var name = el("td", "host"), button = el("button", "toggle", open[index] ? "\u25BE" : "\u25B8");
    button.type = "button";
    button.setAttribute("aria-expanded", open[index] ? "true" : "false");
    button.setAttribute("aria-label", "Details of " + h[0]);
    name.appendChild(button);
    name.appendChild(document.createTextNode(h[0]));
    tr.appendChild(name);
    var state = el("td", "state " + D.states[h[1]], D.stateLabels[h[1]]);
    if (h[8]) { state.appendChild(document.createTextNode(" ")); state.appendChild(el("span", "stale", "stale")); }
    tr.appendChild(state);
    tr.appendChild(el("td", "sev " + (D.severities[h[2]] || ""), D.severities[h[2]] || ""));
    var ids = el("td", "ids");
    h[3].forEach(function (i, n) {
      if (n) { ids.appendChild(document.createTextNode(" ")); }
      ids.appendChild(el("span", "id", D.ids[i][0]));
    });
    tr.appendChild(ids);
    tr.appendChild(el("td", "num", num(h[4])));
    tr.appendChild(el("td", "num", num(h[5])));
    tr.appendChild(el("td", "num", pct(h[6])));
    tr.appendChild(el("td", "num", pct(h[7])));
    return tr;
  }

  function render() {
    var start = page * PAGE, end = Math.min(start + PAGE, view.length), frag = document.createDocumentFragment();
    for (var n = start; n < end; n++) {
      frag.appendChild(hostRow(view[n]));
      if (open[view[n]]) { var dr = el("tr", "detail"); dr.appendChild(detailCell(view[n])); frag.appendChild(dr); }
    }
    tbody.textContent = "";
    tbody.appendChild(frag);
    status.textContent = view.length ? "Hosts " + (start + 1) + " to " + end + " of " + view.length +
      (view.length < D.hosts.length ? " (filtered from " + D.hosts.length + ")" : "") : "No host matches the filters.";
    document.getElementById("page-prev").disabled = page === 0;
    document.getElementById("page-next").disabled = end >= view.length;
  }
  function refresh() { compute(); render(); }

  tbody.addEventListener("click", function (event) {
    var button = event.target.closest("button.toggle");
    if (!button) { return; }
    var index = parseInt(button.closest("tr").getAttribute("data-index"), 10);
    open[index] = !open[index];
    render();
  });
  document.querySelectorAll("#hosts thead th[data-col]").forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var col = parseInt(th.getAttribute("data-col"), 10);
      sortDir = col === sortCol ? -sortDir : (th.getAttribute("data-first") === "desc" ? -1 : 1);
      sortCol = col;
      document.querySelectorAll("#hosts thead th").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      refresh();
    });
  });
  stateBoxes.concat([staleBox]).forEach(function (box) { box.addEventListener("change", refresh); });
  idSelect.addEventListener("change", refresh);
  search.addEventListener("input", refresh);
  document.getElementById("page-prev").addEventListener("click", function () { page -= 1; render(); });
  document.getElementById("page-next").addEventListener("click", function () { page += 1; render(); });
  document.querySelectorAll("button.show-hosts").forEach(function (button) {
    button.addEventListener("click", function () {
      idSelect.value = button.getAttribute("data-finding");
      refresh();
      document.getElementById("hosts-section").scrollIntoView();
    });
  });
  D.ids.forEach(function (item, i) {
    var option = el("option", null, item[0] + " (" + item[4] + ")");
    option.value = String(i);
    idSelect.appendChild(option);
  });
  refresh();
  document.documentElement.setAttribute("data-ready", "true");
}());
"""


def _controls(fleet: Mapping[str, Any]) -> str:
    totals = fleet['totals']
    boxes = ''.join(
        '<label><input type="checkbox" class="state-filter" value="%s" checked="checked"/> %s (%d)</label>'
        % (state, STATE_LABELS[state], totals[state]) for state in rp.STATES)
    return ('<div class="controls">%s<label><input type="checkbox" id="filter-stale"/> only stale (%d)</label>'
            '<label>Finding <select id="filter-finding"><option value="-1">any</option></select></label>'
            '<label>Host <input type="search" id="filter-host" placeholder="part of the name"/></label></div>'
            % (boxes, totals['stale']))


HOST_COLUMNS = (  # (heading, css class, first sort direction)
    ('Host', '', 'asc'), ('State', '', 'asc'), ('Worst', '', 'asc'), ('Findings', '', 'desc'),
    ('TIME_WAIT', 'num', 'desc'), ('Limit', 'num', 'desc'), ('Table use', 'num', 'desc'),
    ('Port pressure', 'num', 'desc'))


def page(fleet: Mapping[str, Any], options: Optional[Mapping[str, Any]] = None,
         names: Optional[Mapping[str, str]] = None) -> str:
    """Render the whole page (see the module docstring)."""
    options = options or {}
    names = names or {}
    totals = fleet['totals']
    run = fleet.get('run') or {}
    ranked = rp.sorted_hosts(fleet)
    listed = ranked[:_opt(options, 'html_max_hosts')]
    page_rows = max(_opt(options, 'page_rows'), 1)
    data = _json_for_script(page_data(fleet, listed))
    script = '\n//<![CDATA[' + SCRIPT + '//]]>\n'
    script_hash = base64.b64encode(hashlib.sha256(script.encode('utf-8')).digest()).decode('ascii')
    title = 'TCP TIME_WAIT audit: %d of %d hosts not compliant' % (totals['noncompliant'], totals['hosts'])
    json_name = _t(names.get('json') or 'tcp-audit.json')
    tiles = ''.join('<li class="%s"><strong>%d</strong>%s</li>' % (cls, totals[key], label) for key, cls, label in (
        ('hosts', '', 'hosts'), ('compliant', 'compliant', 'compliant'), ('noncompliant', 'noncompliant', 'not compliant'),
        ('unreachable', '', 'unreachable'), ('failed', '', 'failed'), ('stale', 'tile-stale', 'stale records'),
        ('timewait_total', '', 'TIME_WAIT sockets')))
    run_dl = ''.join('<dt>%s</dt><dd>%s</dd>' % (escape(label), escape(value, quote=True))
                     for label, value in report_text.run_rows(run))
    notices = ''.join('<p class="notice">%s</p>' % _t(text, 1000) for text in report_text.notices(fleet))
    omitted = ''
    if len(listed) < len(ranked):
        omitted = ('<p class="notice">This page lists the %d hosts most at risk; the other %d are in %s.</p>'
                   % (len(listed), len(ranked) - len(listed), json_name))
    headings = ''.join('<th data-col="%d" data-first="%s"%s><button type="button" class="sort">%s</button></th>' % (
        index, first, ' class="%s"' % cls if cls else '', label) for index, (label, cls, first) in enumerate(HOST_COLUMNS))
    return ''.join([
        '<!-- Generated by harden_tcp.tcp.tcp_report from %s; edits are lost on the next run. -->\n' % json_name,
        '<!DOCTYPE html>\n<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n<meta charset="utf-8"/>\n',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
        'script-src \'sha256-%s\'; base-uri \'none\'; form-action \'none\'"/>\n' % script_hash,
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n',
        '<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n' % (escape(title), CSS),
        '<header>\n<h1>TCP TIME_WAIT audit</h1>\n',
        '<p class="lead"><strong>%d of %d hosts are not compliant</strong> (a finding of severity high or critical); '
        '%d unreachable, %d failed.</p>\n' % (totals['noncompliant'], totals['hosts'], totals['unreachable'], totals['failed']),
        notices, '<ul class="tiles">%s</ul>\n' % tiles, '<dl class="run">%s</dl>\n</header>\n<main>\n' % run_dl,
        '<section id="history"><h2>Since the previous report</h2>\n%s</section>\n' % _history_html(
            fleet.get('history'), _opt(options, 'history_rows')),
        '<section id="hosts-section"><h2>Hosts</h2>\n',
        '<p>Worst first. Click a heading to sort, the arrow beside a host for its findings, kernel settings and '
        'TIME_WAIT destinations.</p>\n', omitted, _controls(fleet),
        '<p id="hosts-status" class="nw">Hosts 1 to %d of %d</p>\n' % (min(page_rows, len(listed)), len(listed)),
        '<div class="wide"><table id="hosts" data-page-rows="%d"><thead><tr>%s</tr></thead>\n<tbody>\n%s\n</tbody></table></div>\n' % (
            page_rows, headings, _static_rows(listed, page_rows)),
        '<div class="pager"><button type="button" id="page-prev">Previous</button>'
        '<button type="button" id="page-next">Next</button></div>\n</section>\n',
        '<section id="findings-section"><h2>Findings by id</h2>\n%s</section>\n' % _findings_html(fleet),
        '<section id="chart"><h2>TIME_WAIT per host against its bucket limit</h2>\n%s\n</section>\n' % chart_svg(
            fleet, _opt(options, 'chart_max_hosts')),
        '</main>\n<footer>The whole report, every host and its full record, is in %s.</footer>\n' % json_name,
        '<script id="report-data" type="application/json">%s</script>\n' % data,
        '<script>%s</script>\n</body>\n</html>\n' % script,
    ])
