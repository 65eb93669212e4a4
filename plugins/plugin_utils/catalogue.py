# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one finding catalogue: ids, severity, title, rule, remediation.

Read by the judge (sysctl and TIME_WAIT findings), the nginx audit, tcp_profile
(TW-SYSCTL-010 when it skips a host) and the report; the README's catalogue
table is generated from it (``scripts/catalogue_table.py``) and
tests/unit/test_catalogue.py fails when the two drift apart.

A finding is a plain dict ``{id, severity, title, detail, remediation, source}``:
``detail`` says what was seen on this host, ``source`` where (``path:line``, or
None). A host is compliant when it has no finding whose severity gates
compliance (critical or high).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Most severe first: list order is the sort order everywhere.
SEVERITIES = ('critical', 'high', 'medium', 'low', 'info')
SEVERITY_RANK = dict((name, rank) for rank, name in enumerate(SEVERITIES))
GATING = ('critical', 'high')

# id -> {severity, title, rule, remediation}. ``rule`` says exactly when the
# finding is raised; ``title`` is what a report shows in one line.
CATALOGUE = {
    'TW-SYSCTL-001': {
        'severity': 'critical',
        'title': 'tcp_tw_recycle is enabled',
        'rule': 'net.ipv4.tcp_tw_recycle is 1 at runtime, or is set to 1 for the next boot or by sysctl --system.',
        'remediation': 'Set net.ipv4.tcp_tw_recycle to 0 (run harden-tcp.yml) and remove the setting that enables '
                       'it; never enable it: it drops SYNs from clients behind NAT.',
    },
    'TW-SYSCTL-002': {
        'severity': 'info',
        'title': 'tcp_tw_recycle exists on this kernel',
        'rule': 'The kernel still has net.ipv4.tcp_tw_recycle (removed in Linux 4.12).',
        'remediation': 'Nothing to do while it is 0 (the profile pins it to 0).',
    },
    'TW-SYSCTL-003': {
        'severity': 'high',
        'title': 'tcp_tw_reuse is on while tcp_timestamps is off',
        'rule': 'tcp_tw_reuse is 1 or 2 at runtime while tcp_timestamps is 0.',
        'remediation': 'Set net.ipv4.tcp_timestamps to 1: tcp_tw_reuse relies on timestamps and does nothing '
                       'without them.',
    },
    'TW-SYSCTL-004': {
        'severity': 'medium',
        'title': 'tcp_tw_reuse is not 1',
        'rule': 'tcp_tw_reuse is not 1 at runtime; not raised when the profile deliberately sets another value.',
        'remediation': 'Set net.ipv4.tcp_tw_reuse to 1 so outgoing connections may reuse TIME_WAIT ports '
                       '(2 limits reuse to loopback).',
    },
    'TW-SYSCTL-005': {
        'severity': 'medium',
        'title': 'tcp_timestamps is off',
        'rule': 'tcp_timestamps is 0 at runtime.',
        'remediation': 'Set net.ipv4.tcp_timestamps to 1 (PAWS and RTT measurement need it; tcp_tw_reuse depends '
                       'on it).',
    },
    'TW-SYSCTL-006': {
        'severity': 'high',
        'title': 'runtime value differs from the profile',
        'rule': 'A profile key exists and its runtime value is not the value the profile wants.',
        'remediation': 'Apply the profile (run harden-tcp.yml); if it keeps reverting, find what writes the key at '
                       'runtime (tuned, a container runtime, another role).',
    },
    'TW-SYSCTL-007': {
        'severity': 'medium',
        'title': 'runtime value differs from the value set at boot',
        'rule': 'A key\'s runtime value differs from the value it gets at next boot: what systemd-sysctl applies where '
                'systemd runs the boot (then tuned), else what sysctl --system applies.',
        'remediation': 'Persist the intended value in a sysctl.d drop-in (harden-tcp.yml does) or remove the stale '
                       'setting, so a reboot does not change it.',
    },
    'TW-SYSCTL-008': {
        'severity': 'medium',
        'title': 'configuration files set a key to different values',
        'rule': 'Two or more settings in the sysctl configuration files give one key different values, or a file '
                'that the boot or sysctl --system applies after the profile drop-in (tcp_audit_profile_file) would '
                'override it.',
        'remediation': 'Keep one setting per key: remove the rival setting, or run tcp_profile with '
                       'tcp_profile_fix_conflicts: true so the profile drop-in sorts last.',
    },
    'TW-SYSCTL-009': {
        'severity': 'medium',
        'title': 'a file sets a key this kernel does not have',
        'rule': 'A sysctl configuration file sets a key that does not exist on the running kernel.',
        'remediation': 'Remove the setting: "sysctl -p" fails on it and the boot logs an error (typically '
                       'tcp_tw_recycle on Linux 4.12 and later).',
    },
    'TW-SYSCTL-010': {
        'severity': 'medium',
        'title': '/proc/sys is read-only',
        'rule': '/proc/sys is mounted read-only in the host\'s network namespace, so the profile cannot be applied.',
        'remediation': 'Give the container a writable /proc/sys for its network namespace (for example remount it '
                       'read-write, or set the keys with the runtime\'s --sysctl option).',
    },
    'TW-SYSCTL-011': {
        'severity': 'medium',
        'title': 'a reboot and sysctl --system give a profile key different values',
        'rule': 'For tcp_tw_reuse, tcp_timestamps, tcp_tw_recycle or tcp_max_tw_buckets, the value at next boot '
                '(systemd-sysctl) differs from what running sysctl --system (procps) sets, for example through '
                '/etc/sysctl.conf, which only procps reads (Debian 13), or a -key line, which only systemd obeys.',
        'remediation': 'Make the files agree for both tools: remove the setting only one of them applies (the detail '
                       'names both sources), or run tcp_profile with tcp_profile_fix_conflicts: true.',
    },
    'TW-SYSCTL-012': {
        'severity': 'medium',
        'title': 'the kernel refuses a value in a sysctl file',
        'rule': 'A line that systemd-sysctl or sysctl --system writes holds a value the kernel refuses for that key '
                '(out of range, a quote, "0#off", a comma). Source: the file and line.',
        'remediation': 'Fix or remove the line: the key keeps its previous value (systemd-sysctl writes only the '
                       'last value of a key, so a refused last value drops an earlier good one).',
    },
    'TW-TABLE-001': {
        'severity': 'medium',
        'title': 'TIME_WAIT bucket utilization above threshold',
        'rule': 'TIME_WAIT sockets fill more than tcp_audit_bucket_utilization_threshold of '
                'net.ipv4.tcp_max_tw_buckets.',
        'remediation': 'Reuse connections (upstream keepalive) first; raise net.ipv4.tcp_max_tw_buckets '
                       '(tcp_profile_max_tw_buckets: auto sizes it from memory).',
    },
    'TW-TABLE-002': {
        'severity': 'high',
        'title': 'TIME_WAIT table overflowed since boot',
        'rule': 'TcpExt TCPTimeWaitOverflow is above 0: the kernel destroyed TIME_WAIT sockets early.',
        'remediation': 'Reuse connections and raise net.ipv4.tcp_max_tw_buckets.',
    },
    'TW-PORT-001': {
        'severity': 'high',
        'title': 'ephemeral port pressure above threshold',
        'rule': 'TIME_WAIT sockets towards one destination hold more than tcp_audit_port_pressure_threshold of the '
                'ephemeral port range.',
        'remediation': 'Reuse connections to the busiest destination (keepalive), enable tcp_tw_reuse, or widen '
                       'net.ipv4.ip_local_port_range.',
    },
    'TW-NGINX-001': {
        'severity': 'medium',
        'title': 'nginx upstream without keepalive',
        'rule': 'An http upstream that does not pool: no "keepalive" (nginx before 1.29.7), "keepalive 0", or (before '
                '1.29.7) a load-balancing method written after "keepalive", which replaces it. Not raised when every '
                '*_pass that names it is uwsgi_pass or scgi_pass (they never pool); an upstream nothing names is '
                'still reported. Source: the upstream (the "keepalive 0" line).',
        'remediation': 'Add "keepalive N;" (for example 32) to the upstream block and set "proxy_http_version 1.1;" and '
                       '"proxy_set_header Connection \\"\\";" where it is proxied to (role nginx_keepalive), or '
                       'upgrade to nginx 1.29.7 or later.',
        'remediation_by_protocol': {
            'fastcgi': 'Add "keepalive N;" (for example 32) to the upstream block and "fastcgi_keep_conn on;" where '
                       'fastcgi_pass uses it: FastCGI connections are kept only with both.',
            'grpc': 'Add "keepalive N;" (for example 32) to the upstream block; grpc_pass then keeps connections.',
            'memcached': 'Add "keepalive N;" (for example 32) to the upstream block; memcached_pass then keeps '
                         'connections.',
        },
    },
    'TW-NGINX-002': {
        'severity': 'high',
        'title': 'keepalive upstream used with a setting that closes every connection',
        'rule': 'A proxy_pass to a pooling upstream where the proxy_http_version in effect is 1.0 (the default '
                'before nginx 1.29.7), or a fastcgi_pass to a pooling upstream where fastcgi_keep_conn in effect is '
                'not on. Source: the *_pass.',
        'remediation': 'Set "proxy_http_version 1.1;" in this location or a level above it; with HTTP/1.0 nginx '
                       'closes every upstream connection and keepalive has no effect.',
        'remediation_by_protocol': {
            'fastcgi': 'Set "fastcgi_keep_conn on;" in this location or a level above it; without it nginx asks the '
                       'FastCGI server to close the connection after every request.',
        },
    },
    'TW-NGINX-003': {
        'severity': 'high',
        'title': 'keepalive upstream proxied with "Connection: close"',
        'rule': 'A proxy_pass to a pooling upstream where a Connection header nginx sends on an ordinary request (no '
                'Upgrade header) contains the token "close": every non-empty proxy_set_header Connection of the set '
                'in effect is sent (a proxy_set_header in a level replaces the whole inherited set); map and set are '
                'resolved for that request; none at all means nginx\'s default "close" before 1.29.7. A value that '
                'passes the client\'s header through or cannot be resolved counts, and the detail says so. '
                'Source: the proxy_pass.',
        'remediation': 'Make the level whose proxy_set_header directives apply here send no "close": '
                       '"proxy_set_header Connection \\"\\";", or a map that gives "" when $http_upgrade is empty '
                       '(a proxy_set_header in a location replaces every inherited one).',
    },
    'TW-NGINX-004': {
        'severity': 'low',
        'title': 'proxy_pass to a literal address',
        'rule': 'A proxy_pass whose host (variables after it do not matter) is no upstream block, compared '
                'case-insensitively, carries a port, or is a unix: socket. Source: the proxy_pass.',
        'remediation': 'Define an upstream block with "keepalive N;" for this backend and proxy_pass to it, so '
                       'nginx can pool connections instead of opening one per request.',
    },
    'TW-NGINX-005': {
        'severity': 'medium',
        'title': 'upstream keepalive_requests below threshold',
        'rule': 'A pooling upstream whose keepalive_requests (set, or the default: 100 before nginx 1.19.10, '
                '1000 since) is below tcp_audit_nginx_min_keepalive_requests; not for an upstream used only by '
                'uwsgi_pass or scgi_pass. Source: the directive or the upstream.',
        'remediation': 'Raise "keepalive_requests" in the upstream block (1000 or more); each time a connection '
                       'reaches the limit nginx closes it and leaves a TIME_WAIT socket.',
    },
    'TW-NGINX-006': {
        'severity': 'info',
        'title': 'nginx configuration could not be audited',
        'rule': '"nginx -T" failed, or its output is not what nginx prints for a configuration it loads: a '
                '"# configuration file" line no include reaches or that repeats one, an include of a file the '
                'output lacks, a syntax error, an include loop; or the statement cap was reached. The rest is '
                'still audited. Source: path:line when known.',
        'remediation': 'Run "nginx -t" and "nginx -T" on the host, fix what they report or what the detail names, '
                       'then audit again.',
    },
    'TW-NGINX-007': {
        'severity': 'info',
        'title': '*_pass with a variable host not judged',
        'rule': 'A *_pass whose host part is a variable (proxy_pass http://$backend, http://backend-$name/): '
                'nginx picks the upstream per request, so no keepalive verdict is possible. Source: the *_pass.',
        'remediation': 'Nothing to fix here; make sure every upstream it can reach has keepalive (their '
                       'TW-NGINX-001 findings say which do not).',
    },
}


def finding(finding_id, detail, source=None, protocols=None):
    """Return one finding with the catalogue's severity, title and remediation.

    ``protocols`` (nginx findings: "proxy", "fastcgi", "grpc", ...) picks the
    remediation that fits what uses the upstream; several are joined.
    """
    entry = CATALOGUE[finding_id]
    return {'id': finding_id, 'severity': entry['severity'], 'title': entry['title'], 'detail': detail,
            'remediation': remediation(finding_id, protocols), 'source': source}


def remediation(finding_id, protocols=None):
    """The catalogue's remediation for these protocols (the default one for None or "proxy")."""
    entry = CATALOGUE[finding_id]
    variants = entry.get('remediation_by_protocol', {})
    texts = []
    for protocol in protocols or [None]:
        text = variants.get(protocol, entry['remediation'])
        if text not in texts:
            texts.append(text)
    return ' '.join(texts)


def severity_rank(severity):
    """Sort key of a severity: 0 for critical; unknown severities sort last."""
    return SEVERITY_RANK.get(severity, len(SEVERITIES))


def severity_counts(findings):
    """Return {critical: n, high: n, medium: n, low: n, info: n}; unknown severities are not counted."""
    counts = dict((name, 0) for name in SEVERITIES)
    for item in findings:
        if item.get('severity') in counts:
            counts[item['severity']] += 1
    return counts


def worst_severity(findings):
    """Return the most severe severity among findings, or None when there are none."""
    ranks = [SEVERITY_RANK[item['severity']] for item in findings if item.get('severity') in SEVERITY_RANK]
    return SEVERITIES[min(ranks)] if ranks else None


def is_compliant(findings):
    """True when no finding is of a severity that gates compliance (critical or high)."""
    return not any(item.get('severity') in GATING for item in findings)


def sort_findings(findings):
    """Most severe first, then by id and detail."""
    return sorted(findings, key=lambda item: (severity_rank(item.get('severity')), item.get('id') or '',
                                              item.get('detail') or ''))
