# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tcp_profile on the controller: validate, plan, render; the host is changed in one call, or not contacted.

The change phase of roles/tcp_profile used to be a dozen tasks per host (read,
decide, probe the template, snapshot files, snapshot values, write, remove,
note, sysctl -w, lock and unlock): in a fleet run each task costs every host a
round through the strategy. Here it is one task. The plan is made from a read
of the host - the audit's, when it was read with the same expectations - and
on a converged host nothing more happens. Otherwise the module re-reads the
host under the per-host lock and carries out the plan only if the fresh read
gives the same plan; if not, the plan is made again from that read.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.template import generate_ansible_template_vars, trust_as_template
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_profile import (
    ARGUMENT_SPEC, content_digest, is_pending, pending, plan, profile_read, usable_read)
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import finding
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.profile import BUCKET_RANGE, tcp_profile_check

READ_MODULE = 'harden_tcp.tcp.tcp_sysctl_info'
APPLY_MODULE = 'harden_tcp.tcp.tcp_profile'
# How often a plan is made again when the host changes between the read and the lock (another run).
ATTEMPTS = 3
# The role variable behind each option, for messages: users set variables, not options.
VARIABLES = dict((name, 'tcp_profile_' + name) for name in ARGUMENT_SPEC)
VARIABLES.update(snapshot_dir='tcp_snapshot_dir', lock_wait='tcp_snapshot_lock_wait', lock='lock',
                 observed='observed', validate_only='validate_only')


def validate(args):
    """(options, None) or (None, the message naming every problem and the variable behind it)."""
    # Unknown options never get here: ActionBase refuses them (_VALID_ARGS).
    spec = dict((VARIABLES[name], option) for name, option in ARGUMENT_SPEC.items())
    validation = ArgumentSpecValidator(spec).validate(dict((VARIABLES[name], value) for name, value in args.items()))
    if validation.error_messages:
        return None, '%s. Nothing was changed.' % '; '.join(validation.error_messages)
    options = dict((name, validation.validated_parameters[VARIABLES[name]]) for name in ARGUMENT_SPEC)
    problems = tcp_profile_check({'tw_reuse': options['tw_reuse'], 'timestamps': options['timestamps'],
                                  'max_tw_buckets': options['max_tw_buckets'],
                                  'per_mib': options['max_tw_buckets_per_mib'],
                                  'minimum': options['max_tw_buckets_min'], 'maximum': options['max_tw_buckets_max'],
                                  'sysctl_file': options['sysctl_file']})
    if options['lock_wait'] < 0:
        problems.append('tcp_snapshot_lock_wait is %d; it must be 0 (do not wait) or more seconds.'
                        % options['lock_wait'])
    if problems:
        return None, '%s Nothing was changed.' % ' '.join(problems)
    return options, None


def rivals_warning(options, observed, path):
    """The sentence that names settings beating the drop-in, or None."""
    profile = observed.get('profile') or {}
    if not profile.get('rivals'):
        return None
    unbeaten = '; '.join('%s: %s' % ('at boot' if tool == 'boot' else 'under sysctl --system', ', '.join(sources))
                         for tool, sources in sorted((profile.get('unbeaten') or {}).items()) if sources)
    words = ['%s set a profile key to another value and beat %s at boot or under sysctl --system.'
             % (', '.join(profile['rivals']), options['sysctl_file'])]
    if not options['fix_conflicts']:
        words.append('Set tcp_profile_fix_conflicts: true to rename the drop-in so it wins, or remove those settings.')
    else:
        if path != options['sysctl_file']:
            words.append('The drop-in was renamed to %s so it wins %s.'
                         % (path, 'at boot' if unbeaten else 'under both tools'))
        if unbeaten:
            words.append('No file name beats these settings (%s): remove them%s'
                         % (unbeaten, ' (procps reads /etc/sysctl.conf after every sysctl.d file).'
                            if '/etc/sysctl.conf:' in unbeaten else '.'))
    return ' '.join(words)


class ActionModule(ActionBase):
    """Plan the profile on the controller; change the host in one module call when it has to change."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp  # the modules run without a temporary directory of ours
        host = task_vars.get('inventory_hostname')

        options, error = validate(self._task.args)
        if error:
            result.update(failed=True, msg=error)
            return result
        if options['validate_only']:
            # harden-tcp.yml, on a host with nginx work: checked before the lock is taken; applied under it.
            result.update(changed=False, msg='the tcp_profile settings are sound')
            return result
        read = profile_read(options)
        observed = usable_read(options['observed'], read)
        if observed is None:
            observed = self._execute_module(module_name=READ_MODULE, module_args=read, task_vars=task_vars)
            if observed.get('failed'):
                result.update(observed)
                return result

        waited = 0.0  # over every attempt: a wait means another run may have changed the host
        for _attempt in range(ATTEMPTS):
            try:
                outcome, planned, content, change = self._plan(options, observed, task_vars, host)
            # The host's answer is untrusted: a malformed one fails this host with a message, not a traceback.
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                result.update(failed=True, msg='cannot plan from what the host returned: %s: %s'
                              % (type(exc).__name__, exc))
                return result
            result.pop('warnings', None)  # a replan's outcome replaces the last one's, warnings included
            result.update(outcome, waited=waited)
            if result.get('failed') or not result['applied'] or not is_pending(change):
                return result
            module_args = dict(self._task.args, _plan=planned, _content=content)
            for controller_only in ('observed', 'template', 'validate_only'):
                module_args.pop(controller_only, None)
            applied = self._execute_module(module_name=APPLY_MODULE, module_args=module_args, task_vars=task_vars)
            waited += float(applied.get('waited') or 0)
            if applied.get('replan') and not applied.get('failed'):
                observed = applied['observed']
                continue
            warnings = outcome.get('warnings', []) + list(applied.pop('warnings', None) or [])
            result.update(applied, waited=waited)
            if warnings:
                result['warnings'] = warnings
            return result
        result.update(failed=True, msg='the sysctl state of %s changed under this run %d times in a row (another run '
                                       'or tool keeps changing it); nothing was changed by this run.' % (host, ATTEMPTS))
        return result

    def _plan(self, options, observed, task_vars, host):
        """(result fields, the plan, the rendered drop-in, what carrying the plan out would change) from one read.

        Only refusals and a skipped host stop before the drop-in is rendered; the change is None when the read
        does not say (the module then decides under the lock).
        """
        planned = plan(observed, options['sysctl_file'], options['fix_conflicts'])
        outcome = self._outcome(options, observed, planned, host)
        if outcome.get('failed') or not outcome['applied']:
            return outcome, planned, None, None
        content = self._render(options['template'], task_vars, planned, observed)
        warning = rivals_warning(options, observed, planned['file'])
        if warning:
            outcome['warnings'] = [warning]
        return outcome, planned, content, pending(planned, observed, content_digest(content))

    def _outcome(self, options, observed, planned, host):
        """The result fields every outcome carries, and the refusals that come before any change."""
        profile = observed.get('profile') or {}
        outcome = {'changed': False, 'applied': not planned['readonly'], 'readonly': planned['readonly'],
                   'file': planned['file'], 'values': planned['values'], 'rivals': profile.get('rivals') or [],
                   'unbeaten': profile.get('unbeaten') or {}, 'findings': [], 'written': False, 'removed': [],
                   'drift': [],
                   'conflicts_fixed': bool(options['fix_conflicts'] and planned['file'] != options['sysctl_file'])}
        if not planned['sizable']:
            outcome.update(failed=True, msg='tcp_profile_max_tw_buckets is auto but MemTotal could not be read from '
                           '/proc/meminfo on %s; set tcp_profile_max_tw_buckets to an integer from %d to %d.'
                           % ((host,) + tuple(BUCKET_RANGE)))
        elif planned['readonly'] and options['strict']:
            container = observed.get('container')
            outcome.update(failed=True, msg=(
                '/proc/sys is read-only on %s%s: the TCP profile cannot be applied in this network namespace and '
                'nothing was changed. Give the container a writable /proc/sys (remount it read-write, or pass the '
                "keys with the runtime's --sysctl option), or set tcp_profile_strict: false to record finding "
                'TW-SYSCTL-010 and skip the host.' % (host, ' (%s container)' % container if container else '')))
        elif planned['readonly']:
            outcome['findings'] = [finding('TW-SYSCTL-010', 'tcp_profile skipped %s: /proc/sys is read-only '
                                                            '(tcp_profile_strict is false)' % host)]
        return outcome

    def _render(self, template, task_vars, planned, observed):
        """The drop-in's content, rendered here as ansible.builtin.template would render it."""
        try:
            source = self._find_needle('templates', template)
        except AnsibleError as exc:
            raise AnsibleError('tcp_profile_template %s: %s' % (template, exc))
        # ansible_managed and template_*, as ansible.builtin.template adds them (an ansible_managed of the user's wins).
        template_vars = generate_ansible_template_vars(path=template, fullpath=source, dest_path=planned['file'])
        if 'ansible_managed' in task_vars:
            template_vars.pop('ansible_managed', None)
        variables = dict(task_vars)
        variables.update(template_vars)
        variables.update(__tcp_profile_values=planned['values'], __tcp_profile_info=observed)
        # Includes and imports resolve as in ansible.builtin.template: each search path and its templates/.
        searchpath = [candidate for directory in (list(task_vars.get('ansible_search_path', []))
                                                  + [self._loader.get_basedir(), os.path.dirname(source)])
                      for candidate in (os.path.join(directory, 'templates'), directory)]
        templar = self._templar.copy_with_new_env(searchpath=searchpath, available_variables=variables)
        # The options ansible.builtin.template defaults to, so the drop-in is byte for byte what it would write.
        content = templar.template(trust_as_template(self._loader.get_text_file_contents(source)),
                                   escape_backslashes=False,
                                   overrides=dict(trim_blocks=True, lstrip_blocks=False, newline_sequence='\n'))
        return content or ''
