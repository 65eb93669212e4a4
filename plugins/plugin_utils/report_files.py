# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The report files: their names, the JSON layout, reading a report back, writing every format.

Used by the action plugin ``harden_tcp.tcp.tcp_report`` and the merge CLI
(report_cli.py). Standard library only.

The JSON report is one JSON document written a line at a time: the top-level
keys first, then one host per line, so it is streamed out (never held as one
string) and a reader that only needs the hosts' states (the history of the
next report) parses it line by line without loading every record at once.
Any other valid JSON report is read too, in one piece.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import json
import math
import os
import re
import tempfile
from typing import Any, Callable, Dict, Iterable, IO, List, Mapping, Optional, Tuple

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_html, report_text

FORMATS = ('json', 'markdown', 'html', 'junit')
SUFFIXES = {'json': '.json', 'markdown': '.md', 'html': '.html', 'junit': '.junit.xml'}
BASE_NAME = 'tcp-audit'
# Host entry keys the history needs from the previous report.
HISTORY_KEYS = ('host', 'state', 'status', 'finding_ids')
_SAFE_ID = re.compile(r'[^A-Za-z0-9_-]+')


class ReportFileError(Exception):
    """A report file cannot be read or written; the message names the file."""


# ---------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------

def base_name(awx_job_id: Any = None, slice_: Optional[Mapping[str, int]] = None, merged: bool = False) -> str:
    """File name without suffix: tcp-audit[.merged][.awx-<job>][.slice-<n>-of-<count>].

    The AWX job id keeps one job's report from replacing another's in a shared
    persistent directory; the slice keeps the slices of one sliced job apart.
    """
    name = BASE_NAME + ('.merged' if merged else '')
    if awx_job_id not in (None, ''):
        name += '.awx-' + (_SAFE_ID.sub('_', str(awx_job_id))[:64] or 'job')
    if slice_:
        name += '.slice-%d-of-%d' % (slice_['number'], slice_['count'])
    return name


def family_pattern(name: str) -> 're.Pattern[str]':
    """JSON files of earlier runs of the same report: any AWX job id, the same slice and merge kind."""
    slice_part = re.search(r'\.slice-\d+-of-\d+$', name)
    merged = '.merged' if name.startswith(BASE_NAME + '.merged') else ''
    return re.compile(r'%s%s(\.awx-[A-Za-z0-9_-]+)?%s\.json' % (
        re.escape(BASE_NAME), re.escape(merged), re.escape(slice_part.group(0)) if slice_part else ''))


def previous_report_path(directory: str, name: str) -> Optional[str]:
    """The newest JSON report of the same family in directory (the file about to be replaced included)."""
    pattern = family_pattern(name)
    try:
        candidates = [entry for entry in os.scandir(directory) if entry.is_file() and pattern.fullmatch(entry.name)]
    except FileNotFoundError:
        return None
    if not candidates:
        return None
    return max(candidates, key=lambda entry: (entry.stat().st_mtime, entry.name)).path


# ---------------------------------------------------------------------------
# JSON: written a line at a time, read back whole or by line
# ---------------------------------------------------------------------------

def _dumps(value: Any) -> str:
    """Compact JSON; non-finite floats (a host can send NaN) become null instead of invalid JSON."""
    try:
        return json.dumps(value, separators=(',', ':'), allow_nan=False, default=str)
    except ValueError:
        return json.dumps(_finite(value), separators=(',', ':'), allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def write_json(fleet: Mapping[str, Any], out: IO[str]) -> None:
    """Write the fleet as one JSON document: top-level keys, then one host per line."""
    out.write('{\n')
    for key, value in fleet.items():
        if key != 'hosts':
            out.write('"%s":%s,\n' % (key, _dumps(value)))
    out.write('"hosts":[\n')
    hosts = fleet.get('hosts') or []
    last = len(hosts) - 1
    for index, entry in enumerate(hosts):
        out.write(_dumps(entry))
        out.write(',\n' if index < last else '\n')
    out.write(']}\n')


def read_report(path: str, host_keys: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """Read a JSON report back; with host_keys, keep only those keys of each host entry.

    Reports written by write_json are read a line at a time; any other JSON
    report is loaded whole. Raises ReportFileError naming the file when it is
    not a report.
    """
    keep = tuple(host_keys) if host_keys is not None else None
    try:
        with open(path, encoding='utf-8') as handle:
            report = _read_lines(handle, keep)
            if report is None:
                handle.seek(0)
                report = json.load(handle)
                if keep is not None and isinstance(report, dict) and isinstance(report.get('hosts'), list):
                    report['hosts'] = [_pick(entry, keep) for entry in report['hosts']]
    except (OSError, ValueError) as exc:
        raise ReportFileError('%s is not a readable JSON report: %s' % (path, exc)) from exc
    if not isinstance(report, dict) or not isinstance(report.get('hosts'), list):
        raise ReportFileError('%s is not a harden-tcp fleet report (no "hosts" list)' % path)
    return report


def _pick(entry: Any, keep: Tuple[str, ...]) -> Any:
    return {key: entry.get(key) for key in keep} if isinstance(entry, dict) else entry


def _read_lines(handle: IO[str], keep: Optional[Tuple[str, ...]]) -> Optional[Dict[str, Any]]:
    """Parse write_json's layout; None when the file has another layout (the caller loads it whole)."""
    if handle.readline() != '{\n':
        return None
    report = {}  # type: Dict[str, Any]
    for line in handle:
        if line == '"hosts":[\n':
            break
        match = re.match(r'"([a-z_]+)":(.*),\n\Z', line, re.S)
        if not match:
            return None
        report[match.group(1)] = json.loads(match.group(2))
    else:
        return None
    hosts = []
    for line in handle:
        if line == ']}\n':
            report['hosts'] = hosts
            return report
        entry = json.loads(line.rstrip(',\n'))
        hosts.append(_pick(entry, keep) if keep is not None else entry)
    return None


# ---------------------------------------------------------------------------
# Writing every format
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def no_gc_pauses():
    """Keep Python's cyclic garbage collector out of the report's way while it runs.

    Building a report creates millions of small objects next to the fleet's
    records; every collection would walk all of them again, which makes the
    step grow faster than the fleet (measured: 20,000 hosts took three times
    as long as four times 5,000). The report makes no reference cycles worth
    collecting; the collector is back on when it is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _atomic_write(path: str, write: Callable[[IO[str]], None], mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory and rename it over path."""
    directory = os.path.dirname(path) or '.'
    handle, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp', dir=directory)
    try:
        with os.fdopen(handle, 'w', encoding='utf-8', newline='\n') as out:
            write(out)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_reports(fleet: Dict[str, Any], directory: str, name: str, formats: Iterable[str],
                  options: Optional[Mapping[str, Any]] = None,
                  previous: Optional[str] = 'auto') -> Dict[str, Any]:
    """Write the fleet report in every requested format (JSON always); return {format: path}.

    previous: 'auto' compares with the newest report of the same family in
    directory, a path compares with that file, None or '' compares with
    nothing. The comparison lands in fleet['history'] before anything is
    written. options: the renderers' limits (report_html.OPTIONS and
    report_text.OPTIONS keys).
    """
    options = dict(options or {})
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise ReportFileError('cannot create the report directory %s: %s' % (directory, exc)) from exc
    files = {fmt: os.path.join(directory, name + SUFFIXES[fmt])
             for fmt in FORMATS if fmt == 'json' or fmt in formats}
    source = previous_report_path(directory, name) if previous == 'auto' else (previous or None)
    if source:
        try:
            fleet['history'] = rp.report_history(read_report(source, HISTORY_KEYS), fleet, source)
        except ReportFileError as exc:
            fleet['history'] = {'error': str(exc), 'previous': {'path': source}}
    names = {fmt: os.path.basename(path) for fmt, path in files.items()}
    writers = {
        'json': lambda out: write_json(fleet, out),
        'markdown': lambda out: out.write(report_text.markdown(fleet, options, names)),
        'html': lambda out: out.write(report_html.page(fleet, options, names)),
        'junit': lambda out: out.write(report_text.junit(fleet)),
    }
    for fmt, path in files.items():
        try:
            _atomic_write(path, writers[fmt])
        except OSError as exc:
            raise ReportFileError('cannot write %s: %s' % (path, exc)) from exc
    return files


def load_reports(paths: Iterable[str]) -> List[Tuple[str, Dict[str, Any]]]:
    """Read every report a merge takes; glob patterns are expanded, sorted, each file read once."""
    seen = []  # type: List[str]
    for pattern in paths:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise ReportFileError('no report matches %s' % pattern)
        seen.extend(os.path.abspath(match) for match in matches if os.path.abspath(match) not in seen)
    if not seen:
        raise ReportFileError('no report to merge: give at least one JSON report')
    return [(path, read_report(path)) for path in seen]
