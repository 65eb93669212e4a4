"""The installed collection artifact audits a Molecule host by FQCN, from outside the checkout.

These tests read what converge.yml left in the scratch directory on the
controller; they take no testinfra `host`.
"""

import json
import os
import pathlib
import tarfile

import pytest

USER_DIR = pathlib.Path(os.environ['MOLECULE_EPHEMERAL_DIRECTORY']) / 'collection-user'
HOST = 'collection-debian12'


@pytest.fixture(scope='module')
def artifact():
    (path,) = (USER_DIR / 'build').glob('harden_tcp-tcp-*.tar.gz')
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_artifact_has_the_collection_and_nothing_of_the_workshop(artifact):
    assert {'plugins/modules/tcp_timewait_info.py', 'plugins/plugin_utils/catalogue.py',
            'roles/tcp_audit/tasks/main.yml', 'playbooks/audit.yml', 'meta/runtime.yml'} <= set(artifact)
    workshop = ('tests/', 'molecule/', 'bench/', '.venv', 'reports/', 'scripts/', 'collections/', '.git', 'build/')
    assert [name for name in artifact if name.startswith(workshop)] == []


def test_ansible_finds_the_collection_only_in_the_scratch_path():
    listed = json.loads((USER_DIR / 'listed.json').read_text())
    assert list(listed) == [str(USER_DIR / 'collections' / 'ansible_collections')]
    assert listed[str(USER_DIR / 'collections' / 'ansible_collections')]['harden_tcp.tcp']['version'] == '1.0.0'


def test_the_fqcn_audit_reported_the_host():
    report = json.loads((USER_DIR / 'reports' / 'tcp-audit.json').read_text())
    (entry,) = [host for host in report['hosts'] if host['host'] == HOST]
    assert entry['status'] == 'ok'
    assert entry['record']['kernel']['release'] == os.uname().release
    assert entry['record']['sysctl']['net.ipv4.tcp_tw_reuse']['present'] is True


def test_the_fqcn_module_ran_on_the_host():
    output = json.loads((USER_DIR / 'adhoc.json').read_text())
    result = output['plays'][0]['tasks'][0]['hosts'][HOST]
    assert result['changed'] is False and 'failed' not in result
    assert isinstance(result['timewait']['total'], int) and result['timewait']['total'] >= 0
