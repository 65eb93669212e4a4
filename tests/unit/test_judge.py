"""plugins/plugin_utils/judge.py: every finding on recorded inputs."""

import copy
import os

import pytest
import yaml

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl as ts
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import catalogue
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import judge as tf

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'sysctl', 'old_kernel')


def entry(runtime, present=True, boot=None, settings=None, expected=None, conflicting=False):
    return {'present': present, 'runtime': runtime, 'writable': present, 'boot': boot,
            'boot_source': '%s:%s' % (settings[-1]['path'], settings[-1]['line']) if settings else None,
            'settings': settings or [], 'conflicting': conflicting, 'expected': expected}


def good_host():
    """A compliant modern host: the profile applied, tcp_tw_recycle absent."""
    src = [{'path': '/etc/sysctl.d/60-harden-tcp.conf', 'line': 3, 'value': '1'}]
    return {'sysctl': {
        'net.ipv4.tcp_tw_reuse': entry('1', boot='1', settings=src, expected='1'),
        'net.ipv4.tcp_timestamps': entry('1', boot='1', settings=src, expected='1'),
        'net.ipv4.tcp_tw_recycle': entry(None, present=False, expected='0'),
        'net.ipv4.tcp_max_tw_buckets': entry('262144', boot='262144', expected='262144',
                                             settings=[dict(src[0], value='262144')]),
        'net.ipv4.ip_local_port_range': entry('32768 60999'),
    }, 'proc_sys_writable': True, 'kernel': {'release': '6.1.0-26-amd64', 'version': '6.1.0'}}


QUIET_TW = {'total': 10, 'sockstat_tw': 10, 'max_tw_buckets': 262144, 'bucket_utilization': 0.0,
            'overflow_total': 0, 'ephemeral_port_range': [32768, 60999], 'port_pressure': 0.001,
            'by_remote': [{'address': '10.0.0.5', 'port': 8080, 'count': 10}]}


def ids(findings):
    return sorted(f['id'] for f in findings)


def test_compliant_host_has_no_findings():
    record = tf.tcp_audit_record(good_host(), QUIET_TW, host='web-01')
    assert record['findings'] == [] and record['compliant'] is True
    assert record['severity_counts'] == {'critical': 0, 'high': 0, 'medium': 0, 'low': 0, 'info': 0}
    assert record['schema'] == 1 and record['host'] == 'web-01' and record['phase'] == 'before'


def with_runtime(key, value, **extra):
    host = good_host()
    host['sysctl'][key].update(dict(runtime=value, **extra))
    return host


def test_recycle_on_is_critical_and_present_is_info():
    host = good_host()
    host['sysctl']['net.ipv4.tcp_tw_recycle'] = entry('1', expected='0')
    findings = tf.tcp_findings(host)
    assert ids(findings) == ['TW-SYSCTL-001', 'TW-SYSCTL-002', 'TW-SYSCTL-006']
    assert findings[0]['id'] == 'TW-SYSCTL-001' and findings[0]['severity'] == 'critical'
    host['sysctl']['net.ipv4.tcp_tw_recycle'] = entry('0', expected='0')
    assert ids(tf.tcp_findings(host)) == ['TW-SYSCTL-002']
    assert catalogue.is_compliant(tf.tcp_findings(host))


def test_recycle_enabled_at_next_boot_is_critical():
    host = good_host()
    host['sysctl']['net.ipv4.tcp_tw_recycle'] = entry(
        '0', boot='1', expected='0', settings=[{'path': '/etc/sysctl.d/10-x.conf', 'line': 2, 'value': '1'}])
    assert 'TW-SYSCTL-001' in ids(tf.tcp_findings(host))


def test_reuse_without_timestamps_is_high():
    host = with_runtime('net.ipv4.tcp_timestamps', '0')
    found = ids(tf.tcp_findings(host))
    assert 'TW-SYSCTL-003' in found and 'TW-SYSCTL-005' in found and 'TW-SYSCTL-006' in found
    assert not catalogue.is_compliant(tf.tcp_findings(host))


def test_reuse_not_one_is_medium_and_differs_from_profile():
    found = tf.tcp_findings(with_runtime('net.ipv4.tcp_tw_reuse', '2', boot='2',
                                         settings=[{'path': '/etc/sysctl.d/60-harden-tcp.conf', 'line': 3, 'value': '2'}]))
    assert ids(found) == ['TW-SYSCTL-004', 'TW-SYSCTL-006']


def test_reuse_two_chosen_by_the_profile_is_not_004():
    host = with_runtime('net.ipv4.tcp_tw_reuse', '2', expected='2', boot='2',
                        settings=[{'path': '/etc/sysctl.d/60-harden-tcp.conf', 'line': 3, 'value': '2'}])
    assert tf.tcp_findings(host) == []


def test_runtime_differs_from_boot_is_medium():
    found = tf.tcp_findings(good_host(), expected={'net.ipv4.tcp_tw_reuse': None})
    assert found == []
    host = good_host()
    host['sysctl']['net.ipv4.ip_local_port_range'].update(
        boot='10000 65000', boot_source='/etc/sysctl.conf:2',
        settings=[{'path': '/etc/sysctl.conf', 'line': 2, 'value': '10000 65000'}])
    found = tf.tcp_findings(host)
    assert ids(found) == ['TW-SYSCTL-007'] and found[0]['severity'] == 'medium'
    assert found[0]['source'] == '/etc/sysctl.conf:2'


def test_conflicting_files_are_a_finding():
    host = good_host()
    host['sysctl']['net.ipv4.tcp_tw_reuse'].update(conflicting=True, boot='1', settings=[
        {'path': '/etc/sysctl.d/10-a.conf', 'line': 1, 'value': '0'},
        {'path': '/etc/sysctl.d/60-harden-tcp.conf', 'line': 3, 'value': '1'}])
    found = tf.tcp_findings(host)
    assert ids(found) == ['TW-SYSCTL-008']
    assert '/etc/sysctl.d/10-a.conf:1=0' in found[0]['detail']


def test_key_set_in_a_file_but_absent_from_the_kernel():
    host = good_host()
    host['sysctl']['net.ipv4.tcp_tw_recycle'] = entry(
        None, present=False, expected='0', settings=[{'path': '/etc/sysctl.conf', 'line': 7, 'value': '0'}])
    assert ids(tf.tcp_findings(host)) == ['TW-SYSCTL-009']


def test_read_only_proc_sys():
    host = good_host()
    host['proc_sys_writable'] = False
    host['container'] = 'docker'
    found = tf.tcp_findings(host)
    assert ids(found) == ['TW-SYSCTL-010'] and 'docker' in found[0]['detail']


@pytest.mark.parametrize('change,finding,gating', [
    ({'bucket_utilization': 0.95, 'sockstat_tw': 249036}, 'TW-TABLE-001', False),
    ({'overflow_total': 3}, 'TW-TABLE-002', True),
    ({'port_pressure': 0.9}, 'TW-PORT-001', True),
])
def test_timewait_findings(change, finding, gating):
    timewait = dict(QUIET_TW, **change)
    record = tf.tcp_audit_record(good_host(), timewait)
    assert ids(record['findings']) == [finding]
    assert record['compliant'] is (not gating)


def test_thresholds_are_respected():
    timewait = dict(QUIET_TW, bucket_utilization=0.6, port_pressure=0.4)
    assert tf.timewait_findings(timewait) == []
    assert ids(tf.timewait_findings(timewait, {'bucket_utilization': 0.5, 'port_pressure': 0.3})) == [
        'TW-PORT-001', 'TW-TABLE-001']


def test_missing_overflow_counter_is_not_a_finding():
    assert tf.timewait_findings(dict(QUIET_TW, overflow_total=None, bucket_utilization=None)) == []


def test_nginx_findings_are_merged():
    nginx = {'present': True, 'version': '1.22.1', 'findings': [
        {'id': 'TW-NGINX-001', 'severity': 'high', 'title': 't', 'detail': 'd', 'remediation': 'r', 'source': None}]}
    record = tf.tcp_audit_record(good_host(), QUIET_TW, nginx=nginx)
    assert record['nginx'] == {'present': True, 'version': '1.22.1', 'live': None}
    assert ids(record['findings']) == ['TW-NGINX-001'] and not record['compliant']


def test_every_finding_has_the_documented_shape():
    host = good_host()
    host['sysctl']['net.ipv4.tcp_tw_recycle'] = entry('1', expected='0')
    for item in tf.tcp_findings(host, dict(QUIET_TW, overflow_total=1)):
        assert set(item) == {'id', 'severity', 'title', 'detail', 'remediation', 'source'}
        assert item['severity'] in catalogue.SEVERITIES and item['remediation'].endswith('.')


def test_untaken_lists_keys_whose_runtime_differs():
    record = tf.tcp_audit_record(with_runtime('net.ipv4.tcp_tw_reuse', '0', boot='1'), QUIET_TW, phase='after')
    assert tf.tcp_untaken(record) == ['net.ipv4.tcp_tw_reuse: runtime 0, wanted 1']
    assert tf.tcp_untaken(tf.tcp_audit_record(good_host(), QUIET_TW)) == []


def test_recorded_old_kernel_end_to_end():
    """The recorded 4.9 host through the module core and the judge."""
    info = ts.gather(list(ts.PROFILE_KEYS), expected={'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1',
                                                      'net.ipv4.tcp_tw_recycle': '0'},
                     profile_file='/etc/sysctl.d/60-harden-tcp.conf',
                     proc_sys=os.path.join(FIXTURE, 'proc', 'sys'), root=os.path.join(FIXTURE, 'root'),
                     meminfo=os.path.join(FIXTURE, 'proc', 'meminfo'))
    record = tf.tcp_audit_record(copy.deepcopy(info), QUIET_TW, host='old-01')
    # tuned's profile turns timestamps off after the boot (it re-applies /etc and /run, not /usr/lib), while
    # sysctl --system keeps the vendor file's 1: 007 for the boot value, 011 for the two tools disagreeing.
    assert ids(record['findings']) == ['TW-SYSCTL-001', 'TW-SYSCTL-002', 'TW-SYSCTL-004', 'TW-SYSCTL-006',
                                       'TW-SYSCTL-006', 'TW-SYSCTL-007', 'TW-SYSCTL-007', 'TW-SYSCTL-007',
                                       'TW-SYSCTL-008', 'TW-SYSCTL-008', 'TW-SYSCTL-008', 'TW-SYSCTL-011']
    disagree = [f for f in record['findings'] if f['id'] == 'TW-SYSCTL-011'][0]
    assert disagree['detail'] == (
        'net.ipv4.tcp_timestamps: a reboot gives 0 (tuned:/usr/lib/tuned/throughput-performance/tuned.conf:5, by tuned) '
        'but running sysctl --system (procps 3.3.12) gives 1 (/usr/lib/sysctl.d/50-default.conf:1)')
    assert record['sysctl_tools']['boot']['tool'] == 'systemd-sysctl'
    assert record['sysctl']['net.ipv4.tcp_timestamps']['system'] == '1'
    assert record['severity_counts']['critical'] == 1 and not record['compliant']
    assert record['sysctl']['net.ipv4.tcp_tw_recycle']['expected'] == '0'


TOOLS = {'boot': {'tool': 'systemd-sysctl', 'version': '257'},
         'system': {'tool': 'sysctl --system', 'version': '4.0.4', 'binary': '/usr/sbin/sysctl'}}


def agreeing_host():
    """good_host() with sysctl --system agreeing with the boot on every key."""
    host = good_host()
    host['sysctl_tools'] = TOOLS
    for entry_ in host['sysctl'].values():
        entry_.update(system=entry_['boot'], system_source=entry_['boot_source'])
    return host


def test_boot_and_system_disagreeing_on_a_profile_key():
    host = agreeing_host()
    assert tf.tcp_audit_record(host, QUIET_TW)['findings'] == []
    reuse = host['sysctl']['net.ipv4.tcp_tw_reuse']
    reuse.update(system='0', system_source='/etc/sysctl.conf:4')
    host['sysctl']['net.ipv4.ip_local_port_range'].update(system='1024 65000', system_source='/etc/sysctl.conf:5')
    found = tf.tcp_audit_record(host, QUIET_TW)['findings']
    # The port range is context, not a profile key: only tcp_tw_reuse is reported.
    assert [(f['id'], f['detail'], f['source']) for f in found] == [(
        'TW-SYSCTL-011', 'net.ipv4.tcp_tw_reuse: a reboot gives 1 (/etc/sysctl.d/60-harden-tcp.conf:3, by systemd-sysctl 257) '
        'but running sysctl --system (procps 4.0.4) gives 0 (/etc/sysctl.conf:4)', '/etc/sysctl.d/60-harden-tcp.conf:3')]
    reuse.update(boot=None, boot_source=None)
    detail = tf.tcp_audit_record(host, QUIET_TW)['findings'][0]['detail']
    assert detail.startswith('net.ipv4.tcp_tw_reuse: a reboot gives the kernel default (no setting applies at boot)')
    # Without procps there is nothing to disagree with.
    host['sysctl_tools'] = dict(TOOLS, system=None)
    assert tf.tcp_audit_record(host, QUIET_TW)['findings'] == []


def test_a_value_the_kernel_refuses_is_its_own_finding_not_a_mismatch():
    host = agreeing_host()
    refused = {'path': '/etc/sysctl.d/70-old.conf', 'line': 2, 'value': '7', 'reason': 'outside 0..2',
               'boot': True, 'system': True}
    host['sysctl']['net.ipv4.tcp_tw_reuse'].update(rejected=[refused])
    # "6000 # note" is stored as 6000: boot and system are the kernel's values, so no mismatch with the runtime.
    host['sysctl']['net.ipv4.tcp_max_tw_buckets'].update(runtime='6000', boot='6000', system='6000', expected=None)
    record = tf.tcp_audit_record(host, QUIET_TW)
    assert [(f['id'], f['source']) for f in record['findings']] == [('TW-SYSCTL-012', '/etc/sysctl.d/70-old.conf:2')]
    assert record['findings'][0]['detail'] == (
        'net.ipv4.tcp_tw_reuse = 7 at /etc/sysctl.d/70-old.conf:2: the kernel refuses it (outside 0..2); written by '
        'systemd-sysctl 257 and sysctl --system (procps 4.0.4), it leaves the key at the value it had before')
    assert record['sysctl']['net.ipv4.tcp_tw_reuse']['rejected'] == [refused]


def test_catalogue_matches_shared_context_severities():
    wanted = {'TW-SYSCTL-001': 'critical', 'TW-SYSCTL-002': 'info', 'TW-SYSCTL-003': 'high',
              'TW-SYSCTL-004': 'medium', 'TW-SYSCTL-005': 'medium', 'TW-SYSCTL-006': 'high',
              'TW-SYSCTL-007': 'medium', 'TW-SYSCTL-008': 'medium', 'TW-TABLE-001': 'medium',
              'TW-TABLE-002': 'high', 'TW-PORT-001': 'high'}
    assert dict((k, catalogue.CATALOGUE[k]['severity']) for k in wanted) == wanted


def test_audit_record_doc_lists_every_top_level_key():
    with open(os.path.join(REPO, 'docs', 'audit-record.md')) as handle:
        text = handle.read()
    block = text.split('```yaml', 1)[1].split('```', 1)[0]
    documented = set(yaml.safe_load(block)['tcp_audit_record'])
    assert set(tf.tcp_audit_record(good_host(), QUIET_TW)) == documented


def test_unproven_nginx_names_only_findings_in_managed_files():
    managed = ['/etc/nginx/conf.d/harden-tcp-upstreams.conf', '/etc/nginx/conf.d/harden-tcp-sites.conf']
    record = {'findings': [
        {'id': 'TW-NGINX-002', 'severity': 'high', 'title': 'HTTP/1.0 to a keepalive upstream',
         'source': '/etc/nginx/conf.d/harden-tcp-sites.conf:14'},
        # The user's own site: reported by the audit, not the role's to prove.
        {'id': 'TW-NGINX-003', 'severity': 'high', 'title': 'Connection header',
         'source': '/etc/nginx/sites-enabled/shop:9'},
        # Low and info findings in a managed file do not fail the proof.
        {'id': 'TW-NGINX-004', 'severity': 'low', 'title': 'literal proxy_pass',
         'source': '/etc/nginx/conf.d/harden-tcp-sites.conf:20'},
        {'id': 'TW-SYSCTL-006', 'severity': 'high', 'title': 'sysctl',
         'source': '/etc/nginx/conf.d/harden-tcp-sites.conf:1'},
    ]}
    assert tf.tcp_unproven_nginx(record, managed) == [
        '/etc/nginx/conf.d/harden-tcp-sites.conf:14: TW-NGINX-002 HTTP/1.0 to a keepalive upstream']
    assert tf.tcp_unproven_nginx(record, []) == []


@pytest.mark.parametrize('thresholds, expected, variable', [
    ({'bucket_utilization': 1.5, 'port_pressure': 0.5}, {}, 'tcp_audit_bucket_utilization_threshold'),
    ({'bucket_utilization': 0.8, 'port_pressure': 'high'}, {}, 'tcp_audit_port_pressure_threshold'),
    ({'bucket_utilization': 0, 'port_pressure': 0.5}, {}, 'tcp_audit_bucket_utilization_threshold'),
    ({}, {'net.ipv4.tcp_max_tw_buckets': 'lots'}, 'tcp_audit_expected_max_tw_buckets'),
    ({}, {'net.ipv4.tcp_tw_reuse': 'yes'}, 'tcp_audit_expected_tw_reuse'),
])
def test_unusable_settings_are_refused_naming_the_variable(thresholds, expected, variable):
    with pytest.raises(tf.AnsibleFilterError, match=variable):
        tf.tcp_audit_record(good_host(), QUIET_TW, expected=expected, thresholds=thresholds)


def test_usable_settings_pass():
    tf.check_settings({'bucket_utilization': 1, 'port_pressure': '0.25'},
                      {'net.ipv4.tcp_max_tw_buckets': '262144', 'net.ipv4.tcp_tw_reuse': None})


def test_finding_lines_put_each_finding_on_a_line():
    record = {'findings': [{'id': 'TW-SYSCTL-006', 'severity': 'high', 'title': 'runtime value differs from the profile',
                            'detail': 'net.ipv4.tcp_tw_reuse is 2, the profile wants 1'}]}
    assert tf.tcp_finding_lines(record) == [
        'TW-SYSCTL-006 (high) runtime value differs from the profile: net.ipv4.tcp_tw_reuse is 2, the profile wants 1']
    assert tf.tcp_finding_lines({'findings': []}) == ['no findings']


def test_the_record_says_whether_the_running_nginx_loaded_the_files():
    host = dict(good_host(), nginx_live={
        'running': True, 'master_pid': 62, 'pid_file': '/run/nginx.pid', 'loaded_at': 1795783604.5,
        'files': ['/etc/nginx/nginx.conf', '/etc/nginx/sites-enabled/app'],
        'changed_after_load': [{'path': '/etc/nginx/sites-enabled/app', 'changed': 1795783610.25}], 'loaded': False})

    record = tf.tcp_audit_record(host, QUIET_TW)

    assert record['nginx']['live'] == {
        'running': True, 'master_pid': 62, 'loaded_at': 1795783604.5, 'loaded': False,
        'changed_after_load': [{'path': '/etc/nginx/sites-enabled/app', 'changed': 1795783610.25}]}
    assert tf.tcp_unlive_nginx(record) == [
        'nginx (master pid 62) last loaded its configuration at 2026-11-27T12:46:44Z, but /etc/nginx/sites-enabled/app '
        'changed after that (2026-11-27T12:46:50Z): the running nginx does not serve the configuration on disk']


@pytest.mark.parametrize('live', [
    None,                                                    # no nginx on the host
    {'running': False, 'loaded': None},                      # nginx installed, not running
    {'running': True, 'loaded': True, 'changed_after_load': []},
])
def test_only_a_running_nginx_that_missed_a_change_is_unproven(live):
    record = tf.tcp_audit_record(dict(good_host(), nginx_live=live), QUIET_TW)

    assert tf.tcp_unlive_nginx(record) == []
    assert record['nginx']['live'] == (None if live is None else dict(
        {'running': live['running'], 'master_pid': None, 'loaded_at': None, 'changed_after_load': []},
        loaded=live['loaded']))


def test_a_running_nginx_that_cannot_be_told_is_never_proven():
    """nginx -T failed (the files on disk do not pass nginx -t): what runs is not known to be what is on disk."""
    record = tf.tcp_audit_record(dict(good_host(), nginx_live={'running': True, 'master_pid': 9, 'loaded': None}),
                                 QUIET_TW)

    [sentence] = tf.tcp_unlive_nginx(record)

    assert sentence.startswith('nginx runs (master pid 9) but whether it loaded the configuration on disk cannot be told')


def test_many_changed_files_are_summed_up():
    changed = [{'path': '/etc/nginx/conf.d/%02d.conf' % index, 'changed': 1795783610.0 + index} for index in range(30)]
    record = {'nginx': {'live': {'running': True, 'master_pid': 7, 'loaded_at': 1795783600.0, 'loaded': False,
                                 'changed_after_load': tf.nginx_live_record(
                                     {'changed_after_load': changed})['changed_after_load']}}}

    [sentence] = tf.tcp_unlive_nginx(record)

    assert '/etc/nginx/conf.d/04.conf and 15 more changed after that (2026-11-27T12:47:09Z)' in sentence


def test_what_the_host_says_about_live_nginx_is_typed_and_bounded():
    hostile = {'running': 'yes', 'master_pid': '62; rm -rf /', 'loaded_at': True, 'loaded': 'false',
               'changed_after_load': [{'path': 'x' * 5000, 'changed': 'soon'}] * 50 + ['not a dict']}

    live = tf.nginx_live_record(hostile)

    assert live['running'] is False and live['master_pid'] is None and live['loaded_at'] is None
    assert live['loaded'] is None
    assert len(live['changed_after_load']) == 20
    assert live['changed_after_load'][0] == {'path': 'x' * 512, 'changed': None}
    assert tf.tcp_unlive_nginx({'nginx': {'live': live}}) == []


def test_a_file_that_overrides_the_profile_drop_in_is_reported_even_without_a_second_setting():
    """tcp_audit_profile_file: the module names what beats the drop-in; the judge reports it (TW-SYSCTL-008)."""
    info = good_host()
    info['sysctl']['net.ipv4.tcp_tw_reuse']['overridden_by'] = [
        {'path': '/etc/sysctl.d/99-zz.conf', 'line': 2, 'value': '0', 'tools': ['boot', 'system']}]
    info['profile'] = {'file': '/etc/sysctl.d/60-harden-tcp.conf'}
    record = tf.tcp_audit_record(info, QUIET_TW)
    (item,) = [f for f in record['findings'] if f['id'] == 'TW-SYSCTL-008']
    assert item['detail'] == ('/etc/sysctl.d/99-zz.conf:2 (= 0, under the boot and sysctl --system) overrides '
                              'the profile drop-in /etc/sysctl.d/60-harden-tcp.conf')
    assert record['sysctl']['net.ipv4.tcp_tw_reuse']['overridden_by'][0]['path'] == '/etc/sysctl.d/99-zz.conf'
    del info['sysctl']['net.ipv4.tcp_tw_reuse']['overridden_by']
    assert 'TW-SYSCTL-008' not in ids(tf.tcp_audit_record(info, QUIET_TW)['findings'])
