# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the running nginx has loaded, read from /proc and its error logs.

Core of the modules ``nginx_reload`` (reload, then confirm the new
configuration really took) and ``nginx_live_info`` (does the running master
serve the files on disk?), and of the ``nginx_live`` part of
``tcp_audit_info``. Runs on managed hosts: Python 3.8, standard library only.
Every function that reads the system takes the /proc root as a parameter, so
unit tests run on recorded /proc trees.

Why /proc and the error log: ``nginx -s reload`` and ``systemctl reload
nginx`` only send SIGHUP and exit 0. When the master then fails to apply the
new configuration (a ``listen`` address another process holds, for example)
it logs ``[emerg]`` and keeps its old workers and its old configuration. A
reload that took shows as a new generation of worker processes under the same
master, while the old workers retire ("worker process is shutting down", or
gone).
"""

from __future__ import absolute_import, annotations, division, print_function

import os
import re
import socket
import stat
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

DEFAULT_PROC = '/proc'
DEFAULT_PID_FILE = '/run/nginx.pid'

MASTER_TITLE = 'nginx: master process'
WORKER_TITLE = 'nginx: worker process'
RETIRING_TITLE = 'nginx: worker process is shutting down'

# How much of one log is read after the recorded offset, and how many lines kept.
MAX_LOG_BYTES = 1024 * 1024
MAX_ERROR_LINES = 20
MAX_LINE_CHARS = 400
MAX_LOG_FILES = 32
MAX_PROBES = 8

CONFIG_FILE_RE = re.compile(r'^# configuration file (.+):$', re.MULTILINE)
_ARG = r'''("[^"]*"|'[^']*'|[^\s;'"]+)'''
ERROR_LOG_RE = re.compile(r'^[ \t]*error_log[ \t]+' + _ARG, re.MULTILINE)
PID_RE = re.compile(r'^[ \t]*pid[ \t]+' + _ARG + r'[ \t]*;', re.MULTILINE)
# An nginx error log line: "2024/05/01 10:00:00 [emerg] 40#40: bind() to ... failed (98: ...)".
# Anchored on the whole format so access log lines (also open in the master) never match.
ERROR_LINE_RE = re.compile(
    br'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(emerg|alert)\] (\d+)#\d+: (?:\*\d+ )?([^\r\n]*)$', re.MULTILINE)
CONFIGURE_ARG_RE = re.compile(r'--(prefix|error-log-path|pid-path)=(\S+)')
STATUS_LINE_RE = re.compile(br'^HTTP/\d\.\d (\d{3})')


# ------------------------------------------------------------------ nginx -T and -V text


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        return value[1:-1]
    return value


def config_files(dump: str) -> List[str]:
    """Return the files `nginx -T` printed, in its order, each once."""
    seen: List[str] = []
    for path in CONFIG_FILE_RE.findall(dump or ''):
        if path not in seen:
            seen.append(path)
    return seen


def configure_args(version_text: str) -> Dict[str, str]:
    """Return {prefix, error-log-path, pid-path} found in `nginx -V` output (those it has)."""
    return dict(CONFIGURE_ARG_RE.findall(version_text or ''))


def resolve(path: str, prefix: str) -> str:
    """Return an nginx path made absolute the way nginx does: relative to its prefix."""
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(prefix or '/', path))


def error_log_paths(dump: str, prefix: str = '/') -> List[str]:
    """Return the files the `error_log` directives of an `nginx -T` dump write to.

    syslog:, stderr, memory: and /dev/ targets (/dev/null, /dev/stderr) are
    left out: there is no file to read.
    """
    paths: List[str] = []
    for raw in ERROR_LOG_RE.findall(dump or ''):
        value = _unquote(raw)
        if value == 'stderr' or value.startswith(('syslog:', 'memory:', '/dev/')):
            continue
        path = resolve(value, prefix)
        if path not in paths:
            paths.append(path)
    return paths


def pid_file_of(dump: str, default: str = DEFAULT_PID_FILE, prefix: Optional[str] = None) -> str:
    """Return the pid file the `pid` directive of an `nginx -T` dump names, or ``default``.

    A relative path is nginx's prefix plus the path; without a known prefix it
    gives ``default``.
    """
    match = PID_RE.search(dump or '')
    if not match:
        return default
    value = _unquote(match.group(1))
    if not os.path.isabs(value) and prefix is None:
        return default
    return resolve(value, prefix or '/')


# ------------------------------------------------------------------ processes


def read_text(path: str) -> Optional[str]:
    """Return the text of a file, or None when it cannot be read."""
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def read_process(pid: int, proc: str = DEFAULT_PROC) -> Optional[Dict[str, Any]]:
    """Return {pid, ppid, state, start_ticks, title} of a live process, or None (gone, or a zombie).

    ``start_ticks`` is field 22 of /proc/PID/stat (clock ticks after boot):
    with the pid it names one process, even after the pid is reused.
    """
    stat_text = read_text(os.path.join(proc, str(pid), 'stat'))
    if not stat_text or ')' not in stat_text:
        return None
    fields = stat_text[stat_text.rindex(')') + 2:].split()
    if len(fields) < 20 or fields[0] in ('Z', 'X'):
        return None
    cmdline = read_text(os.path.join(proc, str(pid), 'cmdline')) or ''
    return {'pid': int(pid), 'ppid': int(fields[1]), 'state': fields[0], 'start_ticks': int(fields[19]),
            'title': ' '.join(cmdline.replace('\x00', ' ').split())}


def list_pids(proc: str = DEFAULT_PROC) -> List[int]:
    """Return every process id under proc, in numeric order."""
    try:
        names = os.listdir(proc)
    except OSError:
        return []
    return sorted(int(name) for name in names if name.isdigit())


def children(parent: int, proc: str = DEFAULT_PROC) -> List[Dict[str, Any]]:
    """Return the live child processes of parent (read_process dicts), by pid."""
    found = []
    for pid in list_pids(proc):
        process = read_process(pid, proc)
        if process and process['ppid'] == parent:
            found.append(process)
    return found


def read_master(pid_file: str, proc: str = DEFAULT_PROC) -> Optional[Dict[str, Any]]:
    """Return the nginx master named by pid_file (read_process dict), or None.

    A pid file can outlive its process or name a reused pid: only a live
    process whose title is nginx's master title counts.
    """
    text = (read_text(pid_file) or '').strip()
    if not text.isdigit():
        return None
    process = read_process(int(text), proc)
    if process is None or not process['title'].startswith(MASTER_TITLE):
        return None
    return process


def generation(master: int, proc: str = DEFAULT_PROC) -> Dict[str, Any]:
    """Return the master's children: {current: [...], retiring: [...]} (read_process dicts).

    ``retiring`` holds old workers finishing their requests after a reload;
    ``current`` everything else (workers, cache manager and loader).
    """
    current, retiring = [], []
    for child in children(master, proc):
        (retiring if child['title'].startswith(RETIRING_TITLE) else current).append(child)
    return {'current': current, 'retiring': retiring}


def identity(process: Dict[str, Any]) -> Tuple[int, int]:
    """Return (pid, start_ticks): one process, even across pid reuse."""
    return process['pid'], process['start_ticks']


def uptime(proc: str = DEFAULT_PROC) -> Optional[float]:
    """Return the seconds since boot from proc/uptime, or None."""
    text = read_text(os.path.join(proc, 'uptime'))
    try:
        return float(text.split()[0]) if text else None
    except ValueError:
        return None


def clock_ticks() -> int:
    """Return the kernel's clock ticks per second (the unit of start_ticks)."""
    try:
        return int(os.sysconf('SC_CLK_TCK'))
    except (ValueError, OSError, AttributeError):
        return 100


def started_at(start_ticks: int, proc: str = DEFAULT_PROC, now: Optional[float] = None,
               ticks: Optional[int] = None) -> Optional[float]:
    """Return when a process started, as a Unix time, from its start_ticks.

    Computed from the process's age (uptime minus start) rather than from
    btime, which /proc/stat rounds to whole seconds.
    """
    up = uptime(proc)
    if up is None:
        return None
    now = time.time() if now is None else now
    return now - (up - float(start_ticks) / (ticks or clock_ticks()))


# ------------------------------------------------------------------ what is live


def loaded_at(master: Dict[str, Any], proc: str = DEFAULT_PROC, now: Optional[float] = None,
              ticks: Optional[int] = None) -> Optional[float]:
    """Return when the running master last loaded its configuration, as a Unix time.

    That is when its current workers started (a reload starts new ones); the
    master's own start when it has none.
    """
    current = generation(master['pid'], proc)['current']
    first = min([child['start_ticks'] for child in current] or [master['start_ticks']])
    return started_at(first, proc, now, ticks)


def changed_since(paths: Iterable[str], since: float) -> List[Dict[str, Any]]:
    """Return {path, changed} for each path whose inode changed after ``since`` (a Unix time).

    The ctime, not the mtime: copies and packages can set an old mtime, nothing
    sets the ctime. A link counts by itself and by the file it points to.
    """
    newer = []
    for path in paths:
        times = []
        for stat_of in (os.lstat, os.stat):
            try:
                times.append(stat_of(path).st_ctime)
            except OSError:
                continue
        if times and max(times) > since:
            newer.append({'path': path, 'changed': round(max(times), 3)})
    return newer


def live_state(dump: str, pid_file: str = DEFAULT_PID_FILE, proc: str = DEFAULT_PROC,
               now: Optional[float] = None, ticks: Optional[int] = None) -> Dict[str, Any]:
    """Return whether the running nginx loaded the files of an `nginx -T` dump.

    ``{running, master_pid, pid_file, loaded_at, files, changed_after_load,
    loaded}``: ``loaded`` is None when nginx is not running (nothing is live)
    or the dump lists no file (nginx -t rejected the configuration), else true
    when no file of the dump changed after the master last loaded its
    configuration.
    """
    files = config_files(dump)
    master = read_master(pid_file, proc)
    if master is None:
        return {'running': False, 'master_pid': None, 'pid_file': pid_file, 'loaded_at': None, 'files': files,
                'changed_after_load': [], 'loaded': None}
    when = loaded_at(master, proc, now, ticks)
    newer = changed_since(files, when) if when is not None else []
    return {'running': True, 'master_pid': master['pid'], 'pid_file': pid_file,
            'loaded_at': None if when is None else round(when, 3), 'files': files,
            'changed_after_load': newer, 'loaded': None if when is None or not files else not newer}


# ------------------------------------------------------------------ error logs


def open_log_files(master: int, proc: str = DEFAULT_PROC) -> List[str]:
    """Return the regular files the master holds open for writing (its error and access logs).

    A failed reload is logged to the logs of the configuration still running,
    which are these, not necessarily the ones the new files name.
    """
    fd_dir = os.path.join(proc, str(master), 'fd')
    try:
        names = sorted(os.listdir(fd_dir), key=lambda name: int(name) if name.isdigit() else -1)
    except OSError:
        return []
    paths: List[str] = []
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        if target.startswith('/') and not target.startswith(('/dev/', '/proc/')) and target not in paths \
                and not target.endswith(' (deleted)'):
            paths.append(target)
    return paths


def open_regular(path: str) -> Optional[int]:
    """Open a file for reading without blocking; return the descriptor, or None unless it is a regular file.

    An error_log of /dev/stderr or a FIFO must never be read: a read would
    wait for a writer that never comes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, 'O_NOCTTY', 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def log_offsets(paths: Iterable[str]) -> Dict[str, int]:
    """Return {path: size} of each readable regular log file: where lines written from now on start."""
    offsets: Dict[str, int] = {}
    for path in list(paths)[:MAX_LOG_FILES]:
        fd = open_regular(path)
        if fd is not None:
            offsets[path] = os.fstat(fd).st_size
            os.close(fd)
    return offsets


def clean(text: str) -> str:
    """Return one line fit for a message: printable, bounded."""
    printable = ''.join(char if char.isprintable() else '?' for char in text)
    return printable[:MAX_LINE_CHARS]


def read_error_lines(positions: Dict[str, int], found: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Append to ``found`` the [emerg] and [alert] lines written since ``positions``, and advance them.

    Each line is {path, time, level, pid, message}. Only whole lines are
    read (a line still being written is read next time); at most
    MAX_LOG_BYTES per file and call, MAX_ERROR_LINES in all. A log that
    shrank (rotated) is read from its start. Returns ``found``.
    """
    for path in sorted(positions):
        fd = open_regular(path)
        if fd is None:
            continue
        try:
            if os.fstat(fd).st_size < positions[path]:
                positions[path] = 0
            os.lseek(fd, positions[path], os.SEEK_SET)
            data = os.read(fd, MAX_LOG_BYTES)
        finally:
            os.close(fd)
        whole = data.rfind(b'\n') + 1
        # A line longer than what one read takes is skipped, not waited for.
        positions[path] += whole if whole or len(data) < MAX_LOG_BYTES else len(data)
        for match in ERROR_LINE_RE.finditer(data[:whole]):
            if len(found) >= MAX_ERROR_LINES:
                return found
            found.append({'path': path, 'time': match.group(1).decode('ascii'),
                          'level': match.group(2).decode('ascii'), 'pid': int(match.group(3)),
                          'message': clean(match.group(4).decode('utf-8', 'replace'))})
    return found


def error_summary(lines: List[Dict[str, Any]]) -> List[str]:
    """Return the distinct messages of error lines, in order, as '[level] message'."""
    summary: List[str] = []
    for line in lines:
        text = '[%s] %s' % (line['level'], line['message'])
        if text not in summary:
            summary.append(text)
    return summary


# ------------------------------------------------------------------ listening sockets


def socket_inodes(pid: int, proc: str = DEFAULT_PROC) -> List[int]:
    """Return the inodes of the sockets a process holds open."""
    fd_dir = os.path.join(proc, str(pid), 'fd')
    inodes = []
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return []
    for name in names:
        try:
            target = os.readlink(os.path.join(fd_dir, name))
        except OSError:
            continue
        match = re.match(r'^socket:\[(\d+)\]$', target)
        if match:
            inodes.append(int(match.group(1)))
    return sorted(inodes)


def _address(hex_address: str, family: int) -> str:
    raw = bytes.fromhex(hex_address)
    if sys.byteorder == 'little':
        raw = b''.join(raw[index:index + 4][::-1] for index in range(0, len(raw), 4))
    return socket.inet_ntop(family, raw)


def listening(pid: int, proc: str = DEFAULT_PROC) -> List[Dict[str, Any]]:
    """Return the TCP sockets a process listens on: [{family, address, port}], sorted.

    Read from the process's own network namespace (proc/PID/net/tcp, tcp6).
    """
    inodes = set(socket_inodes(pid, proc))
    found = []
    for name, family in (('tcp', socket.AF_INET), ('tcp6', socket.AF_INET6)):
        text = read_text(os.path.join(proc, str(pid), 'net', name)) or ''
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != '0A' or not fields[9].isdigit() or int(fields[9]) not in inodes:
                continue
            hex_address, hex_port = fields[1].split(':')
            found.append({'family': 'ipv4' if family == socket.AF_INET else 'ipv6',
                          'address': _address(hex_address, family), 'port': int(hex_port, 16)})
    return sorted(found, key=lambda item: (item['port'], item['family'], item['address']))


def probe(listener: Dict[str, Any], timeout: float = 2.0) -> Dict[str, Any]:
    """Send one HTTP/1.0 request to a listening socket; return {address, port, connected, status, error}.

    A wildcard address is reached on loopback. Any status line (even 400 from
    a TLS port) shows nginx answers; a refused or silent socket does not.
    """
    wildcard = {'0.0.0.0': '127.0.0.1', '::': '::1'}
    host = wildcard.get(listener['address'], listener['address'])
    family = socket.AF_INET6 if listener['family'] == 'ipv6' else socket.AF_INET
    result = {'address': listener['address'], 'port': listener['port'], 'connected': False, 'status': None,
              'error': None}
    try:
        with socket.socket(family, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect((host, listener['port']))
            result['connected'] = True
            conn.sendall(b'GET / HTTP/1.0\r\nHost: localhost\r\nUser-Agent: harden-tcp\r\n\r\n')
            answer = conn.recv(64)
    except (OSError, socket.timeout) as exc:
        result['error'] = clean(str(exc))
        return result
    match = STATUS_LINE_RE.match(answer)
    result['status'] = int(match.group(1)) if match else None
    return result


def serving(master: int, proc: str = DEFAULT_PROC, timeout: float = 2.0) -> Dict[str, Any]:
    """Probe the master's listening sockets; return {answered, probes}.

    ``answered`` is true when at least one socket answered with an HTTP
    status line.
    """
    probes = [probe(listener, timeout) for listener in listening(master, proc)[:MAX_PROBES]]
    return {'answered': any(item['status'] is not None for item in probes), 'probes': probes}


# ------------------------------------------------------------------ confirming a reload


def reload_outcome(before: Dict[str, Any], after: Dict[str, Any], errors: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Judge one look at nginx after a reload: {state, new, old_active}.

    ``before`` and ``after`` are generation() results. ``state`` is
    ``rejected`` when the logs hold an [emerg] or [alert] line since the
    reload, ``loaded`` when new processes appeared and no old worker is still
    active (the old ones retire or are gone), ``pending`` otherwise.
    """
    old = set(identity(child) for child in before['current'])
    new = [child for child in after['current'] if identity(child) not in old]
    old_active = [child for child in after['current']
                  if identity(child) in old and child['title'].startswith(WORKER_TITLE)]
    if errors:
        state = 'rejected'
    elif new and not old_active:
        state = 'loaded'
    else:
        state = 'pending'
    return {'state': state, 'new': new, 'old_active': old_active}


def wait_for_reload(master: int, before: Dict[str, Any], offsets: Dict[str, int], timeout: float,
                    proc: str = DEFAULT_PROC, interval: float = 0.1, settle: float = 1.5,
                    clock=time.monotonic, sleep=time.sleep) -> Dict[str, Any]:
    """Poll until the reload took, was rejected, or ``timeout`` seconds passed.

    Returns {state (loaded, rejected, timeout, master_gone), new, old_active,
    errors, waited}. After a rejection it keeps reading until the logs were
    quiet for ``settle`` seconds: nginx retries a busy listen address for a
    few seconds, and a reload sent meanwhile would see those lines as its own.
    """
    start = clock()
    outcome: Dict[str, Any] = {'state': 'pending', 'new': [], 'old_active': []}
    positions = dict(offsets)
    errors: List[Dict[str, Any]] = []
    while True:
        if read_process(master, proc) is None:
            outcome = {'state': 'master_gone', 'new': [], 'old_active': []}
            break
        read_error_lines(positions, errors)
        outcome = reload_outcome(before, generation(master, proc), errors)
        if outcome['state'] != 'pending' or clock() - start >= timeout:
            break
        sleep(interval)
    if outcome['state'] == 'pending':
        outcome['state'] = 'timeout'
    if outcome['state'] == 'loaded' and read_error_lines(positions, errors):
        # A last look: a worker of the new generation may have logged as it started.
        outcome['state'] = 'rejected'
    if outcome['state'] == 'rejected':
        quiet_since, seen = clock(), len(errors)
        while clock() - quiet_since < settle and clock() - start < timeout + settle:
            sleep(interval)
            if len(read_error_lines(positions, errors)) != seen:
                quiet_since, seen = clock(), len(errors)
    outcome['errors'] = errors
    outcome['waited'] = round(clock() - start, 2)
    return outcome


# ------------------------------------------------------------------ the reload, end to end

# Where nginx lives besides PATH: distribution packages, source builds, nginx.org's layout.
NGINX_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin', '/sbin']
RELOAD_METHODS = ('auto', 'systemd', 'signal')
DEFAULT_PREFIX = '/usr/local/nginx'
SYSTEMD_DIR = '/run/systemd/system'


def runner(module: Any) -> Callable[[List[str]], Tuple[int, str, str]]:
    """``run(argv) -> (rc, stdout, stderr)`` for an AnsibleModule, the one way the modules run nginx and systemctl.

    In the C locale; nginx prints configuration files byte for byte, in whatever
    encoding they were saved, so output is decoded as UTF-8 with U+FFFD for
    what is not: one Latin-1 comment cannot fail a module.
    """
    def run(argv: List[str]) -> Tuple[int, str, str]:
        rc, out, err = module.run_command(argv, environ_update={'LANG': 'C', 'LC_ALL': 'C'}, encoding=None)
        return rc, (out or b'').decode('utf-8', 'replace'), (err or b'').decode('utf-8', 'replace')
    return run


def stderr_text(text: str) -> str:
    """Return nginx's stderr on one line, without its 'test failed' boilerplate."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    kept = [line for line in lines if not line.endswith(('test failed', 'syntax is ok', 'test is successful'))]
    return clean(' '.join(kept or lines)) or 'no message'


def systemd_main_pid(run: Callable[[List[str]], Tuple[int, str, str]], service: str) -> Optional[int]:
    """Return the MainPID systemd has for a service, or None."""
    rc, out, _err = run(['systemctl', 'show', '--property', 'MainPID', '--value', service])
    text = (out or '').strip()
    return int(text) if rc == 0 and text.isdigit() and int(text) > 0 else None


def choose_method(method: str, run: Callable[[List[str]], Tuple[int, str, str]], service: str, master: int,
                  systemd_dir: str = SYSTEMD_DIR) -> str:
    """Return how to reload: ``systemd`` where systemd runs the unit whose main process is this master,
    else ``signal`` (SIGHUP to the master, which is what `nginx -s reload` sends)."""
    if method != 'auto':
        return method
    if os.path.isdir(systemd_dir) and systemd_main_pid(run, service) == master:
        return 'systemd'
    return 'signal'


def _pids(processes: List[Dict[str, Any]]) -> List[int]:
    return [process['pid'] for process in processes]


def reload_and_confirm(run: Callable[[List[str]], Tuple[int, str, str]], binary: str, pid_file: str,
                       service: str = 'nginx', method: str = 'auto', timeout: float = 20, probe_listeners: bool = True,
                       check_mode: bool = False, proc: str = DEFAULT_PROC, systemd_dir: str = SYSTEMD_DIR,
                       kill: Callable[[int, int], None] = os.kill,
                       wait: Callable[..., Dict[str, Any]] = wait_for_reload) -> Tuple[bool, Dict[str, Any]]:
    """Validate the configuration, reload nginx, and confirm the running master loaded it.

    ``run(argv) -> (rc, stdout, stderr)`` runs a program. Returns (ok, result):
    ``result`` is the module result, with ``msg`` saying what happened and,
    when not ok, nginx's own error. Steps: ``nginx -T`` (the whole
    configuration must pass); find the running master (a stopped nginx is not
    started: the files take effect at its next start); remember its workers and
    where its error logs end; reload through systemd or with SIGHUP; wait (at
    most ``timeout`` seconds) for a new generation of workers with the old ones
    retiring and no [emerg] or [alert] line; then probe its listening sockets.
    """
    result: Dict[str, Any] = {
        'changed': False, 'validated': False, 'running': False, 'reloaded': False, 'loaded': False,
        'method': None, 'master_pid': None, 'workers_before': [], 'workers_new': [], 'errors': [],
        'error_logs': [], 'waited': 0, 'serving': None}
    rc, dump, err = run([binary, '-T', '-q'])
    if rc != 0:
        result['errors'] = [stderr_text(err)]
        result['msg'] = ('nginx -t rejected the configuration, so nginx was not reloaded and keeps running on what it '
                         'loaded before; nginx said: %s' % result['errors'][0])
        return False, result
    result['validated'] = True
    master = read_master(pid_file, proc)
    if master is None:
        result['msg'] = ('nginx is not running (no live nginx master in %s): the validated configuration takes effect '
                         'when it starts; it was not started' % pid_file)
        return True, result
    result.update(running=True, master_pid=master['pid'])
    _rc, _out, version_text = run([binary, '-V'])
    configured = configure_args(version_text)
    prefix = configured.get('prefix', DEFAULT_PREFIX)
    logs = error_log_paths(dump, prefix)
    if configured.get('error-log-path'):
        logs.append(resolve(configured['error-log-path'], prefix))
    logs.extend(open_log_files(master['pid'], proc))
    offsets = log_offsets(dict.fromkeys(logs))
    result['error_logs'] = sorted(offsets)
    before = generation(master['pid'], proc)
    result['workers_before'] = _pids(before['current'])
    result['method'] = choose_method(method, run, service, master['pid'], systemd_dir)
    if check_mode:
        result.update(changed=True, msg='nginx (master pid %d) would be reloaded through %s'
                      % (master['pid'], result['method']))
        return True, result
    if result['method'] == 'systemd':
        rc, _out, err = run(['systemctl', 'reload', service])
        if rc != 0:
            result['errors'] = [stderr_text(err)]
            result['msg'] = 'systemctl reload %s failed: %s' % (service, result['errors'][0])
            return False, result
    else:
        kill(master['pid'], 1)  # SIGHUP, as `nginx -s reload` sends it
    result.update(changed=True, reloaded=True)
    outcome = wait(master['pid'], before, offsets, timeout, proc)
    result.update(workers_new=_pids(outcome['new']), errors=error_summary(outcome['errors']), waited=outcome['waited'],
                  loaded=outcome['state'] == 'loaded')
    if outcome['state'] != 'master_gone' and probe_listeners:
        result['serving'] = serving(master['pid'], proc)
    where = ' (%s)' % ', '.join(sorted(set(line['path'] for line in outcome['errors']))) if outcome['errors'] else ''
    if outcome['state'] == 'loaded':
        result['msg'] = ('nginx (master pid %d) loaded the new configuration: new workers %s, through %s'
                         % (master['pid'], result['workers_new'], result['method']))
        return True, result
    if outcome['state'] == 'rejected' and not outcome['new']:
        result['msg'] = ('nginx rejected the new configuration: its master (pid %d) kept its old workers and keeps '
                         'serving its previous configuration; nginx said: %s%s'
                         % (master['pid'], '; '.join(result['errors']), where))
    elif outcome['state'] == 'rejected':
        result['msg'] = ('nginx reported errors while loading the new configuration (master pid %d); nginx said: %s%s'
                         % (master['pid'], '; '.join(result['errors']), where))
    elif outcome['state'] == 'master_gone':
        result['msg'] = 'the nginx master (pid %d) exited during the reload' % master['pid']
    else:
        result['msg'] = ('nginx did not load the new configuration within %s s: no new worker processes under its '
                         'master (pid %d) and no [emerg] or [alert] line in %s'
                         % (timeout, master['pid'], ', '.join(result['error_logs']) or 'any error log it names'))
    return False, result


def live_from_dump(nginx_dump: Dict[str, Any], proc: str = DEFAULT_PROC) -> Optional[Dict[str, Any]]:
    """Return live_state() for the ``nginx_dump`` of tcp_audit_info (`nginx -v -T -q`), or None without nginx.

    The pid file is the one the dump's `pid` directive names (an absolute
    path), else the default. With a configuration nginx -t rejects there is no
    file list: ``loaded`` is then None.
    """
    if not nginx_dump or not nginx_dump.get('binary'):
        return None
    dump = (nginx_dump.get('stdout') or '') if nginx_dump.get('rc') == 0 else ''
    return live_state(dump, pid_file_of(dump), proc)
