"""The monitoring that ships with the collection agrees with the textfile the role writes.

* The Grafana dashboard and the alert rules name only metrics (and labels)
  that the node_exporter textfile template writes, and the dashboard shows
  every one of them.
* promtool, Prometheus' own parser, accepts the textfiles of the fixture
  fleets, hostile hosts included.

`make monitoring` runs these after `promtool check rules` and `promtool test
rules`, and installs Debian's prometheus package (promtool) when missing.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report_text import TEXTFILE_METRICS

from report_templates import render_textfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'unit' / 'fixtures' / 'report'
DASHBOARD = ROOT / 'monitoring' / 'grafana' / 'harden_tcp.json'
RULES = ROOT / 'monitoring' / 'prometheus' / 'harden_tcp.rules.yml'
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {'instance', 'job'}
METRIC = re.compile(r'\bharden_tcp_[a-z_]+')


def fixture_records():
    records = []
    for name in ('fleet.json', 'hostile.json'):
        records += [r for r in json.loads((FIXTURES / name).read_text())['records'].values() if isinstance(r, dict)]
    return records


def written_series():
    """{metric: set of label names} over the textfiles the template writes for the fixture records."""
    series = {}
    for record in fixture_records():
        for line in render_textfile(record).splitlines():
            if line and not line.startswith('#'):
                name, labels = re.match(r'([a-z_]+)(?:\{(.*)\})? ', line).groups()
                series.setdefault(name, set()).update(re.findall(r'([a-z_]+)="', labels or ''))
    return series


def expressions(dashboard):
    found = []
    for panel in dashboard['panels']:
        found += [target['expr'] for target in panel.get('targets', [])]
    for variable in dashboard['templating']['list']:
        query = variable.get('query')
        if isinstance(query, dict):
            found.append(query['query'])
    return found


def check_expression(expr, series):
    """Every harden_tcp metric in expr is written, and every label it selects or groups by exists on it."""
    names = set(METRIC.findall(expr))
    assert names, expr
    unknown = names - set(series)
    assert not unknown, '%s: %s' % (expr, unknown)
    for name, selector in re.findall(r'\b(harden_tcp_[a-z_]+)\{([^}]*)\}', expr):
        labels = set(re.findall(r'([a-z_]+)\s*=~?', selector))
        assert labels <= series[name] | TARGET_LABELS, '%s: %s' % (expr, labels - series[name])
    available = set().union(*(series[name] for name in names)) | TARGET_LABELS
    for grouping in re.findall(r'\bby \(([^)]*)\)', expr):
        labels = {label.strip() for label in grouping.split(',')}
        assert labels <= available, '%s: %s' % (expr, labels - available)
    return names


def test_the_textfile_writes_every_metric_it_declares():
    assert set(written_series()) == {name for name, _kind, _help in TEXTFILE_METRICS}


def test_dashboard_shows_only_and_all_the_textfile_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    series = written_series()
    used = set()
    for expr in expressions(dashboard):
        used |= check_expression(expr, series)
    assert used == set(series)
    # Every panel queries the datasource the dashboard asks for on import.
    assert all(panel['datasource'] == {'type': 'prometheus', 'uid': '${datasource}'} for panel in dashboard['panels'])
    assert len({panel['id'] for panel in dashboard['panels']}) == len(dashboard['panels'])


def test_alert_rules_name_only_textfile_metrics():
    groups = yaml.safe_load(RULES.read_text())['groups']
    alerts = {rule['alert']: rule['expr'] for group in groups for rule in group['rules']}
    assert set(alerts) == {'HardenTcpHostNotCompliant', 'HardenTcpTimewaitTableNearLimit', 'HardenTcpEphemeralPortPressure',
                           'HardenTcpTimewaitOverflowIncreasing', 'HardenTcpTextfileStale'}
    series = written_series()
    for expr in alerts.values():
        check_expression(expr, series)


def test_the_check_catches_a_metric_the_textfile_does_not_write():
    with pytest.raises(AssertionError):
        check_expression('sum(harden_tcp_timewait_total)', written_series())
    with pytest.raises(AssertionError):
        check_expression('sum by (host) (harden_tcp_finding)', written_series())


@pytest.fixture(scope='module')
def promtool():
    path = shutil.which('promtool')
    if not path:
        pytest.fail('promtool is missing: make monitoring installs Debian\'s prometheus package')
    return path


def promtool_check(promtool, text):
    return subprocess.run([promtool, 'check', 'metrics'], input=text, capture_output=True, text=True, check=False)


def test_promtool_accepts_every_fixture_textfile(promtool):
    for record in fixture_records():
        text = render_textfile(record)
        result = promtool_check(promtool, text)
        assert result.returncode == 0, (result.stdout, result.stderr, text)


def test_promtool_would_refuse_a_broken_textfile(promtool):
    text = render_textfile(fixture_records()[0])
    assert promtool_check(promtool, text + 'harden_tcp_compliant{x="1} 0\n').returncode != 0
