#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: tcp_timewait_info
short_description: Count TCP TIME_WAIT sockets and the kernel limits around them
version_added: "1.0.0"
description:
  - Enumerates the host's TCP sockets in C(TIME_WAIT) and reports how many there
    are, per address family, per remote address and port, and per local port.
  - Reads the kernel's own timewait counter, C(tcp_max_tw_buckets),
    C(TCPTimeWaitOverflow) and the ephemeral port range, so a caller can judge
    how close the host is to running out of timewait buckets or ports.
  - Uses the NETLINK_SOCK_DIAG interface (what C(ss) uses), filtered by the
    kernel to C(TIME_WAIT), and falls back to C(/proc/net/tcp) and
    C(/proc/net/tcp6) where netlink is refused.
  - Needs only the Python standard library on the managed host. Counting keeps
    one entry per distinct destination and local port, so memory stays small
    even with hundreds of thousands of sockets.
  - Everything it reads is per network namespace; in a container it reports the
    container's sockets and settings.
  - Read-only; never reports a change.
author:
  - harden-tcp contributors (@harden-tcp)
options:
  method:
    description:
      - How to enumerate the sockets.
      - C(netlink) asks the kernel over NETLINK_SOCK_DIAG and fails if that is refused.
      - C(procfs) parses C(/proc/net/tcp) and C(/proc/net/tcp6); slower on large tables.
      - C(auto) tries C(netlink) and falls back to C(procfs) when the netlink socket
        is refused (for example by a seccomp profile) or the dump fails.
    type: str
    choices: [auto, netlink, procfs]
    default: auto
  top_n:
    description:
      - How many entries to keep in each of C(by_remote), C(by_remote_address)
        and C(by_local_port), largest first.
      - C(0) keeps all of them. Negative values are an error.
    type: int
    default: 10
  include_ipv6:
    description:
      - Also count IPv6 sockets, including IPv4-mapped IPv6 ones.
      - When false, C(ipv6) is C(0) and IPv6 destinations are left out of the lists.
    type: bool
    default: true
extends_documentation_fragment:
  - harden_tcp.tcp.sysctl.info_attributes
notes:
  - An IPv4 connection made from an IPv6 socket has an IPv4-mapped IPv6 address.
    It is reported as the kernel shows it (for example C(::ffff:10.0.0.1)) and
    counted under C(ipv6), not C(ipv4).
  - C(sockstat_tw) also counts FIN_WAIT2 orphans the kernel keeps as timewait
    entries, so it can be larger than C(total).
  - A kernel without IPv6 has no C(/proc/net/tcp6); C(procfs) then counts no IPv6 sockets.
  - Works the same on kernels that still have C(net.ipv4.tcp_tw_recycle) (before 4.12);
    that setting is neither read nor needed.
requirements:
  - Linux with /proc mounted. Python 3.8 or later on the managed host.
'''

EXAMPLES = r'''
- name: Count TIME_WAIT sockets
  harden_tcp.tcp.tcp_timewait_info:
  register: __tcp_audit_timewait

- name: Show the five busiest destinations
  ansible.builtin.debug:
    msg: "{{ item.address }}:{{ item.port }} has {{ item.count }} sockets in TIME_WAIT"
  loop: "{{ __tcp_audit_timewait.timewait.by_remote[:5] }}"

- name: Force the /proc parser, IPv4 only, every destination
  harden_tcp.tcp.tcp_timewait_info:
    method: procfs
    include_ipv6: false
    top_n: 0
  register: __tcp_audit_timewait_v4

- name: Fail when the timewait table is more than 80 % full
  ansible.builtin.assert:
    that:
      - (__tcp_audit_timewait.timewait.bucket_utilization | default(0, true)) < 0.8
    fail_msg: "tcp_max_tw_buckets is nearly exhausted"
'''

RETURN = r'''
timewait:
  description: TIME_WAIT counts and the kernel counters and limits that go with them.
  returned: success
  type: dict
  contains:
    total:
      description: TCP sockets in TIME_WAIT that were enumerated, both families (C(ipv4) + C(ipv6)).
      returned: success
      type: int
      sample: 18342
    ipv4:
      description: TIME_WAIT sockets of the IPv4 family.
      returned: success
      type: int
      sample: 18000
    ipv6:
      description:
        - TIME_WAIT sockets of the IPv6 family, including IPv4-mapped IPv6 ones
          (C(::ffff:a.b.c.d)). C(0) when O(include_ipv6=false).
      returned: success
      type: int
      sample: 342
    sockstat_tw:
      description:
        - The C(tw) field of the C(TCP:) line of C(/proc/net/sockstat), the kernel's
          count of timewait entries for both families.
        - It also counts FIN_WAIT2 orphans kept as timewait entries, so it can exceed C(total).
      returned: success
      type: int
      sample: 18400
    max_tw_buckets:
      description: C(net.ipv4.tcp_max_tw_buckets), the most timewait entries the kernel keeps.
      returned: success
      type: int
      sample: 262144
    bucket_utilization:
      description:
        - C(sockstat_tw / max_tw_buckets), rounded to 4 decimals.
        - V(null) when C(max_tw_buckets) is C(0).
      returned: success
      type: float
      sample: 0.0702
    overflow_total:
      description:
        - C(TcpExt TCPTimeWaitOverflow) from C(/proc/net/netstat), how many times the
          kernel could not keep a timewait entry because the table was full, since boot.
        - V(null) when the kernel does not have that counter.
      returned: success
      type: int
      sample: 0
    ephemeral_port_range:
      description: C(net.ipv4.ip_local_port_range) as C([low, high]).
      returned: success
      type: list
      elements: int
      sample: [32768, 60999]
    port_pressure:
      description:
        - The largest count towards one remote address and port, divided by the size
          of the ephemeral port range (C(high - low + 1)), rounded to 4 decimals.
        - Near C(1.0), new connections to that destination run out of local ports.
          C(0.0) when there are no TIME_WAIT sockets.
      returned: success
      type: float
      sample: 0.4213
    by_remote:
      description:
        - TIME_WAIT sockets per remote address and port, largest first, ties ordered
          by address then port. At most O(top_n) entries (all when O(top_n=0)).
      returned: success
      type: list
      elements: dict
      sample: [{address: 10.0.0.5, port: 8080, count: 11894}]
      contains:
        address:
          description: Remote address; IPv4 dotted quad, IPv6 compressed text.
          type: str
        port:
          description: Remote port.
          type: int
        count:
          description: Sockets in TIME_WAIT towards this address and port.
          type: int
    by_remote_address:
      description:
        - TIME_WAIT sockets per remote address, all ports together, largest first,
          ties ordered by address. At most O(top_n) entries (all when O(top_n=0)).
      returned: success
      type: list
      elements: dict
      sample: [{address: 10.0.0.5, count: 12001}]
      contains:
        address:
          description: Remote address; IPv4 dotted quad, IPv6 compressed text.
          type: str
        count:
          description: Sockets in TIME_WAIT towards this address.
          type: int
    by_local_port:
      description:
        - TIME_WAIT sockets per local port, largest first, ties ordered by port.
          At most O(top_n) entries (all when O(top_n=0)).
      returned: success
      type: list
      elements: dict
      sample: [{port: 443, count: 2210}]
      contains:
        port:
          description: Local port.
          type: int
        count:
          description: Sockets in TIME_WAIT on this local port.
          type: int
    method:
      description: The method that actually ran.
      returned: success
      type: str
      sample: netlink
    method_fallback_reason:
      description:
        - Why O(method=auto) fell back from C(netlink) to C(procfs), for example the
          error the netlink socket returned. V(null) when there was no fallback.
      returned: success
      type: str
      sample: null
    kernel:
      description: The running kernel release (C(uname -r)).
      returned: success
      type: str
      sample: 6.1.0-18-amd64
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_timewait import METHODS, TimewaitError, gather_timewait


def main():
    module = AnsibleModule(
        argument_spec=dict(
            method=dict(type='str', default='auto', choices=list(METHODS)),
            top_n=dict(type='int', default=10),
            include_ipv6=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    top_n = module.params['top_n']
    if top_n < 0:
        module.fail_json(msg='top_n must be 0 (keep all entries) or a positive integer, got %d' % top_n)
    try:
        timewait = gather_timewait(
            method=module.params['method'],
            top_n=top_n,
            include_ipv6=module.params['include_ipv6'],
        )
    except TimewaitError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, timewait=timewait)


if __name__ == '__main__':
    main()
