"""tests/differential/sysctl_trees.py: the trees the real tools are run on stay inside net.ipv4 and replay by seed."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'differential'))
import sysctl_trees  # noqa: E402  pylint: disable=wrong-import-position

TREES = [tree for release in sysctl_trees.RELEASES for seed in range(12)
         for tree in sysctl_trees.trees_for(seed, 30, release)]


def keys_in(tree):
    for entry in tree['entries']:
        for line in re.split('[\n\r\x00]', entry.get('content', '')):
            if '=' in line:
                yield line.split('=', 1)[0].strip(' \t\v\f-=')


def test_trees_write_only_net_ipv4_keys():
    for tree in TREES:
        check_tree(tree)


def check_tree(tree):
    for key in keys_in(tree):
        # A comment line may hold anything that is never applied; every other key names net.ipv4 (any spelling).
        assert key == '' or re.match(r'(?:[#;]\s*)?[./]*net[./]+ipv[4*]', key, re.IGNORECASE), (tree['name'], key)
    for entry in tree['entries']:
        assert entry['path'].startswith(('/etc/sysctl.d/', '/run/sysctl.d/', '/usr/local/lib/sysctl.d/',
                                         '/usr/lib/sysctl.d/', '/etc/sysctl.conf', sysctl_trees.EXTRA_DIR + '/'))
        if entry['type'] == 'symlink':
            assert entry['target'] in ('/dev/null', '../sysctl.conf') or entry['target'].startswith(
                ('/nonexistent/', sysctl_trees.EXTRA_DIR + '/'))


def test_globs_name_only_the_keys_read_back():
    for pattern, keys in sysctl_trees.GLOBS.items():
        assert set(keys) <= set(sysctl_trees.KEYS) and 'ipv' in pattern


def test_a_seed_replays_and_every_feature_shows_up():
    assert sysctl_trees.trees_for(5, 20, 'bookworm') == sysctl_trees.trees_for(5, 20, 'bookworm')
    assert sysctl_trees.trees_for(5, 20, 'bookworm') != sysctl_trees.trees_for(6, 20, 'bookworm')
    counts = sysctl_trees.feature_counts(sysctl_trees.trees_for(1, 150, 'bookworm'))
    assert min(counts.values()) > 0, counts
