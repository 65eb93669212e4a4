# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge: turn sysctl and TIME_WAIT observations into findings and the audit record.

Runs on the controller. Pure functions over plain dicts (the results of the
``tcp_audit_info`` module), unit-tested on recorded inputs in
tests/unit/test_judge.py. The findings come from the one catalogue,
plugins/plugin_utils/catalogue.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible.errors import AnsibleFilterError
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import fold
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import (
    finding, is_compliant, severity_counts, sort_findings)
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.run import TIME_FORMAT, controller_run, utc_now

SCHEMA = 1

REUSE = 'net.ipv4.tcp_tw_reuse'
TIMESTAMPS = 'net.ipv4.tcp_timestamps'
RECYCLE = 'net.ipv4.tcp_tw_recycle'
BUCKETS = 'net.ipv4.tcp_max_tw_buckets'
# A host's output is not trusted to be small: at most this many TW-SYSCTL-012 per key.
MAX_REJECTED_FINDINGS = 10
# The keys the profile manages: boot and sysctl --system must agree on them (TW-SYSCTL-011).
PROFILE_SYSCTL_KEYS = (REUSE, TIMESTAMPS, RECYCLE, BUCKETS)

DEFAULT_THRESHOLDS = {'bucket_utilization': 0.8, 'port_pressure': 0.5}


def _runtime(sysctl, key):
    entry = sysctl.get(key) or {}
    return fold(entry.get('runtime')) if entry.get('present') else None


def _settings_text(settings):
    return ', '.join('%s:%s=%s' % (s['path'], s['line'], s['value']) for s in settings)


def _tool_name(tools, which):
    """'systemd-sysctl 252' / 'sysctl --system (procps 4.0.2)' for a finding's detail."""
    tool = (tools or {}).get(which) or {}
    if not tool.get('tool'):
        return 'the boot' if which == 'boot' else 'sysctl --system'
    if tool['tool'] == 'systemd-sysctl':
        return 'systemd-sysctl %s' % (tool.get('version') or '')
    return 'sysctl --system (procps %s)' % (tool.get('version') or '?')


def _boot_by(entry, tools):
    """Who sets a key's boot value: tuned's profile, or the boot's sysctl tool."""
    return 'tuned' if (entry.get('boot_source') or '').startswith('tuned:') else _tool_name(tools, 'boot')


def _writers(setting, tools):
    names = [_tool_name(tools, which) for which in ('boot', 'system') if setting.get(which)]
    return ' and '.join(names) or 'no tool'


def _overriders_text(overridden_by, tools):
    """'path:line (key = value, under <tool>), ...' for the settings that beat the profile drop-in, or ''."""
    return ', '.join('%s:%s (= %s, under %s)' % (item.get('path'), item.get('line'), item.get('value'),
                                                 ' and '.join(_tool_name(tools, tool) for tool in item.get('tools') or []))
                     for item in overridden_by or [])


def sysctl_findings(sysctl, expected=None, tools=None, profile_file=None):
    """Findings about the sysctl keys.

    ``sysctl``: the ``sysctl`` dict of tcp_sysctl_info (key -> {present, runtime,
    boot, boot_source, system, system_source, settings, conflicting, rejected, ...});
    ``expected``: key -> value the profile wants (None or absent: not judged).
    tcp_tw_recycle's expectation only applies where the key exists. ``tools``: the
    ``sysctl_tools`` of tcp_sysctl_info (which tool sets the keys at boot and whether
    ``sysctl --system`` exists), for the wording and for TW-SYSCTL-011. ``profile_file``:
    the drop-in the profile writes, named when a later file overrides it (an entry's
    ``overridden_by``, computed on the host against that file).
    """
    expected = dict((k, fold(v)) for k, v in (expected or {}).items() if v is not None)
    found = []
    recycle = sysctl.get(RECYCLE) or {}
    if recycle.get('present'):
        if _runtime(sysctl, RECYCLE) == '1':
            found.append(finding('TW-SYSCTL-001', '%s is 1 at runtime' % RECYCLE, recycle.get('boot_source')))
        elif fold(recycle.get('boot')) == '1':
            found.append(finding('TW-SYSCTL-001', '%s is 0 now but %s sets it to 1 at next boot (%s)'
                                 % (RECYCLE, recycle.get('boot_source'), _boot_by(recycle, tools)),
                                 recycle.get('boot_source')))
        elif fold(recycle.get('system')) == '1':
            found.append(finding('TW-SYSCTL-001', '%s is 0 now but %s sets it to 1 whenever %s runs'
                                 % (RECYCLE, recycle.get('system_source'), _tool_name(tools, 'system')),
                                 recycle.get('system_source')))
        found.append(finding('TW-SYSCTL-002', '%s exists (kernel older than 4.12 or a backport); runtime %s'
                             % (RECYCLE, _runtime(sysctl, RECYCLE))))
    reuse, stamps = _runtime(sysctl, REUSE), _runtime(sysctl, TIMESTAMPS)
    if reuse in ('1', '2') and stamps == '0':
        found.append(finding('TW-SYSCTL-003', '%s is %s but %s is 0, so reuse never happens'
                             % (REUSE, reuse, TIMESTAMPS), (sysctl.get(TIMESTAMPS) or {}).get('boot_source')))
    # A deliberate profile choice other than 1 is the user's call; 006 still gates on it.
    if reuse is not None and reuse != '1' and expected.get(REUSE, '1') == '1':
        found.append(finding('TW-SYSCTL-004', '%s is %s' % (REUSE, reuse), (sysctl.get(REUSE) or {}).get('boot_source')))
    if stamps == '0':
        found.append(finding('TW-SYSCTL-005', '%s is 0' % TIMESTAMPS, (sysctl.get(TIMESTAMPS) or {}).get('boot_source')))
    for key in sorted(sysctl):
        entry = sysctl[key] or {}
        runtime = _runtime(sysctl, key)
        want = expected.get(key)
        if entry.get('present') and want is not None and runtime != want:
            found.append(finding('TW-SYSCTL-006', '%s is %s at runtime; the profile wants %s' % (key, runtime, want),
                                 entry.get('boot_source')))
        boot = fold(entry.get('boot'))
        if entry.get('present') and boot is not None and runtime != boot:
            found.append(finding('TW-SYSCTL-007', '%s is %s at runtime but %s at next boot (%s, by %s)'
                                 % (key, runtime, boot, entry.get('boot_source'), _boot_by(entry, tools)),
                                 entry.get('boot_source')))
        system = fold(entry.get('system'))
        if (key in PROFILE_SYSCTL_KEYS and entry.get('present') and (tools or {}).get('system')
                and (tools.get('boot') or {}).get('tool') and system != boot):
            found.append(finding('TW-SYSCTL-011', '%s: a reboot gives %s but running %s gives %s' % (
                key, '%s (%s, by %s)' % (boot, entry.get('boot_source'), _boot_by(entry, tools))
                if boot is not None else 'the kernel default (no setting applies at boot)',
                _tool_name(tools, 'system'),
                '%s (%s)' % (system, entry.get('system_source')) if system is not None else 'no change (no setting applies)'),
                entry.get('boot_source') or entry.get('system_source')))
        for refused in (entry.get('rejected') or [])[:MAX_REJECTED_FINDINGS]:
            source = '%s:%s' % (refused['path'], refused['line'])
            found.append(finding('TW-SYSCTL-012', '%s = %s at %s: the kernel refuses it (%s); written by %s, it leaves '
                                 'the key at the value it had before' % (key, refused['value'], source,
                                                                         refused.get('reason'), _writers(refused, tools)),
                                 source))
        settings = entry.get('settings') or []
        overriders = _overriders_text(entry.get('overridden_by'), tools)
        if entry.get('conflicting') or overriders:
            detail = '%s is set to different values: %s; %s wins at boot' % (
                key, _settings_text(settings), entry.get('boot_source'))
            if overriders:
                detail = '%s%s %s the profile drop-in %s' % (
                    (detail + '; ') if entry.get('conflicting') else '', overriders,
                    'overrides' if len(entry['overridden_by']) == 1 else 'override', profile_file or 'of tcp_profile')
            found.append(finding('TW-SYSCTL-008', detail, entry.get('boot_source')))
        if not entry.get('present') and settings:
            found.append(finding('TW-SYSCTL-009', '%s does not exist on this kernel but is set by %s'
                                 % (key, _settings_text(settings)), '%s:%s' % (settings[-1]['path'], settings[-1]['line'])))
    return found


def timewait_findings(timewait, thresholds=None):
    """Findings about the TIME_WAIT table and ephemeral ports (the tcp_timewait_info ``timewait`` dict)."""
    limits = dict(DEFAULT_THRESHOLDS)
    limits.update(dict((k, v) for k, v in (thresholds or {}).items() if v is not None))
    timewait = timewait or {}
    found = []
    utilization = timewait.get('bucket_utilization')
    if utilization is not None and float(utilization) > float(limits['bucket_utilization']):
        found.append(finding('TW-TABLE-001', '%s TIME_WAIT sockets for tcp_max_tw_buckets %s: %.0f%% used (threshold %.0f%%)'
                             % (timewait.get('sockstat_tw'), timewait.get('max_tw_buckets'), 100 * float(utilization),
                                100 * float(limits['bucket_utilization']))))
    overflow = timewait.get('overflow_total')
    if overflow is not None and int(overflow) > 0:
        found.append(finding('TW-TABLE-002', 'TcpExt TCPTimeWaitOverflow is %d since boot' % int(overflow)))
    pressure = timewait.get('port_pressure')
    if pressure is not None and float(pressure) > float(limits['port_pressure']):
        busiest = (timewait.get('by_remote') or [{}])[0]
        found.append(finding('TW-PORT-001', '%.0f%% of the ephemeral range %s is in TIME_WAIT towards %s:%s '
                             '(threshold %.0f%%)' % (100 * float(pressure), timewait.get('ephemeral_port_range'),
                                                     busiest.get('address'), busiest.get('port'),
                                                     100 * float(limits['port_pressure']))))
    return found


def expected_from(sysctl_info):
    """The expectations tcp_sysctl_info resolved, by key (``auto`` already a number)."""
    return dict((key, entry.get('expected')) for key, entry in (sysctl_info.get('sysctl') or {}).items())


def tcp_findings(sysctl_info, timewait=None, expected=None, thresholds=None, extra=None):
    """All findings of one host, most severe first.

    ``sysctl_info``: the tcp_sysctl_info result; ``timewait``: the tcp_timewait_info
    ``timewait`` dict (None when it could not run); ``extra``: findings judged elsewhere
    (nginx), merged as they are.
    """
    if expected is None:
        expected = expected_from(sysctl_info)
    found = sysctl_findings(sysctl_info.get('sysctl') or {}, expected, sysctl_info.get('sysctl_tools'),
                            (sysctl_info.get('profile') or {}).get('file'))
    if sysctl_info.get('proc_sys_writable') is False:
        found.append(finding('TW-SYSCTL-010', '/proc/sys is mounted read-only in this network namespace%s'
                             % (' (%s container)' % sysctl_info['container'] if sysctl_info.get('container') else '')))
    found.extend(timewait_findings(timewait, thresholds))
    found.extend(extra or [])
    return sort_findings(found)


# The role variable behind each setting the judge checks, for error messages.
THRESHOLD_VARIABLES = {'bucket_utilization': 'tcp_audit_bucket_utilization_threshold',
                       'port_pressure': 'tcp_audit_port_pressure_threshold'}
EXPECTED_VARIABLES = {REUSE: 'tcp_audit_expected_tw_reuse', TIMESTAMPS: 'tcp_audit_expected_timestamps',
                      BUCKETS: 'tcp_audit_expected_max_tw_buckets'}


def check_settings(thresholds, expected):
    """Raise AnsibleFilterError naming the variable when a threshold or an expectation is unusable.

    The audit changes nothing, so checking here (with the observations already
    in) costs no host a change, and saves every host a task of its own.
    """
    for name, value in sorted((thresholds or {}).items()):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not 0 < number <= 1:
            raise AnsibleFilterError('%s must be a number in (0, 1], got %r'
                                     % (THRESHOLD_VARIABLES.get(name, name), value))
    for key, value in sorted((expected or {}).items()):
        if value is not None and not str(value).isdigit():
            raise AnsibleFilterError('%s must be a whole number (or auto for tcp_max_tw_buckets, or null), got %r'
                                     % (EXPECTED_VARIABLES.get(key, key), value))


def _number(value, kind):
    """``value`` as int or float when it is one (a bool is not), else None: host output is untrusted."""
    return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def nginx_live_record(live):
    """The record's ``nginx.live``: whether the running nginx loaded the files the audit read.

    ``live`` is the ``nginx_live`` of tcp_audit_info (module_utils/nginx_live.py,
    live_state); None (no nginx, or an older module) stays None. What the host
    sent is typed and bounded: at most 20 changed files, paths of at most 512
    characters.
    """
    if not isinstance(live, dict):
        return None
    changed = [item for item in live.get('changed_after_load') or [] if isinstance(item, dict)][:20]
    loaded = live.get('loaded')
    return {
        'running': live.get('running') is True,
        'master_pid': _number(live.get('master_pid'), int),
        'loaded_at': _number(live.get('loaded_at'), float),
        'loaded': loaded if isinstance(loaded, bool) else None,
        'changed_after_load': [{'path': str(item.get('path'))[:512], 'changed': _number(item.get('changed'), float)}
                               for item in changed],
    }


def tcp_audit_record(sysctl_info, timewait=None, expected=None, thresholds=None, nginx=None, host=None, phase='before',
                     observed_at=None, run_id=None):
    """Build ``tcp_audit_record`` (schema in docs/audit-record.md).

    ``expected`` defaults to the expectations tcp_sysctl_info resolved (``auto``
    already turned into a number), so the record and the findings share them.
    ``observed_at`` (UTC, ``YYYY-MM-DDTHH:MM:SSZ``) defaults to now, ``run_id``
    to the id of the ansible-playbook run judging (plugin_utils/run.py), so
    the report can tell a record of this run from a cached one.
    """
    nginx = nginx or {}
    if expected is None:
        expected = expected_from(sysctl_info)
    check_settings(thresholds, expected)
    expected_text = dict((k, fold(v)) for k, v in (expected or {}).items() if v is not None)
    sysctl = {}
    for key, entry in sorted((sysctl_info.get('sysctl') or {}).items()):
        want = expected_text.get(key) if entry.get('present') else None
        sysctl[key] = {
            'present': bool(entry.get('present')),
            'runtime': fold(entry.get('runtime')),
            'writable': bool(entry.get('writable')),
            'boot': fold(entry.get('boot')),
            'boot_source': entry.get('boot_source'),
            'system': fold(entry.get('system')),
            'system_source': entry.get('system_source'),
            'settings': entry.get('settings') or [],
            'conflicting': bool(entry.get('conflicting')),
            'rejected': entry.get('rejected') or [],
            'overridden_by': entry.get('overridden_by') or [],
            'expected': want,
        }
    findings = tcp_findings(sysctl_info, timewait, expected, thresholds, nginx.get('findings'))
    return {
        'schema': SCHEMA,
        'host': host,
        'status': 'ok',
        'phase': phase,
        'kernel': sysctl_info.get('kernel') or {'release': None, 'version': None},
        'memtotal_mb': sysctl_info.get('memtotal_mb'),
        'container': sysctl_info.get('container'),
        'proc_sys_writable': sysctl_info.get('proc_sys_writable'),
        'sysctl_tools': sysctl_info.get('sysctl_tools'),
        'sysctl': sysctl,
        'timewait': timewait or {},
        'nginx': {'present': bool(nginx.get('present')), 'version': nginx.get('version'),
                  'live': nginx_live_record(sysctl_info.get('nginx_live'))},
        'findings': findings,
        'severity_counts': severity_counts(findings),
        'compliant': is_compliant(findings),
        'observed_at': observed_at or utc_now(),
        'run_id': run_id or controller_run()['run_id'],
    }


def tcp_untaken(record):
    """Keys whose runtime value differs from the profile's, as 'key: runtime X, wanted Y' sentences."""
    return ['%s: runtime %s, wanted %s' % (key, entry.get('runtime'), entry.get('expected'))
            for key, entry in sorted((record.get('sysctl') or {}).items())
            if entry.get('present') and entry.get('expected') is not None and entry.get('runtime') != entry.get('expected')]


# nginx findings that mean a managed file does not pool upstream connections.
UNPROVEN_NGINX_SEVERITIES = ('critical', 'high', 'medium')


def tcp_unproven_nginx(record, managed_files):
    """nginx findings located in files harden-tcp renders, as 'path:line: ID title' sentences.

    The proof step fails on these: the role rendered those files, so a finding
    there means the change did not take as intended. Findings in the user's own
    files are reported by the audit but are not the role's to prove.
    """
    managed = set(managed_files or [])
    unproven = []
    for item in record.get('findings') or []:
        source = item.get('source') or ''
        if (item.get('id', '').startswith('TW-NGINX-')
                and item.get('severity') in UNPROVEN_NGINX_SEVERITIES
                and source.rsplit(':', 1)[0] in managed):
            unproven.append('%s: %s %s' % (source, item['id'], item.get('title', '')))
    return unproven


def _utc(epoch):
    try:
        return datetime.datetime.fromtimestamp(float(epoch), datetime.timezone.utc).strftime(TIME_FORMAT)
    except (TypeError, ValueError, OverflowError, OSError):
        return 'an unknown time'


def tcp_unlive_nginx(record):
    """Why the running nginx does not serve the files the audit read, as sentences; [] when it does.

    The proof fails on these: a configuration on disk that the running master
    never loaded (a reload nginx refused, or none sent) proves nothing, and
    neither does a running nginx of which it cannot be told (``nginx -T``
    failed, so the files on disk are not known, or the master's start is
    unknown). A host where nginx does not run gives none.
    """
    live = (record.get('nginx') or {}).get('live') or {}
    if not live.get('running'):
        return []
    if live.get('loaded') is None:
        return ['nginx runs (master pid %s) but whether it loaded the configuration on disk cannot be told: nginx -T '
                'printed no configuration (the files on disk do not pass nginx -t?) or the master\'s start time is '
                'unknown' % live.get('master_pid')]
    if live.get('loaded'):
        return []
    changed = live.get('changed_after_load') or []
    return ['nginx (master pid %s) last loaded its configuration at %s, but %s changed after that (%s): the running '
            'nginx does not serve the configuration on disk'
            % (live.get('master_pid'), _utc(live.get('loaded_at')), ', '.join(item['path'] for item in changed[:5])
               + (' and %d more' % (len(changed) - 5) if len(changed) > 5 else ''),
               _utc(max(item.get('changed') or 0 for item in changed)) if changed else 'an unknown time')]


def tcp_finding_lines(record):
    """One line per finding of a record, most severe first: 'ID (severity) title: detail'."""
    lines = ['%s (%s) %s: %s' % (f.get('id'), f.get('severity'), f.get('title'), f.get('detail'))
             for f in record.get('findings') or []]
    return lines or ['no findings']
