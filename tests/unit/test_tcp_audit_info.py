"""plugins/modules/tcp_audit_info.py: the audit's one remote call combines the two cores and nginx's own dump."""

import json
import os
import stat

import pytest

from ansible.module_utils import basic
from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl, tcp_timewait
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_audit_info
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import nginx_audit

FAKE_NGINX = '''#!/bin/sh
# Stands in for nginx: the version on stderr, then the configuration on stdout.
echo "nginx version: nginx/1.22.1" >&2
[ "$*" = "-v -T -q" ] || { echo "unexpected arguments: $*" >&2; exit 64; }
printf '# configuration file /etc/nginx/nginx.conf:\\nevents {}\\n'
'''


@pytest.fixture
def module():
    return tcp_audit_info


@pytest.fixture
def fake_nginx(tmp_path, monkeypatch):
    binary = tmp_path / 'nginx'
    binary.write_text(FAKE_NGINX)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: str(binary) if name == 'nginx' else None)
    return str(binary)


def test_one_call_returns_sysctl_timewait_and_the_nginx_dump(module, run_module, fake_nginx):
    kind, result = run_module(module.main, {'expected': {'net.ipv4.tcp_tw_reuse': '1'}, 'top_n': 3})
    assert kind == 'exit' and result['changed'] is False
    # The sysctl part is what tcp_sysctl_info would return for the same keys.
    assert set(result['sysctl']) == set(tcp_sysctl.PROFILE_KEYS)
    assert result['sysctl']['net.ipv4.tcp_tw_reuse']['expected'] == '1'
    assert result['kernel']['release'] == os.uname().release
    # The TIME_WAIT part is tcp_timewait_info's dictionary.
    assert result['timewait']['method'] in tcp_timewait.METHODS
    assert result['timewait']['kernel'] == os.uname().release
    assert len(result['timewait']['by_remote']) <= 3
    assert result['nginx_dump'] == {'binary': fake_nginx, 'rc': 0,
                                    'stdout': '# configuration file /etc/nginx/nginx.conf:\nevents {}\n',
                                    'stderr': 'nginx version: nginx/1.22.1\n'}


def test_nginx_off_or_absent(module, run_module, monkeypatch):
    kind, result = run_module(module.main, {'nginx': False})
    assert kind == 'exit' and result['nginx_dump'] == {'skipped': True}
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path', lambda self, name, required=False, opt_dirs=None: None)
    kind, result = run_module(module.main, {})
    assert kind == 'exit' and result['nginx_dump'] == {'binary': None}


@pytest.mark.parametrize('args, message', [
    ({'top_n': -1}, 'top_n must be 0 (keep all entries) or a positive integer, got -1'),
    ({'timewait_method': 'ss'}, 'value of timewait_method must be one of: auto, netlink, procfs, got: ss'),
])
def test_bad_arguments_fail_with_a_sentence(module, run_module, args, message):
    kind, result = run_module(module.main, args)
    assert kind == 'fail'
    assert message in result['msg']


LATIN1_NGINX = '''#!/bin/sh
# nginx prints files byte for byte: a comment saved in Latin-1 is not UTF-8.
printf 'nginx version: nginx/1.22.1\\n' >&2
printf '# configuration file /etc/nginx/nginx.conf:\\n# caf\\351 cr\\350me\\nevents {}\\nhttp {\\n    upstream app { server 10.0.0.1; }\\n}\\n\\n'
printf 'stderr byte \\377\\n' >&2
'''


def test_non_utf8_nginx_output_does_not_lose_the_host(module, run_module, tmp_path, monkeypatch):
    binary = tmp_path / 'nginx'
    binary.write_text(LATIN1_NGINX)
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, required=False, opt_dirs=None: str(binary) if name == 'nginx' else None)
    kind, result = run_module(module.main, {})
    assert kind == 'exit'
    assert result['sysctl'] and result['timewait']['method'] in tcp_timewait.METHODS
    dump = result['nginx_dump']
    assert dump['rc'] == 0
    assert dump['stdout'].splitlines()[1] == '# caf\ufffd cr\ufffdme'
    assert dump['stderr'] == 'nginx version: nginx/1.22.1\nstderr byte \ufffd\n'
    json.dumps(result)      # what the module prints must serialise
    observed = nginx_audit.nginx_observation(dump)
    assert [(f['id'], f['source']) for f in observed['findings']] == [('TW-NGINX-001', '/etc/nginx/nginx.conf:4')]
