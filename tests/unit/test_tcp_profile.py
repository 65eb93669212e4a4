"""tcp_profile's filters, and the one-source-of-truth link between tcp_audit and tcp_profile defaults."""

import os
import re

import pytest
import yaml
from ansible_collections.harden_tcp.tcp.plugins.module_utils.tcp_profile import profile_drift, profile_values
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import profile as tp

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def _yaml(path):
    with open(os.path.join(REPO, path)) as handle:
        return yaml.safe_load(handle)


def test_expected_values_only_for_present_keys_and_recycle_forced_off():
    entries = {
        'net.ipv4.tcp_tw_reuse': {'present': True, 'expected': '1'},
        'net.ipv4.tcp_tw_recycle': {'present': True, 'expected': '1'},
        'net.ipv4.tcp_max_tw_buckets': {'present': True, 'expected': 262144},
        'net.ipv4.tcp_timestamps': {'present': False, 'expected': '1'},
        'net.ipv4.ip_local_port_range': {'present': True, 'expected': None},
    }
    assert profile_values(entries) == {
        'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_tw_recycle': '0', 'net.ipv4.tcp_max_tw_buckets': '262144'}


def test_recycle_is_never_written_where_the_key_is_absent():
    entries = {'net.ipv4.tcp_tw_recycle': {'present': False, 'expected': '0'}}
    assert profile_values(entries) == {}


def test_drift_lists_only_keys_that_differ():
    values = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_max_tw_buckets': '262144'}
    entries = {'net.ipv4.tcp_tw_reuse': {'runtime': '0'}, 'net.ipv4.tcp_max_tw_buckets': {'runtime': '262144'}}
    assert profile_drift(values, entries) == ['net.ipv4.tcp_tw_reuse=1']


SOUND = {'tw_reuse': 1, 'timestamps': 1, 'max_tw_buckets': 'auto', 'per_mib': 16, 'minimum': 32768,
         'maximum': 1048576, 'sysctl_file': '/etc/sysctl.d/60-harden-tcp.conf'}
RANGE = [4096, 4194304]


def test_the_role_defaults_pass_the_check():
    defaults = _yaml('roles/tcp_profile/defaults/main.yml')
    settings = {'tw_reuse': defaults['tcp_profile_tw_reuse'], 'timestamps': defaults['tcp_profile_timestamps'],
                'max_tw_buckets': defaults['tcp_profile_max_tw_buckets'],
                'per_mib': defaults['tcp_profile_max_tw_buckets_per_mib'],
                'minimum': defaults['tcp_profile_max_tw_buckets_min'],
                'maximum': defaults['tcp_profile_max_tw_buckets_max'],
                'sysctl_file': defaults['tcp_profile_sysctl_file']}
    assert tp.tcp_profile_check(settings) == []


@pytest.mark.parametrize('change, named', [
    ({'timestamps': 0}, 'tcp_profile_timestamps is 0 while tcp_profile_tw_reuse is 1'),
    ({'tw_reuse': 2, 'timestamps': 0}, 'tcp_profile_timestamps is 0 while tcp_profile_tw_reuse is 2'),
    ({'max_tw_buckets': 100}, 'tcp_profile_max_tw_buckets is 100; allowed values: auto, or an integer from 4096'),
    ({'max_tw_buckets': 4194305}, 'tcp_profile_max_tw_buckets is 4194305;'),
    ({'max_tw_buckets': 'many'}, 'tcp_profile_max_tw_buckets is "many";'),
    ({'max_tw_buckets': 8192.0}, 'tcp_profile_max_tw_buckets is 8192.0;'),
    ({'max_tw_buckets': True}, 'tcp_profile_max_tw_buckets is true;'),
    ({'per_mib': 0}, 'tcp_profile_max_tw_buckets_per_mib must be at least 1'),
    ({'minimum': 2048}, '(got per_mib=16, min=2048, max=1048576)'),
    ({'minimum': 65536, 'maximum': 32768}, '(got per_mib=16, min=65536, max=32768)'),
    ({'maximum': 8388608}, 'max=8388608)'),
    ({'sysctl_file': 'sysctl.d/60-harden-tcp.conf'}, 'tcp_profile_sysctl_file is "sysctl.d/60-harden-tcp.conf"'),
    ({'sysctl_file': '/etc/60-harden-tcp.conf'}, 'tcp_profile_sysctl_file is "/etc/60-harden-tcp.conf"'),
    ({'sysctl_file': '/etc/sysctl.d/60-harden-tcp.txt'}, 'must be an absolute path directly in /etc/sysctl.d/'),
    ({'sysctl_file': '/etc/sysctl.d/a..b.conf'}, 'tcp_profile_sysctl_file is "/etc/sysctl.d/a..b.conf"'),
    ({'sysctl_file': 60}, 'tcp_profile_sysctl_file is "60"'),
])
def test_the_check_names_each_bad_setting_once(change, named):
    problems = tp.tcp_profile_check(dict(SOUND, **change), RANGE)
    assert len(problems) == 1 and named in problems[0], problems


@pytest.mark.parametrize('buckets', ['auto', 4096, 4194304, '262144', 262144])
def test_the_check_accepts_auto_and_integers_in_range(buckets):
    assert tp.tcp_profile_check(dict(SOUND, max_tw_buckets=buckets), RANGE) == []


def test_the_check_names_every_problem_at_once():
    bad = dict(SOUND, timestamps=0, max_tw_buckets=1, per_mib=0, sysctl_file='/tmp/x.conf')
    assert [problem.split(' ')[0] for problem in tp.tcp_profile_check(bad, RANGE)] == [
        'tcp_profile_timestamps', 'tcp_profile_max_tw_buckets', 'tcp_profile_max_tw_buckets_per_mib',
        'tcp_profile_sysctl_file']


def test_audit_expectations_fall_back_to_the_profile_defaults():
    """tcp_audit's literal fallbacks must equal tcp_profile's defaults (one source of truth)."""
    audit = _yaml('roles/tcp_audit/defaults/main.yml')
    profile = _yaml('roles/tcp_profile/defaults/main.yml')
    pairs = {
        'tcp_audit_expected_tw_reuse': 'tcp_profile_tw_reuse',
        'tcp_audit_expected_timestamps': 'tcp_profile_timestamps',
        'tcp_audit_expected_max_tw_buckets': 'tcp_profile_max_tw_buckets',
        'tcp_audit_auto_per_mib': 'tcp_profile_max_tw_buckets_per_mib',
        'tcp_audit_auto_min': 'tcp_profile_max_tw_buckets_min',
        'tcp_audit_auto_max': 'tcp_profile_max_tw_buckets_max',
        'tcp_audit_profile_file': 'tcp_profile_sysctl_file',
    }
    for audit_var, profile_var in pairs.items():
        match = re.match(r"^\{\{ (\w+) \| default\((.+)\) \}\}$", audit[audit_var])
        assert match, audit_var
        assert match.group(1) == profile_var
        assert yaml.safe_load(match.group(2)) == profile[profile_var], audit_var


def test_module_utils_auto_defaults_match_the_role_defaults():
    from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl as ts
    profile = _yaml('roles/tcp_profile/defaults/main.yml')
    assert (ts.AUTO_PER_MIB, ts.AUTO_MIN, ts.AUTO_MAX) == (
        profile['tcp_profile_max_tw_buckets_per_mib'], profile['tcp_profile_max_tw_buckets_min'],
        profile['tcp_profile_max_tw_buckets_max'])


def test_argument_specs_refuse_bad_values():
    spec = _yaml('roles/tcp_profile/meta/argument_specs.yml')['argument_specs']
    for entry_point in ('main',):
        options = spec[entry_point]['options']
        assert options['tcp_profile_tw_reuse']['choices'] == [0, 1, 2]
        assert options['tcp_profile_timestamps']['type'] == 'int'
        assert 'tcp_tw_recycle' not in ' '.join(options)
