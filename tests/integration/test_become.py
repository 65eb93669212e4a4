# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Become goes to the managed hosts, never to the controller-side tasks.

playbooks/audit-tcp.yml runs with --become over two hosts of this machine
(local connection) whose sudo is a stand-in that records each call and runs
the command; the controller (the implicit localhost, where the report's
delegate_to: localhost tasks run) gets a stand-in that records the call and
fails. The audit must become on both hosts, the report must be written, and
the controller's sudo must never be called. The example inventory must put
ansible_become where the same holds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Records its arguments, skips sudo's options (-u takes a value), runs the rest.
FAKE_SUDO = '''#!/bin/sh
echo "$*" >> {log}
while [ $# -gt 0 ]; do
  case "$1" in -u|-p) shift 2 ;; -*) shift ;; *) break ;; esac
done
exec "$@"
'''
REFUSING_SUDO = '''#!/bin/sh
echo "$*" >> {log}
echo "sudo on the controller: refused by the test" >&2
exit 1
'''


def script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def ansible_env(tmp_path: Path) -> dict:
    # The tests run as root: without BECOME_ALLOW_SAME_USER, Ansible would skip
    # becoming root as root, and no sudo would ever be called.
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.memory',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1', ANSIBLE_BECOME_ALLOW_SAME_USER='true')
    env['PATH'] = '%s:%s' % (BIN, env.get('PATH', ''))
    return env


@pytest.fixture(scope='module')
def become_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('become')
    inventory = tmp_path / 'inventory'
    (inventory / 'host_vars').mkdir(parents=True)
    hosts_sudo = script(tmp_path / 'sudo-hosts', FAKE_SUDO.format(log=tmp_path / 'hosts.log'))
    controller_sudo = script(tmp_path / 'sudo-controller', REFUSING_SUDO.format(log=tmp_path / 'controller.log'))
    (inventory / 'hosts.json').write_text(json.dumps({'fleet': {
        'hosts': {'become-a': None, 'become-b': None},
        'vars': {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
                 'ansible_become_exe': hosts_sudo, 'tcp_audit_nginx': False},
    }}))
    # The implicit localhost reads host_vars/localhost of the inventory.
    (inventory / 'host_vars' / 'localhost.json').write_text(json.dumps({'ansible_become_exe': controller_sudo}))
    report_dir = tmp_path / 'reports'
    proc = subprocess.run(
        [str(BIN / 'ansible-playbook'), '-i', str(inventory), '--become', 'playbooks/audit-tcp.yml',
         '-e', json.dumps({'tcp_report_dir': str(report_dir), 'tcp_report_formats': ['json']})],
        cwd=ROOT, env=ansible_env(tmp_path), capture_output=True, text=True, check=False)
    return proc, tmp_path, report_dir


def test_the_audit_becomes_on_every_host(become_run):
    proc, tmp_path, report_dir = become_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / 'hosts.log').read_text().splitlines()
    # One module call per host, each through sudo to root.
    assert len(calls) == 2 and all('-u root' in call for call in calls)
    report = json.loads((report_dir / 'tcp-audit.json').read_text())
    assert {entry['host']: entry['status'] for entry in report['hosts']} == {'become-a': 'ok', 'become-b': 'ok'}


def test_the_controller_side_tasks_never_try_sudo(become_run):
    proc, tmp_path = become_run[:2]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / 'controller.log').exists()


def run_json(argv, tmp_path):
    proc = subprocess.run(argv, cwd=ROOT, env=ansible_env(tmp_path), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_the_example_inventory_becomes_on_the_fleet_only(tmp_path):
    inventory = run_json([str(BIN / 'ansible-inventory'), '-i', 'inventories/example', '--list'], tmp_path)
    hosts = inventory['_meta']['hostvars']
    assert len(hosts) == 5 and all(hostvars['ansible_become'] is True for hostvars in hosts.values())
    assert 'ansible_become' not in inventory.get('all', {}).get('vars', {})
    # The implicit localhost, where delegate_to: localhost runs, does not become.
    proc = subprocess.run([str(BIN / 'ansible'), '-i', 'inventories/example', 'localhost', '-m', 'ansible.builtin.debug',
                           '-a', 'msg={{ ansible_become | default("unset") }}'],
                          cwd=ROOT, env=ansible_env(tmp_path), capture_output=True, text=True, check=True)
    assert 'msg: unset' in proc.stdout
