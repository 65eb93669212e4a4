"""Fixtures shared by the testinfra verifiers of the scenarios that roll back.

Such a scenario runs `verify` twice: after converge, and again after its
cleanup step ran playbooks/rollback-tcp.yml and left a marker on each host.
Each test asks for the state it checks and is skipped in the other one.
"""

import pytest

ROLLED_BACK_MARKER = '/root/harden-tcp.rolled-back'


def rolled_back(host):
    """True once the scenario's cleanup step rolled this host back."""
    return host.file(ROLLED_BACK_MARKER).exists


@pytest.fixture()
def hardened(host):
    """The host, for tests of the hardened state; skipped after the rollback."""
    if rolled_back(host):
        pytest.skip('host was rolled back')
    return host


@pytest.fixture()
def restored(host):
    """The host, for tests of the rolled-back state; skipped before the rollback."""
    if not rolled_back(host):
        pytest.skip('host not rolled back yet')
    return host
