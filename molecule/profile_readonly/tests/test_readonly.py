"""A read-only /proc/sys: nothing was written, nothing was snapshotted."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']).get_hosts('all')


def test_proc_sys_is_read_only(host):
    assert 'ro' in host.mount_point('/proc/sys').options


def test_no_dropin_and_no_snapshot(host):
    assert not host.file('/etc/sysctl.d/60-harden-tcp.conf').exists
    # tcp_profile takes the per-host lock (and makes the snapshot directory) only when it has something
    # to change: a host it refuses or skips gets neither.
    assert not host.file('/var/lib/harden-tcp').exists
