# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The decisions of tcp_profile, shared by its two halves.

The action plugin (controller) plans from a read of the host's sysctl state:
which values, which drop-in path, which stale drop-ins, and whether anything
has to change at all. The module (host) makes the same plan again from a
fresh read taken under the per-host lock, so a plan made from an older read
(the audit's, or one taken before another run changed the host) is never
carried out on a host it no longer fits. One implementation, two callers:
it must run on a managed host, so it is standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import fold, normalize_key

try:
    from typing import Any, Dict, List, Optional  # noqa: F401 (type comments only)
except ImportError:  # pragma: no cover
    pass

# The drop-in is written root:root 0644, like any file in /etc/sysctl.d.
FILE_MODE = 0o644
RECYCLE = 'net.ipv4.tcp_tw_recycle'
# The keys the profile sets (tcp_tw_recycle only where the kernel still has it).
KEYS = ('net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_timestamps', RECYCLE, 'net.ipv4.tcp_max_tw_buckets')
# What a plan is compared on (the module refuses to carry out a plan that differs).
# MemTotal too: the default template names it in a comment.
PLAN_FIELDS = ('values', 'file', 'stale', 'readonly', 'memtotal_mb')


def read_params(keys, expected, profile_file, auto_max_tw_buckets):
    # type: (List[str], Dict[str, Any], Optional[str], Optional[Dict[str, Any]]) -> Dict[str, Any]
    """The parameters of a sysctl read, in one comparable form (a read made with other parameters,
    such as an audit that expects other values, cannot stand in for the profile's own)."""
    return {
        'keys': [normalize_key(key) for key in keys],
        'expected': dict((normalize_key(key), None if value is None else
                          'auto' if str(value).strip() == 'auto' else fold(value))
                         for key, value in (expected or {}).items()),
        'profile_file': profile_file,
        'auto': dict((name, int(value)) for name, value in sorted(auto_max_tw_buckets.items()))
        if auto_max_tw_buckets else None,
    }


def profile_values(entries):
    # type: (Dict[str, Dict[str, Any]]) -> Dict[str, str]
    """{key: tcp_sysctl_info entry} -> {key: value to write}, for present keys with an expectation.

    tcp_tw_recycle is forced to '0' whatever the entry says: no input can turn it on.
    """
    values = {}
    for key, entry in entries.items():
        if not entry.get('present') or entry.get('expected') is None:
            continue
        values[key] = '0' if key == RECYCLE else fold(entry['expected'])
    return values


def profile_drift(values, entries):
    # type: (Dict[str, str], Dict[str, Dict[str, Any]]) -> List[str]
    """Keys whose runtime value differs from the profile, as ['key=value', ...] ready for `sysctl -w`."""
    return ['%s=%s' % (key, value) for key, value in sorted(values.items())
            if fold((entries.get(key) or {}).get('runtime')) != fold(value)]


def plan(observed, sysctl_file, fix_conflicts):
    # type: (Dict[str, Any], str, bool) -> Dict[str, Any]
    """What the profile writes on a host, from a read of it (tcp_sysctl_info's result).

    ``{values, file, stale, readonly, sizable, memtotal_mb}``: the drop-in goes to the path
    that wins under both tools when fix_conflicts asks for it; stale are the
    role's own drop-ins at other names; readonly when /proc/sys or a present
    key cannot be written; sizable is false when an `auto` bucket count could
    not be computed (no MemTotal).
    """
    entries = observed['sysctl']
    profile = observed.get('profile') or {}
    winning = profile.get('winning_file')
    path = winning if fix_conflicts and winning else sysctl_file
    readonly = (not observed.get('proc_sys_writable')
                or any(entry.get('present') and not entry.get('writable') for entry in entries.values()))
    return {
        'values': profile_values(entries),
        'file': path,
        'stale': sorted(own for own in profile.get('own_files') or [] if own != path),
        'readonly': bool(readonly),
        'sizable': (entries.get('net.ipv4.tcp_max_tw_buckets') or {}).get('expected') is not None,
        'memtotal_mb': observed.get('memtotal_mb'),
    }


def same_plan(one, other):
    # type: (Dict[str, Any], Dict[str, Any]) -> bool
    return all(one.get(field) == other.get(field) for field in PLAN_FIELDS)


def content_digest(content):
    # type: (str) -> str
    return hashlib.sha256(content.encode('utf-8')).hexdigest()


def pending(planned, observed, digest):
    # type: (Dict[str, Any], Dict[str, Any], str) -> Optional[Dict[str, Any]]
    """What carrying out a plan would change on the host as read: ``{file, stale, drift}`` (file: the drop-in
    would be written; stale: own drop-ins to remove; drift: `sysctl -w` arguments). None when the read does not
    say (a read without file states, from before they were recorded)."""
    states = (observed.get('profile') or {}).get('states')
    if states is None:
        return None
    current = states.get(planned['file']) or {'state': 'absent'}
    rewrite = not (current['state'] == 'file' and current.get('sha256') == digest
                   and current.get('mode') == '%04o' % FILE_MODE and current.get('uid') == 0 and current.get('gid') == 0)
    return {'file': rewrite,
            'stale': [path for path in planned['stale'] if (states.get(path) or {}).get('state', 'absent') != 'absent'],
            'drift': profile_drift(planned['values'], observed['sysctl'])}


def is_pending(change):
    # type: (Optional[Dict[str, Any]]) -> bool
    return change is None or bool(change['file'] or change['stale'] or change['drift'])


# The options of tcp_profile: the tcp_profile_* role variables without their prefix. The action plugin
# validates them before the host is contacted; the module takes the same ones (it reads the host with them).
ARGUMENT_SPEC = dict(
    tw_reuse=dict(type='int', default=1, choices=[0, 1, 2]),
    timestamps=dict(type='int', default=1, choices=[0, 1, 2]),
    max_tw_buckets=dict(type='raw', default='auto'),
    max_tw_buckets_per_mib=dict(type='int', default=16),
    max_tw_buckets_min=dict(type='int', default=32768),
    max_tw_buckets_max=dict(type='int', default=1048576),
    sysctl_file=dict(type='str', default='/etc/sysctl.d/60-harden-tcp.conf'),
    fix_conflicts=dict(type='bool', default=False),
    strict=dict(type='bool', default=True),
    template=dict(type='str', default='harden-tcp.conf.j2'),
    snapshot_dir=dict(type='path', default='/var/lib/harden-tcp'),
    lock_wait=dict(type='int', default=300),
    lock=dict(type='dict', default={}),
    observed=dict(type='dict'),
    validate_only=dict(type='bool', default=False),
)


def profile_read(options):
    # type: (Dict[str, Any]) -> Dict[str, Any]
    """The tcp_sysctl_info parameters that read a host for the profile ``options`` (validated)."""
    return {
        'keys': list(KEYS),
        'expected': {
            'net.ipv4.tcp_tw_reuse': str(options['tw_reuse']),
            'net.ipv4.tcp_timestamps': str(options['timestamps']),
            RECYCLE: '0',
            'net.ipv4.tcp_max_tw_buckets': str(options['max_tw_buckets']),
        },
        'profile_file': options['sysctl_file'],
        'auto_max_tw_buckets': {'per_mib': int(options['max_tw_buckets_per_mib']),
                                'minimum': int(options['max_tw_buckets_min']),
                                'maximum': int(options['max_tw_buckets_max'])},
    }


def usable_read(observed, read):
    # type: (Optional[Dict[str, Any]], Dict[str, Any]) -> Optional[Dict[str, Any]]
    """An earlier read of the host (tcp_audit_info's, kept as tcp_audit_sysctl), narrowed to the profile's keys,
    when it was made with the profile's own expectations, drop-in path and auto sizing; else None."""
    if not isinstance(observed, dict) or not isinstance(observed.get('read'), dict) \
            or not isinstance(observed.get('sysctl'), dict):
        return None
    try:
        theirs = read_params(**observed['read'])
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    mine = read_params(read['keys'], read['expected'], read['profile_file'], read['auto_max_tw_buckets'])
    if not (set(mine['keys']) <= set(theirs['keys']) and set(mine['keys']) <= set(observed['sysctl'])):
        return None
    if any(theirs['expected'].get(key) != value for key, value in mine['expected'].items()) \
            or (theirs['profile_file'], theirs['auto']) != (mine['profile_file'], mine['auto']):
        return None
    narrowed = dict(observed)
    narrowed['sysctl'] = dict((key, observed['sysctl'][key]) for key in mine['keys'])
    return narrowed
