"""Benchmark harden-tcp.yml against a naive sysctl playbook on a fleet of fresh containers.

Four runs, side by side: harden-tcp.yml on fresh hosts, its second run on the
same hosts (nothing to change), and bench/naive-harden.yml (ansible.posix.sysctl
for tcp_tw_reuse, tcp_timestamps and tcp_max_tw_buckets into a sysctl.d file,
facts gathered) on another set of fresh hosts, then its second run. Each
playbook gets its own fresh fleet, started before its timer starts (settings
of the Molecule platforms, helpers of bench/fleet_audit.py) and removed after
its two runs, also on failure, Ctrl-C or SIGTERM. With --rounds > 1 the order
of the two playbooks alternates and the medians count.

Checks (exit 1 on a mismatch, after the table): every host has the three
values at runtime after each first run, the harden-tcp report says every host
is compliant, and no second run changes anything on any host.

Run from the project root with the venv first on PATH:
  python3 bench/harden_fleet.py --hosts 30 --forks 50 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
# pylint: disable-next=wrong-import-position
from fleet_audit import (ROOT, WAIT_FOR_PROC_SYS, ansible_env, container_name, remove_containers, run,  # noqa: E402
                         start_container, timed, write_inventory)

BUCKETS = 262144
VALUES = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_max_tw_buckets': str(BUCKETS)}
PLAYBOOKS = {'harden': 'harden-tcp.yml', 'naive': 'bench/naive-harden.yml'}
RUNS = ('first', 'second')
# One line of the play recap: "name : ok=12 changed=3 unreachable=0 failed=0 skipped=20 rescued=0 ignored=0".
RECAP = re.compile(r'^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)')


def start_fresh(name: str, image: str) -> None:
    start_container(name, image)
    run(['docker', 'exec', name, 'sh', '-c', WAIT_FOR_PROC_SYS])


def recap(log: pathlib.Path, names: List[str]) -> Dict[str, Dict[str, int]]:
    """Per host of the fleet: {ok, changed, failed, skipped} from the play recap of a run's log."""
    counts = {}
    for line in log.read_text().splitlines():
        match = RECAP.match(line)
        if match and match.group(1) in names:
            ok, changed, _unreachable, failed, skipped = (int(value) for value in match.groups()[1:])
            counts[match.group(1)] = {'ok': ok, 'changed': changed, 'failed': failed, 'skipped': skipped}
    return counts


def runtime_values(name: str) -> Dict[str, str]:
    out = run(['docker', 'exec', name, 'sysctl', '-n', *VALUES]).stdout.split()
    return dict(zip(VALUES, out))


def check_run(kind: str, which: str, counts: Dict[str, Dict[str, int]], names: List[str],
              report_dir: pathlib.Path) -> List[str]:
    """One line per thing a run got wrong."""
    problems = ['%s %s: %s has no recap line' % (kind, which, name) for name in names if name not in counts]
    if which == 'second':
        problems += ['%s second run changed %d tasks on %s' % (kind, count['changed'], name)
                     for name, count in sorted(counts.items()) if count['changed']]
        return problems
    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, values in zip(names, pool.map(runtime_values, names)):
            if values != VALUES:
                problems.append('%s first run: %s has %s at runtime' % (kind, name, values))
    if kind == 'harden':
        report = json.loads((report_dir / 'tcp-audit.json').read_text())
        problems += ['harden first run: the report says %s is %s' % (entry['host'], entry['state'])
                     for entry in report['hosts'] if entry['state'] != 'compliant']
    return problems


def per_host(counts: Dict[str, Dict[str, int]], field: str) -> float:
    return statistics.mean(count[field] for count in counts.values()) if counts else float('nan')


def bench_playbook(kind: str, args: argparse.Namespace, work: pathlib.Path, round_no: int,
                   extra: List[str]) -> Tuple[Dict[str, Tuple[float, float, Dict[str, float]]], List[str]]:
    """Start a fresh fleet, run `kind` twice on it, remove it: {run: (wall, cpu, tasks per host)}, problems."""
    names = [container_name('%s-%s' % (args.prefix, kind), i) for i in range(args.hosts)]
    inventory = work / ('inventory-%s-%d.json' % (kind, round_no))
    report_dir = work / ('reports-%s-%d' % (kind, round_no))
    write_inventory(inventory, names, report_dir, args.connection, {
        # Ansible connects as root through docker exec; there is no sudo.
        'harden_tcp_become': False,
        # The same bucket count for both playbooks (`auto` would size it from this machine's memory).
        'tcp_profile_max_tw_buckets': BUCKETS,
        'naive_max_tw_buckets': BUCKETS,
    })
    env = ansible_env(args.forks, True)
    results, problems = {}, []
    try:
        remove_containers(names)  # leftovers of an interrupted run
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda name: start_fresh(name, args.image), names))
        for which in RUNS:
            log = work / ('%s-%s-%d.log' % (kind, which, round_no))
            argv = ['ansible-playbook', '-i', str(inventory), '--forks', str(args.forks), PLAYBOOKS[kind], *extra]
            wall, cpu = timed(argv, env, log)
            counts = recap(log, names)
            problems += check_run(kind, which, counts, names, report_dir)
            results[which] = (wall, cpu, {field: per_host(counts, field) for field in ('ok', 'changed', 'skipped')})
            print('round %d, %s %s run: %.1f s wall, %.1f s cpu, per host ok %.1f changed %.1f skipped %.1f' % (
                round_no, kind, which, wall, cpu, results[which][2]['ok'], results[which][2]['changed'],
                results[which][2]['skipped']), flush=True)
    finally:
        remove_containers(names)
    return results, problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hosts', type=int, default=30, help='fleet size (default 30)')
    parser.add_argument('--forks', type=int, default=50, help='ansible forks for every run')
    parser.add_argument('--rounds', type=int, default=1, help='rounds (playbook order alternates); the median counts')
    parser.add_argument('--image', default='harden-tcp/debian:bookworm')
    parser.add_argument('--prefix', default='bench-harden', help='container name prefix')
    parser.add_argument('--connection', default='community.docker.docker', help='ansible_connection of the fleet')
    parser.add_argument('--harden-arg', action='append', default=[],
                        help='extra argument for harden-tcp.yml only, e.g. --harden-arg=-e --harden-arg=harden_tcp_strategy=...')
    parser.add_argument('--targets', default='1.5,1.2', help='ratios harden/naive to meet, first run and second run')
    args = parser.parse_args()
    if shutil.which('ansible-playbook') is None:
        raise SystemExit('ansible-playbook is not on PATH: export PATH=%s/.venv/bin:$PATH' % ROOT)
    targets = dict(zip(RUNS, (float(part) for part in args.targets.split(','))))
    # SIGTERM ends the run like Ctrl-C does: through the finally blocks.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    work = pathlib.Path(tempfile.mkdtemp(prefix='harden-fleet-'))
    measured = {kind: {which: [] for which in RUNS} for kind in PLAYBOOKS}
    problems = []  # type: List[str]
    started = time.monotonic()
    for round_no in range(1, args.rounds + 1):
        order = list(PLAYBOOKS) if round_no % 2 else list(reversed(list(PLAYBOOKS)))
        for kind in order:
            results, found = bench_playbook(kind, args, work, round_no, args.harden_arg if kind == 'harden' else [])
            problems += found
            for which in RUNS:
                measured[kind][which].append(results[which])

    def median(kind: str, which: str, index: int) -> float:
        return statistics.median(result[index] for result in measured[kind][which])

    def tasks(kind: str, which: str) -> str:
        last = measured[kind][which][-1][2]
        return '%.0f ok (%.0f changed) + %.0f skipped' % (last['ok'], last['changed'], last['skipped'])

    print()
    print('%d hosts (%s), forks %d, pipelining on, rounds %d (medians), %.0f s in all, logs in %s' % (
        args.hosts, args.image, args.forks, args.rounds, time.monotonic() - started, work))
    print('harden: ansible-playbook harden-tcp.yml %s' % ' '.join(args.harden_arg))
    print('naive:  ansible-playbook bench/naive-harden.yml')
    print('wall and controller CPU (user+sys of ansible, its forks and docker clients), seconds; tasks per host:')
    print('| run | harden wall | harden cpu | naive wall | naive cpu | harden / naive wall | harden / naive cpu '
          '| harden tasks per host | naive tasks per host |')
    print('|---|---:|---:|---:|---:|---:|---:|---|---|')
    for which in RUNS:
        wall = {kind: median(kind, which, 0) for kind in PLAYBOOKS}
        cpu = {kind: median(kind, which, 1) for kind in PLAYBOOKS}
        print('| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %s |' % (
            which, wall['harden'], cpu['harden'], wall['naive'], cpu['naive'], wall['harden'] / wall['naive'],
            cpu['harden'] / cpu['naive'], tasks('harden', which), tasks('naive', which)))
    for which in RUNS:
        ratio = median('harden', which, 0) / median('naive', which, 0)
        print('target, %s run: harden <= %.2f x naive (wall): %s (%.2f)' % (
            which, targets[which], 'met' if ratio <= targets[which] else 'MISSED', ratio))
    if problems:
        print('\nPROBLEMS:')
        for line in problems:
            print('  ' + line)
        return 1
    print('checks: the values are live on every host after each first run, the report says every host is '
          'compliant, no second run changed anything')
    return 0


if __name__ == '__main__':
    sys.exit(main())
