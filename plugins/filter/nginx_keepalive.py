# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of nginx_keepalive; the logic is plugin_utils/nginx_keepalive.py and plugin_utils/nginx_version.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_keepalive import (
    nginx_keepalive_check, nginx_keepalive_features, nginx_keepalive_version_errors)
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import parse_nginx_version


class FilterModule(object):
    """Validation filters of the nginx_keepalive role."""

    def filters(self):
        return {
            'nginx_keepalive_check': nginx_keepalive_check,
            'nginx_keepalive_features': nginx_keepalive_features,
            'nginx_keepalive_version_errors': nginx_keepalive_version_errors,
            'nginx_version': parse_nginx_version,
        }
