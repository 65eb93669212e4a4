# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of tcp_report; the logic is plugin_utils/report.py and report_text.py.

The report files themselves are written by the action plugin
harden_tcp.tcp.tcp_report in one step; these filters serve the node_exporter
textfile template and playbooks of users that build on the fleet summary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report import (
    tcp_report_fleet, tcp_report_host_lines, tcp_report_worst)
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report_text import junit, textfile


class FilterModule(object):
    """Filters of the tcp_report role."""

    def filters(self):
        return {
            'tcp_report_fleet': tcp_report_fleet,
            'tcp_report_worst': tcp_report_worst,
            'tcp_report_host_lines': tcp_report_host_lines,
            'tcp_report_junit': junit,
            'tcp_report_textfile': textfile,
        }
