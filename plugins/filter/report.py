# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The filter of tcp_report's node_exporter textfile template; the logic is plugin_utils/report_text.py.

The report files themselves are written by the action plugin
harden_tcp.tcp.tcp_report, in one Python step on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report_text import textfile


class FilterModule(object):
    """Filters of the tcp_report role."""

    def filters(self):
        return {'tcp_report_textfile': textfile}
