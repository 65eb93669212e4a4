# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The per-host harden-tcp lock: one change phase at a time on a host.

Used by the ``tcp_snapshot`` module (operations ``lock`` and ``unlock``).
Runs on managed hosts: Python 3.8, standard library only.

Design. A lock must outlive the module call that takes it (Ansible runs one
short process per task), yet never stay behind after a crash. So:

* ``acquire`` opens ``<snapshot dir>/lock`` and takes ``flock(LOCK_EX)`` on it,
  polling for at most ``wait`` seconds while another run holds it;
* it then starts a small holder process (``python3 -c HOLDER_CODE
  harden-tcp-lock ...``) in its own session that inherits the locked file
  description, writes the holder's pid, start time and deadline into the lock
  file, and returns. The lock now belongs to the holder alone;
* ``release`` checks that the holder named in the file is the one this run
  started (pid and start time in clock ticks, so a reused pid is never
  signalled), sends it SIGTERM; the holder empties the file and exits.

The kernel drops a flock when its last holder exits, so the lock cannot
outlive the holder, and the holder cannot outlive its deadline (``hold``
seconds): a run killed half-way (controller crash, lost connection) leaves a
lock that expires on its own, and a reboot frees it at once. Nothing ever
removes the lock file: removing a file someone waits on would let two runs
hold "the" lock at once.
"""

from __future__ import absolute_import, annotations, division, print_function

import contextlib
import datetime
import errno
import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, Optional

from ansible_collections.harden_tcp.tcp.plugins.module_utils.nginx_live import read_process, started_at
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_snapshot import SnapshotError, ensure_snapshot_dir

LOCK_FILE = 'lock'
HOLDER_MARK = 'harden-tcp-lock'
POLL = 0.5
RELEASE_WAIT = 10.0

# The holder: keeps the inherited, locked descriptor open until SIGTERM or its
# deadline, then empties the lock file (it still holds the lock) and exits.
# argv: -c HOLDER_MARK FD HOLD_SECONDS LOCK_PATH (the path is for people reading ps).
HOLDER_CODE = '''
import os, signal, sys, time
fd, end = int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
def release(*_):
    os.ftruncate(fd, 0)
    os._exit(0)
signal.signal(signal.SIGTERM, release)
signal.signal(signal.SIGINT, release)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
while time.monotonic() < end:
    time.sleep(min(5.0, max(end - time.monotonic(), 0.01)))
release()
'''


def lock_path(snap_dir: str) -> str:
    """Return the lock file of a snapshot directory."""
    return os.path.join(snap_dir, LOCK_FILE)


def iso(epoch: Optional[float]) -> Optional[str]:
    """Return a Unix time as 2024-01-01T00:00:00Z (None stays None)."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def read_holder(path: str) -> Optional[Dict[str, Any]]:
    """Return the holder the lock file names ({pid, start_ticks, started, until, tag, ...}) or None."""
    try:
        with open(path, 'r') as handle:
            holder = json.loads(handle.read(4096) or 'null')
    except (IOError, OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not isinstance(holder.get('pid'), int) \
            or not isinstance(holder.get('start_ticks'), int):
        return None
    return holder


def holder_alive(holder: Optional[Dict[str, Any]], proc: str = '/proc') -> bool:
    """True when the process a holder record names still runs (same pid, same start time, our holder)."""
    if not holder:
        return False
    process = read_process(holder['pid'], proc)
    if not process or process['start_ticks'] != holder['start_ticks']:
        return False
    # A lock held for one module call (holding) is the module's own process; any other is a holder process.
    return bool(holder.get('call') or HOLDER_MARK in process['title'])


def describe_holder(holder: Optional[Dict[str, Any]], proc: str = '/proc') -> str:
    """Return who holds the lock, for a refusal."""
    if not holder:
        return 'a process that left no record of itself in the lock file'
    alive = holder_alive(holder, proc)
    if holder.get('call'):
        return ('the %s run whose module is pid %d, started %s (it releases the lock when that call ends, within '
                'seconds)%s' % (holder.get('tag') or 'harden-tcp', holder['pid'], holder.get('started'),
                                '' if alive else '; that process no longer runs, so the lock should be free in a moment'))
    return ('the %s run whose lock holder is pid %d, started %s (it releases the lock when that run ends, '
            'and at %s at the latest)%s'
            % (holder.get('tag') or 'harden-tcp', holder['pid'], holder.get('started'), holder.get('until'),
               '' if alive else '; that process no longer runs, so the lock should be free in a moment'))


def open_lock(path: str) -> int:
    """Open (creating it 0600) the lock file and return the descriptor; refuse anything but a regular file."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SnapshotError('%s is not a regular file; it cannot serve as the harden-tcp lock' % path)
    return fd


def take_flock(fd: int, wait: float, clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> Optional[float]:
    """Take an exclusive flock on fd, polling for at most ``wait`` seconds; return the seconds waited, or None."""
    start = clock()
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return round(clock() - start, 1)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        if clock() - start >= wait:
            return None
        sleep(POLL)


def start_holder(fd: int, hold: float, path: str) -> int:
    """Start the holder process on the locked descriptor; return its pid."""
    os.set_inheritable(fd, True)
    holder = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-c', HOLDER_CODE, HOLDER_MARK, str(fd), str(hold), path],
        pass_fds=(fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        cwd='/', start_new_session=True, close_fds=True)
    return holder.pid


def wait_for_holder(pid: int, proc: str = '/proc', timeout: float = 5.0) -> Dict[str, Any]:
    """Return the holder process once /proc shows it running the holder code (its command line can be
    empty for a moment after exec); raise SnapshotError when it does not come up."""
    deadline = time.monotonic() + timeout
    while True:
        process = read_process(pid, proc)
        if process and HOLDER_MARK in process['title']:
            return process
        if process is None or time.monotonic() >= deadline:
            raise SnapshotError('the harden-tcp lock holder (pid %d) did not start; the lock was not taken' % pid)
        time.sleep(0.01)


def held_elsewhere(path: str, wait: float, proc: str = '/proc') -> SnapshotError:
    """The refusal of a run that waited ``wait`` seconds for a lock another run holds."""
    return SnapshotError(
        'another harden-tcp run holds the lock %s: %s. Waited %d s (tcp_snapshot_lock_wait); nothing was '
        'changed on this host. Run again once it has finished.'
        % (path, describe_holder(read_holder(path), proc), wait),
        holder=read_holder(path))


@contextlib.contextmanager
def holding(snap_dir: str, wait: float, held: Optional[Dict[str, Any]] = None, check_mode: bool = False,
            tag: str = '', proc: str = '/proc') -> Iterator[float]:
    """Hold the per-host lock for the length of one module call; yield the seconds waited for it.

    For a change made in a single call (tcp_profile without nginx work): the
    flock is the module's own and goes with its descriptor, so no holder
    process is needed; the lock file names the module's process meanwhile. ``held`` is a lock this run already holds (acquire's
    ``lock``, taken by an earlier task for a longer change phase): it must
    still be ours and alive, and is not taken again. Nothing is taken in check mode.
    """
    if check_mode:
        yield 0
        return
    path = lock_path(snap_dir)
    if held:
        holder = read_holder(path)
        if not (holder and holder['pid'] == held.get('pid') and holder['start_ticks'] == held.get('start_ticks')
                and holder_alive(holder, proc)):
            raise SnapshotError('this run no longer holds the harden-tcp lock %s it took (holder pid %s): it expired '
                                '(tcp_snapshot_lock_hold) or its holder was killed; nothing was changed.'
                                % (path, held.get('pid')))
        yield 0
        return
    ensure_snapshot_dir(snap_dir)
    fd = open_lock(path)
    try:
        waited = take_flock(fd, wait)
        if waited is None:
            raise held_elsewhere(path, wait, proc)
        # Say who holds it, for a run that waits meanwhile; emptied (still under the flock) when the call ends.
        process = read_process(os.getpid(), proc)
        record = {'pid': os.getpid(), 'start_ticks': process['start_ticks'] if process else -1, 'call': True,
                  'started': iso(time.time()), 'tag': tag, 'path': path}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record, sort_keys=True).encode('utf-8') + b'\n', 0)
        try:
            yield waited
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def acquire(snap_dir: str, wait: float, hold: float, tag: str = '', check_mode: bool = False,
            proc: str = '/proc') -> Dict[str, Any]:
    """Take the per-host lock for ``hold`` seconds at most, waiting ``wait`` seconds at most for it.

    Returns the module result ``{changed, lock: {pid, start_ticks, started, until, tag, path}, waited}``;
    ``changed`` only when the snapshot directory had to be created (a lock
    is no change to the host). Raises SnapshotError naming the holder when the
    lock stays taken. In check mode nothing is created or taken.
    """
    if hold <= 0 or wait < 0:
        raise SnapshotError('tcp_snapshot_lock_hold must be positive and tcp_snapshot_lock_wait not negative; '
                            'got %r and %r' % (hold, wait))
    created = not os.path.lexists(snap_dir)
    ensure_snapshot_dir(snap_dir, check_mode)
    path = lock_path(snap_dir)
    if check_mode:
        return {'changed': created, 'lock': {}, 'waited': 0, 'dir': snap_dir}
    fd = open_lock(path)
    try:
        waited = take_flock(fd, wait)
        if waited is None:
            raise held_elsewhere(path, wait, proc)
        pid = start_holder(fd, hold, path)
        process = wait_for_holder(pid, proc)
        now = time.time()
        holder = {'pid': pid, 'start_ticks': process['start_ticks'], 'started': iso(started_at(process['start_ticks'],
                                                                                               proc) or now),
                  'until': iso(now + hold), 'tag': tag, 'path': path}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder, sort_keys=True).encode('utf-8') + b'\n', 0)
    finally:
        os.close(fd)
    return {'changed': created, 'lock': holder, 'waited': waited, 'dir': snap_dir}


def release(snap_dir: str, lock: Dict[str, Any], check_mode: bool = False, proc: str = '/proc',
            sleep: Callable[[float], None] = time.sleep) -> Dict[str, Any]:
    """Release the lock this run took (``lock`` is what acquire returned).

    Raises SnapshotError when the lock file names another holder, or ours is
    gone: the lock expired (tcp_snapshot_lock_hold) during the run, so part of
    it ran unprotected.
    """
    if check_mode or not lock:
        return {'changed': False, 'lock': {}, 'dir': snap_dir}
    path = lock_path(snap_dir)
    holder = read_holder(path)
    ours = holder is not None and holder['pid'] == lock.get('pid') and holder['start_ticks'] == lock.get('start_ticks')
    if not ours or not holder_alive(holder, proc):
        raise SnapshotError(
            'this run no longer held the harden-tcp lock %s when it ended (its holder pid %s, started %s, was to '
            'hold it until %s): the run took longer than tcp_snapshot_lock_hold, or the holder was killed, so '
            'another run may have changed the host meanwhile. Check the host, and raise tcp_snapshot_lock_hold.'
            % (path, lock.get('pid'), lock.get('started'), lock.get('until')))
    os.kill(holder['pid'], signal.SIGTERM)
    deadline = time.monotonic() + RELEASE_WAIT
    while holder_alive(holder, proc) and time.monotonic() < deadline:
        sleep(0.05)
    if holder_alive(holder, proc):
        raise SnapshotError('the harden-tcp lock holder pid %d did not exit within %d s of SIGTERM'
                            % (holder['pid'], RELEASE_WAIT))
    return {'changed': False, 'lock': holder, 'dir': snap_dir}
