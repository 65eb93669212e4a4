# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of ``tcp_audit_info``, in one place for its two halves.

The module (on the host) observes; its action plugin of the same name (on the
controller) validates every option before the host is contacted, runs the
module, and judges. The judge options are consumed by the action plugin; the
module accepts and ignores them, so running the module file alone takes the
same arguments.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import ARGUMENT_SPEC as SYSCTL_ARGUMENT_SPEC
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_timewait import METHODS

# What the module reads on the host.
OBSERVE_ARGUMENT_SPEC = dict(
    SYSCTL_ARGUMENT_SPEC,
    timewait_method=dict(type='str', default='auto', choices=list(METHODS)),
    top_n=dict(type='int', default=10),
    include_ipv6=dict(type='bool', default=True),
    nginx=dict(type='bool', default=True),
)

# How the controller judges what the module read. thresholds stays a plain
# dict: the judge checks its values and names the role variable behind each.
JUDGE_ARGUMENT_SPEC = dict(
    thresholds=dict(type='dict', default={}),
    nginx_min_keepalive_requests=dict(type='int', default=1000),
    phase=dict(type='str', default='before', choices=['before', 'after']),
    # harden-tcp.yml: keep the audit before the change for the change and the proof (no second read) ...
    keep=dict(type='bool', default=False),
    # ... and take it as the proof where nothing can have changed since.
    reuse=dict(type='dict'),
)

# The parts of the module's answer that tcp_profile plans from (with ``keep``: the fact tcp_audit_sysctl).
SYSCTL_FIELDS = ('sysctl', 'profile', 'proc_sys_writable', 'memtotal_mb', 'container', 'auto_max_tw_buckets')

ARGUMENT_SPEC = dict(OBSERVE_ARGUMENT_SPEC, **JUDGE_ARGUMENT_SPEC)


def params_error(params):
    """The sentence that rejects validated ``params``, or None when they are usable.

    Checks what an argument spec cannot express; the module and its action
    plugin both call it.
    """
    if params.get('top_n') is not None and params['top_n'] < 0:
        return 'top_n must be 0 (keep all entries) or a positive integer, got %d' % params['top_n']
    return None
