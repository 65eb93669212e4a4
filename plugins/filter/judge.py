# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the judge step (tcp_audit) and the proof (harden-tcp.yml); the logic is plugin_utils/judge.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import finding
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.judge import (
    tcp_audit_record, tcp_finding_lines, tcp_unlive_nginx, tcp_unproven_nginx, tcp_untaken)


class FilterModule(object):
    """harden-tcp judge filters."""

    def filters(self):
        return {
            'tcp_audit_record': tcp_audit_record,
            'tcp_finding': finding,
            'tcp_finding_lines': tcp_finding_lines,
            'tcp_unlive_nginx': tcp_unlive_nginx,
            'tcp_unproven_nginx': tcp_unproven_nginx,
            'tcp_untaken': tcp_untaken,
        }
