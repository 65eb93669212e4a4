# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs INSIDE a test container: the real sysctl tools against the module's model, tree by tree.

usage: python3 sysctl_runner.py BATCH.json   (prints one JSON document on stdout)

BATCH.json: ``{"sentinels": {key: value}, "trees": [tree, ...]}`` (trees as
sysctl_trees.py makes them). For each tree: empty the sysctl directories and
/etc/sysctl.conf, write the tree, let the module (tcp_sysctl.py, mounted next to
this file) predict ``system`` and ``boot`` of each key, then per tool: set every
key to its sentinel, run the tool (``sysctl --system``; systemd-sysctl as a plain
binary), read /proc/sys back and compare. A key the tool leaves alone reads as
its sentinel, which is what the module's None ("not set") must match.

It refuses to run unless /proc/sys is read-only apart from /proc/sys/net (so
the tools can only change this container's network namespace) and it is in a
container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tcp_sysctl as ts  # noqa: E402  (the module's own file, copied next to this one)

CONF_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d']
CLEAN = CONF_DIRS + ['/etc/sysctl.conf', '/etc/sysctl-extra']
TOOL_ENV = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL': 'C'}


def refuse_unless_contained() -> None:
    """Stop before anything when the real tools could change more than this network namespace."""
    problems = []
    if not os.path.exists('/.dockerenv'):
        problems.append('not inside a Docker container')
    if not os.statvfs('/proc/sys/kernel').f_flag & os.ST_RDONLY:
        problems.append('/proc/sys/kernel is writable')
    if os.statvfs('/proc/sys/net').f_flag & os.ST_RDONLY:
        problems.append('/proc/sys/net is read-only')
    if problems:
        sys.stderr.write('sysctl_runner: refusing to run: %s\n' % '; '.join(problems))
        sys.exit(99)


def clear() -> None:
    for path in CLEAN:
        if os.path.islink(path) or os.path.isfile(path):
            os.unlink(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            if path.startswith('/etc/sysctl-extra'):
                shutil.rmtree(path)
                continue
            for name in os.listdir(path.encode()):
                full = os.path.join(path.encode(), name)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full)
                else:
                    os.unlink(full)
    for path in CONF_DIRS[:4]:
        os.makedirs(path, exist_ok=True)


def write_tree(tree: dict) -> None:
    for entry in tree['entries']:
        path = entry['path'].encode('latin-1')
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if entry['type'] == 'file':
            with open(path, 'wb') as handle:
                handle.write(entry['content'].encode('latin-1'))
        elif entry['type'] == 'symlink':
            os.symlink(entry['target'].encode('latin-1'), path)
        elif entry['type'] == 'dir':
            os.makedirs(path, exist_ok=True)


def proc_path(key: str) -> str:
    return '/proc/sys/' + ts.key_path(key)


def set_sentinels(sentinels: dict) -> None:
    for key, value in sentinels.items():
        with open(proc_path(key), 'w') as handle:
            handle.write(value + '\n')


def read_keys(keys) -> dict:
    values = {}
    for key in keys:
        with open(proc_path(key)) as handle:
            values[key] = ts.fold(handle.read())
    return values


def run_tool(argv, sentinels) -> tuple:
    set_sentinels(sentinels)
    started = time.monotonic()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=TOOL_ENV, timeout=60, check=False)
    elapsed = time.monotonic() - started
    output = (proc.stdout + proc.stderr).decode('utf-8', 'replace')
    return read_keys(sentinels), proc.returncode, output[-3000:], elapsed


# Written to every key of the module's kernel table, one write(2) each, as the tools write.
KERNEL_VALUES = ['0', '1', '2', '3', '4', '7', '31', '32', '-1', '-0', '-31', '-32', '48', '47', '127', '128', '255', '256',
                 '1000', '1001', '65535', '65536', '86400', '86401', '2147483647', '2147483648', '-2147483648',
                 '-2147483649', '4294967295', '4294967296', '010', '08', '0x10', '0X1f', '0x', '+1', ' 5', '5 ', '5 # c',
                 '5#c', '5;x', '"5"', '1 2', '6\t7', '\xa05', '\v5', '5\v', '5\r', '', '  ', 'abc', '00000000000000000001',
                 '000000000000000000001', '99999999999999999999999', '1.5', '=1', '- 1', '0x0000000000000000001']


def kernel_checks(proc) -> dict:
    """kernel_store() against the running kernel: each value written to each key of the table,
    the key put back to its value after each write."""
    figures = {'keys': 0, 'writes': 0, 'agree': 0, 'ambiguous': 0, 'disagreements': []}
    for rel, handler in sorted(proc.handlers.items()):
        path = '/proc/sys/' + rel
        if handler[0] == 'ports' or not os.path.isfile(path):
            continue
        with open(path) as handle:
            original = ts.fold(handle.read())
        figures['keys'] += 1
        for value in KERNEL_VALUES:
            stored, _reason = ts.kernel_store(handler, value, original)
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, (value + '\n').encode('latin-1'))
            except OSError:
                pass
            finally:
                os.close(fd)
            with open(path) as handle:
                real = ts.fold(handle.read())
            with open(path, 'w') as handle:
                handle.write(original + '\n')
            expected = original if stored is None else stored
            figures['writes'] += 1
            figures['ambiguous'] += stored is not None and stored == original
            if real == expected:
                figures['agree'] += 1
            else:
                figures['disagreements'].append({'key': rel, 'value': value, 'model': stored, 'real': real,
                                                 'before': original})
    return figures


def main() -> int:
    refuse_unless_contained()
    with open(sys.argv[1]) as handle:
        batch = json.load(handle)
    sentinels = batch['sentinels']
    keys = list(sentinels)
    detected = ts.detect_tools('/')
    version = ts.systemd_version('/')
    systemd = '/usr/lib/systemd/systemd-sysctl' if os.path.exists('/usr/lib/systemd/systemd-sysctl') else '/lib/systemd/systemd-sysctl'
    # Where systemd runs the boot; here it is a plain binary (PID 1 is not systemd).
    tools = {'boot': {'tool': 'systemd-sysctl', 'version': str(version), 'model': ts.systemd_model(version)},
             'system': detected['system'], 'tuned': False}
    sysctl = [detected['system']['binary'], '--system']
    report = {'systemd': version, 'procps': detected['system']['version'], 'kernel': os.uname().release,
              'trees': [], 'seconds': {'model': 0.0, 'systemd-sysctl': 0.0, 'sysctl --system': 0.0}}
    proc = ts.ProcSys('/proc/sys', ts.kernel_handlers(os.uname().release, open('/proc/version').read()))
    report['kernel_checks'] = kernel_checks(proc)
    for tree in batch['trees']:
        clear()
        write_tree(tree)
        set_sentinels(sentinels)
        started = time.monotonic()
        model = ts.gather(keys, tools=tools)['sysctl']
        report['seconds']['model'] += time.monotonic() - started
        result = {'name': tree['name'], 'checks': 0, 'agree': {'system': 0, 'boot': 0}, 'set': {'system': 0, 'boot': 0},
                  'ambiguous': 0, 'disagreements': [], 'output': {}}
        for tool, argv, label in (('system', sysctl, 'sysctl --system'), ('boot', [systemd], 'systemd-sysctl')):
            actual, code, output, elapsed = run_tool(argv, sentinels)
            report['seconds'][label] += elapsed
            result['output'][tool] = {'rc': code, 'text': output}
            for key in keys:
                predicted = model[key][tool]
                expected = predicted if predicted is not None else sentinels[key]
                result['checks'] += 1
                result['set'][tool] += actual[key] != sentinels[key]
                if predicted is not None and predicted == sentinels[key]:
                    result['ambiguous'] += 1
                if actual[key] == expected:
                    result['agree'][tool] += 1
                else:
                    result['disagreements'].append({'tool': tool, 'key': key, 'model': predicted,
                                                    'model_source': model[key][tool + '_source'],
                                                    'real': actual[key], 'sentinel': sentinels[key]})
        if not result['disagreements']:
            del result['output']
        report['trees'].append(result)
    clear()
    json.dump(report, sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
