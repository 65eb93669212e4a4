# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nginx audit filter of tcp_audit; the logic is plugin_utils/nginx_audit.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_audit import nginx_observation


class FilterModule(object):
    """harden-tcp nginx audit filter."""

    def filters(self):
        return {'nginx_observation': nginx_observation}
