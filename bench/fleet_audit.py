"""Benchmark playbooks/audit-tcp.yml against a naive audit on a fleet of containers.

Starts N containers from the project's image (settings of the Molecule
platforms: no network, NET_ADMIN + SYS_ADMIN, seccomp/apparmor unconfined),
gives each a known drift by index, runs both playbooks over the same
inventory with the same forks, checks the fleet report against the known
drift (exit 1 on a mismatch), prints the wall times side by side, and removes
the containers, also on failure or Ctrl-C.

Drift by index i % 4:
  0 compliant       profile values at runtime and in 60-harden-tcp.conf
  1 tw_reuse=0      runtime drift            -> TW-SYSCTL-006 (high): not compliant
  2 conflict file   99-zz-conflict.conf sets tw_reuse=0 (medium only): compliant
  3 timestamps=0    runtime drift            -> TW-SYSCTL-003/006 (high): not compliant

Run from the project root with the venv first on PATH:
  python3 bench/fleet_audit.py --hosts 50 --forks 50
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

ROOT = pathlib.Path(__file__).resolve().parents[1]
LABEL = 'org.harden-tcp.bench=fleet_audit'
PROFILE = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_max_tw_buckets': '262144'}
DRIFTS = ('compliant', 'tw_reuse=0', 'conflict-file', 'timestamps=0')
EXPECTED_STATE = {'compliant': 'compliant', 'tw_reuse=0': 'noncompliant',
                  'conflict-file': 'compliant', 'timestamps=0': 'noncompliant'}


def run(argv: List[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def container_name(prefix: str, index: int) -> str:
    return '%s-%03d' % (prefix, index)


def start_container(name: str, image: str) -> None:
    # Same settings as molecule/*/molecule.yml; the image's own command
    # remounts /proc/sys read-write and sleeps.
    run(['docker', 'run', '--detach', '--name', name, '--label', LABEL, '--network', 'none',
         '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN',
         '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', image])


def drift_script(drift: str) -> str:
    """Shell run in the container (by docker exec, not by Ansible) to create its state."""
    profile = ''.join('%s=%s\n' % item for item in PROFILE.items())
    lines = [
        # /proc/sys is remounted read-write by the container's command; wait for it.
        'for i in $(seq 50); do [ -w /proc/sys/net/ipv4/tcp_tw_reuse ] && break; sleep 0.1; done',
        "printf '%s' > /etc/sysctl.d/60-harden-tcp.conf" % profile,
        'sysctl -q -p /etc/sysctl.d/60-harden-tcp.conf',
    ]
    if drift == 'tw_reuse=0':
        lines.append('sysctl -q -w net.ipv4.tcp_tw_reuse=0')
    elif drift == 'conflict-file':
        lines.append("printf 'net.ipv4.tcp_tw_reuse = 0\\n' > /etc/sysctl.d/99-zz-conflict.conf")
    elif drift == 'timestamps=0':
        lines.append('sysctl -q -w net.ipv4.tcp_timestamps=0')
    return ' && '.join(lines)


def prepare_host(name: str, image: str, drift: str) -> None:
    start_container(name, image)
    run(['docker', 'exec', name, 'sh', '-c', drift_script(drift)])


def remove_containers(names: List[str]) -> None:
    for start in range(0, len(names), 50):
        subprocess.run(['docker', 'rm', '--force', *names[start:start + 50]], capture_output=True, check=False)


def write_inventory(path: pathlib.Path, names: List[str], report_dir: pathlib.Path) -> None:
    inventory = {'all': {
        'hosts': {name: None for name in names},
        'vars': {
            'ansible_connection': 'community.docker.docker',
            'ansible_python_interpreter': '/usr/bin/python3',
            # A fixed expectation: `auto` would depend on this machine's memory.
            'tcp_audit_expected_max_tw_buckets': int(PROFILE['net.ipv4.tcp_max_tw_buckets']),
            'tcp_report_dir': str(report_dir),
        },
    }}
    path.write_text(json.dumps(inventory, indent=2))


def timed_playbook(playbook: str, inventory: pathlib.Path, forks: int, log: pathlib.Path,
                   extra: List[str], pipelining: bool) -> float:
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        # Both playbooks without a persistent fact cache: `gathering = smart`
        # would otherwise skip the naive play's fact gathering on a second round.
        'ANSIBLE_CACHE_PLUGIN': 'ansible.builtin.memory',
        'ANSIBLE_FORKS': str(forks),
        # ansible.cfg turns pipelining on for SSH only ([ssh_connection]); the
        # docker connection reads the generic setting. Same for both playbooks.
        'ANSIBLE_PIPELINING': 'true' if pipelining else 'false',
    })
    argv = ['ansible-playbook', '-i', str(inventory), '--forks', str(forks), playbook, *extra]
    started = time.monotonic()
    with log.open('w') as out:
        result = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit('%s failed with rc %d, see %s' % (playbook, result.returncode, log))
    return elapsed


def check_report(report_dir: pathlib.Path, drifts: Dict[str, str]) -> List[str]:
    """Return one line per host whose reported state differs from its known drift."""
    report = json.loads((report_dir / 'tcp-audit.json').read_text())
    states = {entry['host']: entry['state'] for entry in report['hosts']}
    problems = []
    for name, drift in sorted(drifts.items()):
        want = EXPECTED_STATE[drift]
        if states.get(name) != want:
            problems.append('%s (%s): reported %s, expected %s' % (name, drift, states.get(name), want))
    extra = set(states) - set(drifts)
    if extra:
        problems.append('hosts in the report that the fleet does not have: %s' % ', '.join(sorted(extra)))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hosts', type=int, default=50, help='containers to start (at least 50 for a real figure)')
    parser.add_argument('--forks', type=int, default=50, help='ansible forks for both playbooks')
    parser.add_argument('--rounds', type=int, default=1, help='runs of each playbook, alternated; the median counts')
    parser.add_argument('--image', default='harden-tcp/debian:bookworm')
    parser.add_argument('--prefix', default='bench-tcp')
    parser.add_argument('--target', type=float, default=0.35, help='ratio audit/naive to meet')
    parser.add_argument('--audit-arg', action='append', default=[],
                        help='extra argument for audit-tcp.yml only, e.g. --audit-arg=-e --audit-arg=tcp_audit_nginx=false')
    parser.add_argument('--no-pipelining', dest='pipelining', action='store_false',
                        help='run both playbooks without pipelining (the docker connection supports it)')
    parser.add_argument('--also-without-nginx', action='store_true',
                        help='also time audit-tcp.yml with tcp_audit_nginx=false (sysctl + TIME_WAIT only)')
    args = parser.parse_args()
    if shutil.which('ansible-playbook') is None:
        raise SystemExit('ansible-playbook is not on PATH: export PATH=%s/.venv/bin:$PATH' % ROOT)

    names = [container_name(args.prefix, i) for i in range(args.hosts)]
    drifts = {name: DRIFTS[i % len(DRIFTS)] for i, name in enumerate(names)}
    work = pathlib.Path(tempfile.mkdtemp(prefix='fleet-audit-'))
    try:
        remove_containers(names)  # leftovers of an interrupted run
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda name: prepare_host(name, args.image, drifts[name]), names))
        print('started and drifted %d containers in %.1f s' % (len(names), time.monotonic() - started))

        inventory = work / 'inventory.json'
        report_dir = work / 'reports'
        write_inventory(inventory, names, report_dir)
        times = {'naive': [], 'audit': [], 'audit-no-nginx': []}  # type: Dict[str, List[float]]
        problems = []  # type: List[str]
        for round_no in range(1, args.rounds + 1):
            times['naive'].append(timed_playbook('bench/naive-audit.yml', inventory, args.forks,
                                                 work / ('naive-%d.log' % round_no), [], args.pipelining))
            times['audit'].append(timed_playbook('playbooks/audit-tcp.yml', inventory, args.forks,
                                                 work / ('audit-%d.log' % round_no), args.audit_arg, args.pipelining))
            problems += check_report(report_dir, drifts)
            line = 'round %d: naive %.1f s, audit-tcp %.1f s' % (round_no, times['naive'][-1], times['audit'][-1])
            if args.also_without_nginx:
                times['audit-no-nginx'].append(timed_playbook(
                    'playbooks/audit-tcp.yml', inventory, args.forks, work / ('audit-no-nginx-%d.log' % round_no),
                    args.audit_arg + ['-e', 'tcp_audit_nginx=false'], args.pipelining))
                problems += check_report(report_dir, drifts)
                line += ', audit-tcp without nginx %.1f s' % times['audit-no-nginx'][-1]
            print(line, flush=True)

        naive = statistics.median(times['naive'])
        print()
        print('fleet: %d hosts (%s), forks %d, pipelining %s, rounds %d (medians), logs in %s' % (
            len(names), ', '.join('%s x%d' % (d, list(drifts.values()).count(d)) for d in DRIFTS),
            args.forks, 'on' if args.pipelining else 'off', args.rounds, work))
        print('%-34s %10s %14s %8s' % ('', 'wall (s)', 'per host (ms)', 'ratio'))
        rows = [('naive-audit.yml', 'naive'), ('audit-tcp.yml', 'audit')]
        if args.also_without_nginx:
            rows.append(('audit-tcp.yml tcp_audit_nginx=false', 'audit-no-nginx'))
        for label, key in rows:
            wall = statistics.median(times[key])
            print('%-34s %10.1f %14.0f %8.2f' % (label, wall, 1000 * wall / len(names), wall / naive))
        ratio = statistics.median(times['audit']) / naive
        print('target: audit-tcp.yml <= %.2f x naive: %s (%.2f)' % (
            args.target, 'met' if ratio <= args.target else 'MISSED', ratio))
        if problems:
            print('\nREPORT MISMATCH against the known drift:')
            for line in problems:
                print('  ' + line)
            return 1
        print('report: every host has the state its drift implies')
        return 0
    finally:
        remove_containers(names)


if __name__ == '__main__':
    sys.exit(main())
