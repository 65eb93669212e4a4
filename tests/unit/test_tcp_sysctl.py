"""plugins/module_utils/tcp_sysctl.py and plugins/modules/tcp_sysctl_info.py on recorded inputs.

fixtures/sysctl/old_kernel is a recorded 4.9 host: tcp_tw_recycle still exists
and is on, an old blog-post drop-in masks a vendor file of the same name, a
later file and a /run file fight the profile, /etc/sysctl.conf sets the port
range, and an active tuned profile turns timestamps off.
"""

import os

import pytest

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl as ts
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_sysctl_info

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'sysctl', 'old_kernel')
PROC = os.path.join(FIXTURE, 'proc', 'sys')
ROOT = os.path.join(FIXTURE, 'root')
PROFILE = '/etc/sysctl.d/60-harden-tcp.conf'
EXPECTED = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_recycle': '0',
            'net.ipv4.tcp_max_tw_buckets': 'auto'}


@pytest.fixture(scope='module')
def gathered():
    return ts.gather(list(ts.PROFILE_KEYS), expected=EXPECTED, profile_file=PROFILE, proc_sys=PROC, root=ROOT,
                     auto={'per_mib': 16, 'minimum': 32768, 'maximum': 1048576},
                     meminfo=os.path.join(FIXTURE, 'proc', 'meminfo'))


@pytest.mark.parametrize('raw,dotted', [
    ('net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('net/ipv4/tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('/net/ipv4/tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('net/ipv4/conf/eth0.100/rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'),
])
def test_normalize_key_accepts_dots_and_slashes(raw, dotted):
    assert ts.normalize_key(raw) == dotted


def test_parse_sysctl_text_skips_comments_and_keeps_lines():
    text = '# c\n; c\n\n net.ipv4.tcp_tw_reuse = 1 \n-net/ipv4/tcp_max_tw_buckets=5000\nbogus line\n-net.core.x\n'
    settings = ts.parse_sysctl_text(text, '/etc/sysctl.d/x.conf')
    assert [(s['key'], s['value'], s['line']) for s in settings] == [
        ('net.ipv4.tcp_tw_reuse', '1', 4), ('net.ipv4.tcp_max_tw_buckets', '5000', 5)]
    assert ts.parse_sysctl_text('net.ipv4.ip_local_port_range = 1024\t65000\n', 'f')[0]['value'] == '1024 65000'


def test_parse_tuned_reads_only_the_sysctl_section():
    text = '[main]\nsummary=x\n[sysctl]\nnet.ipv4.tcp_timestamps = 0\n[vm]\nfoo=bar\n'
    assert [(s['key'], s['value'], s['line']) for s in ts.parse_tuned_sysctl(text, 'tuned:/t')] == [
        ('net.ipv4.tcp_timestamps', '0', 4)]


def test_order_files_masks_by_name_and_sorts_by_basename():
    listing = [('/etc/sysctl.d', '99-zz.conf', False), ('/etc/sysctl.d', '10-a.conf', False),
               ('/etc/sysctl.d', '50-masked.conf', True),
               ('/run/sysctl.d', '70-run.conf', False), ('/run/sysctl.d', '10-a.conf', False),
               ('/usr/lib/sysctl.d', '50-masked.conf', False), ('/usr/lib/sysctl.d', '20-vendor.conf', False)]
    assert ts.order_files(listing) == [
        ('10-a.conf', '/etc/sysctl.d/10-a.conf'), ('20-vendor.conf', '/usr/lib/sysctl.d/20-vendor.conf'),
        ('70-run.conf', '/run/sysctl.d/70-run.conf'), ('99-zz.conf', '/etc/sysctl.d/99-zz.conf')]


def test_sysctl_conf_is_applied_last_and_wins():
    ordered = (ts.parse_sysctl_text('net.ipv4.tcp_tw_reuse = 1\n', '/etc/sysctl.d/zz-harden-tcp.conf')
               + ts.parse_sysctl_text('net.ipv4.tcp_tw_reuse = 0\n', ts.SYSCTL_CONF))
    resolved = ts.resolve_key('net.ipv4.tcp_tw_reuse', ordered, PROFILE, '1')
    assert resolved['boot'] == '0' and resolved['boot_source'] == '/etc/sysctl.conf:1'
    assert [s['path'] for s in resolved['overridden_by']] == [ts.SYSCTL_CONF]
    assert ts.winning_name(PROFILE, [ts.SYSCTL_CONF]) is None


def test_glob_settings_apply_to_matching_keys():
    ordered = ts.parse_sysctl_text('net.ipv4.conf.*.rp_filter = 2\n', '/usr/lib/sysctl.d/50-default.conf')
    assert ts.resolve_key('net.ipv4.conf.eth0.rp_filter', ordered)['boot'] == '2'


@pytest.mark.parametrize('rivals,expected', [
    ([], PROFILE),
    (['/etc/sysctl.d/99-zz-other.conf'], '/etc/sysctl.d/zz-harden-tcp.conf'),
    (['/etc/sysctl.d/zz-late.conf', '/run/sysctl.d/70-x.conf'], '/etc/sysctl.d/zzz-harden-tcp.conf'),
    (['/etc/sysctl.d/~tilde.conf'], None),
])
def test_winning_name_sorts_after_every_rival(rivals, expected):
    assert ts.winning_name(PROFILE, rivals) == expected


def test_own_files_are_never_rivals():
    assert ts.is_own_file('/etc/sysctl.d/zz-harden-tcp.conf', PROFILE)
    assert ts.is_own_file(PROFILE, PROFILE)
    assert not ts.is_own_file('/etc/sysctl.d/99-zz-other.conf', PROFILE)
    assert not ts.is_own_file('/run/sysctl.d/zz-harden-tcp.conf', PROFILE)


@pytest.mark.parametrize('mib,size', [(512, 32768), (1024, 32768), (4096, 65536), (16384, 262144),
                                      (65536, 1048576), (262144, 1048576)])
def test_auto_max_tw_buckets_formula(mib, size):
    assert ts.auto_max_tw_buckets(mib) == size


def test_auto_max_tw_buckets_needs_memory():
    with pytest.raises(ValueError):
        ts.auto_max_tw_buckets(None)


def test_kernel_and_meminfo_parsing():
    assert ts.parse_kernel_version('6.1.0-26-amd64') == '6.1.0'
    assert ts.parse_kernel_version('5.10') == '5.10.0'
    assert ts.parse_kernel_version('weird') is None
    assert ts.parse_meminfo_mb('MemTotal:        8167848 kB\n') == 7976


def test_recorded_old_kernel_has_tw_recycle(gathered):
    recycle = gathered['sysctl']['net.ipv4.tcp_tw_recycle']
    assert recycle['present'] and recycle['runtime'] == '1'
    assert recycle['boot'] == '1' and recycle['boot_source'] == '/etc/sysctl.d/10-old-tuning.conf:2'
    assert gathered['kernel'] == {'release': '4.9.0-19-amd64', 'version': '4.9.0'}


def test_recorded_precedence_masking_and_rivals(gathered):
    reuse = gathered['sysctl']['net.ipv4.tcp_tw_reuse']
    # /usr/lib/sysctl.d/10-old-tuning.conf is masked by the /etc file of the same name.
    assert [s['path'] for s in reuse['settings']] == ['/etc/sysctl.d/10-old-tuning.conf',
                                                      '/etc/sysctl.d/99-zz-other.conf']
    assert reuse['boot'] == '0' and reuse['conflicting']
    buckets = gathered['sysctl']['net.ipv4.tcp_max_tw_buckets']
    assert buckets['boot_source'] == '/run/sysctl.d/70-runtime.conf:1'
    assert buckets['expected'] == str(7976 * 16)
    assert gathered['auto_max_tw_buckets'] == 7976 * 16
    assert gathered['profile']['rivals'] == ['/run/sysctl.d/70-runtime.conf', '/etc/sysctl.d/99-zz-other.conf']
    assert gathered['profile']['winning_file'] == '/etc/sysctl.d/zz-harden-tcp.conf'
    ports = gathered['sysctl']['net.ipv4.ip_local_port_range']
    assert ports['boot'] == '10000 65000' and ports['runtime'] == '32768 60999'
    assert gathered['files'][-1] == '/etc/sysctl.conf'


def test_recorded_tuned_profile_is_applied_before_sysctl_d(gathered):
    stamps = gathered['sysctl']['net.ipv4.tcp_timestamps']
    assert stamps['settings'][0]['path'] == 'tuned:/usr/lib/tuned/throughput-performance/tuned.conf'
    assert stamps['boot'] == '1' and stamps['conflicting']


def test_absent_key_is_reported_not_guessed(tmp_path):
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    (tmp_path / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('2\n')
    entry = ts.read_runtime('net.ipv4.tcp_tw_recycle', str(tmp_path))
    assert entry == {'present': False, 'runtime': None, 'writable': False}
    assert ts.read_runtime('net.ipv4.tcp_tw_reuse', str(tmp_path))['runtime'] == '2'


def test_module_entry_point(run_module):
    module = tcp_sysctl_info
    kind, result = run_module(module.main, {'proc_sys': PROC, 'root': ROOT, 'expected': EXPECTED,
                                            'profile_file': PROFILE, 'auto_max_tw_buckets': {}})
    assert kind == 'exit' and result['changed'] is False
    assert result['sysctl']['net.ipv4.tcp_tw_recycle']['present'] is True
    assert set(result['sysctl']) == set(ts.PROFILE_KEYS)


def test_proc_sys_path_maps_dots_in_names_back():
    assert ts.proc_sys_path('net.ipv4.tcp_tw_reuse', '/p') == '/p/net/ipv4/tcp_tw_reuse'
    assert ts.proc_sys_path('net/ipv4/tcp_tw_reuse', '/p') == '/p/net/ipv4/tcp_tw_reuse'
    # A VLAN interface name keeps its dot in the path, whichever spelling the key uses.
    assert ts.proc_sys_path('net/ipv4/conf/eth0.100/rp_filter', '/p') == '/p/net/ipv4/conf/eth0.100/rp_filter'
    assert ts.proc_sys_path('net.ipv4.conf.eth0/100.rp_filter', '/p') == '/p/net/ipv4/conf/eth0.100/rp_filter'
