# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: how fast tcp_timewait_info counts TIME_WAIT sockets, next to `ss`.

A script, not a test. Needs root and unshare(1). For each size it starts a
fresh `unshare -n` child (so sockets never accumulate across sizes and the
host's network is untouched), fills that namespace with real TIME_WAIT sockets,
then times, best of --repeats:

  core     the counting core in-process: gather_timewait(method=...)
  module   the module file as a process: python3 plugins/modules/tcp_timewait_info.py
           args.json, with the collection's module_utils imported from this
           checkout (see tests/integration/twgen.py,
           MODULE_BOOTSTRAP)
  ss       `ss -Htan state time-wait | wc -l`
  naive    readlines of /proc/net/tcp{,6}, split, int(x, 16), a list per socket

and the core's peak extra Python memory (tracemalloc, measured in a separate
run so tracing does not slow the timed runs).

Usage (from the repository root):

    sudo .venv/bin/python bench/timewait_count.py --sizes 10000,100000,250000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Callable, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO_ROOT, 'tests', 'integration'))
sys.path.insert(0, os.path.join(REPO_ROOT, 'collections'))

import twgen  # noqa: E402  (shared with the integration test)
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_timewait  # noqa: E402

# Tuple uniqueness: each (source, destination, port) combination can hold at most
# one TIME_WAIT socket per ephemeral port, so spread the load.
DEST_ADDRESSES = ['127.0.0.%d' % n for n in range(1, 9)]
DEST_PORTS = [9001, 9002, 9003, 9004]
SOURCE_ADDRESSES = ['127.0.1.%d' % n for n in range(1, 9)]
PORT_RANGE = (1024, 65535)


def plan(size: int) -> List[twgen.Destination]:
    """Spread size sockets over 32 destinations, sources rotating over 8 addresses."""
    pairs = [(address, port) for address in DEST_ADDRESSES for port in DEST_PORTS]
    share, extra = divmod(size, len(pairs))
    return [twgen.Destination(address, port, share + (1 if index < extra else 0), sources=SOURCE_ADDRESSES)
            for index, (address, port) in enumerate(pairs)]


def best_of(repeats: int, func: Callable[[], object]) -> float:
    """Best wall time of repeats calls, in seconds."""
    best = float('inf')
    for _round in range(repeats):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


def ss_count() -> int:
    """`ss -Htan state time-wait | wc -l`, as two processes joined by a pipe."""
    ss = subprocess.Popen(['ss', '-Htan', 'state', 'time-wait'], stdout=subprocess.PIPE)
    wc = subprocess.run(['wc', '-l'], stdin=ss.stdout, stdout=subprocess.PIPE, check=True)
    ss.stdout.close()
    ss.wait()
    return int(wc.stdout)


def naive_count() -> int:
    """The obvious /proc parse: every socket becomes a Python tuple in a list."""
    sockets = []
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(path) as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                if fields[3] != '06':
                    continue
                local_addr, local_port = fields[1].split(':')
                remote_addr, remote_port = fields[2].split(':')
                sockets.append((int(local_addr, 16), int(local_port, 16), int(remote_addr, 16),
                                int(remote_port, 16)))
    per_remote = {}  # type: Dict[tuple, int]
    for sock in sockets:
        key = (sock[2], sock[3])
        per_remote[key] = per_remote.get(key, 0) + 1
    return len(sockets)


def core_peak_bytes(method: str) -> int:
    """Peak Python memory allocated during one core call."""
    tracemalloc.start()
    try:
        tcp_timewait.gather_timewait(method=method, top_n=10)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def child(size: int, repeats: int) -> Dict[str, object]:
    """Inside a fresh namespace: build size sockets and time every counter."""
    twgen.setup_namespace(port_range=PORT_RANGE, max_tw_buckets=max(2 * size, 262144))
    started = time.perf_counter()
    listeners = twgen.build(plan(size))
    build_seconds = time.perf_counter() - started
    counts = {
        'ss': ss_count(),
        'core_netlink': tcp_timewait.gather_timewait(method='netlink')['total'],
        'core_procfs': tcp_timewait.gather_timewait(method='procfs')['total'],
        'naive': naive_count(),
        'module': twgen.run_module_process({'method': 'auto'})['result']['timewait']['total'],
    }
    # TIME_WAIT lasts 60 s and building 250k sockets takes about half of that,
    # so the counters that matter most are timed first, while every socket is
    # still there; sockstat tw before and after shows whether some expired.
    seconds = {}  # type: Dict[str, float]
    tw_before = twgen.sockstat_tcp()['tw']
    seconds['core_netlink'] = best_of(repeats, lambda: tcp_timewait.gather_timewait(method='netlink'))
    seconds['ss'] = best_of(repeats, ss_count)
    seconds['module'] = best_of(repeats, lambda: twgen.run_module_process({'method': 'auto'}))
    seconds['naive'] = best_of(repeats, naive_count)
    seconds['core_procfs'] = best_of(repeats, lambda: tcp_timewait.gather_timewait(method='procfs'))
    result = {
        'size': size,
        'build_seconds': build_seconds,
        'counts': counts,
        'seconds': seconds,
        'tw_before_after': [tw_before, twgen.sockstat_tcp()['tw']],
        'peak_bytes': {'core_netlink': core_peak_bytes('netlink'), 'core_procfs': core_peak_bytes('procfs')},
    }
    for listener in listeners:
        listener.close()
    return result


def run_size(size: int, repeats: int) -> Dict[str, object]:
    """Run child() for one size in its own network namespace."""
    argv = [sys.executable, os.path.abspath(__file__), '--child', str(size), '--repeats', str(repeats)]
    proc = subprocess.run(twgen.unshare_command(argv), stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return json.loads(proc.stdout)


def print_table(results: List[Dict[str, object]]) -> None:
    """Side-by-side figures and the ratios the targets are stated in."""
    mib = 1024.0 * 1024.0
    print('%8s %8s | %9s %9s %9s %9s %9s | %7s %7s %7s %7s | %8s %8s' % (
        'sockets', 'build s', 'core ms', 'procfs ms', 'module ms', 'ss ms', 'naive ms',
        'core/ss', 'mod/ss', 'nv/core', 'nv/pfs', 'core MiB', 'pfs MiB'))
    for res in results:
        sec = res['seconds']
        print('%8d %8.1f | %9.1f %9.1f %9.1f %9.1f %9.1f | %7.2f %7.2f %7.1f %7.1f | %8.2f %8.2f' % (
            res['size'], res['build_seconds'],
            sec['core_netlink'] * 1e3, sec['core_procfs'] * 1e3, sec['module'] * 1e3, sec['ss'] * 1e3,
            sec['naive'] * 1e3,
            sec['core_netlink'] / sec['ss'], sec['module'] / sec['ss'],
            sec['naive'] / sec['core_netlink'], sec['naive'] / sec['core_procfs'],
            res['peak_bytes']['core_netlink'] / mib, res['peak_bytes']['core_procfs'] / mib))
    print()
    for res in results:
        counts = res['counts']
        agree = len(set(counts.values())) == 1
        print('%8d sockets: counts %s %s; sockstat tw before/after timing %s' % (
            res['size'], json.dumps(counts, sort_keys=True), 'agree' if agree else 'DISAGREE',
            res['tw_before_after']))
        if res['tw_before_after'][0] != res['tw_before_after'][1]:
            print('          warning: TIME_WAIT sockets expired (60 s) while timing; the later columns'
                  ' saw fewer sockets. Use fewer --repeats for this size.')
    print('load average while running: %.1f %.1f %.1f (the figures are only as quiet as the machine)'
          % os.getloadavg())
    print('\ncore = gather_timewait(method="netlink") in-process; procfs = the same with method="procfs";'
          '\nmodule = python3 plugins/modules/tcp_timewait_info.py args.json (method auto); ss = ss -Htan state'
          ' time-wait | wc -l;\nnaive = readlines/split/int(x, 16) with a list per socket. Times are the'
          ' best of the repeats; MiB = tracemalloc peak of one core call.')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--sizes', default='10000,100000,250000',
                        help='comma-separated socket counts, one fresh namespace each')
    parser.add_argument('--repeats', type=int, default=5, help='timed repeats per measurement (best is kept)')
    parser.add_argument('--json', action='store_true', help='print raw results as JSON instead of a table')
    parser.add_argument('--child', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        json.dump(child(args.child, args.repeats), sys.stdout)
        return
    if os.geteuid() != 0:
        sys.exit('bench/timewait_count.py needs root (it creates network namespaces with unshare -n)')
    results = []
    for size in (int(text) for text in args.sizes.split(',')):
        results.append(run_size(size, args.repeats))
        print('... %d sockets built in %.1f s' % (size, results[-1]['build_seconds']), file=sys.stderr)
    if args.json:
        json.dump(results, sys.stdout, indent=1)
    else:
        print_table(results)


if __name__ == '__main__':
    main()
