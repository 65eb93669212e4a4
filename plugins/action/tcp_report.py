# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin harden_tcp.tcp.tcp_report: the whole fleet report in one Python step on the controller.

Documented in plugins/modules/tcp_report.py. Reads every covered host's
tcp_audit_record straight from the variable manager (one lookup per host, no
templating of the fleet), or reads JSON reports to merge, then builds and
writes every format with plugin_utils/report*.py. It runs nothing on any host
and never uses become; the files it writes are controller artifacts, so it
never reports a change (``written`` and ``files`` say what it wrote).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files, report_html, report_text
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.run import controller_run, utc_now

RECORD_VAR = 'tcp_audit_record'
ERROR_VAR = 'tcp_report_host_error'
# AWX sets these extra variables on every job (awx/main/models/unified_jobs.py
# and jobs.py, awx_meta_vars); the report keeps the ones that identify the job.
AWX_VARS = ('awx_job_id', 'awx_job_template_id', 'awx_job_template_name', 'awx_workflow_job_id',
            'awx_workflow_job_name', 'awx_inventory_name', 'awx_execution_node')
# The renderers' limits, as the renderers define them.
OPTION_KEYS = frozenset(report_text.OPTIONS) | frozenset(report_html.OPTIONS)


class ActionModule(ActionBase):
    """Build and write the fleet report (see the module documentation)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _VALID_ARGS = frozenset(('dir', 'hosts', 'formats', 'previous', 'options', 'write_in_check_mode', 'slice',
                             'merge', 'summary_hosts', 'prometheus_var'))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        directory = args.get('dir')
        if not directory or not isinstance(directory, str):
            raise AnsibleActionFail('dir must be the path of the report directory on the controller')
        formats = args.get('formats') or list(report_files.FORMATS)
        unknown = sorted(set(formats) - set(report_files.FORMATS))
        if unknown:
            raise AnsibleActionFail('unknown report formats %s; choose from %s'
                                    % (', '.join(unknown), ', '.join(report_files.FORMATS)))
        slice_ = self._slice(args.get('slice'))
        run = self._run_metadata(task_vars, slice_)
        timings = {}
        with report_files.no_gc_pauses():
            fleet, prometheus_hosts = self._build(task_vars, args, run, timings)
            files = {}
            if not self._task.check_mode or boolean(args.get('write_in_check_mode', True), strict=True):
                started = time.monotonic()
                name = report_files.base_name((run['awx'] or {}).get('job_id'), slice_, merged=bool(args.get('merge')))
                options = {key: value for key, value in (args.get('options') or {}).items() if key in OPTION_KEYS}
                previous = args.get('previous', 'auto')
                try:
                    files = report_files.write_reports(fleet, os.path.abspath(os.path.expanduser(directory)), name,
                                                       formats, options, 'auto' if previous in (None, 'auto') else previous)
                except report_files.ReportFileError as exc:
                    raise AnsibleActionFail(str(exc)) from exc
                timings['write'] = time.monotonic() - started
        summary_hosts = args.get('summary_hosts', 50)
        result.update({
            'changed': False,
            'written': bool(files),
            'files': files,
            'totals': fleet['totals'],
            'run': {key: value for key, value in fleet['run'].items() if key != 'merge'},
            'merge': fleet['run'].get('merge'),
            'history': _history_counts(fleet.get('history')),
            'stats': rp.stats_payload(fleet, files),
            'summary': rp.tcp_report_host_lines(fleet, None if summary_hosts is None else int(summary_hosts)),
            'prometheus_hosts': prometheus_hosts,
            'timings': {key: round(value, 3) for key, value in timings.items()},
        })
        return result

    def _build(self, task_vars, args, run, timings):
        """(fleet summary, textfile hosts): from the hosts' variables, or from the reports to merge."""
        started = time.monotonic()
        merge = args.get('merge')
        if merge:
            try:
                reports = report_files.load_reports([merge] if isinstance(merge, str) else list(merge))
            except report_files.ReportFileError as exc:
                raise AnsibleActionFail(str(exc)) from exc
            timings['read'] = time.monotonic() - started
            fleet, prometheus_hosts = rp.merge_reports(reports, run), []
        else:
            records, errors, hosts, dropped, prometheus_hosts = self._collect(task_vars, args)
            timings['collect'] = time.monotonic() - started
            fleet = rp.tcp_report_fleet(records, hosts, errors, run, dropped)
        timings['build'] = time.monotonic() - started - sum(timings.values())
        return fleet, prometheus_hosts

    @staticmethod
    def _slice(value):
        if value in (None, '', {}):
            return None
        parsed = rp._slice(value)  # pylint: disable=protected-access
        if parsed is None:
            raise AnsibleActionFail('slice must be {number: N, count: C} with 1 <= N <= C (the tcp_report role: '
                                    'tcp_report_slice_number and tcp_report_slice_count, both or neither), got %r'
                                    % (value,))
        return parsed

    def _var(self, task_vars, name):
        value = task_vars.get(name)
        return self._templar.template(value) if isinstance(value, str) else value

    def _run_metadata(self, task_vars, slice_):
        awx = {name[4:]: self._var(task_vars, name) for name in AWX_VARS if task_vars.get(name) is not None}
        version = task_vars.get('ansible_version')
        identity = controller_run()
        return {
            'generated_at': utc_now(),
            'started_at': identity['started_at'],
            'run_id': identity['run_id'],
            'ansible_version': version.get('full') if isinstance(version, Mapping) else None,
            'play': task_vars.get('ansible_play_name'),
            'inventory': [str(source) for source in task_vars.get('ansible_inventory_sources') or []],
            'limit': task_vars.get('ansible_limit'),
            'check_mode': bool(self._task.check_mode),
            'awx': awx or None,
            'slice': slice_,
            'partial': bool(slice_),
        }

    def _collect(self, task_vars, args):
        """Records, errors, covered hosts, dropped hosts and textfile hosts, one variable lookup per host.

        hostvars.raw_get() returns a host's variables without templating
        them: the record and the error are facts (set_fact), which Ansible
        never templates anyway, and templating each host's whole variable set
        is what made the report slow at fleet size.
        """
        hostvars = task_vars.get('hostvars')
        play_hosts_all = list(task_vars.get('ansible_play_hosts_all') or [])
        hosts = args.get('hosts') or play_hosts_all
        if isinstance(hosts, str):
            raise AnsibleActionFail('hosts must be a list of inventory host names, got the string %r' % hosts)
        # Hosts Ansible removed from the run before the report (failed or
        # unreachable earlier); only meaningful when the report covers the play.
        dropped = [] if args.get('hosts') else sorted(set(play_hosts_all) - set(task_vars.get('ansible_play_hosts') or []))
        prometheus_var = args.get('prometheus_var')
        records, errors, prometheus_hosts = {}, {}, []
        for host in hosts:
            try:
                host_vars = hostvars.raw_get(host)
            except Exception:  # pylint: disable=broad-except  # a host the inventory no longer knows
                host_vars = None
            if not isinstance(host_vars, Mapping):
                continue
            records[host] = host_vars.get(RECORD_VAR)
            errors[host] = host_vars.get(ERROR_VAR)
            if prometheus_var and isinstance(records[host], Mapping) and not errors[host]:
                wanted = host_vars.get(prometheus_var)
                if isinstance(wanted, str):
                    wanted = self._templar.copy_with_new_env(available_variables=host_vars).template(wanted)
                if boolean(wanted or False, strict=False):
                    prometheus_hosts.append(host)
        return records, errors, list(hosts), dropped, prometheus_hosts


def _history_counts(history):
    if not history or history.get('error'):
        return history
    return {'previous': history['previous'],
            **{key: len(history[key]) for key in ('new_findings', 'fixed_findings', 'state_changes',
                                                  'hosts_added', 'hosts_gone')}}
