# -*- coding: utf-8 -*-
"""Render the tcp_report templates (Markdown, HTML, Prometheus textfile) over the fixture fleet.

The templates are rendered with Jinja2 configured like Ansible's template
module (trim_blocks), Ansible's core filters and the role's own filters, so
what is asserted here is what the role writes.
"""

from __future__ import annotations

import json
import pathlib
import re
import xml.etree.ElementTree as ET

import jinja2
import pytest
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible_collections.harden_tcp.tcp.plugins.filter.report import FilterModule as ReportFilters
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLE = ROOT / 'roles' / 'tcp_report'
FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'report'
XHTML = '{http://www.w3.org/1999/xhtml}'


def _environment():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / 'templates')), trim_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(CoreFilters().filters())
    # The templates call the filters by their FQCN, as Ansible resolves them.
    env.filters.update(('harden_tcp.tcp.' + name, filt) for name, filt in ReportFilters().filters().items())
    return env


def _role_vars():
    values = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
    values.update(yaml.safe_load((ROLE / 'vars' / 'main.yml').read_text()))
    values['ansible_managed'] = 'Ansible managed'
    return values


@pytest.fixture()
def fleet():
    data = json.loads((FIXTURES / 'fleet.json').read_text())
    return tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], data['run'])


def render(name, **extra):
    values = _role_vars()
    values.update(extra)
    return _environment().get_template(name).render(**values)


def test_html_is_well_formed_and_holds_every_host(fleet):
    page = render('tcp-audit.html.j2', __tcp_report_fleet=fleet)
    assert page.startswith('<!--')
    root = ET.fromstring(page)  # strict XML parse: every tag closed, every & escaped
    table = next(t for t in root.iter(XHTML + 'table') if t.get('id') == 'hosts')
    rows = table.find(XHTML + 'tbody').findall(XHTML + 'tr')
    assert sorted(row.find(XHTML + 'td').text for row in rows) == sorted(h['host'] for h in fleet['hosts'])
    states = {row.find(XHTML + 'td').text: row.findall(XHTML + 'td')[1].text for row in rows}
    assert states['web-02'] == 'noncompliant' and states['db-01'] == 'unreachable'
    # Self-contained: no external scripts, styles or images.
    assert not re.search(r'(src|href)=', page)
    assert root.find('.//{http://www.w3.org/2000/svg}svg') is not None


def test_html_is_unchanged_when_only_the_run_time_changes(fleet):
    other = dict(fleet, run=dict(fleet['run'], generated_at='2030-01-01T00:00:00Z'))
    assert render('tcp-audit.html.j2', __tcp_report_fleet=fleet) == render('tcp-audit.html.j2', __tcp_report_fleet=other)


def test_markdown_summary(fleet):
    text = render('tcp-audit.md.j2', __tcp_report_fleet=fleet)
    assert text.startswith('<!--')
    assert '# TCP TIME_WAIT audit: 3 of 8 hosts not compliant' in text
    assert '| 8 | 2 | 3 | 2 | 1 | 7855 |' in text
    worst = [line.split('|')[1].strip() for line in text.split('## Hosts most at risk')[1].split('## Findings')[0].splitlines()
             if line.startswith('| ') and not line.startswith('| Host')]
    assert worst[:3] == ['old-01', 'lb-<1>&"x"', 'web-02']
    assert '### TW-SYSCTL-006 (high): Runtime value differs from the profile' in text
    assert '- Remediation: Remove the conflicting file \\| then run harden-tcp.yml.' in text
    # Every table row has the header's number of cells (pipes in data are escaped).
    for line in text.splitlines():
        if line.startswith('| ') and 'Worst' not in line and line.count('|') > 7:
            assert len(re.split(r'(?<!\\)\|', line)) == 9, line


def test_markdown_lists_hosts_per_finding_up_to_the_limit(fleet):
    text = render('tcp-audit.md.j2', __tcp_report_fleet=fleet, tcp_report_md_hosts_per_finding=1)
    assert '- Hosts (2): old-01, and 1 more (see tcp-audit.json)' in text


def test_prometheus_textfile(fleet):
    record = json.loads((FIXTURES / 'fleet.json').read_text())['records']['old-01']
    text = render('harden_tcp.prom.j2', tcp_audit_record=record)
    samples = [line for line in text.splitlines() if line and not line.startswith('#')]
    names = [re.match(r'[a-z_]+(\{[^}]*\})?', line).group(0) for line in samples]
    assert len(names) == len(set(names)), 'duplicate series make node_exporter reject the file'
    assert 'harden_tcp_compliant 0' in samples
    assert 'harden_tcp_max_tw_buckets 65536' in samples
    assert 'harden_tcp_finding{id="TW-SYSCTL-006",severity="high"} 1' in samples
    # overflow_total is null on this host: no sample rather than a made-up 0.
    assert not any(line.startswith('harden_tcp_timewait_overflow_total') for line in samples)
    for line in samples:
        assert re.fullmatch(r'[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? -?[0-9.]+', line), line
