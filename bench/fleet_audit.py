"""Benchmark playbooks/audit-tcp.yml against Ansible's own floor on fleets of containers.

The floor is what Ansible needs to run the audit's one module on every host:
an ad hoc `ansible all -m tcp_audit_info` over the same inventory, with the
same forks, connection and module arguments (the bare module from library/,
so without the controller-side judge). The audit does that and everything a
fleet audit adds: judging every host, error records, and the fleet report.

Starts the largest fleet once (settings of the Molecule platforms: no network,
NET_ADMIN + SYS_ADMIN, seccomp/apparmor unconfined; plus a memory and pids
cap per container), gives each container a known drift by index, then for
each size runs the floor and the audit over the first N containers (rounds
alternated), checks the fleet report against the known drift (exit 1 on a
mismatch), prints one table, and removes every container it started, also on
failure, Ctrl-C or SIGTERM.

Drift by index i % 4:
  0 compliant       profile values at runtime and in 60-harden-tcp.conf
  1 tw_reuse=0      runtime drift            -> TW-SYSCTL-006 (high): not compliant
  2 conflict file   99-zz-conflict.conf sets tw_reuse=0 (medium only): compliant
  3 timestamps=0    runtime drift            -> TW-SYSCTL-003/006 (high): not compliant

Run from the project root with the venv first on PATH:
  python3 bench/fleet_audit.py --sizes 25,100,200 --forks 50
Optional columns: --judge (ad hoc harden_tcp.tcp.tcp_audit_info: the module
plus the controller-side judge), --split (audit-tcp.yml without writing the
report: the audit play's own cost), --naive (bench/naive-audit.yml: full facts,
one command per key; slow at 200 hosts).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[1]
LABEL = 'org.harden-tcp.bench=fleet_audit'
PROFILE = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_max_tw_buckets': '262144'}
PROFILE_FILE = '/etc/sysctl.d/60-harden-tcp.conf'
DRIFTS = ('compliant', 'tw_reuse=0', 'conflict-file', 'timestamps=0')
EXPECTED_STATE = {'compliant': 'compliant', 'tw_reuse=0': 'noncompliant',
                  'conflict-file': 'compliant', 'timestamps=0': 'noncompliant'}
# The module arguments roles/tcp_audit passes at its defaults (with the fixed
# bucket expectation of the inventory below), so the floor does the same host work.
FLOOR_ARGS = {
    'expected': {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_recycle': '0',
                 'net.ipv4.tcp_max_tw_buckets': PROFILE['net.ipv4.tcp_max_tw_buckets']},
    'profile_file': PROFILE_FILE,
    'auto_max_tw_buckets': {'per_mib': 16, 'minimum': 32768, 'maximum': 1048576},
}
# One container: a sleeping shell and, for a moment, the module's Python and nginx -T.
CONTAINER_LIMITS = ['--memory', '128m', '--memory-swap', '128m', '--pids-limit', '64']


def run(argv: List[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def container_name(prefix: str, index: int) -> str:
    return '%s-%03d' % (prefix, index)


def start_container(name: str, image: str) -> None:
    # Same settings as molecule/*/molecule.yml; the image's own command
    # remounts /proc/sys read-write and sleeps.
    run(['docker', 'run', '--detach', '--name', name, '--label', LABEL, '--network', 'none',
         '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN', *CONTAINER_LIMITS,
         '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', image])


# /proc/sys is remounted read-write by the container's command: shell that waits for it.
WAIT_FOR_PROC_SYS = 'for i in $(seq 50); do [ -w /proc/sys/net/ipv4/tcp_tw_reuse ] && break; sleep 0.1; done'


def drift_script(drift: str) -> str:
    """Shell run in the container (by docker exec, not by Ansible) to create its state."""
    profile = ''.join('%s=%s\n' % item for item in PROFILE.items())
    lines = [
        WAIT_FOR_PROC_SYS,
        "printf '%s' > %s" % (profile, PROFILE_FILE),
        'sysctl -q -p %s' % PROFILE_FILE,
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


def write_inventory(path: pathlib.Path, names: List[str], report_dir: pathlib.Path, connection: str,
                    fleet_vars: Dict[str, object]) -> None:
    """A JSON inventory of the containers `names`, with `fleet_vars` on top of the connection settings."""
    inventory = {'all': {
        'hosts': {name: None for name in names},
        'vars': dict({
            'ansible_connection': connection,
            'ansible_python_interpreter': '/usr/bin/python3',
            'tcp_report_dir': str(report_dir),
        }, **fleet_vars),
    }}
    path.write_text(json.dumps(inventory, indent=2))


def ansible_env(forks: int, pipelining: bool) -> Dict[str, str]:
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CONFIG': str(ROOT / 'ansible.cfg'),
        # No persistent fact cache for any run: every run pays the same.
        'ANSIBLE_CACHE_PLUGIN': 'ansible.builtin.memory',
        'ANSIBLE_FORKS': str(forks),
        'ANSIBLE_PIPELINING': 'true' if pipelining else 'false',
    })
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: List[str], env: Dict[str, str], log: pathlib.Path) -> Tuple[float, float]:
    """Wall time and controller CPU time (the command, its forks and docker clients) of one run."""
    started, cpu = time.monotonic(), children_cpu()
    with log.open('w') as out:
        result = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed, cpu = time.monotonic() - started, children_cpu() - cpu
    if result.returncode != 0:
        raise SystemExit('%s failed with rc %d, see %s' % (' '.join(argv[:4]), result.returncode, log))
    return elapsed, cpu


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


def check_adhoc(log: pathlib.Path, count: int) -> List[str]:
    """The ad hoc run must have reached every host (its log has one SUCCESS line per host)."""
    ok = sum(1 for line in log.read_text().splitlines() if ' | SUCCESS ' in line)
    return [] if ok == count else ['%s: %d of %d hosts answered' % (log.name, ok, count)]


def parse_sizes(text: str) -> List[int]:
    sizes = sorted({int(part) for part in text.split(',') if part.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError('sizes must be positive integers, e.g. 25,100,200')
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sizes', type=parse_sizes, default=[25, 100, 200],
                        help='fleet sizes, comma-separated (default 25,100,200); the largest is started once')
    parser.add_argument('--forks', type=int, default=50, help='ansible forks for every run')
    parser.add_argument('--rounds', type=int, default=1, help='runs of each command per size, alternated; the median counts')
    parser.add_argument('--image', default='harden-tcp/debian:bookworm')
    parser.add_argument('--prefix', default='bench-tcp', help='container name prefix')
    parser.add_argument('--target', type=float, default=1.2, help='ratio audit/floor to meet at the largest size')
    parser.add_argument('--audit-arg', action='append', default=[],
                        help='extra argument for audit-tcp.yml only, e.g. --audit-arg=-e --audit-arg=harden_tcp_strategy=...')
    parser.add_argument('--connection', default='community.docker.docker',
                        help='ansible_connection of the fleet (Mitogen redirects only the short name docker)')
    parser.add_argument('--no-pipelining', dest='pipelining', action='store_false',
                        help='run everything without pipelining (the docker connection supports it)')
    parser.add_argument('--judge', action='store_true',
                        help='also time ad hoc harden_tcp.tcp.tcp_audit_info (module plus controller-side judge)')
    parser.add_argument('--split', action='store_true',
                        help='also time audit-tcp.yml with the report skipped (its tag harden_tcp_report)')
    parser.add_argument('--naive', action='store_true', help='also time bench/naive-audit.yml')
    args = parser.parse_args()
    if shutil.which('ansible-playbook') is None:
        raise SystemExit('ansible-playbook is not on PATH: export PATH=%s/.venv/bin:$PATH' % ROOT)
    # SIGTERM ends the run like Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    names = [container_name(args.prefix, i) for i in range(max(args.sizes))]
    drifts = {name: DRIFTS[i % len(DRIFTS)] for i, name in enumerate(names)}
    work = pathlib.Path(tempfile.mkdtemp(prefix='fleet-audit-'))
    env = ansible_env(args.forks, args.pipelining)
    try:
        remove_containers(names)  # leftovers of an interrupted run
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda name: prepare_host(name, args.image, drifts[name]), names))
        print('started and drifted %d containers in %.1f s' % (len(names), time.monotonic() - started), flush=True)

        columns = (['floor', 'audit'] + (['judge'] if args.judge else []) + (['split'] if args.split else [])
                   + (['naive'] if args.naive else []))
        times = {}  # type: Dict[int, Dict[str, List[float]]]
        cpu = {}  # type: Dict[int, Dict[str, List[float]]]
        problems = []  # type: List[str]
        for size in args.sizes:
            fleet = names[:size]
            inventory = work / ('inventory-%d.json' % size)
            report_dir = work / ('reports-%d' % size)
            # A fixed expectation: `auto` would depend on this machine's memory.
            write_inventory(inventory, fleet, report_dir, args.connection,
                            {'tcp_audit_expected_max_tw_buckets': int(PROFILE['net.ipv4.tcp_max_tw_buckets'])})
            commands = {
                'floor': ['ansible', 'all', '-i', str(inventory), '--forks', str(args.forks),
                          '-M', str(ROOT / 'library'), '-m', 'tcp_audit_info', '-a', json.dumps(FLOOR_ARGS)],
                'audit': ['ansible-playbook', '-i', str(inventory), '--forks', str(args.forks),
                          'playbooks/audit-tcp.yml', *args.audit_arg],
                'judge': ['ansible', 'all', '-i', str(inventory), '--forks', str(args.forks),
                          '-m', 'harden_tcp.tcp.tcp_audit_info', '-a', json.dumps(FLOOR_ARGS)],
                'split': ['ansible-playbook', '-i', str(inventory), '--forks', str(args.forks),
                          'playbooks/audit-tcp.yml', '--skip-tags', 'harden_tcp_report', *args.audit_arg],
                'naive': ['ansible-playbook', '-i', str(inventory), '--forks', str(args.forks), 'bench/naive-audit.yml'],
            }
            times[size] = {column: [] for column in columns}
            cpu[size] = {column: [] for column in columns}
            for round_no in range(1, args.rounds + 1):
                for column in columns:
                    log = work / ('%s-%d-%d.log' % (column, size, round_no))
                    wall, used = timed(commands[column], env, log)
                    times[size][column].append(wall)
                    cpu[size][column].append(used)
                    if column == 'audit':
                        problems += check_report(report_dir, {name: drifts[name] for name in fleet})
                    elif column in ('floor', 'judge'):
                        problems += check_adhoc(log, size)
                print('%d hosts, round %d: %s' % (size, round_no, ', '.join(
                    '%s %.1f s (cpu %.1f s)' % (column, times[size][column][-1], cpu[size][column][-1])
                    for column in columns)), flush=True)

        print()
        print('forks %d, pipelining %s, rounds %d (medians), image %s, logs in %s' % (
            args.forks, 'on' if args.pipelining else 'off', args.rounds, args.image, work))
        print('audit: ansible-playbook playbooks/audit-tcp.yml %s' % ' '.join(args.audit_arg))
        print('floor: ansible all -M library -m tcp_audit_info -a <the role\'s module arguments>')
        print('wall and controller CPU (user+sys of ansible, its forks and docker clients), seconds:')
        header = ('| hosts | ' + ' | '.join('%s wall | %s cpu' % (column, column) for column in columns)
                  + ' | audit / floor wall | audit / floor cpu |')
        print(header)
        print('|' + '---:|' * (2 * len(columns) + 3))
        for size in args.sizes:
            wall = {column: statistics.median(times[size][column]) for column in columns}
            used = {column: statistics.median(cpu[size][column]) for column in columns}
            print('| %d | %s | %.2f | %.2f |' % (
                size, ' | '.join('%.1f | %.1f' % (wall[column], used[column]) for column in columns),
                wall['audit'] / wall['floor'], used['audit'] / used['floor']))
        largest = max(args.sizes)
        ratio = statistics.median(times[largest]['audit']) / statistics.median(times[largest]['floor'])
        print('target at %d hosts: audit <= %.2f x floor: %s (%.2f)' % (
            largest, args.target, 'met' if ratio <= args.target else 'MISSED', ratio))
        if problems:
            print('\nMISMATCH against the known drift:')
            for line in problems:
                print('  ' + line)
            return 1
        print('report: every host has the state its drift implies; every ad hoc run reached every host')
        return 0
    finally:
        remove_containers(names)


if __name__ == '__main__':
    sys.exit(main())
