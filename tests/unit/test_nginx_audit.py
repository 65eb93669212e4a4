"""Unit tests for the crossplane-based nginx audit (plugins/plugin_utils/nginx_audit.py).

The fixture dumps are real `nginx -T` output: dump_mixed.txt was produced by
nginx 1.22.1 from the tree in fixtures/nginx/mixed_tree (includes with globs
and a relative path, several servers, nested locations, an `if`, inherited and
overridden proxy_set_header, comments and quoted strings holding ; { } #).
"""
import os

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import catalogue
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import nginx_audit as audit
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import parse_nginx_version

HERE = os.path.dirname(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(HERE, 'fixtures', 'nginx')


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _dump(*files):
    """Build nginx -T text the way nginx prints it: header, content, one extra newline."""
    return ''.join('# configuration file %s:\n%s\n' % (path, content) for path, content in files)


def _ids(findings):
    return sorted((f['id'], f['source']) for f in findings)


MAIN = ('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n')


def test_split_dump_keeps_files_in_order_and_line_numbers():
    files = audit.split_dump(_fixture('dump_mixed.txt'))
    assert list(files) == ['/etc/nginx/nginx.conf', '/etc/nginx/conf.d/upstreams.conf',
                           '/etc/nginx/sites-enabled/api', '/etc/nginx/snippets/keepalive.conf',
                           '/etc/nginx/sites-enabled/shop']
    with open(os.path.join(FIXTURES, 'mixed_tree', 'etc', 'nginx', 'sites-enabled', 'shop')) as handle:
        original = handle.read()
    # nginx appends one newline after each file; every line keeps its number.
    assert files['/etc/nginx/sites-enabled/shop'].splitlines() == original.splitlines() + ['']


def test_mixed_config_on_1_22():
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1')
    assert _ids(findings) == [
        ('TW-NGINX-001', '/etc/nginx/conf.d/upstreams.conf:9'),     # upstream legacy, no keepalive
        ('TW-NGINX-002', '/etc/nginx/sites-enabled/api:6'),         # server-level proxy_http_version 1.0
        ('TW-NGINX-003', '/etc/nginx/sites-enabled/api:15'),        # nested location: Connection "upgrade"
        ('TW-NGINX-003', '/etc/nginx/sites-enabled/shop:12'),       # one header dropped the inherited Connection ""
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/shop:20'),       # proxy_pass to 127.0.0.1:8081
        ('TW-NGINX-005', '/etc/nginx/conf.d/upstreams.conf:16'),    # keepalive_requests 100
    ]


def test_override_detail_names_both_levels():
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1')
    shop = [f for f in findings if f['source'] == '/etc/nginx/sites-enabled/shop:12'][0]
    assert 'Connection: close' in shop['detail']
    assert '/etc/nginx/sites-enabled/shop:11' in shop['detail']
    assert '/etc/nginx/nginx.conf:14' in shop['detail']
    snippet = [f for f in findings if f['source'] == '/etc/nginx/sites-enabled/api:15'][0]
    assert '/etc/nginx/snippets/keepalive.conf:2' in snippet['detail']


def test_finding_shape_and_catalogue():
    for finding in audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1'):
        assert set(finding) == {'id', 'severity', 'title', 'detail', 'remediation', 'source'}
        assert finding['severity'] == catalogue.CATALOGUE[finding['id']]['severity']
        assert finding['severity'] in ('critical', 'high', 'medium', 'low', 'info')


def test_mixed_config_on_1_29_7_uses_new_defaults():
    # keepalive, HTTP/1.1 and no "Connection: close" are defaults: only explicit mistakes remain.
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.29.7')
    assert _ids(findings) == [
        ('TW-NGINX-002', '/etc/nginx/sites-enabled/api:6'),
        ('TW-NGINX-003', '/etc/nginx/sites-enabled/api:15'),
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/shop:20'),
        ('TW-NGINX-005', '/etc/nginx/conf.d/upstreams.conf:16'),
    ]


def test_debian_default_config_has_no_findings():
    assert audit.audit_nginx(_fixture('dump_debian12_default.txt'), '1.22.1') == []


def test_keepalive_without_proxy_settings():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n}\n'
                        'server {\n    listen 80;\n    location / {\n        proxy_pass http://app;\n    }\n}\n'))
    assert _ids(audit.audit_nginx(dump, '1.22.1')) == [
        ('TW-NGINX-002', '/etc/nginx/conf.d/app.conf:8'),
        ('TW-NGINX-003', '/etc/nginx/conf.d/app.conf:8'),
    ]
    assert audit.audit_nginx(dump, '1.29.7') == []


def test_upstream_without_keepalive_depends_on_version():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n}\n'
                        'server {\n    location / {\n        proxy_pass http://app;\n    }\n}\n'))
    assert _ids(audit.audit_nginx(dump, '1.26.3')) == [('TW-NGINX-001', '/etc/nginx/conf.d/app.conf:1')]
    assert audit.audit_nginx(dump, '1.29.7') == []


def test_keepalive_zero_is_reported_on_new_versions():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf', 'upstream app {\n    server 10.0.0.1:80;\n    keepalive 0;\n}\n'))
    findings = audit.audit_nginx(dump, '1.29.7')
    assert _ids(findings) == [('TW-NGINX-001', '/etc/nginx/conf.d/app.conf:3')]


@pytest.mark.parametrize('version, expected', [('1.18.0', True), ('1.22.1', False), (None, True)])
def test_default_keepalive_requests_changed_in_1_19_10(version, expected):
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n}\n'))
    findings = audit.audit_nginx(dump, version)
    assert (_ids(findings) == [('TW-NGINX-005', '/etc/nginx/conf.d/app.conf:1')]) is expected


def test_threshold_is_configurable():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n    keepalive_requests 5000;\n}\n'))
    assert audit.audit_nginx(dump, '1.22.1', 1000) == []
    assert _ids(audit.audit_nginx(dump, '1.22.1', 10000)) == [('TW-NGINX-005', '/etc/nginx/conf.d/app.conf:4')]


def test_variables_unix_sockets_and_ports():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n    keepalive_requests 2000;\n}\n'
                        'server {\n'
                        '    proxy_http_version 1.1;\n'
                        '    proxy_set_header Connection "";\n'
                        '    location /a { proxy_pass http://$host$request_uri; }\n'      # variable: skipped
                        '    location /b { proxy_pass http://unix:/run/app.sock:/; }\n'  # literal socket
                        '    location /c { proxy_pass https://app$request_uri; }\n'       # upstream with variable path
                        '    location /d { proxy_pass http://backend.example.com:8080; }\n'  # literal host name
                        '}\n'))
    assert _ids(audit.audit_nginx(dump, '1.22.1')) == [
        ('TW-NGINX-004', '/etc/nginx/conf.d/app.conf:10'),
        ('TW-NGINX-004', '/etc/nginx/conf.d/app.conf:12'),
    ]


def test_stream_upstreams_are_ignored():
    dump = _dump(('/etc/nginx/nginx.conf',
                  'events {}\nstream {\n    upstream db {\n        server 10.0.0.5:5432;\n    }\n'
                  '    server {\n        listen 5432;\n        proxy_pass db;\n    }\n}\n'))
    assert audit.audit_nginx(dump, '1.22.1') == []


def test_lower_proxy_set_header_without_connection_on_new_version_is_fine():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/app.conf',
                        'upstream app {\n    server 10.0.0.1:80;\n}\n'
                        'server {\n    location / {\n        proxy_set_header Host $host;\n'
                        '        proxy_pass http://app;\n    }\n}\n'))
    assert audit.audit_nginx(dump, '1.29.7') == []
    assert ('TW-NGINX-003', '/etc/nginx/conf.d/app.conf:7') not in _ids(audit.audit_nginx(dump, '1.29.7'))


def test_unparseable_file_is_reported_not_raised():
    dump = _dump(MAIN, ('/etc/nginx/conf.d/broken.conf', 'upstream app {\n    server 10.0.0.1:80;\n'))
    findings = audit.audit_nginx(dump, '1.22.1')
    assert [f['id'] for f in findings] == ['TW-NGINX-006']
    assert findings[0]['source'].startswith('/etc/nginx/conf.d/broken.conf')
    assert 'harden-tcp-nginx-audit' not in findings[0]['detail']


def test_empty_dump():
    assert [f['id'] for f in audit.audit_nginx('', '1.22.1')] == ['TW-NGINX-006']


def test_include_cycle_does_not_loop():
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /etc/nginx/a.conf;\n}\n'),
                 ('/etc/nginx/a.conf', 'include /etc/nginx/a.conf;\nupstream app { server 10.0.0.1; }\n'))
    assert _ids(audit.audit_nginx(dump, '1.22.1')) == [('TW-NGINX-001', '/etc/nginx/a.conf:2')]


def test_glob_does_not_cross_directories():
    config = audit._Config({'/etc/nginx/conf.d/a.conf': '', '/etc/nginx/conf.d/sub/b.conf': '',
                            '/etc/nginx/conf.d/c.conf': ''}, '/nonexistent')
    assert config.resolve_include('/etc/nginx/conf.d/*.conf', '/etc/nginx') == [
        '/etc/nginx/conf.d/a.conf', '/etc/nginx/conf.d/c.conf']
    assert config.resolve_include('conf.d/a.conf', '/etc/nginx') == ['/etc/nginx/conf.d/a.conf']


@pytest.mark.parametrize('text, version', [
    ('nginx version: nginx/1.22.1\n', '1.22.1'),
    ('nginx version: nginx/1.29.7 (Ubuntu)', '1.29.7'),
    ('command not found', None),
])
def test_parse_nginx_version(text, version):
    assert parse_nginx_version(text) == version


def test_observation_of_a_host_without_nginx_or_with_the_audit_off():
    no_binary = {'rc': 2, 'failed': True, 'stdout': '', 'stderr': '',
                 'msg': "[Errno 2] No such file or directory: b'nginx'"}
    assert audit.nginx_observation(no_binary) == {'present': False, 'version': None, 'findings': []}
    assert audit.nginx_observation({'skipped': True, 'changed': False}) == {
        'present': False, 'version': None, 'findings': []}


def test_observation_judges_the_dump_with_the_version_from_stderr():
    result = {'rc': 0, 'stdout': _fixture('dump_mixed.txt'), 'stderr': 'nginx version: nginx/1.22.1\n'}
    observed = audit.nginx_observation(result, 1000)
    assert observed['present'] is True and observed['version'] == '1.22.1'
    assert observed['findings'] == audit.audit_nginx(result['stdout'], '1.22.1', 1000)
    assert observed['findings']


def test_observation_of_a_configuration_nginx_rejects():
    stderr = 'nginx version: nginx/1.18.0\nnginx: [emerg] unknown directive "kepalive" in /etc/nginx/conf.d/x.conf:3\n'
    result = {'rc': 1, 'stdout': '', 'stderr': stderr}
    observed = audit.nginx_observation(result)
    assert observed['version'] == '1.18.0'
    assert [f['id'] for f in observed['findings']] == ['TW-NGINX-006']
    assert 'unknown directive "kepalive"' in observed['findings'][0]['detail']


def test_host_printed_paths_never_decide_where_the_controller_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(audit.tempfile, 'mkdtemp', lambda prefix='': str(tmp_path / 'work'))
    (tmp_path / 'work').mkdir()
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /../../escape.conf;\n}\n'),
                 ('/../../escape.conf', 'upstream app { server 10.0.0.1; }\n'))
    findings = audit.audit_nginx(dump, '1.22.1')
    assert _ids(findings) == [('TW-NGINX-001', '/../../escape.conf:1')]
    assert not (tmp_path / 'escape.conf').exists()
