"""Unit tests for the nginx audit's verdicts (plugins/plugin_utils/nginx_audit.py).

dump_mixed.txt is real `nginx -T` output: nginx 1.22.1 printed it for the tree
in fixtures/nginx/mixed_tree (includes with globs and a relative path, several
servers, nested locations, an `if`, inherited and overridden
proxy_set_header, comments and quoted strings holding ; { } #). The other
dumps are built here in the exact format nginx prints (header, bytes, one
newline); tests/unit/test_nginx_corpus.py runs the real-world corpus and the
Molecule scenario nginx_judge checks verdicts against real traffic.
"""
import os

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import catalogue
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import nginx_audit as audit
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import parse_nginx_version

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, 'fixtures', 'nginx')
MAIN = ('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n')
APP = '/etc/nginx/conf.d/app.conf'


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def _dump(*files):
    """nginx -T text the way nginx prints it: header, content, one extra newline."""
    return ''.join('# configuration file %s:\n%s\n' % (path, content) for path, content in files)


def _ids(findings):
    return sorted((f['id'], f['source']) for f in findings)


def _app(text, version='1.22.1', **kwargs):
    """Audit one conf.d file under the Debian-like main file."""
    return audit.audit_nginx(_dump(MAIN, (APP, text)), version, **kwargs)


def _only(findings, finding_id):
    found = [f for f in findings if f['id'] == finding_id]
    assert len(found) == 1, findings
    return found[0]


UPSTREAM = 'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n}\n'           # lines 1-4


def _location(*lines, server=(), upstream=UPSTREAM):
    """An app.conf whose proxy_pass sits on line len(upstream lines) + len(server) + 3 + len(lines)."""
    body = ''.join('        %s\n' % line for line in lines)
    head = ''.join('    %s\n' % line for line in server)
    return upstream + 'server {\n' + head + '    location / {\n' + body + '    }\n}\n'


def _pass_line(*lines, server=(), upstream=UPSTREAM):
    position = [index for index, line in enumerate(lines) if '_pass ' in line][0]
    return '%s:%d' % (APP, upstream.count('\n') + len(server) + 2 + position + 1)


# -- the recorded fixture -------------------------------------------------------

def test_mixed_config_on_1_22():
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1')
    assert _ids(findings) == [
        ('TW-NGINX-001', '/etc/nginx/conf.d/upstreams.conf:9'),     # upstream legacy, no keepalive
        ('TW-NGINX-002', '/etc/nginx/sites-enabled/api:6'),         # server-level proxy_http_version 1.0
        ('TW-NGINX-003', '/etc/nginx/sites-enabled/shop:12'),       # one header dropped the inherited Connection ""
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/shop:20'),       # proxy_pass to 127.0.0.1:8081
        ('TW-NGINX-005', '/etc/nginx/conf.d/upstreams.conf:16'),    # keepalive_requests 100
        ('TW-NGINX-007', '/etc/nginx/sites-enabled/shop:25'),       # proxy_pass http://$backend
    ]   # api:15 sends "Connection: upgrade": an HTTP/1.1 backend keeps that connection


def test_override_detail_names_both_levels():
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1')
    shop = [f for f in findings if f['source'] == '/etc/nginx/sites-enabled/shop:12'][0]
    assert 'Connection: close' in shop['detail']
    assert '/etc/nginx/sites-enabled/shop:11' in shop['detail']
    assert '/etc/nginx/nginx.conf:14' in shop['detail']


def test_finding_shape_and_catalogue():
    findings = audit.audit_nginx(_fixture('dump_mixed.txt'), '1.22.1')
    assert findings
    for item in findings:
        assert set(item) == {'id', 'severity', 'title', 'detail', 'remediation', 'source'}
        assert item['severity'] == catalogue.CATALOGUE[item['id']]['severity']
        assert item['title'] == catalogue.CATALOGUE[item['id']]['title']
        assert item['source'].rsplit(':', 1)[1].isdigit()


def test_mixed_config_on_1_29_7_uses_new_defaults():
    # keepalive, HTTP/1.1 and no "Connection: close" are defaults: only explicit mistakes remain.
    assert _ids(audit.audit_nginx(_fixture('dump_mixed.txt'), '1.29.7')) == [
        ('TW-NGINX-002', '/etc/nginx/sites-enabled/api:6'),
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/shop:20'),
        ('TW-NGINX-005', '/etc/nginx/conf.d/upstreams.conf:16'),
        ('TW-NGINX-007', '/etc/nginx/sites-enabled/shop:25'),
    ]


def test_debian_default_config_has_no_findings():
    assert audit.audit_nginx(_fixture('dump_debian12_default.txt'), '1.22.1') == []


# -- Connection: literal values, duplicates, inheritance ---------------------------

@pytest.mark.parametrize('value, closes', [
    ('""', False), ('"keep-alive"', False), ('"Keep-Alive"', False), ('upgrade', False), ('"Upgrade"', False),
    ('close', True), ('"Close"', True), ('"upgrade, close"', True), ('"keep-alive,CLOSE"', True),
    ('"closed"', False), ("'close'", True),
])
def test_connection_literal_only_close_is_a_fault(value, closes):
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection %s;' % value, 'proxy_pass http://app;')
    findings = _app(_location(*lines))
    assert _ids(findings) == ([('TW-NGINX-003', _pass_line(*lines))] if closes else [])


def test_every_non_empty_connection_header_is_sent():
    # Jenkins' guide: the map gives "close" without Upgrade, and the later Connection "" does not remove it.
    mapping = "map $http_upgrade $connection_upgrade {\n    default upgrade;\n    '' close;\n}\n"
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $connection_upgrade;',
             'proxy_set_header Connection "";', 'proxy_pass http://app;')
    finding = _only(_app(_location(*lines, upstream=mapping + UPSTREAM)), 'TW-NGINX-003')
    assert finding['source'] == _pass_line(*lines, upstream=mapping + UPSTREAM)
    assert '"Connection: close"' in finding['detail'] and 'map' not in finding['remediation'].split('"')[0]
    fine = ('proxy_http_version 1.1;', 'proxy_set_header Connection "";', 'proxy_set_header Connection keep-alive;',
            'proxy_pass http://app;')
    assert _app(_location(*fine)) == []


def test_no_connection_header_sends_close_before_1_29_7():
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Host $host;', 'proxy_pass http://app;')
    assert _ids(_app(_location(*lines))) == [('TW-NGINX-003', _pass_line(*lines))]
    assert _app(_location(*lines), '1.29.7') == []


def test_a_location_header_replaces_the_inherited_set():
    text = _location('proxy_set_header X-Real-IP $remote_addr;', 'proxy_pass http://app;',
                     server=('proxy_http_version 1.1;', 'proxy_set_header Connection "";'))
    finding = _only(_app(text), 'TW-NGINX-003')
    assert '%s:9' % APP in finding['detail'] and '%s:7' % APP in finding['detail']


def test_if_and_limit_except_inherit_from_their_location():
    text = UPSTREAM + ('server {\n    proxy_http_version 1.1;\n    proxy_set_header Connection "";\n'
                       '    location / {\n        if ($request_method = POST) {\n            proxy_pass http://app;\n'
                       '        }\n        limit_except GET {\n            proxy_pass http://app;\n        }\n'
                       '    }\n}\n')
    assert _app(text) == []
    assert _ids(_app(text.replace('proxy_http_version 1.1;', 'proxy_http_version 1.0;'))) == [
        ('TW-NGINX-002', '%s:10' % APP), ('TW-NGINX-002', '%s:13' % APP)]


def test_http_1_0_is_reported_on_every_version():
    lines = ('proxy_http_version 1.0;', 'proxy_set_header Connection "";', 'proxy_pass http://app;')
    assert _ids(_app(_location(*lines), '1.29.7')) == [('TW-NGINX-002', _pass_line(*lines))]
    assert _app(_location('proxy_http_version 2;', 'proxy_set_header Connection "";', 'proxy_pass http://app;'),
                '1.29.7') == []


def test_keepalive_without_proxy_settings():
    lines = ('proxy_pass http://app;',)
    assert _ids(_app(_location(*lines))) == [('TW-NGINX-002', _pass_line(*lines)),
                                             ('TW-NGINX-003', _pass_line(*lines))]
    assert _app(_location(*lines), '1.29.7') == []


# -- Connection through variables: map, set, the client's header -----------------

@pytest.mark.parametrize('entries, closes', [
    ("default upgrade; '' '';", False),       # the WebSocket idiom done right
    ("default upgrade; '' close;", True),     # ordinary requests close the pooled connection
    ('default close;', True),                 # no '' entry: the default applies
    ("'' keep-alive; default close;", False),
    ('default upgrade;', False),
    ('~^$ close; default "";', False),        # nginx never tries a regex on an empty value
    ('~.* close;', False),                    # likewise: the default (itself "") applies
    ('hostnames; default "";', False),
    ('', False),                              # an empty map gives ""
])
def test_map_on_http_upgrade_resolved_for_ordinary_requests(entries, closes):
    mapping = 'map $http_upgrade $conn {\n    %s\n}\n' % entries
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $conn;', 'proxy_pass http://app;')
    findings = _app(_location(*lines, upstream=mapping + UPSTREAM))
    assert _ids(findings) == ([('TW-NGINX-003', _pass_line(*lines, upstream=mapping + UPSTREAM))] if closes else [])
    if closes:
        assert 'ordinary' in findings[0]['detail'] or 'Connection: close' in findings[0]['detail']


def test_map_variable_names_are_case_insensitive_and_may_nest():
    mapping = ("map $http_upgrade $Inner {\n    default upgrade;\n    '' close;\n}\n"
               'map $http_upgrade $outer {\n    default $inner;\n}\n')
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $OUTER;', 'proxy_pass http://app;')
    assert [f['id'] for f in _app(_location(*lines, upstream=mapping + UPSTREAM))] == ['TW-NGINX-003']


def test_map_keyed_on_something_else_is_judged_by_all_its_values():
    safe = 'map $host $conn {\n    default "";\n    example.com keep-alive;\n}\n'
    risky = 'map $host $conn {\n    default "";\n    legacy.example.com close;\n}\n'
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $conn;', 'proxy_pass http://app;')
    assert _app(_location(*lines, upstream=safe + UPSTREAM)) == []
    finding = _only(_app(_location(*lines, upstream=risky + UPSTREAM)), 'TW-NGINX-003')
    assert 'may send' in finding['detail'] and '$host' in finding['detail']


def test_client_connection_header_passed_through_is_judged_conservatively():
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $http_connection;', 'proxy_pass http://app;')
    finding = _only(_app(_location(*lines)), 'TW-NGINX-003')
    assert "client's own Connection header" in finding['detail']
    assert 'judged as if it could close' in finding['detail']


def test_unresolvable_variable_is_judged_conservatively():
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $arg_c;', 'proxy_pass http://app;')
    finding = _only(_app(_location(*lines)), 'TW-NGINX-003')
    assert '$arg_c is only known when a request arrives' in finding['detail']


@pytest.mark.parametrize('sets, closes', [
    (('set $c close;',), True),
    (('set $c "";',), False),
    (('set $c close;', 'set $c "";'), False),           # the last set wins
    (('set $c "";', 'if ($x) { set $c close; }'), True),  # may be close
])
def test_set_is_resolved_along_the_levels(sets, closes):
    lines = ('proxy_http_version 1.1;',) + sets + ('proxy_set_header Connection $c;', 'proxy_pass http://app;')
    findings = _app(_location(*lines))
    assert [f['id'] for f in findings] == (['TW-NGINX-003'] if closes else [])


def test_server_level_set_reaches_the_location():
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection $c;', 'proxy_pass http://app;')
    assert [f['id'] for f in _app(_location(*lines, server=('set $c close;',)))] == ['TW-NGINX-003']


# -- which upstream a *_pass uses ---------------------------------------------------

@pytest.mark.parametrize('url, expected', [
    ('http://app$request_uri', []),
    ('https://app$request_uri', []),
    ('http://app$uri$is_args$args', []),
    ('$scheme://app', []),
    ('http://APP/', []),                        # upstream names match case-insensitively
    ('http://127.0.0.1:3000$uri', ['TW-NGINX-004']),
    ('http://app:$server_port', ['TW-NGINX-004']),
    ('http://unix:/run/app.sock:/', ['TW-NGINX-004']),
    ('http://[::1]:8080', ['TW-NGINX-004']),
    ('http://backend.example.com:8080', ['TW-NGINX-004']),
    ('http://$host$request_uri', ['TW-NGINX-007']),
    ('http://backend-$name/', ['TW-NGINX-007']),
    ('http://${upstream}', ['TW-NGINX-007']),
    ('$target', ['TW-NGINX-007']),
])
def test_proxy_pass_targets(url, expected):
    lines = ('proxy_http_version 1.1;', 'proxy_set_header Connection "";', 'proxy_pass %s;' % url)
    findings = _app(_location(*lines))
    assert [f['id'] for f in findings] == expected
    assert all(f['source'] == _pass_line(*lines) for f in findings)


def test_variable_after_an_upstream_name_is_judged():
    lines = ('proxy_pass http://app$request_uri;',)
    assert _ids(_app(_location(*lines))) == [('TW-NGINX-002', _pass_line(*lines)),
                                             ('TW-NGINX-003', _pass_line(*lines))]


def test_variable_host_detail_says_why_it_was_skipped():
    finding = _only(_app(_location('proxy_pass http://$backend;')), 'TW-NGINX-007')
    assert 'variable' in finding['detail'] and 'not judged' in finding['detail']
    assert finding['severity'] == 'info'


def test_upstream_reached_only_through_a_variable_is_still_reported():
    upstream = 'upstream App {\n    server 10.0.0.1:80;\n}\n'
    findings = _app(_location('set $up app;', 'proxy_pass http://$up;', upstream=upstream))
    assert _ids(findings) == [('TW-NGINX-001', '%s:1' % APP), ('TW-NGINX-007', '%s:7' % APP)]
    assert 'No *_pass names it directly' in _only(findings, 'TW-NGINX-001')['detail']


def test_case_different_name_uses_the_upstream():
    upstream = 'upstream Backend {\n    server 10.0.0.1:80;\n}\n'
    assert _ids(_app(_location('proxy_pass http://backend;', upstream=upstream))) == [
        ('TW-NGINX-001', '%s:1' % APP)]


def test_upstream_name_with_a_port_is_not_the_upstream():
    finding = _only(_app(_location('proxy_pass http://app:8080$request_uri;')), 'TW-NGINX-004')
    assert 'with a port' in finding['detail']


# -- upstream rules ----------------------------------------------------------------

def test_upstream_without_keepalive_depends_on_version():
    text = 'upstream app {\n    server 10.0.0.1:80;\n}\nserver {\n    location / {\n        proxy_pass http://app;\n' \
           '    }\n}\n'
    assert _ids(_app(text, '1.26.3')) == [('TW-NGINX-001', '%s:1' % APP)]
    assert _app(text, '1.29.7') == []


def test_keepalive_zero_is_reported_on_its_line():
    findings = _app('upstream app {\n    server 10.0.0.1:80;\n    keepalive 0;\n}\n', '1.29.7')
    assert _ids(findings) == [('TW-NGINX-001', '%s:3' % APP)]


@pytest.mark.parametrize('version, expected', [('1.18.0', True), ('1.22.1', False), (None, True)])
def test_default_keepalive_requests_changed_in_1_19_10(version, expected):
    findings = _app('upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n}\n', version)
    assert (_ids(findings) == [('TW-NGINX-005', '%s:1' % APP)]) is expected


def test_threshold_is_configurable():
    text = 'upstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n    keepalive_requests 5000;\n}\n'
    assert _app(text, min_keepalive_requests=1000) == []
    assert _ids(_app(text, min_keepalive_requests=10000)) == [('TW-NGINX-005', '%s:4' % APP)]


def test_http_level_keepalive_requests_is_the_client_directive():
    text = 'keepalive_requests 100;\nupstream app {\n    server 10.0.0.1:80;\n    keepalive 8;\n}\n'
    assert _app(text) == []


@pytest.mark.parametrize('order, version, pools', [
    ('least_conn;\n    keepalive 8;', '1.22.1', True),
    ('keepalive 8;\n    least_conn;', '1.22.1', False),     # nginx: "load balancing method redefined"
    ('keepalive 8;\n    hash $remote_addr consistent;', '1.26.3', False),
    ('keepalive 8;\n    ip_hash;', '1.29.7', True),         # since 1.29.7 the order no longer matters
])
def test_balancer_after_keepalive_replaces_it_before_1_29_7(order, version, pools):
    text = 'upstream app {\n    server 10.0.0.1:80;\n    %s\n    keepalive_requests 1000;\n}\n' % order
    findings = _app(text, version)
    assert [f['id'] for f in findings] == ([] if pools else ['TW-NGINX-001'])
    if not pools:
        assert 'load balancing method redefined' in findings[0]['detail']


def test_stream_upstreams_are_out_of_scope():
    dump = _dump(('/etc/nginx/nginx.conf',
                  'events {}\nstream {\n    upstream db {\n        server 10.0.0.5:5432;\n    }\n'
                  '    server {\n        listen 5432;\n        proxy_pass db;\n    }\n'
                  '    include /etc/nginx/streams/*.conf;\n}\n'),
                 ('/etc/nginx/streams/a.conf', 'upstream cache {\n    server 10.0.0.6:6379;\n}\n'))
    assert audit.audit_nginx(dump, '1.22.1') == []


# -- other protocols ---------------------------------------------------------------

FPM = 'upstream php {\n    server unix:/run/php/fpm.sock;\n    keepalive 8;\n}\n'


def test_fastcgi_pools_only_with_keep_conn_on():
    assert _app(_location('fastcgi_keep_conn on;', 'fastcgi_pass php;', upstream=FPM)) == []
    assert _app(_location('fastcgi_pass php;', server=('fastcgi_keep_conn on;',), upstream=FPM)) == []
    finding = _only(_app(_location('fastcgi_pass php;', upstream=FPM)), 'TW-NGINX-002')
    assert finding['source'] == '%s:7' % APP
    assert 'fastcgi_keep_conn on' in finding['remediation'] and 'proxy_http_version' not in finding['remediation']
    assert [f['id'] for f in _app(_location('fastcgi_keep_conn off;', 'fastcgi_pass php;', upstream=FPM))] == [
        'TW-NGINX-002']


def test_fastcgi_upstream_without_keepalive_gets_fastcgi_advice():
    upstream = 'upstream php {\n    server 127.0.0.1:9000;\n}\n'
    finding = _only(_app(_location('fastcgi_pass php;', upstream=upstream)), 'TW-NGINX-001')
    assert 'fastcgi_keep_conn on' in finding['remediation'] and 'proxy_set_header' not in finding['remediation']
    assert _app(_location('fastcgi_pass 127.0.0.1:9000;', upstream='')) == []     # 004 is proxy_pass only


def test_upstream_used_by_proxy_and_fastcgi_gets_both_remediations():
    upstream = 'upstream both {\n    server 127.0.0.1:9000;\n}\n'
    text = upstream + ('server {\n    location / {\n        proxy_pass http://both;\n    }\n'
                       '    location ~ \\.php$ {\n        fastcgi_pass both;\n    }\n}\n')
    remediation = _only(_app(text), 'TW-NGINX-001')['remediation']
    assert 'proxy_http_version' in remediation and 'fastcgi_keep_conn on' in remediation


@pytest.mark.parametrize('directive', ['uwsgi_pass', 'scgi_pass'])
def test_uwsgi_and_scgi_never_pool(directive):
    plain = 'upstream app {\n    server 127.0.0.1:3031;\n}\n'
    assert _app(_location('%s app;' % directive, upstream=plain)) == []
    tuned = 'upstream app {\n    server 127.0.0.1:3031;\n    keepalive 8;\n    keepalive_requests 10;\n}\n'
    assert _app(_location('%s app;' % directive, upstream=tuned)) == []
    mixed = plain + ('server {\n    location / {\n        %s app;\n    }\n    location /api {\n'
                     '        proxy_pass http://app;\n    }\n}\n' % directive)
    assert _ids(_app(mixed)) == [('TW-NGINX-001', '%s:1' % APP)]


@pytest.mark.parametrize('directive, target, remedy', [
    ('grpc_pass', 'grpc://app', 'grpc_pass'), ('grpc_pass', 'app', 'grpc_pass'),
    ('memcached_pass', 'app', 'memcached_pass')])
def test_grpc_and_memcached_pool_with_keepalive_alone(directive, target, remedy):
    assert _app(_location('%s %s;' % (directive, target))) == []
    plain = 'upstream app {\n    server 127.0.0.1:50051;\n}\n'
    finding = _only(_app(_location('%s %s;' % (directive, target), upstream=plain)), 'TW-NGINX-001')
    assert remedy in finding['remediation'] and 'proxy_http_version' not in finding['remediation']
    assert _app(_location('%s 127.0.0.1:50051;' % directive, upstream='')) == []


def test_variable_in_other_pass_directives():
    assert [f['id'] for f in _app(_location('fastcgi_pass $php_backend;', upstream=''))] == ['TW-NGINX-007']
    assert _app(_location('fastcgi_pass unix:/run/php/php$version-fpm.sock;', upstream='')) == []


# -- includes ----------------------------------------------------------------------

def test_relative_includes_are_resolved_as_nginx_prints_them():
    # nginx prefixes a relative include with the conf prefix and prints the result unnormalised.
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include sites-enabled/*;\n}\n'),
                 ('/etc/nginx/sites-enabled/app', UPSTREAM + 'server {\n    location / {\n'
                  '        include ../nginx/snippets/keepalive.conf;\n        include ./snippets/host.conf;\n'
                  '        proxy_pass http://app;\n    }\n}\n'),
                 ('/etc/nginx/../nginx/snippets/keepalive.conf', 'proxy_http_version 1.1;\n'),
                 ('/etc/nginx/./snippets/host.conf', 'proxy_set_header Connection "";\n'))
    assert audit.audit_nginx(dump, '1.22.1') == []


def test_normalised_headers_are_accepted_too():
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include sites-enabled/*;\n}\n'),
                 ('/etc/nginx/sites-enabled/app', UPSTREAM + 'server {\n    location / {\n'
                  '        include ../nginx/snippets/keepalive.conf;\n        proxy_pass http://app;\n    }\n}\n'),
                 ('/etc/nginx/snippets/keepalive.conf', 'proxy_http_version 1.1;\nproxy_set_header Connection "";\n'))
    assert audit.audit_nginx(dump, '1.22.1') == []


def test_include_cycle_is_reported_and_not_followed():
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /etc/nginx/a.conf;\n}\n'),
                 ('/etc/nginx/a.conf', 'include /etc/nginx/a.conf;\nupstream app { server 10.0.0.1; }\n'))
    assert _ids(audit.audit_nginx(dump, '1.22.1')) == [
        ('TW-NGINX-001', '/etc/nginx/a.conf:2'), ('TW-NGINX-006', '/etc/nginx/a.conf:1')]


def test_host_printed_paths_are_never_opened_on_the_controller(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dump = _dump(('/etc/nginx/nginx.conf', 'events {}\nhttp {\n    include /../../escape.conf;\n}\n'),
                 ('/../../escape.conf', 'upstream app { server 10.0.0.1; }\n'))
    assert _ids(audit.audit_nginx(dump, '1.22.1')) == [('TW-NGINX-001', '/../../escape.conf:1')]
    assert list(tmp_path.iterdir()) == []


def test_huge_names_do_not_make_huge_findings():
    name = 'u' * 100000
    finding = _only(_app('upstream %s {\n    server 10.0.0.1:80;\n}\n' % name), 'TW-NGINX-001')
    assert len(finding['detail']) <= audit.MAX_DETAIL + 10 and finding['detail'].endswith('[cut]')


def test_control_characters_in_names_survive_into_findings():
    findings = _app('upstream "a\x1b[31mb" {\n    server 10.0.0.1:80;\n}\n')
    assert '"a\x1b[31mb"' in _only(findings, 'TW-NGINX-001')['detail']


# -- the filter's entry point -----------------------------------------------------

def test_empty_dump():
    assert [f['id'] for f in audit.audit_nginx('', '1.22.1')] == ['TW-NGINX-006']


@pytest.mark.parametrize('text, version', [
    ('nginx version: nginx/1.22.1\n', '1.22.1'),
    ('nginx version: nginx/1.29.7 (Ubuntu)', '1.29.7'),
    ('command not found', None),
])
def test_parse_nginx_version(text, version):
    assert parse_nginx_version(text) == version


def test_observation_of_a_host_without_nginx_or_with_the_audit_off():
    assert audit.nginx_observation({'binary': None}) == {'present': False, 'version': None, 'findings': []}
    assert audit.nginx_observation({'skipped': True}) == {'present': False, 'version': None, 'findings': []}


def test_observation_judges_the_dump_with_the_version_from_stderr():
    result = {'rc': 0, 'stdout': _fixture('dump_mixed.txt'), 'stderr': 'nginx version: nginx/1.22.1\n'}
    observed = audit.nginx_observation(result, 1000)
    assert observed['present'] is True and observed['version'] == '1.22.1'
    assert observed['findings'] == audit.audit_nginx(result['stdout'], '1.22.1', 1000)
    assert observed['findings']


def test_observation_of_a_configuration_nginx_rejects():
    stderr = 'nginx version: nginx/1.18.0\nnginx: [emerg] unknown directive "kepalive" in /etc/nginx/conf.d/x.conf:3\n'
    observed = audit.nginx_observation({'rc': 1, 'stdout': '', 'stderr': stderr})
    assert observed['version'] == '1.18.0'
    assert [f['id'] for f in observed['findings']] == ['TW-NGINX-006']
    assert 'unknown directive "kepalive"' in observed['findings'][0]['detail']


def test_observation_with_replacement_characters_still_audits():
    # tcp_audit_info decodes nginx's bytes with replacement: a Latin-1 comment arrives as U+FFFD.
    stdout = _dump(MAIN, (APP, '# caf\ufffd\nupstream app {\n    server 10.0.0.1:80;\n}\n'))
    observed = audit.nginx_observation({'rc': 0, 'stdout': stdout, 'stderr': 'nginx version: nginx/1.22.1\n'})
    assert _ids(observed['findings']) == [('TW-NGINX-001', '%s:2' % APP)]


def test_a_controller_without_crossplane_loses_only_the_nginx_audit(monkeypatch):
    monkeypatch.setattr(audit, 'HAS_CROSSPLANE', False)
    findings = audit.audit_nginx('# configuration file /etc/nginx/nginx.conf:\nevents {}\n', '1.22.1')
    assert [(f['id'], f['severity']) for f in findings] == [('TW-NGINX-006', 'info')]
    assert 'crossplane' in findings[0]['detail']
