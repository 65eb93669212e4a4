#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_audit_info
short_description: Observe a host for the TIME_WAIT audit in one call, and judge it on the controller
version_added: "1.0.0"
description:
  - The whole of roles/tcp_audit in one task, so a fleet audit costs one task and one round trip per host.
  - On the host, one read-only call returns what M(harden_tcp.tcp.tcp_sysctl_info) returns for the profile keys (runtime
    values, the values at next boot and under C(sysctl --system) with the files that set them, MemTotal, kernel, a
    read-only C(/proc/sys)), the C(timewait) dictionary of M(harden_tcp.tcp.tcp_timewait_info), and the output of
    C(nginx -v -T -q).
  - On the controller, the action plugin of the same name validates every option before the host is contacted, runs the
    module, then judges its result (the filters P(harden_tcp.tcp.nginx_observation#filter) and
    P(harden_tcp.tcp.tcp_audit_record#filter)) and sets the fact C(tcp_audit_record) (docs/audit-record.md).
  - Both cores are the ones those modules use (plugins/module_utils/tcp_sysctl.py, plugins/module_utils/tcp_timewait.py); this
    entry point only combines them.
  - Read-only; always C(changed=false); supports check mode.
options:
  timewait_method:
    description: How to enumerate TIME_WAIT sockets, as O(harden_tcp.tcp.tcp_timewait_info#module:method).
    type: str
    default: auto
    choices: [auto, netlink, procfs]
  top_n:
    description: Rows per TIME_WAIT breakdown; 0 keeps all.
    type: int
    default: 10
  include_ipv6:
    description: Count IPv6 TIME_WAIT sockets too.
    type: bool
    default: true
  nginx:
    description: Run C(nginx -v -T -q) (read-only) when an nginx binary is found.
    type: bool
    default: true
  thresholds:
    description:
      - Judge option (controller side). C(bucket_utilization) (default 0.8) and C(port_pressure) (default 0.5), each
        in (0, 1], as P(harden_tcp.tcp.tcp_audit_record#filter) takes them.
    type: dict
    default: {}
  nginx_min_keepalive_requests:
    description: Judge option (controller side). TW-NGINX-005 fires for a keepalive upstream whose C(keepalive_requests)
      is below this.
    type: int
    default: 1000
  phase:
    description: Judge option (controller side). Recorded in the record; V(after) for the proof that follows a change.
    type: str
    default: before
    choices: [before, after]
  keep:
    description:
      - Judge option (controller side). Also set the facts C(tcp_audit_before) (this record) and C(tcp_audit_sysctl)
        (the sysctl part of the host's answer, with the options it was read with), so that a later step of the play
        can plan from this read (M(harden_tcp.tcp.tcp_profile)'s O(harden_tcp.tcp.tcp_profile#module:observed)) and
        prove from it (O(reuse)).
    type: bool
    default: false
  reuse:
    description:
      - Judge option (controller side). A C(tcp_audit_record) of this host from earlier in the play, taken as this
        audit's record (with O(phase)) without contacting the host. For a caller that knows nothing can have changed
        since (harden-tcp.yml, on a host where nothing was changed and no other run held the lock).
    type: dict
extends_documentation_fragment:
  - harden_tcp.tcp.sysctl
  - harden_tcp.tcp.sysctl.info_attributes
author: harden-tcp contributors (@harden-tcp)
'''

EXAMPLES = r'''
- name: Audit the host (sets tcp_audit_record)
  harden_tcp.tcp.tcp_audit_info:
    expected: {net.ipv4.tcp_tw_reuse: "1", net.ipv4.tcp_timestamps: "1"}
    profile_file: /etc/sysctl.d/60-harden-tcp.conf
    thresholds: {port_pressure: 0.3}

- name: Show the findings
  ansible.builtin.debug:
    msg: "{{ tcp_audit_record | harden_tcp.tcp.tcp_finding_lines }}"
'''

RETURN = r'''
ansible_facts:
  description: Set by the action plugin on the controller.
  type: dict
  returned: success
  contains:
    tcp_audit_record:
      description: The audit record of the host, schema in docs/audit-record.md.
      type: dict
      returned: success
sysctl:
  description: One entry per requested key, as M(harden_tcp.tcp.tcp_sysctl_info) returns it.
  type: dict
  returned: always
files:
  description: Sysctl files the boot's tool reads, in the order it reads them.
  type: list
  elements: str
  returned: always
system_files:
  description: Sysctl files C(sysctl --system) reads, in the order it reads them.
  type: list
  elements: str
  returned: always
sysctl_tools:
  description: Which tools apply sysctl files here, as M(harden_tcp.tcp.tcp_sysctl_info) returns it.
  type: dict
  returned: always
proc_sys_writable:
  description: C(/proc/sys) is not mounted read-only.
  type: bool
  returned: always
memtotal_mb:
  description: MemTotal in MiB, null when unknown.
  type: int
  returned: always
auto_max_tw_buckets:
  description: The C(auto) bucket count, null unless O(auto_max_tw_buckets) was given.
  type: int
  returned: always
kernel:
  description: C({release, version}).
  type: dict
  returned: always
container:
  description: Container runtime (docker, podman, lxc...) or null.
  type: str
  returned: always
profile:
  description: C({file, rivals, winning_file, own_files, unbeaten}), as M(harden_tcp.tcp.tcp_sysctl_info) returns it.
  type: dict
  returned: when profile_file is set
timewait:
  description: The TIME_WAIT counts and kernel counters, exactly as M(harden_tcp.tcp.tcp_timewait_info) returns them.
  type: dict
  returned: always
nginx_dump:
  description:
    - "C({skipped: true}) with O(nginx=false); C({binary: null}) when no nginx binary was found; otherwise
      C({binary, rc, stdout, stderr}) of C(nginx -v -T -q)."
    - nginx prints its version on stderr first, then the configuration it would load on stdout when that
      configuration passes C(nginx -t).
    - Both are decoded as UTF-8; bytes that are not (a comment saved in Latin-1) become U+FFFD.
  type: dict
  returned: always
  sample: {binary: /usr/sbin/nginx, rc: 0, stdout: "# configuration file /etc/nginx/nginx.conf:\n...",
           stderr: "nginx version: nginx/1.22.1\n"}
nginx_live:
  description:
    - "Whether the running nginx loaded the files of that dump, as M(harden_tcp.tcp.nginx_live_info) returns it:
      C({running, master_pid, pid_file, loaded_at, files, changed_after_load, loaded}); null without nginx."
  type: dict
  returned: always
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.nginx_live import NGINX_DIRS, live_from_dump, runner
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_audit import ARGUMENT_SPEC, params_error
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import gather
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_timewait import TimewaitError, gather_timewait


def dump_nginx(module):
    """The nginx_dump return value: run `nginx -v -T -q` where nginx is installed.

    Decoded with replacement (nginx_live.runner): one Latin-1 comment cannot
    lose the rest of the host's audit.
    """
    binary = module.get_bin_path('nginx', opt_dirs=NGINX_DIRS)
    if binary is None:
        return {'binary': None}
    rc, stdout, stderr = runner(module)([binary, '-v', '-T', '-q'])
    return {'binary': binary, 'rc': rc, 'stdout': stdout, 'stderr': stderr}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    error = params_error(params)
    if error:
        module.fail_json(msg=error)
    try:
        result = gather(params['keys'], expected=params['expected'], profile_file=params['profile_file'],
                        auto=params['auto_max_tw_buckets'])
    except (OSError, ValueError) as exc:
        module.fail_json(msg='cannot read sysctl state: %s' % exc)
    try:
        result['timewait'] = gather_timewait(method=params['timewait_method'], top_n=params['top_n'],
                                             include_ipv6=params['include_ipv6'])
    except TimewaitError as exc:
        module.fail_json(msg=str(exc))
    result['nginx_dump'] = dump_nginx(module) if params['nginx'] else {'skipped': True}
    result['nginx_live'] = live_from_dump(result['nginx_dump'])
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
