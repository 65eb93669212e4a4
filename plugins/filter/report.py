# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of tcp_report; the logic is plugin_utils/report.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.report import (
    tcp_report_chart_svg, tcp_report_finding_counts, tcp_report_fleet, tcp_report_host_lines, tcp_report_hostvar,
    tcp_report_junit, tcp_report_md_cell, tcp_report_percent, tcp_report_prom_label, tcp_report_rank, tcp_report_sorted_hosts,
    tcp_report_worst)


class FilterModule(object):
    """Filters of the tcp_report role."""

    def filters(self):
        return {
            'tcp_report_fleet': tcp_report_fleet,
            'tcp_report_hostvar': tcp_report_hostvar,
            'tcp_report_worst': tcp_report_worst,
            'tcp_report_sorted_hosts': tcp_report_sorted_hosts,
            'tcp_report_host_lines': tcp_report_host_lines,
            'tcp_report_junit': tcp_report_junit,
            'tcp_report_chart_svg': tcp_report_chart_svg,
            'tcp_report_md_cell': tcp_report_md_cell,
            'tcp_report_percent': tcp_report_percent,
            'tcp_report_finding_counts': tcp_report_finding_counts,
            'tcp_report_prom_label': tcp_report_prom_label,
            'tcp_report_rank': tcp_report_rank,
        }
