"""tcp_profile in one task: the action plugin plans and renders, the module changes the host under the lock.

The action's remote calls are patched (_execute_module) with answers shaped as
the host gives them; the module part runs for real in this process against a
scratch drop-in directory and snapshot directory, with `sysctl -w` recorded
instead of run (this machine's /proc/sys is not the test's to change).
Molecule (profile, default, transaction, fleet) runs both halves on real hosts.
"""

import copy
import os
from unittest import mock

import pytest
import yaml

from ansible.module_utils import basic
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible_collections.harden_tcp.tcp.plugins.action import tcp_profile as action
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_profile as tp
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_snapshot as snapshot
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_sysctl import file_state
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_profile as module

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DROP_IN = '/etc/sysctl.d/60-harden-tcp.conf'
CONTENT = 'net.ipv4.tcp_tw_reuse = 1\n'
VALUES = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_max_tw_buckets': '262144'}


def _yaml(relative):
    with open(os.path.join(ROOT, relative)) as handle:
        return yaml.safe_load(handle)


def entry(runtime, expected, present=True, writable=True):
    return {'present': present, 'runtime': runtime, 'writable': writable, 'expected': expected}


def observation(runtime=None, states=None, own_files=(), winning=None, writable=True, rivals=(), read=None):
    """A read of a host as tcp_sysctl_info returns it (the parts the profile uses)."""
    runtime = dict(VALUES, **(runtime or {}))
    observed = {
        'sysctl': dict((key, entry(runtime[key], VALUES[key])) for key in VALUES),
        'proc_sys_writable': writable,
        'container': 'docker',
        'memtotal_mb': 16384,
        'profile': {'file': DROP_IN, 'winning_file': winning or DROP_IN, 'own_files': list(own_files),
                    'rivals': list(rivals), 'unbeaten': {}, 'states': states if states is not None else {}},
    }
    observed['sysctl']['net.ipv4.tcp_tw_recycle'] = entry(None, '0', present=False)
    if read is not None:
        observed['read'] = read
    return observed


def converged_states(path=DROP_IN, content=CONTENT):
    return {path: {'state': 'file', 'sha256': tp.content_digest(content), 'mode': '0644', 'uid': 0, 'gid': 0}}


def make_action(args, answers, check_mode=False):
    task = mock.MagicMock(args=args, async_val=0, check_mode=check_mode, action='harden_tcp.tcp.tcp_profile')
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    plugin = action.ActionModule(task, connection, mock.MagicMock(), mock.MagicMock(), mock.MagicMock())
    plugin._execute_module = mock.MagicMock(side_effect=[copy.deepcopy(answer) for answer in answers])
    plugin._render = mock.MagicMock(return_value=CONTENT)
    return plugin


ARGS = {'max_tw_buckets': 262144}
DEFAULTS = dict((name, spec.get('default')) for name, spec in tp.ARGUMENT_SPEC.items())


def test_a_converged_host_is_not_contacted_again():
    plugin = make_action(ARGS, [observation(states=converged_states())])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert not result.get('failed'), result.get('msg')
    assert (result['changed'], result['applied'], result['file'], result['values']) == (False, True, DROP_IN, VALUES)
    # One call: the read. Nothing to change, so no second one.
    assert [call.kwargs['module_name'] for call in plugin._execute_module.call_args_list] == [action.READ_MODULE]


def test_the_audit_read_stands_in_for_the_profile_read_when_it_was_made_with_the_same_options():
    read = tp.profile_read(dict(DEFAULTS, max_tw_buckets=262144))
    plugin = make_action(dict(ARGS, observed=observation(states=converged_states(), read=read)), [])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert not result.get('failed'), result.get('msg')
    assert not result['changed']
    plugin._execute_module.assert_not_called()


@pytest.mark.parametrize('change', [
    {'expected': dict(tp.profile_read(dict(DEFAULTS, max_tw_buckets=262144))['expected'],
                      **{'net.ipv4.tcp_max_tw_buckets': 'auto'})},  # the audit expected another bucket count
    {'expected': dict(tp.profile_read(dict(DEFAULTS, max_tw_buckets=262144))['expected'],
                      **{'net.ipv4.tcp_tw_reuse': '2'})},           # ... or another tcp_tw_reuse
    {'profile_file': '/etc/sysctl.d/70-other.conf'},             # another drop-in
    {'keys': ['net.ipv4.tcp_tw_reuse']},                         # not every profile key
    {'auto_max_tw_buckets': {'per_mib': 8, 'minimum': 32768, 'maximum': 1048576}},
])
def test_an_audit_read_made_with_other_options_is_not_used(change):
    read = dict(tp.profile_read(dict(DEFAULTS, max_tw_buckets=262144)), **change)
    plugin = make_action(dict(ARGS, observed=observation(states=converged_states(), read=read)),
                         [observation(states=converged_states())])
    plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert [call.kwargs['module_name'] for call in plugin._execute_module.call_args_list] == [action.READ_MODULE]


def test_a_drifted_host_is_changed_in_one_call_with_the_plan_and_the_rendered_drop_in():
    applied = {'changed': True, 'written': False, 'removed': [], 'drift': ['net.ipv4.tcp_tw_reuse=1'], 'waited': 0.0}
    plugin = make_action(ARGS, [observation(runtime={'net.ipv4.tcp_tw_reuse': '2'}, states=converged_states()),
                                applied])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert not result.get('failed'), result.get('msg')
    assert (result['changed'], result['drift'], result['waited']) == (True, ['net.ipv4.tcp_tw_reuse=1'], 0.0)
    call = plugin._execute_module.call_args_list[1].kwargs
    assert call['module_name'] == action.APPLY_MODULE
    assert call['module_args']['_content'] == CONTENT
    assert call['module_args']['_plan'] == {'values': VALUES, 'file': DROP_IN, 'stale': [], 'readonly': False,
                                            'sizable': True, 'memtotal_mb': 16384}
    assert 'observed' not in call['module_args'] and 'template' not in call['module_args']


def test_a_host_that_changed_before_the_lock_is_planned_again_from_the_fresh_read():
    renamed = '/etc/sysctl.d/zz-harden-tcp.conf'
    fresh = observation(runtime={'net.ipv4.tcp_tw_reuse': '0'}, winning=renamed, own_files=[DROP_IN],
                        states=dict(converged_states(), **{renamed: {'state': 'absent'}}))
    applied = {'changed': True, 'written': True, 'removed': [DROP_IN], 'drift': [], 'waited': 0.5}
    plugin = make_action(dict(ARGS, fix_conflicts=True),
                         [observation(runtime={'net.ipv4.tcp_tw_reuse': '0'}),
                          {'changed': False, 'replan': True, 'observed': fresh, 'waited': 2.0}, applied])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert not result.get('failed'), result.get('msg')
    assert result['waited'] == 2.5  # a wait is reported, so harden-tcp.yml audits again
    assert (result['file'], result['conflicts_fixed']) == (renamed, True)
    second_plan = plugin._execute_module.call_args_list[2].kwargs['module_args']['_plan']
    assert (second_plan['file'], second_plan['stale']) == (renamed, [DROP_IN])


def test_a_host_that_keeps_changing_fails_after_three_plans():
    drifted = observation(runtime={'net.ipv4.tcp_tw_reuse': '0'})
    replan = {'changed': False, 'replan': True, 'observed': drifted, 'waited': 0}
    plugin = make_action(ARGS, [drifted, replan, replan, replan])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert result['failed']
    assert result['msg'] == ('the sysctl state of web-01 changed under this run 3 times in a row (another run or tool '
                             'keeps changing it); nothing was changed by this run.')


@pytest.mark.parametrize('args, named', [
    ({'tw_reuse': 3}, 'tcp_profile_tw_reuse'),
    ({'tw_reuse': 'lots'}, 'tcp_profile_tw_reuse'),
    ({'timestamps': 0}, 'tcp_profile_timestamps is 0 while tcp_profile_tw_reuse is 1'),
    ({'max_tw_buckets': 100}, 'tcp_profile_max_tw_buckets is 100'),
    ({'max_tw_buckets': 'many'}, 'tcp_profile_max_tw_buckets is "many"'),
    ({'sysctl_file': 'sysctl.d/60-harden-tcp.conf'}, 'tcp_profile_sysctl_file'),
    ({'sysctl_file': '/etc/60-harden-tcp.conf'}, 'tcp_profile_sysctl_file'),
    ({'max_tw_buckets_min': 10}, 'tcp_profile_max_tw_buckets_min'),
    ({'lock_wait': 'soon'}, 'tcp_snapshot_lock_wait'),
    ({'lock_wait': -1}, 'tcp_snapshot_lock_wait is -1'),
])
def test_bad_settings_are_refused_naming_the_variable_before_the_host_is_contacted(args, named):
    plugin = make_action(args, [])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert result['failed'] and named in result['msg'], result['msg']
    plugin._execute_module.assert_not_called()


def test_a_read_only_proc_sys_fails_the_host_or_with_strict_false_is_skipped_with_a_finding():
    readonly = observation(runtime={'net.ipv4.tcp_tw_reuse': '2'}, writable=False)
    strict = make_action(ARGS, [readonly]).run(task_vars={'inventory_hostname': 'web-01'})
    assert strict['failed']
    assert strict['msg'].startswith('/proc/sys is read-only on web-01 (docker container): the TCP profile cannot be '
                                    'applied in this network namespace and nothing was changed.')

    plugin = make_action(dict(ARGS, strict=False), [readonly])
    skipped = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert not skipped.get('failed')
    assert (skipped['applied'], skipped['readonly'], skipped['changed']) == (False, True, False)
    assert [finding['id'] for finding in skipped['findings']] == ['TW-SYSCTL-010']
    assert plugin._execute_module.call_count == 1  # the read only


def test_an_unsizable_bucket_count_fails_naming_the_variable():
    unsizable = observation()
    unsizable['sysctl']['net.ipv4.tcp_max_tw_buckets']['expected'] = None
    result = make_action({}, [unsizable]).run(task_vars={'inventory_hostname': 'web-01'})
    assert result['failed']
    assert result['msg'].startswith('tcp_profile_max_tw_buckets is auto but MemTotal could not be read')


def test_rival_settings_are_named_in_a_warning():
    rival = observation(states=converged_states(), rivals=['/etc/sysctl.d/99-zz-conflict.conf'])
    result = make_action(ARGS, [rival]).run(task_vars={'inventory_hostname': 'web-01'})
    assert result['warnings'] == [
        '/etc/sysctl.d/99-zz-conflict.conf set a profile key to another value and beat %s at boot or under sysctl '
        '--system. Set tcp_profile_fix_conflicts: true to rename the drop-in so it wins, or remove those settings.'
        % DROP_IN]


def test_the_default_template_renders_the_planned_values():
    task = mock.MagicMock(args={}, async_val=0, check_mode=False, action='harden_tcp.tcp.tcp_profile')
    loader = DataLoader()
    plugin = action.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader, Templar(loader=loader),
                                 mock.MagicMock())
    template = os.path.join(ROOT, 'roles/tcp_profile/templates/harden-tcp.conf.j2')
    plugin._find_needle = mock.MagicMock(return_value=template)
    planned = tp.plan(observation(), DROP_IN, False)

    content = plugin._render('harden-tcp.conf.j2', {'tcp_profile_max_tw_buckets': 'auto'}, planned, observation())

    settings = [line for line in content.splitlines() if line and not line.startswith('#')]
    assert settings == ['net.ipv4.tcp_timestamps = 1', 'net.ipv4.tcp_tw_reuse = 1',
                        'net.ipv4.tcp_max_tw_buckets = 262144']
    assert '(auto: MemTotal 16384 MiB)' in content and 'tcp_tw_recycle' not in content.replace('# ', '')
    assert content.endswith('262144\n')


# ------------------------------------------------------------------ the module, for real on a scratch tree


@pytest.fixture
def host(tmp_path, monkeypatch, run_module):
    """Run the module with gather() answering from a scratch drop-in directory, sysctl -w recorded."""
    directory = tmp_path / 'sysctl.d'
    directory.mkdir()
    drop_in = str(directory / '60-harden-tcp.conf')
    commands = []
    runtime = {'net.ipv4.tcp_tw_reuse': '2'}

    def gather(keys, expected=None, profile_file=None, auto=None, **_):
        states = dict((path, file_state(path)) for path in [drop_in] + sorted(
            str(directory / name) for name in os.listdir(directory)))
        observed = observation(runtime=runtime, states=states, winning=drop_in,
                               own_files=[path for path in states if os.path.exists(path)])
        observed['profile']['file'] = drop_in
        return observed

    def run_command(self, argv, **_):
        commands.append(argv)
        return (0, '', '') if not failing else (255, '', 'sysctl: permission denied on key "net.ipv4.tcp_tw_reuse"')
    failing = []
    monkeypatch.setattr(module, 'gather', gather)
    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(os, 'chown', lambda path, uid, gid: None)

    def run(**args):
        planned = tp.plan(gather(None), drop_in, False)
        args = dict({'max_tw_buckets': 262144, 'sysctl_file': drop_in, 'snapshot_dir': str(tmp_path / 'snap'),
                     '_plan': planned, '_content': CONTENT}, **args)
        return run_module(module.main, args)
    return {'run': run, 'drop_in': drop_in, 'commands': commands, 'snap': str(tmp_path / 'snap'),
            'runtime': runtime, 'directory': directory, 'failing': failing}


def test_the_module_snapshots_then_writes_the_drop_in_and_the_drifted_keys(host):
    kind, result = host['run']()

    assert kind == 'exit', result
    assert (result['changed'], result['written'], result['drift'], result['waited']) == \
        (True, True, ['net.ipv4.tcp_tw_reuse=1'], 0)
    with open(host['drop_in']) as handle:
        assert handle.read() == CONTENT
    assert oct(os.stat(host['drop_in']).st_mode & 0o777) == '0o644'
    assert host['commands'] == [['sysctl', '-w', 'net.ipv4.tcp_tw_reuse=1']]
    manifest = snapshot.load_manifest(host['snap'])
    assert manifest['files'][host['drop_in']]['state'] == 'absent'
    assert manifest['files'][host['drop_in']]['written'] == {'state': 'present', 'sha256': tp.content_digest(CONTENT)}
    assert manifest['sysctl']['net.ipv4.tcp_tw_reuse']['value'] == '2'


def test_the_module_in_check_mode_says_what_would_change_with_a_diff_and_changes_nothing(host):
    kind, result = host['run'](_ansible_check_mode=True, _ansible_diff=True)

    assert kind == 'exit', result
    assert result['changed'] and result['diff'] == [{'before': '', 'after': CONTENT, 'before_header': host['drop_in'],
                                                     'after_header': host['drop_in']}]
    assert not os.path.exists(host['drop_in']) and not os.path.exists(host['snap'])
    assert host['commands'] == []


def test_the_module_refuses_a_plan_the_fresh_read_does_not_give_and_hands_back_that_read(host):
    stale_plan = {'values': VALUES, 'file': '/etc/sysctl.d/zz-harden-tcp.conf', 'stale': [], 'readonly': False}
    kind, result = host['run'](_plan=stale_plan)

    assert kind == 'exit', result
    assert result['replan'] and not result['changed']
    assert result['observed']['profile']['file'] == host['drop_in']
    assert not os.path.exists(host['drop_in']) and host['commands'] == []


def test_the_module_on_a_converged_host_changes_nothing(host):
    with open(host['drop_in'], 'w') as handle:
        handle.write(CONTENT)
    os.chmod(host['drop_in'], 0o644)
    host['runtime']['net.ipv4.tcp_tw_reuse'] = '1'
    uid = os.getuid()
    if uid != 0:
        pytest.skip('the drop-in must be owned by root to count as converged')
    kind, result = host['run']()

    assert kind == 'exit', result
    assert not result['changed'] and host['commands'] == []
    assert snapshot.load_manifest(host['snap']) is None


def test_the_options_defaults_and_choices_are_the_role_variables():
    """roles/tcp_profile passes each tcp_profile_* variable to the option of the same name: one default each."""
    defaults = _yaml('roles/tcp_profile/defaults/main.yml')
    spec = _yaml('roles/tcp_profile/meta/argument_specs.yml')['argument_specs']['main']['options']
    task = _yaml('roles/tcp_profile/tasks/main.yml')[0]['harden_tcp.tcp.tcp_profile']
    for name, option in tp.ARGUMENT_SPEC.items():
        variable = action.VARIABLES[name]
        if not variable.startswith('tcp_profile_') or variable in ('tcp_profile_lock', 'tcp_profile_observed'):
            continue
        assert option['default'] == defaults[variable] == spec[variable]['default'], name
        assert option.get('choices') == spec[variable].get('choices'), name
        assert task[name] == '{{ %s }}' % variable, name
    snapshot_defaults = _yaml('roles/tcp_snapshot/defaults/main.yml')
    assert tp.ARGUMENT_SPEC['snapshot_dir']['default'] == snapshot_defaults['tcp_snapshot_dir']
    assert tp.ARGUMENT_SPEC['lock_wait']['default'] == snapshot_defaults['tcp_snapshot_lock_wait']


@pytest.mark.parametrize('damage', [
    lambda o: o['profile'].update(states=['not', 'a', 'dict']),
    lambda o: o['profile'].update(states={DROP_IN: 'file'}),
    lambda o: o['profile'].update(rivals=[7], unbeaten='all'),
    lambda o: o['profile'].update(unbeaten=['boot']),
    lambda o: o.update(sysctl=['net.ipv4.tcp_tw_reuse']),
    lambda o: o['sysctl'].update({'net.ipv4.tcp_tw_reuse': None}),
])
def test_a_malformed_host_answer_fails_the_host_with_a_message_not_a_traceback(damage):
    answer = observation(runtime={'net.ipv4.tcp_tw_reuse': '2'}, states=converged_states(), rivals=['/x.conf'])
    damage(answer)
    plugin = make_action(ARGS, [answer])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})

    assert result['failed'] and result['msg'].startswith('cannot plan from what the host returned: '), result
    assert plugin._execute_module.call_count == 1  # the read; nothing was asked to change


def test_validate_only_checks_the_settings_and_contacts_nothing():
    plugin = make_action(dict(ARGS, validate_only=True), [])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert not result.get('failed') and not result['changed']
    plugin._execute_module.assert_not_called()
    refused = make_action({'timestamps': 0, 'validate_only': True}, []).run(task_vars={})
    assert refused['failed'] and 'tcp_profile_timestamps is 0' in refused['msg']


def test_warnings_of_a_first_plan_do_not_survive_a_replan_and_module_warnings_are_kept():
    first = observation(runtime={'net.ipv4.tcp_tw_reuse': '0'}, rivals=['/etc/sysctl.d/99-rival.conf'])
    fresh = observation(runtime={'net.ipv4.tcp_tw_reuse': '0'})
    applied = {'changed': True, 'written': True, 'removed': [], 'drift': [], 'waited': 0,
               'warnings': ['a warning of the module']}
    plugin = make_action(ARGS, [first, {'changed': False, 'replan': True, 'observed': fresh, 'waited': 0}, applied])
    result = plugin.run(task_vars={'inventory_hostname': 'web-01'})
    assert result['warnings'] == ['a warning of the module']


def test_the_rendered_drop_in_is_byte_for_byte_what_ansible_builtin_template_writes(tmp_path):
    """The judge is ansible.builtin.template itself, run by ansible on this machine."""
    import json
    import subprocess
    import sys
    planned = tp.plan(observation(), DROP_IN, False)
    template = os.path.join(ROOT, 'roles/tcp_profile/templates/harden-tcp.conf.j2')
    variables = {'__tcp_profile_values': planned['values'], '__tcp_profile_info': observation(),
                 'tcp_profile_max_tw_buckets': 'auto'}
    extra = tmp_path / 'vars.json'
    extra.write_text(json.dumps(variables))
    dest = tmp_path / 'written.conf'
    ansible = os.path.join(os.path.dirname(sys.executable), 'ansible')
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'))
    subprocess.run([ansible, 'localhost', '-c', 'local', '-i', 'localhost,', '-e', '@%s' % extra,
                    '-e', 'ansible_python_interpreter=%s' % sys.executable,
                    '-m', 'ansible.builtin.template', '-a', 'src=%s dest=%s' % (template, dest)],
                   check=True, capture_output=True, env=env, cwd=ROOT)

    task = mock.MagicMock(args={}, async_val=0, check_mode=False, action='harden_tcp.tcp.tcp_profile')
    loader = DataLoader()
    plugin = action.ActionModule(task, mock.MagicMock(), mock.MagicMock(), loader, Templar(loader=loader),
                                 mock.MagicMock())
    plugin._find_needle = mock.MagicMock(return_value=template)
    rendered = plugin._render('harden-tcp.conf.j2', {'tcp_profile_max_tw_buckets': 'auto'}, planned, observation())

    assert rendered.encode('utf-8') == dest.read_bytes()


def test_the_module_removes_a_stale_drop_in_after_recording_it_and_shows_it_in_the_diff(host):
    stale = host['directory'] / 'zz-harden-tcp.conf'
    stale.write_text('net.ipv4.tcp_tw_reuse = 0\n')
    kind, result = host['run'](_ansible_diff=True)

    assert kind == 'exit', result
    assert result['removed'] == [str(stale)] and not stale.exists()
    assert {'before': 'net.ipv4.tcp_tw_reuse = 0\n', 'after': '', 'before_header': str(stale),
            'after_header': '%s (removed)' % stale} in result['diff']
    manifest = snapshot.load_manifest(host['snap'])
    assert manifest['files'][str(stale)]['state'] == 'present'          # recorded before removal
    assert manifest['files'][str(stale)]['written'] == {'state': 'absent'}


def test_a_failed_sysctl_write_fails_the_host_saying_the_drop_in_changed(host):
    host['failing'].append(True)
    kind, result = host['run']()

    assert kind == 'fail'
    assert result['changed'] and result['written']
    assert result['msg'] == ('sysctl -w net.ipv4.tcp_tw_reuse=1 failed (rc 255): sysctl: permission denied on key '
                             '"net.ipv4.tcp_tw_reuse"')
    assert snapshot.load_manifest(host['snap'])['files'][host['drop_in']]['written']['state'] == 'present'


def test_the_module_inside_a_lock_this_run_holds_does_not_take_it_again(host):
    from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_lock
    lock = tcp_lock.acquire(host['snap'], 0, 60, tag='harden')['lock']
    try:
        kind, result = host['run'](lock=lock, lock_wait=0)
        assert kind == 'exit', result
        assert result['changed'] and result['waited'] == 0
        assert tcp_lock.holder_alive(lock)   # still the play's, released by its unlock task
        # Without it, the module would wait for that lock and give up (lock_wait 0): nothing changes.
        os.unlink(host['drop_in'])
        kind, refused = host['run'](lock_wait=0)
        assert kind == 'fail' and refused['msg'].startswith('another harden-tcp run holds the lock')
        assert not os.path.exists(host['drop_in'])
    finally:
        tcp_lock.release(host['snap'], lock)
