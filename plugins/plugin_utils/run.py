# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which ansible-playbook run this is: its id and start time, the same in every task of the run.

The judge stamps each audit record with them and the report compares: a
record whose run id is not the report's own came from the fact cache of an
earlier run (stale). Ansible has no run id of its own, and a variable set by a
task would cost a task per host, so the run is identified by the process every
task of it descends from: tasks run in worker processes that ansible-playbook forks,
so the parent of the process running a filter or an action plugin is
ansible-playbook itself. Its pid and start time (from /proc, Linux) name the
run; the controller's host name keeps ids from two controllers apart.
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Dict, Optional

TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def utc_now() -> str:
    """The current time, UTC, to the second, as records and reports write it."""
    return datetime.datetime.now(datetime.timezone.utc).strftime(TIME_FORMAT)


def _start_time(pid: int) -> Optional[datetime.datetime]:
    """Start time of a process from /proc/<pid>/stat and the boot time; None where /proc cannot tell."""
    try:
        with open('/proc/%d/stat' % pid, encoding='ascii', errors='replace') as handle:
            # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
            fields = handle.read().rsplit(')', 1)[1].split()
        with open('/proc/stat', encoding='ascii') as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith('btime '))
        ticks = os.sysconf('SC_CLK_TCK')
        started = boot + int(fields[19]) / ticks    # field 22 of stat: starttime, in clock ticks since boot
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return datetime.datetime.fromtimestamp(int(started), datetime.timezone.utc)


def controller_run(pid: Optional[int] = None) -> Dict[str, Optional[str]]:
    """Return {run_id, started_at} of the ansible-playbook run this code is called from.

    pid: the ansible-playbook process; default the parent of this process,
    which is right in a task's worker process (a filter during templating, an
    action plugin). started_at is None where the start time cannot be read.
    """
    pid = os.getppid() if pid is None else pid
    started = _start_time(pid)
    stamp = started.strftime('%Y%m%dT%H%M%SZ') if started else 'unknown-start'
    return {'run_id': '%s-%s-%d' % (socket.gethostname().split('.')[0] or 'controller', stamp, pid),
            'started_at': started.strftime(TIME_FORMAT) if started else None}
