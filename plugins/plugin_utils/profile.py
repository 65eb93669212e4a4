# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side helpers of tcp_profile: what to write and what has drifted.

The `auto` bucket formula itself lives in plugins/module_utils/tcp_sysctl.py
(auto_max_tw_buckets) and runs on the host, where MemTotal is read, so the
audit and the profile share one implementation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import fold


def tcp_profile_expected(entries):
    """{key: tcp_sysctl_info entry} -> {key: value to write}, for present keys with an expectation.

    tcp_tw_recycle is forced to '0' whatever the entry says: no input can turn it on.
    """
    values = {}
    for key, entry in entries.items():
        if not entry.get('present') or entry.get('expected') is None:
            continue
        values[key] = '0' if key == 'net.ipv4.tcp_tw_recycle' else fold(entry['expected'])
    return values


def tcp_profile_drift(values, entries):
    """Keys whose runtime value differs from the profile, as ['key=value', ...] ready for `sysctl -w`."""
    return ['%s=%s' % (key, value) for key, value in sorted(values.items())
            if fold((entries.get(key) or {}).get('runtime')) != fold(value)]
