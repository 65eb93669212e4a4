# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options of the sysctl observation shared by tcp_sysctl_info and tcp_audit_info.

The argument spec behind them is plugins/module_utils/tcp_sysctl.py ARGUMENT_SPEC.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  keys:
    description: Sysctl keys to report, dotted (C(net.ipv4.tcp_tw_reuse)) or slashed (C(net/ipv4/tcp_tw_reuse)).
    type: list
    elements: str
    default: [net.ipv4.tcp_tw_reuse, net.ipv4.tcp_timestamps, net.ipv4.tcp_tw_recycle,
              net.ipv4.tcp_max_tw_buckets, net.ipv4.ip_local_port_range]
  expected:
    description:
      - Values the caller wants, by key. With O(profile_file), the settings that would keep such a key from getting
        that value from the drop-in, at boot or under C(sysctl --system), are returned as rivals.
      - C(auto) for C(net.ipv4.tcp_max_tw_buckets) is replaced by the number O(auto_max_tw_buckets) computes.
    type: dict
    default: {}
  profile_file:
    description:
      - The drop-in that carries the expected values (absolute path). The settings that beat it are returned in
        C(overridden_by) per key, and C(profile.winning_file) names the path where it wins under both tools.
    type: path
  auto_max_tw_buckets:
    description: When set, return C(auto_max_tw_buckets) = clamp(MemTotal_MiB * O(auto_max_tw_buckets.per_mib),
      O(auto_max_tw_buckets.minimum), O(auto_max_tw_buckets.maximum)).
    type: dict
    suboptions:
      per_mib:
        description: Buckets per MiB of RAM.
        type: int
        default: 16
      minimum:
        description: Lower bound.
        type: int
        default: 32768
      maximum:
        description: Upper bound.
        type: int
        default: 1048576
'''

    # The three read-only modules: nothing to diff, nothing changes in check mode.
    INFO_ATTRIBUTES = r'''
attributes:
  check_mode:
    support: full
    description: Read-only; check mode runs the module as usual.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: linux
    description: Reads C(/proc) (and, for sysctl, the sysctl configuration directories) of a Linux host.
'''
