# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Differential test: the module's ``boot`` and ``system`` against the real systemd-sysctl and ``sysctl --system``.

One container per Debian release (harden-tcp/debian:bullseye, bookworm, trixie:
systemd 247/252/257, procps 3.3.17/4.0.2/4.0.4), started side by side with no
network and /proc/sys read-only except /proc/sys/net, so the tools can only
change that container's own network namespace. Each gets one batch: the edge
cases and N seeded random trees (sysctl_trees.py), checked inside by
sysctl_runner.py with the module's own plugins/module_utils/tcp_sysctl.py.

Prints the seed and, per release, trees, checks and agreements per tool; any
disagreement prints its tree and fails (exit 1).

usage: python3 sysctl_differential.py [--seed N] [--trees N] [--releases bullseye,bookworm,trixie] [--trees-file F]
    --trees-file: run these trees instead of generated ones: a JSON list of trees (sysctl_trees.py's format), or
    {"sentinels": {key: value}, "trees": [...]} to read other per-netns net.ipv4 keys.
Environment: HARDEN_TCP_RUN_ID names the containers (default harden-tcp).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import sysctl_trees  # noqa: E402

IMAGE = 'harden-tcp/debian'
MOUNT = '/harden-tcp-differential'
# /proc/sys stays read-only (Docker's default); only the container's own /proc/sys/net becomes writable.
CONTAINER_CMD = ('mount --bind /proc/sys/net /proc/sys/net && mount -o remount,bind,rw /proc/sys/net '
                 '&& exec sleep 3600')


def docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(['docker', *args], check=check, universal_newlines=True,
                          stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)


def run_release(release: str, trees: list, sentinels: dict, workdir: Path, run_id: str) -> dict:
    """Start the release's container, run its batch, stop it; the runner's report."""
    batch = workdir / ('batch-%s.json' % release)
    batch.write_text(json.dumps({'sentinels': sentinels, 'trees': trees}))
    name = '%s-sysctl-diff-%s-%d' % (run_id, release, os.getpid())
    docker('run', '-d', '--rm', '--name', name, '--network', 'none', '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_ADMIN',
           '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
           '-v', '%s:%s:ro' % (workdir, MOUNT), '%s:%s' % (IMAGE, release), '/bin/sh', '-c', CONTAINER_CMD)
    try:
        for _attempt in range(100):  # the mounts take a moment
            if docker('exec', name, 'grep', '-q', ' /proc/sys/net proc rw', '/proc/self/mounts', check=False).returncode == 0:
                break
            time.sleep(0.1)
        done = docker('exec', name, 'python3', '%s/sysctl_runner.py' % MOUNT, '%s/%s' % (MOUNT, batch.name), check=False)
        if done.returncode != 0:
            raise RuntimeError('%s: runner failed (rc %d): %s' % (release, done.returncode, done.stderr[-4000:]))
        return json.loads(done.stdout)
    finally:
        docker('rm', '-f', name, check=False)


def describe_tree(tree: dict) -> str:
    lines = []
    for entry in tree['entries']:
        if entry['type'] == 'file':
            text = entry['content']
            shown = text if len(text) < 2000 else text[:200] + '... (%d characters)' % len(text)
            lines.append('  %s:\n%s' % (entry['path'], '\n'.join('    | ' + repr(line)[1:-1] for line in shown.split('\n'))))
        elif entry['type'] == 'symlink':
            lines.append('  %s -> %s' % (entry['path'], entry['target']))
        else:
            lines.append('  %s/ (directory)' % entry['path'])
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--seed', type=int, default=int(os.environ.get('SEED') or random.SystemRandom().randrange(10 ** 6)))
    parser.add_argument('--trees', type=int, default=int(os.environ.get('TREES') or 100))
    parser.add_argument('--releases', default=','.join(sysctl_trees.RELEASES))
    parser.add_argument('--trees-file', type=Path)
    args = parser.parse_args()
    releases = args.releases.split(',')
    run_id = os.environ.get('HARDEN_TCP_RUN_ID', 'harden-tcp')
    started = time.monotonic()
    if args.trees_file:
        print('sysctl differential: trees from %s' % args.trees_file, flush=True)
    else:
        print('sysctl differential: seed %d, %s random trees per release plus %d edge cases' % (
            args.seed, args.trees, len(sysctl_trees.edge_trees())), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix='harden-tcp-sysctl-diff-'))
    workdir.chmod(0o755)
    try:
        shutil.copy(ROOT / 'plugins' / 'module_utils' / 'tcp_sysctl.py', workdir / 'tcp_sysctl.py')
        shutil.copy(HERE / 'sysctl_runner.py', workdir / 'sysctl_runner.py')
        batches, sentinels = {}, sysctl_trees.SENTINELS
        for release in releases:
            if args.trees_file:
                given = json.loads(args.trees_file.read_text())
                batches[release] = given['trees'] if isinstance(given, dict) else given
                sentinels = given.get('sentinels', sentinels) if isinstance(given, dict) else sentinels
            else:
                batches[release] = sysctl_trees.trees_for(args.seed, args.trees, release)
        counts = sysctl_trees.feature_counts([tree for trees in batches.values() for tree in trees])
        print('trees per feature (all releases): ' + ', '.join('%s %d' % item for item in counts.items()), flush=True)
        with ThreadPoolExecutor(len(releases)) as pool:
            futures = dict((release, pool.submit(run_release, release, batches[release], sentinels, workdir, run_id))
                           for release in releases)
            reports = dict((release, future.result()) for release, future in futures.items())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = 0
    for release in releases:
        report = reports[release]
        trees = report['trees']
        checks = sum(t['checks'] for t in trees)
        agree = dict((tool, sum(t['agree'][tool] for t in trees)) for tool in ('system', 'boot'))
        changed = dict((tool, sum(t['set'][tool] for t in trees)) for tool in ('system', 'boot'))
        bad = [t for t in trees if t['disagreements']]
        print('%-8s systemd %s, procps %s, kernel %s: %d trees, %d checks (%d per tool); agreements: '
              'sysctl --system %d/%d, systemd-sysctl %d/%d; keys the tool changed: %d and %d; %d ambiguous (value = sentinel); '
              '%d trees disagree; tools %.1fs + %.1fs, model %.1fs' % (
                  release, report['systemd'], report['procps'], report['kernel'], len(trees), checks, checks // 2,
                  agree['system'], checks // 2, agree['boot'], checks // 2, changed['system'], changed['boot'],
                  sum(t['ambiguous'] for t in trees), len(bad),
                  report['seconds']['sysctl --system'], report['seconds']['systemd-sysctl'], report['seconds']['model']))
        kernel = report['kernel_checks']
        print('%-8s kernel: %d keys, %d writes, %d agree, %d ambiguous (value = before)' % (
            release, kernel['keys'], kernel['writes'], kernel['agree'], kernel['ambiguous']))
        for item in kernel['disagreements']:
            failed += 1
            print('  kernel %s <- %r: module %r, real %r (before %r)' % (
                item['key'], item['value'], item['model'], item['real'], item['before']))
        for result in bad:
            failed += 1
            tree = [t for t in batches[release] if t['name'] == result['name']][0]
            print('\n%s: tree %s disagrees:' % (release, result['name']))
            for item in result['disagreements']:
                print('  %s %s: module %r (%s), real %r (sentinel %r)' % (
                    'sysctl --system' if item['tool'] == 'system' else 'systemd-sysctl', item['key'], item['model'],
                    item['model_source'], item['real'], item['sentinel']))
            print(describe_tree(tree))
            for tool, output in result['output'].items():
                print('  %s rc %d: %s' % (tool, output['rc'], output['text'].strip().replace('\n', '\n    ')))
    print('sysctl differential: %s, %s, %.0fs wall' % (
        'trees from %s' % args.trees_file if args.trees_file else 'seed %d' % args.seed,
        'FAILED: %d disagreements' % failed if failed else 'no disagreement', time.monotonic() - started))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
