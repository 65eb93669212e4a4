# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of tcp_profile; the logic is plugin_utils/profile.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# tcp_profile_expected and tcp_profile_drift are the functions the tcp_profile module runs on the host.
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_profile import profile_drift, profile_values
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.profile import tcp_profile_check


class FilterModule(object):
    """tcp_profile filters."""

    def filters(self):
        return {'tcp_profile_check': tcp_profile_check, 'tcp_profile_expected': profile_values,
                'tcp_profile_drift': profile_drift}
