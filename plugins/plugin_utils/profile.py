# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Controller-side helpers of tcp_profile: is the input sound, what to write, what has drifted.

The `auto` bucket formula itself lives in plugins/module_utils/tcp_sysctl.py
(auto_max_tw_buckets) and runs on the host, where MemTotal is read, so the
audit and the profile share one implementation.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re


# The drop-in: a file directly in /etc/sysctl.d/ whose name both tools read (ends in .conf).
SYSCTL_FILE = re.compile(r'^/etc/sysctl\.d/[A-Za-z0-9][A-Za-z0-9._-]*\.conf$')
# The range an explicit tcp_profile_max_tw_buckets (and the auto bounds) must fall in.
BUCKET_RANGE = (4096, 4194304)


def _integer(value):
    """An int from an int or a string of digits (what the argument spec lets through), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and re.match(r'^[0-9]+$', value) else None


def tcp_profile_check(settings, bucket_range=BUCKET_RANGE):
    """The problems of tcp_profile's settings that its argument spec cannot express, one sentence each.

    ``settings``: {tw_reuse, timestamps, max_tw_buckets, per_mib, minimum, maximum, sysctl_file}, the
    tcp_profile_* variables of those names; ``bucket_range``: [lowest, highest] tcp_max_tw_buckets the
    role accepts (BUCKET_RANGE). [] when the settings are sound.
    """
    low, high = (int(bound) for bound in bucket_range)
    problems = []
    tw_reuse, timestamps = _integer(settings.get('tw_reuse')), _integer(settings.get('timestamps'))
    if tw_reuse in (1, 2) and timestamps == 0:
        problems.append('tcp_profile_timestamps is 0 while tcp_profile_tw_reuse is %d: tcp_tw_reuse relies on TCP '
                        'timestamps and does nothing without them. Set tcp_profile_timestamps to 1 (allowed: 1 or 2 '
                        'when tcp_profile_tw_reuse is 1 or 2), or tcp_profile_tw_reuse to 0.' % tw_reuse)
    buckets = settings.get('max_tw_buckets')
    count = None if isinstance(buckets, float) else _integer(buckets)
    if str(buckets) != 'auto' and not (count is not None and low <= count <= high):
        problems.append('tcp_profile_max_tw_buckets is %s; allowed values: auto, or an integer from %d to %d.'
                        % (json.dumps(buckets), low, high))
    per_mib, minimum, maximum = (_integer(settings.get(name)) for name in ('per_mib', 'minimum', 'maximum'))
    if None in (per_mib, minimum, maximum) or not (per_mib >= 1 and low <= minimum <= maximum <= high):
        problems.append('tcp_profile_max_tw_buckets_per_mib must be at least 1 and tcp_profile_max_tw_buckets_min <= '
                        'tcp_profile_max_tw_buckets_max, both from %d to %d (got per_mib=%s, min=%s, max=%s).'
                        % (low, high, settings.get('per_mib'), settings.get('minimum'), settings.get('maximum')))
    path = settings.get('sysctl_file')
    if not (isinstance(path, str) and SYSCTL_FILE.match(path) and '..' not in path):
        problems.append('tcp_profile_sysctl_file is %s; it must be an absolute path directly in /etc/sysctl.d/ whose '
                        'name ends in .conf (letters, digits, dot, dash, underscore), for example '
                        '/etc/sysctl.d/60-harden-tcp.conf.' % json.dumps(str(path)))
    return problems
