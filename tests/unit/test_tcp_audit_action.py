"""plugins/action/tcp_audit_info.py: one task validates, observes on the host and judges on the controller.

The module part runs for real, in this process, on this machine (with a stand-in
nginx); the action gets that result from a patched _execute_module, as it would
from the host. The record it sets must be exactly what the judge's public
functions make of the same result.
"""

import os
import stat
from unittest import mock

import pytest

from ansible.module_utils import basic
from ansible_collections.harden_tcp.tcp.plugins.action import tcp_audit_info as action
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_audit_info as module
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.judge import nginx_live_record, tcp_audit_record
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_audit import nginx_observation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# An upstream without keepalive (TW-NGINX-001) proxied to from one location.
FAKE_NGINX = '''#!/bin/sh
echo "nginx version: nginx/1.22.1" >&2
cat <<'EOF'
# configuration file /etc/nginx/nginx.conf:
events {}
http {
    upstream app { server 127.0.0.1:8081; }
    server { listen 80; location / { proxy_pass http://app; } }
}
EOF
'''


@pytest.fixture
def observed(tmp_path, monkeypatch, run_module):
    """What the module returns on this machine, with a stand-in nginx."""
    binary = tmp_path / 'nginx'
    binary.write_text(FAKE_NGINX)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: str(binary) if name == 'nginx' else None)
    kind, result = run_module(module.main, {'expected': {'net.ipv4.tcp_tw_reuse': '1'}})
    assert kind == 'exit'
    return result


def make_action(args, module_result):
    task = mock.MagicMock(args=args, async_val=0, check_mode=False, action='harden_tcp.tcp.tcp_audit_info')
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    plugin = action.ActionModule(task, connection, mock.MagicMock(), mock.MagicMock(), mock.MagicMock())
    plugin._execute_module = mock.MagicMock(return_value=dict(module_result))
    return plugin


def test_one_task_sets_the_record_the_judge_makes(observed):
    args = {'expected': {'net.ipv4.tcp_tw_reuse': '1'}, 'thresholds': {'port_pressure': '0.3'},
            'nginx_min_keepalive_requests': '500', 'phase': 'after'}
    plugin = make_action(args, observed)
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert not result.get('failed'), result.get('msg')
    expected = tcp_audit_record(observed, timewait=observed['timewait'], thresholds={'port_pressure': '0.3'},
                                nginx=nginx_observation(observed['nginx_dump'], 500), host='web-01', phase='after')
    assert result['ansible_facts'] == {'tcp_audit_record': expected}
    record = result['ansible_facts']['tcp_audit_record']
    assert (record['host'], record['phase'], record['nginx']['present'], record['nginx']['version']) == \
        ('web-01', 'after', True, '1.22.1')
    # Whether the running nginx loaded those files is read on the host, from the same dump.
    assert observed['nginx_live']['files'] == ['/etc/nginx/nginx.conf']
    assert record['nginx']['live'] == nginx_live_record(observed['nginx_live'])
    assert 'TW-NGINX-001' in [f['id'] for f in record['findings']]
    # The observations stay in the result, as the module's RETURN documents them.
    assert result['sysctl'] == observed['sysctl'] and result['nginx_dump'] == observed['nginx_dump']
    # The module gets its own options only, exactly as given.
    plugin._execute_module.assert_called_once_with(
        module_name='harden_tcp.tcp.tcp_audit_info', module_args={'expected': {'net.ipv4.tcp_tw_reuse': '1'}},
        task_vars={'inventory_hostname': 'web-01'})


@pytest.mark.parametrize('args, message', [
    ({'phase': 'during'}, 'value of phase must be one of: before, after, got: during'),
    ({'nginx_min_keepalive_requests': 'many'}, "argument 'nginx_min_keepalive_requests' is of type"),
    ({'top_n': -1}, 'top_n must be 0 (keep all entries) or a positive integer, got -1'),
    ({'timewait_method': 'ss'}, 'value of timewait_method must be one of: auto, netlink, procfs, got: ss'),
    ({'include_ipv6': 'perhaps'}, "argument 'include_ipv6' is of type"),
])
def test_bad_options_fail_before_the_host_is_contacted(observed, args, message):
    plugin = make_action(args, observed)
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert result['failed'] is True
    assert message in result['msg']
    assert 'ansible_facts' not in result
    plugin._execute_module.assert_not_called()


def test_a_bad_threshold_fails_naming_the_role_variable(observed):
    plugin = make_action({'thresholds': {'bucket_utilization': 2}}, observed)
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert result['failed'] is True and 'ansible_facts' not in result
    assert 'tcp_audit_bucket_utilization_threshold must be a number in (0, 1], got 2' in result['msg']


def test_a_malformed_host_answer_fails_the_host_with_a_message(observed):
    plugin = make_action({}, dict(observed, sysctl=['not', 'a', 'dict']))
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert result['failed'] is True and result['msg'].startswith('cannot judge what the host returned: ')
    assert 'ansible_facts' not in result


def test_a_failed_module_is_passed_on_without_a_record(observed):
    failure = {'failed': True, 'msg': 'cannot read sysctl state: boom', 'module_stderr': ''}
    plugin = make_action({}, failure)
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert result['failed'] is True and result['msg'] == 'cannot read sysctl state: boom'
    assert 'ansible_facts' not in result


def test_keep_also_keeps_the_record_and_the_sysctl_read_with_the_options_it_was_made_with(observed):
    args = {'expected': {'net.ipv4.tcp_tw_reuse': '1'}, 'profile_file': '/etc/sysctl.d/60-harden-tcp.conf',
            'auto_max_tw_buckets': {'per_mib': '16'}, 'keep': True}
    result = make_action(args, observed).run(task_vars={'inventory_hostname': 'web-01'})
    assert not result.get('failed'), result.get('msg')
    facts = result['ansible_facts']
    assert facts['tcp_audit_before'] == facts['tcp_audit_record']
    kept = facts['tcp_audit_sysctl']
    assert kept['sysctl'] == observed['sysctl'] and kept['proc_sys_writable'] == observed['proc_sys_writable']
    assert kept['read']['expected'] == {'net.ipv4.tcp_tw_reuse': '1'}
    assert kept['read']['profile_file'] == '/etc/sysctl.d/60-harden-tcp.conf'
    assert kept['read']['auto_max_tw_buckets'] == {'per_mib': 16, 'minimum': 32768, 'maximum': 1048576}
    # Nothing of the TIME_WAIT counts or nginx: only what tcp_profile plans from.
    assert 'timewait' not in kept and 'nginx_dump' not in kept
    # Without keep, neither fact.
    plain = make_action(dict(args, keep=False), observed).run(task_vars={'inventory_hostname': 'web-01'})
    assert sorted(plain['ansible_facts']) == ['tcp_audit_record']


def test_reuse_takes_an_earlier_record_as_this_audit_without_contacting_the_host(observed):
    before = make_action({'expected': {'net.ipv4.tcp_tw_reuse': '1'}}, observed).run(
        task_vars={'inventory_hostname': 'web-01'})['ansible_facts']['tcp_audit_record']
    plugin = make_action({'phase': 'after', 'reuse': before}, observed)
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert not result.get('failed'), result.get('msg')
    assert result['ansible_facts']['tcp_audit_record'] == dict(before, phase='after')
    plugin._execute_module.assert_not_called()

    refused = make_action({'phase': 'after', 'reuse': {'host': 'web-01'}}, observed).run(task_vars={})
    assert refused['failed'] and 'reuse must be a tcp_audit_record' in refused['msg']
    other = make_action({'phase': 'after', 'reuse': before}, observed).run(task_vars={'inventory_hostname': 'web-02'})
    assert other['failed'] and other['msg'] == ('tcp_audit_info: reuse is the record of web-01, not of this host '
                                                '(web-02)')


def rendered_task_args(role, inventory):
    """The module arguments of a role's one task, templated by Ansible over the roles' defaults and ``inventory``
    (tcp_audit's defaults follow tcp_profile's variables, as in a play that runs both)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    loader = DataLoader()
    variables = {}
    for path in ('roles/tcp_profile/defaults/main.yml', 'roles/tcp_audit/defaults/main.yml',
                 'roles/tcp_audit/vars/main.yml'):
        variables.update(loader.load_from_file(os.path.join(ROOT, path), trusted_as_template=True))
    variables.update(inventory)
    task = loader.load_from_file(os.path.join(ROOT, 'roles', role, 'tasks/main.yml'), trusted_as_template=True)[0]
    module = [name for name in task if name.startswith('harden_tcp.tcp.')][0]
    variables.update(task.get('vars') or {})
    return dict((name, value) for name, value in Templar(loader=loader, variables=variables).template(
        task[module]).items() if value is not None)


@pytest.mark.parametrize('inventory, usable', [
    ({}, True),
    ({'tcp_profile_max_tw_buckets': 65536, 'tcp_profile_tw_reuse': 2}, True),   # both roles follow the profile
    ({'tcp_audit_expected_max_tw_buckets': 65536}, False),                      # an audit that expects otherwise
])
def test_the_read_harden_keeps_is_the_one_tcp_profile_takes(observed, inventory, usable):
    """roles/tcp_audit's task as Ansible templates it, kept, then offered to roles/tcp_profile's task."""
    from ansible_collections.harden_tcp.tcp.plugins.action import tcp_profile as profile_action
    from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_profile as tp
    audit_args = rendered_task_args('tcp_audit', dict(inventory, tcp_audit_keep=True))
    kept = make_action(audit_args, observed).run(
        task_vars={'inventory_hostname': 'web-01'})['ansible_facts']['tcp_audit_sysctl']
    options, error = profile_action.validate(rendered_task_args('tcp_profile', inventory))
    assert error is None

    usable_read = tp.usable_read(kept, tp.profile_read(options))
    assert (usable_read is not None) is usable
    if usable:  # narrowed to the profile's keys (the audit also reads ip_local_port_range)
        assert sorted(usable_read['sysctl']) == sorted(tp.KEYS) and 'net.ipv4.ip_local_port_range' in kept['sysctl']
