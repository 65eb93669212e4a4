"""execution-environment.yml: `ansible-builder create` makes a runtime-only build context.

No image is built (CI reaches no container registry): the test builds the
collection artifact from this checkout, lets ansible-builder generate the
context in a scratch directory, and checks what the image would get, against
the pinned requirement files. It also checks the claim the EE rests on: the
roles and playbooks use no collection but ansible.builtin and harden_tcp.tcp.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PIN = re.compile(r'^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)$')
# The collections the runtime may use: everything else belongs to development.
RUNTIME_NAMESPACES = {'ansible.builtin', 'harden_tcp.tcp'}


def pins(path):
    """{lower-case name: version} of the `name==version` lines of a requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('-r '):
            match = PIN.match(line)
            assert match, '%s: not pinned exactly: %r' % (path.name, line)
            found[match.group(1).lower()] = match.group(2)
    return found


@pytest.fixture(scope='module')
def context(tmp_path_factory):
    """The build context ansible-builder generates for execution-environment.yml."""
    work = tmp_path_factory.mktemp('ee')
    # The EE definition names its files relative to itself: give it a copy of
    # them, with the collection artifact built fresh from this checkout.
    shutil.copy(ROOT / 'execution-environment.yml', work)
    shutil.copy(ROOT / 'requirements.txt', work)
    subprocess.run([str(BIN / 'ansible-galaxy'), 'collection', 'build', '--output-path', str(work / 'build'), str(ROOT)],
                   check=True, capture_output=True, text=True)
    subprocess.run([str(BIN / 'ansible-builder'), 'create', '--file', str(work / 'execution-environment.yml'),
                    '--context', str(work / 'context'), '--output-filename', 'Containerfile'],
                   check=True, capture_output=True, text=True)
    return work / 'context'


def build_args(containerfile):
    return dict(re.findall(r'^ARG (\w+)="(.*)"$', containerfile, re.MULTILINE))


def test_the_image_gets_the_pinned_runtime_and_nothing_from_development(context):
    runtime, dev = pins(ROOT / 'requirements.txt'), pins(ROOT / 'requirements-dev.txt')
    # The context carries requirements.txt as it is.
    assert (context / '_build' / 'requirements.txt').read_text() == (ROOT / 'requirements.txt').read_text()
    assert set(runtime) == {'ansible-core', 'crossplane', 'cffi', 'cryptography', 'jinja2', 'markupsafe', 'packaging',
                            'pycparser', 'pyyaml', 'resolvelib'}
    assert not set(runtime) & set(dev)
    assert {'ansible', 'ansible-lint', 'molecule', 'pytest', 'docker', 'ansible-builder'} <= set(dev)
    # ansible-core is installed first, at the same pin, with ansible-runner for AWX.
    refs = build_args((context / 'Containerfile').read_text())['ANSIBLE_INSTALL_REFS'].split()
    assert refs[0] == 'ansible-core==%s' % runtime['ansible-core']
    assert [ref.split('==')[0] for ref in refs] == ['ansible-core', 'ansible-runner']


def test_the_containerfile_installs_the_context_requirements(context):
    text = (context / 'Containerfile').read_text()
    assert build_args(text)['EE_BASE_IMAGE'] == 'quay.io/centos/centos:stream9'
    assert 'introspect --user-pip=requirements.txt' in text
    assert 'ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml' in text
    assert 'LABEL ansible-execution-environment=true' in text


def test_the_only_collection_is_this_one_at_its_version(context):
    galaxy = yaml.safe_load((ROOT / 'galaxy.yml').read_text())
    artifact = 'harden_tcp-tcp-%s.tar.gz' % galaxy['version']
    assert yaml.safe_load((context / '_build' / 'requirements.yml').read_text()) == {
        'collections': [{'name': 'collections/' + artifact, 'type': 'file'}]}
    with tarfile.open(context / '_build' / 'collections' / artifact) as tar:
        manifest = json.load(tar.extractfile('MANIFEST.json'))['collection_info']
        ee_meta = yaml.safe_load(tar.extractfile('meta/execution-environment.yml'))
        shipped = tar.extractfile(ee_meta['dependencies']['python']).read().decode()
        names = set(tar.getnames())
    assert (manifest['namespace'], manifest['name'], manifest['version']) == ('harden_tcp', 'tcp', galaxy['version'])
    assert manifest['dependencies'] == {}
    # An EE built by someone else from the collection gets the same Python packages.
    assert shipped == (ROOT / 'requirements.txt').read_text()
    assert not names & {'requirements-dev.txt', 'execution-environment.yml', 'molecule', 'tests'}


def fqcns_in_tasks(node):
    """Every module named by FQCN in a list of tasks (blocks walked)."""
    found = set()
    for task in node or []:
        if not isinstance(task, dict):
            continue
        for key, value in task.items():
            if key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
                found |= fqcns_in_tasks(value)
            elif key.count('.') == 2:
                found.add(key)
    return found


def test_runtime_content_uses_no_other_collection():
    used = set()
    for base in ('roles', 'playbooks'):
        for path in (ROOT / base).rglob('*'):
            if 'collections' in path.relative_to(ROOT).parts or not path.is_file():
                continue
            text = path.read_text()
            if path.suffix == '.yml' and path.parent.name in ('tasks', 'handlers', 'playbooks'):
                used |= fqcns_in_tasks(yaml.safe_load(text))
            # Filters, tests and lookups in any template or task file.
            used |= set(re.findall(r'(?:\||\bis)\s*(\w+\.\w+\.\w+)', text))
            used |= set(re.findall(r'(?:lookup|query)\(\s*[\'"](\w+\.\w+\.\w+)', text))
    assert used, 'found no FQCN at all: the scan is broken'
    assert {'ansible.builtin.set_fact', 'harden_tcp.tcp.tcp_audit_info', 'harden_tcp.tcp.tcp_report'} <= used
    assert {name for name in used if name.rsplit('.', 1)[0] not in RUNTIME_NAMESPACES} == set()


def test_the_venv_installs_both_files():
    makefile = (ROOT / 'Makefile').read_text()
    assert '-r requirements-dev.txt' in makefile
    assert (ROOT / 'requirements-dev.txt').read_text().splitlines().count('-r requirements.txt') == 1
    assert os.access(BIN / 'ansible-builder', os.X_OK)
