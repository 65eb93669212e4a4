# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of tcp_profile; the logic is plugin_utils/profile.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.profile import (
    tcp_profile_check, tcp_profile_drift, tcp_profile_expected)


class FilterModule(object):
    """tcp_profile filters."""

    def filters(self):
        return {'tcp_profile_check': tcp_profile_check, 'tcp_profile_expected': tcp_profile_expected,
                'tcp_profile_drift': tcp_profile_drift}
