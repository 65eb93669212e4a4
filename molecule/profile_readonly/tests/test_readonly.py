"""A read-only /proc/sys: nothing was written, nothing was snapshotted."""

import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']).get_hosts('all')


def test_proc_sys_is_read_only(host):
    assert 'ro' in host.mount_point('/proc/sys').options


def test_no_dropin_and_no_snapshot(host):
    assert not host.file('/etc/sysctl.d/60-harden-tcp.conf').exists
    # harden-tcp.yml took its per-host lock (in the snapshot directory) but recorded nothing.
    assert not host.file('/var/lib/harden-tcp/manifest.json').exists
    assert sorted(host.check_output('ls -A /var/lib/harden-tcp').split()) == ['.harden-tcp-snapshot', 'lock']
