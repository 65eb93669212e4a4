"""Score the nginx audit against the hand-labelled corpus in tests/corpus/nginx.

For every entry, audit_nginx runs on the recorded nginx-T.txt with the version
from nginx-v.txt and the entry's min_keepalive_requests; its findings
(id, source) are compared with expected.yml, as multisets. Prints, per finding
id, the labels, the findings, the true positives, precision and recall (a
Markdown table, the one in README.md), and the TW-NGINX-006 count (the target
is zero: every entry is a configuration nginx accepts).

Run from the project root with the venv first on PATH:
  python3 bench/nginx_corpus_score.py                # this checkout's audit
  python3 bench/nginx_corpus_score.py --mismatches   # also list every finding that differs
  git show REV:plugins/plugin_utils/nginx_audit.py > /tmp/old_audit.py
  python3 bench/nginx_corpus_score.py --audit /tmp/old_audit.py   # another version of the audit
tests/unit/test_nginx_corpus.py imports this file: the corpus test and the
table read the corpus the same way.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import pathlib
import sys
from typing import Any, Dict, List, Tuple

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CORPUS = ROOT / 'tests' / 'corpus' / 'nginx'
sys.path.insert(0, str(ROOT / 'collections'))

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import nginx_audit  # noqa: E402
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import parse_nginx_version  # noqa: E402

SCORED = ('TW-NGINX-001', 'TW-NGINX-002', 'TW-NGINX-003', 'TW-NGINX-004', 'TW-NGINX-005', 'TW-NGINX-007')


def entries() -> List[Dict[str, Any]]:
    """Every corpus entry: {name, dump, version, min_keepalive_requests, expected: [(id, source)]}."""
    found = []
    for directory in sorted(CORPUS.iterdir()):
        if not (directory / 'expected.yml').is_file() or not (directory / 'nginx-T.txt').is_file():
            continue
        labels = yaml.safe_load((directory / 'expected.yml').read_text(encoding='utf-8'))
        found.append({
            'name': directory.name,
            'dump': (directory / 'nginx-T.txt').read_text(encoding='utf-8', errors='replace'),
            'version': parse_nginx_version((directory / 'nginx-v.txt').read_text(encoding='utf-8')),
            'labelled_version': str(labels.get('nginx_version')),
            'min_keepalive_requests': int(labels.get('min_keepalive_requests', 1000)),
            'expected': [(item['id'], item['source']) for item in labels.get('findings') or []],
        })
    return found


def findings_of(entry: Dict[str, Any], audit: Any = nginx_audit) -> List[Tuple[str, str]]:
    """(id, source) of every finding the audit raises on one entry."""
    return [(item['id'], item['source'])
            for item in audit.audit_nginx(entry['dump'], entry['version'], entry['min_keepalive_requests'])]


def score(results: List[Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]]) -> Dict[str, Dict[str, int]]:
    """Per id: {labels, found, true}, from (expected, found) pairs of multisets."""
    totals = collections.defaultdict(lambda: {'labels': 0, 'found': 0, 'true': 0})
    for expected, found in results:
        want, got = collections.Counter(expected), collections.Counter(found)
        for key in set(want) | set(got):
            row = totals[key[0]]
            row['labels'] += want[key]
            row['found'] += got[key]
            row['true'] += min(want[key], got[key])
    return totals


def _ratio(numerator: int, denominator: int) -> str:
    return '%.2f' % (numerator / denominator) if denominator else '–'


def table(totals: Dict[str, Dict[str, int]], entry_count: int) -> str:
    """The Markdown table of README.md."""
    rows = ['| Finding | Labels | Found | Agreeing | Precision | Recall |', '|---|---|---|---|---|---|']
    overall = {'labels': 0, 'found': 0, 'true': 0}
    for finding_id in SCORED:
        row = totals.get(finding_id, {'labels': 0, 'found': 0, 'true': 0})
        for field in overall:
            overall[field] += row[field]
        rows.append('| %s | %d | %d | %d | %s | %s |' % (
            finding_id, row['labels'], row['found'], row['true'], _ratio(row['true'], row['found']),
            _ratio(row['true'], row['labels'])))
    rows.append('| all of the above | %d | %d | %d | %s | %s |' % (
        overall['labels'], overall['found'], overall['true'], _ratio(overall['true'], overall['found']),
        _ratio(overall['true'], overall['labels'])))
    unaudited = totals.get('TW-NGINX-006', {'found': 0})['found']
    rows.append('')
    rows.append('%d entries; TW-NGINX-006 (not audited) raised %d times.' % (entry_count, unaudited))
    return '\n'.join(rows) + '\n'


def load_audit(path: str) -> Any:
    """An nginx_audit module from a file (it imports this checkout's catalogue and version parser)."""
    spec = importlib.util.spec_from_file_location('nginx_audit_under_test', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--audit', help='path of another nginx_audit.py to score')
    parser.add_argument('--mismatches', action='store_true', help='list every finding that differs from a label')
    args = parser.parse_args()
    audit = load_audit(args.audit) if args.audit else nginx_audit
    corpus = entries()
    results = []
    for entry in corpus:
        found = findings_of(entry, audit)
        results.append((entry['expected'], found))
        if args.mismatches:
            want, got = collections.Counter(entry['expected']), collections.Counter(found)
            for key in sorted((want - got) + (got - want)):
                print('%s: %s %s %s' % (entry['name'], 'missed' if want[key] > got[key] else 'extra', *key))
    sys.stdout.write(table(score(results), len(corpus)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
