"""Synthetic fleets for the report: audit records made by the real judge from seeded random observations.

Used by the browser test (a fleet worth a screenshot, and big fleets) and by
bench/report_scale.py (1,000 to 20,000 hosts). Each host's observations are
drawn from a seeded generator, then judged by plugins/plugin_utils/judge.py,
so every record, finding and remediation is what a real audit writes.

    fleet(count, seed) -> (records, errors, hosts, run)

the arguments of report.tcp_report_fleet.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import judge

RUN_ID = 'ci-20260102T030000Z-4242'
RUN = {'generated_at': '2026-01-02T03:04:05Z', 'started_at': '2026-01-02T03:00:00Z', 'run_id': RUN_ID,
       'ansible_version': '2.19.14', 'play': 'Write the fleet report', 'inventory': ['inventories/production'],
       'limit': None, 'check_mode': False, 'awx': None, 'slice': None, 'partial': False}
PROFILE_FILE = '/etc/sysctl.d/60-harden-tcp.conf'
ROLES = ('web', 'api', 'lb', 'cache', 'db', 'proxy')
SITES = ('fra1', 'ams2', 'lon3', 'nyc1')


def _setting(path: str, line: int, value: str) -> Dict[str, Any]:
    return {'path': path, 'line': line, 'value': value}


def _entry(runtime: Optional[str], expected: Optional[str], settings: List[Dict[str, Any]],
           present: bool = True) -> Dict[str, Any]:
    boot = settings[-1]['value'] if settings else None
    return {'present': present, 'runtime': runtime, 'writable': present, 'boot': boot,
            'boot_source': '%s:%s' % (settings[-1]['path'], settings[-1]['line']) if settings else None,
            'settings': settings, 'conflicting': len({s['value'] for s in settings}) > 1, 'expected': expected}


def _observation(rng: random.Random, kind: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(sysctl_info, timewait) of one host of the given kind."""
    buckets = rng.choice((65536, 131072, 262144, 262144, 524288))
    reuse, stamps = '1', '1'
    reuse_settings = [_setting(PROFILE_FILE, 2, '1')]
    if kind == 'drifted':
        reuse = rng.choice(('0', '2'))
    elif kind == 'no-timestamps':
        stamps = '0'
    elif kind == 'conflict':
        reuse_settings.append(_setting('/etc/sysctl.d/99-tuning.conf', rng.randint(1, 40), '0'))
    sysctl = {
        'net.ipv4.tcp_tw_reuse': _entry(reuse, '1', reuse_settings),
        'net.ipv4.tcp_timestamps': _entry(stamps, '1', [_setting(PROFILE_FILE, 3, '1')]),
        'net.ipv4.tcp_tw_recycle': _entry(None, '0', [], present=False),
        'net.ipv4.tcp_max_tw_buckets': _entry(str(buckets), str(buckets), [_setting(PROFILE_FILE, 4, str(buckets))]),
        'net.ipv4.ip_local_port_range': _entry('32768 60999', None, []),
    }
    port_range = 60999 - 32768 + 1
    busy = kind in ('port-pressure', 'table-full')
    top = []
    remaining = rng.randint(20000, 26000) if busy else rng.randint(0, 900)
    for _destination in range(rng.randint(1, 6)):
        count = remaining if busy and not top else rng.randint(0, max(remaining // 3, 1))
        top.append({'address': '10.%d.%d.%d' % (rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)),
                    'port': rng.choice((80, 443, 5432, 6379, 8080, 9000)), 'count': count})
    top.sort(key=lambda item: -item['count'])
    total = sum(item['count'] for item in top) + rng.randint(0, 50)
    if kind == 'table-full':
        buckets = 65536
        sysctl['net.ipv4.tcp_max_tw_buckets'] = _entry('65536', '65536', [_setting(PROFILE_FILE, 4, '65536')])
        total = rng.randint(56000, 65536)
    timewait = {
        'total': total, 'ipv4': total, 'ipv6': 0, 'sockstat_tw': total, 'max_tw_buckets': buckets,
        'bucket_utilization': round(total / buckets, 4), 'overflow_total': rng.randint(1, 5000) if kind == 'table-full' else 0,
        'ephemeral_port_range': [32768, 60999], 'port_pressure': round(top[0]['count'] / port_range, 4) if top else 0.0,
        'by_remote': top, 'by_remote_address': [], 'by_local_port': [], 'method': 'netlink',
        'method_fallback_reason': None,
    }
    info = {'sysctl': sysctl, 'proc_sys_writable': True, 'memtotal_mb': rng.choice((3936, 7976, 15992, 64280)),
            'kernel': {'release': rng.choice(('6.1.0-26-amd64', '6.12.9-amd64', '5.10.0-32-amd64')), 'version': None},
            'container': None}
    return info, timewait


KINDS = (('compliant', 62), ('conflict', 8), ('drifted', 10), ('no-timestamps', 4), ('port-pressure', 4),
         ('table-full', 3), ('stale', 4), ('unreachable', 3), ('failed', 2))


def fleet(count: int, seed: int = 13) -> Tuple[Dict[str, Any], Dict[str, Any], List[str], Dict[str, Any]]:
    """A fleet of count hosts: (records, errors, hosts, run) for report.tcp_report_fleet."""
    rng = random.Random(seed)
    kinds = [kind for kind, weight in KINDS for _copy in range(weight)]
    records, errors, hosts = {}, {}, []
    for index in range(count):
        host = '%s-%s-%05d.example.net' % (ROLES[index % len(ROLES)], SITES[index % len(SITES)], index)
        hosts.append(host)
        kind = rng.choice(kinds)
        if kind == 'unreachable':
            errors[host] = {'status': 'unreachable', 'msg': 'Failed to connect to the host via ssh: '
                            'ssh: connect to host %s port 22: Connection timed out' % host}
            continue
        info, timewait = _observation(rng, rng.choice(('compliant', 'drifted')) if kind in ('stale', 'failed') else kind)
        stale = kind == 'stale'
        records[host] = judge.tcp_audit_record(
            info, timewait, host=host, observed_at='2025-12-30T22:15:00Z' if stale else '2026-01-02T03:01:%02dZ' % (index % 60),
            run_id='ci-20251230T221000Z-1777' if stale else RUN_ID)
        if kind == 'failed':
            errors[host] = {'status': 'failed', 'msg': 'Observe the TIME_WAIT state: nginx -T timed out after 30 s'}
    return records, errors, hosts, dict(RUN)
