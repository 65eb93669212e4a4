# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Make real TIME_WAIT sockets inside a private network namespace.

Shared by tests/integration/test_tcp_timewait_netns.py and
bench/timewait_count.py. Everything here assumes it already runs inside
``unshare -n`` (see :func:`unshare_command`): it changes sysctls and addresses
of the namespace it runs in, which must never be the host's.

A TIME_WAIT socket is made the ordinary way: the client connects, the server
accepts, the client closes first, then the server closes. The side that closes
first is the one that waits.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_PATH = os.path.join(REPO_ROOT, 'plugins', 'modules', 'tcp_timewait_info.py')
# Holds ansible_collections/harden_tcp/tcp, a link to this checkout.
COLLECTIONS_DIR = os.path.join(REPO_ROOT, 'collections')

# Linux: bind() picks the source address only; the port is chosen at connect()
# time with 4-tuple uniqueness, so many TIME_WAIT sockets can share a port.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, 'IP_BIND_ADDRESS_NO_PORT', 24)

# Runs the module file as `python3 tcp_timewait_info.py args.json` would on a
# host, except that its collection's module_utils are imported from this
# checkout (Ansible normally ships them inside the AnsiballZ payload).
# argv: the collections dir, the module file, then the module's own args.
MODULE_BOOTSTRAP = (
    'import runpy, sys\n'
    'sys.path.insert(0, sys.argv[1])\n'
    'sys.argv = sys.argv[2:]\n'
    'runpy.run_path(sys.argv[0], run_name="__main__")\n'
)


class Destination(object):
    """One listener and how many TIME_WAIT sockets to leave towards it."""

    def __init__(self, address: str, port: int, count: int, sources: Sequence[str] = ()) -> None:
        self.address = address
        self.port = port
        self.count = count
        self.sources = list(sources)

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ':' in self.address else socket.AF_INET

    @property
    def v4_mapped(self) -> bool:
        return self.address.startswith('::ffff:') and '.' in self.address


def unshare_command(argv: List[str]) -> List[str]:
    """Prefix argv so it runs in a fresh network namespace that dies with it."""
    unshare = shutil.which('unshare')
    if unshare is None:
        raise RuntimeError('unshare(1) not found')
    return [unshare, '--net', '--'] + argv


def module_process_command(args_path: str, python: str = sys.executable) -> List[str]:
    """Command that runs plugins/modules/tcp_timewait_info.py as a process with an args file."""
    return [python, '-c', MODULE_BOOTSTRAP, COLLECTIONS_DIR, MODULE_PATH, args_path]


def write_sysctl(name: str, value: str) -> None:
    """Write a net.* sysctl of the current namespace."""
    with open('/proc/sys/' + name.replace('.', '/'), 'w') as handle:
        handle.write(value)


def setup_namespace(ipv6_addresses: Iterable[str] = (), port_range: Optional[Tuple[int, int]] = None,
                    max_tw_buckets: Optional[int] = None) -> None:
    """Bring lo up, add addresses, and make TIME_WAIT sockets stay put.

    tcp_tw_reuse=2 (the default, loopback only) would let connect() take over
    old TIME_WAIT entries and spoil known counts, so it is turned off.
    """
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    for address in ipv6_addresses:
        subprocess.run(['ip', '-6', 'addr', 'add', address + '/128', 'dev', 'lo', 'nodad'], check=True)
    write_sysctl('net.ipv4.tcp_tw_reuse', '0')
    if port_range is not None:
        write_sysctl('net.ipv4.ip_local_port_range', '%d %d' % port_range)
    if max_tw_buckets is not None:
        write_sysctl('net.ipv4.tcp_max_tw_buckets', str(max_tw_buckets))


def open_listener(dest: Destination) -> socket.socket:
    """Listen on the destination; v4-mapped destinations get a dual-stack listener."""
    if dest.v4_mapped:
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        bind_to = ('::', dest.port)
    else:
        server = socket.socket(dest.family, socket.SOCK_STREAM)
        bind_to = (dest.address, dest.port)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(bind_to)
    server.listen(4096)
    return server


def make_timewait(dest: Destination, server: socket.socket) -> None:
    """Leave dest.count client-side TIME_WAIT sockets towards dest."""
    family = socket.AF_INET6 if dest.v4_mapped else dest.family
    sources = dest.sources or [None]
    target = (dest.address, dest.port)
    for index in range(dest.count):
        client = socket.socket(family, socket.SOCK_STREAM)
        source = sources[index % len(sources)]
        if source is not None:
            client.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            client.bind((source, 0))
        client.connect(target)
        conn, _peer = server.accept()
        client.close()
        conn.close()


def sockstat_tcp() -> Dict[str, int]:
    """The TCP: line of /proc/net/sockstat as a dict."""
    with open('/proc/net/sockstat') as handle:
        for line in handle:
            if line.startswith('TCP:'):
                fields = line.split()[1:]
                return {key: int(value) for key, value in zip(fields[0::2], fields[1::2])}
    return {}


def wait_settled(expected_tw: int, timeout: float = 10.0) -> Dict[str, int]:
    """Wait until no orphans are left and sockstat shows expected_tw timewait entries."""
    deadline = time.monotonic() + timeout
    stat = sockstat_tcp()
    while time.monotonic() < deadline:
        stat = sockstat_tcp()
        if stat.get('orphan') == 0 and stat.get('tw') == expected_tw:
            return stat
        time.sleep(0.02)
    raise RuntimeError('TIME_WAIT sockets did not settle: %r, expected tw=%d' % (stat, expected_tw))


def build(destinations: Sequence[Destination]) -> List[socket.socket]:
    """Create all planned TIME_WAIT sockets; return the listeners (keep them open)."""
    listeners = []
    for dest in destinations:
        server = open_listener(dest)
        listeners.append(server)
        make_timewait(dest, server)
    wait_settled(sum(dest.count for dest in destinations))
    return listeners


def ss_timewait_lines() -> List[str]:
    """`ss -Htan state time-wait` output lines (the reference count)."""
    out = subprocess.run(['ss', '-Htan', 'state', 'time-wait'], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def split_endpoint(text: str) -> Tuple[str, int]:
    """'[::1]:7004' or '127.0.0.1:7001' -> (address, port)."""
    address, _sep, port = text.rpartition(':')
    return address.strip('[]'), int(port)


def ss_breakdown(lines: Sequence[str]) -> Dict[str, Dict[str, int]]:
    """Per remote 'address port' and per local port counts from ss lines."""
    remotes = {}  # type: Dict[str, int]
    local_ports = {}  # type: Dict[str, int]
    for line in lines:
        fields = line.split()
        _laddr, lport = split_endpoint(fields[2])
        raddr, rport = split_endpoint(fields[3])
        key = '%s %d' % (raddr, rport)
        remotes[key] = remotes.get(key, 0) + 1
        local_ports[str(lport)] = local_ports.get(str(lport), 0) + 1
    return {'remotes': remotes, 'local_ports': local_ports}


def run_module_process(args: Dict[str, object]) -> Dict[str, object]:
    """Run the module file as a process with an args file; return its JSON result."""
    args_path = '/tmp/tcp_timewait_args_%d.json' % os.getpid()
    with open(args_path, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, handle)
    try:
        proc = subprocess.run(module_process_command(args_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, check=False)
    finally:
        os.unlink(args_path)
    return {'rc': proc.returncode, 'result': _last_json(proc.stdout), 'stderr': proc.stderr}


def run_ansible_adhoc(args: str) -> Dict[str, object]:
    """Run the module through `ansible localhost -m harden_tcp.tcp.tcp_timewait_info` (real AnsiballZ packaging).

    Uses the repository's ansible.cfg (its collections path finds this checkout)
    and the ansible.posix.json callback so the result can be read back exactly.
    """
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    if not os.path.exists(ansible):
        ansible = shutil.which('ansible') or 'ansible'
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, 'ansible.cfg'), LANG='C.UTF-8',
               ANSIBLE_NOCOLOR='1', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json',
               ANSIBLE_LOCAL_TEMP='/tmp/.ansible-tw-%d' % os.getpid())
    proc = subprocess.run([ansible, 'localhost', '-m', 'harden_tcp.tcp.tcp_timewait_info', '-a', args],
                          cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, check=False)
    result = None
    output = _last_json(proc.stdout)
    try:
        result = output['plays'][0]['tasks'][0]['hosts']['localhost']  # type: ignore[index]
    except (TypeError, KeyError, IndexError):
        pass
    return {'rc': proc.returncode, 'result': result, 'stdout': proc.stdout, 'stderr': proc.stderr}


def _last_json(text: str) -> Optional[object]:
    """Decode the JSON object in text (modules may print warnings around it)."""
    start = text.find('{')
    if start < 0:
        return None
    try:
        return json.loads(text[start:].strip())
    except ValueError:
        return None


def integration_plan() -> List[Destination]:
    """The destinations and counts the integration test expects to see."""
    return [
        Destination('127.0.0.1', 7001, 1200),
        Destination('127.0.0.2', 7001, 600),
        Destination('127.0.0.2', 7002, 400, sources=['127.0.0.5', '127.0.0.6']),
        Destination('127.0.0.3', 7003, 250),
        Destination('::1', 7004, 700),
        Destination('fd00::2', 7005, 300),
        Destination('::ffff:127.0.0.1', 7006, 150),
    ]


def integration_child() -> Dict[str, object]:
    """Inside the namespace: build the plan, then count it every way there is."""
    sys.path.insert(0, COLLECTIONS_DIR)
    from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_timewait  # noqa: E402

    plan = integration_plan()
    setup_namespace(ipv6_addresses=['fd00::2'])
    started = time.monotonic()
    listeners = build(plan)
    build_seconds = time.monotonic() - started
    report = {
        'expected': {'%s %d' % (d.address, d.port): d.count for d in plan},
        'build_seconds': build_seconds,
        'ss': ss_breakdown(ss_timewait_lines()),
        'ss_total': len(ss_timewait_lines()),
        'core': {m: tcp_timewait.gather_timewait(method=m, top_n=0) for m in ('netlink', 'procfs', 'auto')},
        'process': {m: run_module_process({'method': m, 'top_n': 0}) for m in ('netlink', 'procfs')},
        'adhoc': {m: run_ansible_adhoc('method=%s top_n=3' % m) for m in ('auto', 'procfs')},
        'ss_total_after': len(ss_timewait_lines()),
    }
    for listener in listeners:
        listener.close()
    return report


if __name__ == '__main__':
    if len(sys.argv) != 2 or sys.argv[1] != 'integration-child':
        sys.exit('usage: unshare -n %s twgen.py integration-child' % sys.executable)
    json.dump(integration_child(), sys.stdout)
