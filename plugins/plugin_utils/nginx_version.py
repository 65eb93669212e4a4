# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one nginx version parser, and the versions where defaults this project depends on changed.

Used by the nginx audit (which defaults apply to a directive that is absent)
and by nginx_keepalive (what to render for the host's nginx).
"""

from __future__ import absolute_import, division, print_function

import re

__metaclass__ = type

VERSION_RE = re.compile(r'nginx/(\d+)\.(\d+)\.(\d+)')
VERSION_TEXT_RE = re.compile(r'^(\d+)\.(\d+)\.(\d+)')

# 1.29.7: upstream "keepalive 32 local", proxy_http_version 1.1 and no
# "Connection: close" by default.
DEFAULT_KEEPALIVE_VERSION = (1, 29, 7)
DEFAULT_KEEPALIVE = 32
# 1.19.10: upstream keepalive_time appeared, keepalive_requests' default went from 100 to 1000.
KEEPALIVE_TIME_VERSION = (1, 19, 10)
# 1.15.3: keepalive_timeout and keepalive_requests became valid inside upstream blocks.
KEEPALIVE_TIMEOUT_VERSION = (1, 15, 3)
UNKNOWN_VERSION = (0, 0, 0)


def parse_nginx_version(text):
    """Return "1.22.1" from ``nginx -v`` output ("nginx version: nginx/1.22.1"), or None."""
    match = VERSION_RE.search(text or '')
    return '.'.join(match.groups()) if match else None


def version_tuple(version):
    """Return (1, 22, 1) for "1.22.1"; an unknown or missing version is (0, 0, 0), the oldest defaults."""
    match = VERSION_TEXT_RE.match(str(version or ''))
    return tuple(int(part) for part in match.groups()) if match else UNKNOWN_VERSION


def pools_by_default(version):
    """True from nginx 1.29.7 on: upstreams keep connections and proxying uses HTTP/1.1 without configuration."""
    return version_tuple(version) >= DEFAULT_KEEPALIVE_VERSION


def default_keepalive_requests(version):
    """nginx's upstream keepalive_requests when the directive is absent: 100 before 1.19.10, 1000 since."""
    return 1000 if version_tuple(version) >= KEEPALIVE_TIME_VERSION else 100
