"""Render the tcp_report role's node_exporter textfile template as Ansible's template module does.

Jinja2 configured like the template module (trim_blocks), Ansible's core
filters and the collection's report filters by their FQCN. Shared by
tests/unit/test_tcp_report_render.py and tests/monitoring.
"""

from __future__ import annotations

import pathlib
from typing import Any, Mapping

import jinja2
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible_collections.harden_tcp.tcp.plugins.filter.report import FilterModule as ReportFilters

ROLE = pathlib.Path(__file__).resolve().parents[1] / 'roles' / 'tcp_report'


def render_textfile(record: Mapping[str, Any]) -> str:
    """The textfile the role writes on a host with this tcp_audit_record."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / 'templates')), trim_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(CoreFilters().filters())
    env.filters.update(('harden_tcp.tcp.' + name, filt) for name, filt in ReportFilters().filters().items())
    values = yaml.safe_load((ROLE / 'defaults' / 'main.yml').read_text())
    values.update(ansible_managed='Ansible managed', tcp_audit_record=record)
    return env.get_template('harden_tcp.prom.j2').render(**values)
