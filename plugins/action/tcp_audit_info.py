# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_audit_info on the controller: validate, observe on the host, judge, set tcp_audit_record.

One task per host does the whole audit (roles/tcp_audit): a fleet audit then
costs Ansible one task per host, the floor of running the module ad hoc,
instead of a task for argument validation, one for the module and one for the
judge. The judge is plugins/plugin_utils/judge.py and nginx_audit.py, the
same functions the filters expose.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_audit import (
    ARGUMENT_SPEC, JUDGE_ARGUMENT_SPEC, SYSCTL_FIELDS, params_error)
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.judge import tcp_audit_record
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_audit import nginx_observation

MODULE = 'harden_tcp.tcp.tcp_audit_info'


class ActionModule(ActionBase):
    """Run the tcp_audit_info module on the host and judge its result here."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # the module runs without a temporary directory of ours

        # Every option, checked before the host is contacted. The module
        # checks its own again on the host; that costs nothing extra.
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        error = '; '.join(validation.error_messages) or params_error(validation.validated_parameters)
        if error:
            result.update(failed=True, msg='tcp_audit_info: %s' % error)
            return result
        judge = dict((name, validation.validated_parameters[name]) for name in JUDGE_ARGUMENT_SPEC)
        # The module gets its options as given, so that paths are expanded on
        # the host, not here.
        module_args = dict((name, value) for name, value in self._task.args.items() if name not in JUDGE_ARGUMENT_SPEC)

        if judge['reuse'] is not None:
            # No second look at the host: the caller says nothing can have changed since that audit.
            if not isinstance(judge['reuse'].get('findings'), list):
                result.update(failed=True, msg='tcp_audit_info: reuse must be a tcp_audit_record (it has no findings)')
                return result
            if judge['reuse'].get('host') != task_vars.get('inventory_hostname'):
                result.update(failed=True, msg='tcp_audit_info: reuse is the record of %s, not of this host (%s)'
                              % (judge['reuse'].get('host'), task_vars.get('inventory_hostname')))
                return result
            result['ansible_facts'] = {'tcp_audit_record': dict(judge['reuse'], phase=judge['phase'])}
            return result

        observed = self._execute_module(module_name=MODULE, module_args=module_args, task_vars=task_vars)
        result.update(observed)
        if observed.get('failed') or observed.get('skipped'):
            return result
        try:
            nginx = nginx_observation(observed.get('nginx_dump'), judge['nginx_min_keepalive_requests'])
            record = tcp_audit_record(observed, timewait=observed.get('timewait'), thresholds=judge['thresholds'],
                                      nginx=nginx, host=task_vars.get('inventory_hostname'), phase=judge['phase'])
        # The host's answer is untrusted: a malformed one fails this host with a message, not a traceback.
        except (AnsibleError, AttributeError, KeyError, TypeError, ValueError) as exc:
            result.update(failed=True, msg='cannot judge what the host returned: %s: %s' % (type(exc).__name__, exc))
            return result
        result['ansible_facts'] = {'tcp_audit_record': record}
        if judge['keep']:
            params = validation.validated_parameters
            sysctl = dict((name, observed.get(name)) for name in SYSCTL_FIELDS)
            read_with = ('keys', 'expected', 'profile_file', 'auto_max_tw_buckets')
            sysctl['read'] = dict((name, params[name]) for name in read_with)
            result['ansible_facts'].update(tcp_audit_before=record, tcp_audit_sysctl=sysctl)
        return result
