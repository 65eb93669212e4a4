"""The real-world corpus (tests/corpus/nginx): the audit's findings equal the hand labels.

Each entry is a configuration someone else wrote, recorded by real nginx
(nginx-T.txt, nginx-v.txt) and labelled by hand before the audit ran on it.
bench/nginx_corpus_score.py reads the corpus the same way and prints the
precision/recall table of README.md.
"""
import collections

import pytest

import repo_scripts

REPO_ROOT = repo_scripts.REPO_ROOT
SCORER = repo_scripts.load('bench/nginx_corpus_score.py')
ENTRIES = SCORER.entries()


def test_the_corpus_is_there():
    assert len(ENTRIES) >= 45
    assert all(entry['version'] == entry['labelled_version'] for entry in ENTRIES)


@pytest.mark.parametrize('entry', ENTRIES, ids=[entry['name'] for entry in ENTRIES])
def test_findings_equal_the_labels(entry):
    found = SCORER.findings_of(entry)
    assert collections.Counter(found) == collections.Counter(entry['expected'])


@pytest.mark.parametrize('entry', ENTRIES, ids=[entry['name'] for entry in ENTRIES])
def test_no_unaudited_finding_on_what_nginx_accepted(entry):
    assert [source for finding_id, source in SCORER.findings_of(entry) if finding_id == 'TW-NGINX-006'] == []


def test_readme_table_is_the_current_score():
    results = [(entry['expected'], SCORER.findings_of(entry)) for entry in ENTRIES]
    assert SCORER.table(SCORER.score(results), len(ENTRIES)) in (REPO_ROOT / 'README.md').read_text(), (
        'README.md: paste the output of python3 bench/nginx_corpus_score.py into the corpus section')
