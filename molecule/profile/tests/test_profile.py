"""Verify tcp_profile on a drifted host, then (after cleanup) the rollback.

The scenario runs verify twice: after converge + side_effect (the host is
hardened) and after cleanup (rollback-tcp.yml ran and left a marker). Each
test applies to one of the two states and skips in the other.
"""

import base64
import json
import os

import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']).get_hosts('all')

DROPIN = '/etc/sysctl.d/zz-harden-tcp.conf'
HAND_WRITTEN = '/etc/sysctl.d/60-harden-tcp.conf'
RIVAL = '/etc/sysctl.d/99-zz-other.conf'
CONFIG_DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d',
               '/etc/sysctl.conf']


def runtime(host, key):
    return ' '.join(host.file('/proc/sys/' + key.replace('.', '/')).content_string.split())


def expected_buckets(host):
    meminfo = host.file('/proc/meminfo').content_string
    kib = int([line.split()[1] for line in meminfo.splitlines() if line.startswith('MemTotal:')][0])
    return min(max(kib // 1024 * 16, 32768), 1048576)


def pre_harden(host):
    return json.loads(host.file('/root/pre-harden.json').content_string)


def sha256(host, path):
    return host.check_output('sha256sum %s', path).split()[0]


def test_runtime_values(hardened):
    assert runtime(hardened, 'net.ipv4.tcp_tw_reuse') == '1'
    assert runtime(hardened, 'net.ipv4.tcp_timestamps') == '1'
    assert runtime(hardened, 'net.ipv4.tcp_max_tw_buckets') == str(expected_buckets(hardened))


def test_dropin_renamed_to_win_and_contents(hardened):
    dropin = hardened.file(DROPIN)
    assert dropin.is_file
    assert dropin.user == 'root' and dropin.group == 'root' and dropin.mode == 0o644
    settings = dict(
        tuple(part.strip() for part in line.split('=', 1))
        for line in dropin.content_string.splitlines() if line.strip() and not line.startswith('#'))
    assert settings == {
        'net.ipv4.tcp_timestamps': '1',
        'net.ipv4.tcp_tw_reuse': '1',
        'net.ipv4.tcp_max_tw_buckets': str(expected_buckets(hardened)),
    }
    assert dropin.content_string.startswith('#')  # ansible_managed header
    # The hand-written drop-in of the old name was recorded, then removed; the rival was left alone.
    assert not hardened.file(HAND_WRITTEN).exists
    assert sha256(hardened, RIVAL) == pre_harden(hardened)['files'][RIVAL]


def test_tcp_tw_recycle_in_no_file(hardened):
    assert not hardened.file('/proc/sys/net/ipv4/tcp_tw_recycle').exists
    found = hardened.run('grep -rl tcp_tw_recycle %s' % ' '.join(CONFIG_DIRS))
    assert found.stdout.strip() == ''


def test_snapshot_is_root_only_and_holds_the_originals(hardened):
    snap = hardened.file('/var/lib/harden-tcp')
    assert snap.is_directory and snap.user == 'root' and snap.mode == 0o700
    manifest = json.loads(hardened.file('/var/lib/harden-tcp/manifest.json').content_string)
    assert manifest['files'][DROPIN]['state'] == 'absent'
    assert manifest['files'][HAND_WRITTEN]['state'] == 'present'
    assert manifest['files'][HAND_WRITTEN]['sha256'] == pre_harden(hardened)['files'][HAND_WRITTEN]
    # The runtime values from before the first change (prepare set tw_reuse=0 by hand).
    assert manifest['sysctl']['net.ipv4.tcp_tw_reuse']['value'] == '0'
    assert manifest['sysctl']['net.ipv4.tcp_max_tw_buckets']['value'] == '5000'


def test_rollback_restores_every_file_byte_for_byte(restored):
    before = pre_harden(restored)
    for path, checksum in before['files'].items():
        assert restored.file(path).exists, path
        assert sha256(restored, path) == checksum, path
        assert '%04o' % restored.file(path).mode == before['modes'][path], path
    assert not restored.file(DROPIN).exists
    listed = set(restored.check_output("find /etc/sysctl.d -maxdepth 1 -type f -name '*.conf' -printf '%f\\n'").split())
    assert listed == set(os.path.basename(p) for p in before['files'] if p.startswith('/etc/sysctl.d/'))


def test_rollback_restores_runtime_values(restored):
    before = pre_harden(restored)
    for name, content in before['runtime'].items():
        value = ' '.join(base64.b64decode(content).decode().split())
        assert runtime(restored, 'net.ipv4.' + name) == value, name


def test_rollback_clears_the_snapshot(restored):
    # The manifest and its blobs go; harden-tcp's directory stays with its marker and the lock file.
    assert not restored.file('/var/lib/harden-tcp/manifest.json').exists
    assert sorted(restored.check_output('ls -A /var/lib/harden-tcp').split()) == ['.harden-tcp-snapshot', 'lock']
