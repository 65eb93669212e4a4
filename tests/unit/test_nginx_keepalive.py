"""Unit tests for plugins/plugin_utils/nginx_keepalive.py (the validators and what each nginx version needs)."""
import os

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import nginx_keepalive as val

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _upstream(**overrides):
    upstream = {'name': 'app', 'servers': [{'address': '10.0.0.1', 'port': 8080}]}
    upstream.update(overrides)
    return upstream


def _server(**fields):
    return _upstream(servers=[fields])


def _site(**overrides):
    site = {'name': 'app', 'listen': [8080], 'locations': [{'path': '/', 'upstream': 'app'}]}
    site.update(overrides)
    return site


def check(upstreams=None, sites=None, headers=None):
    return val.nginx_keepalive_check(upstreams if upstreams is not None else [_upstream()], sites, headers)


def test_valid_input_is_normalised_with_defaults():
    result = check(sites=[_site()], headers={'Host': '$host'})
    assert result['errors'] == []
    upstream = result['upstreams'][0]
    assert upstream['keepalive'] == 32
    assert upstream['keepalive_requests'] == 1000
    assert upstream['keepalive_timeout'] == '60s'
    assert upstream['keepalive_time'] is None
    assert upstream['balance_directive'] is None
    assert upstream['servers'][0]['rendered'] == '10.0.0.1:8080'
    site = result['sites'][0]
    assert site['listen'] == ['8080']
    assert site['server_name'] == ['_']
    assert site['locations'][0]['proxy_set_headers'] == {'Host': '$host'}


@pytest.mark.parametrize('address, port, rendered', [
    ('10.0.0.1', 80, '10.0.0.1:80'),
    ('10.0.0.1', None, '10.0.0.1'),
    ('2001:db8::1', 8080, '[2001:db8::1]:8080'),
    ('[2001:db8::1]', 8080, '[2001:db8::1]:8080'),
    ('::1', None, '[::1]'),
    ('backend.example.com', 443, 'backend.example.com:443'),
    ('localhost', 8081, 'localhost:8081'),
    ('unix:/run/app/app.sock', None, 'unix:/run/app/app.sock'),
])
def test_addresses_accepted(address, port, rendered):
    result = check([_server(address=address, port=port)])
    assert result['errors'] == []
    assert result['upstreams'][0]['servers'][0]['rendered'] == rendered


@pytest.mark.parametrize('address', [
    '10.0.0.256', '10.0.0', '10.0.0.1:80', 'exa mple.com', '-bad.example.com', 'bad_host.example.com',
    'unix:relative.sock', 'unix:/run/../etc/shadow', '[10.0.0.1]', '', 'http://10.0.0.1',
])
def test_addresses_refused(address):
    errors = check([_server(address=address)])['errors']
    assert len(errors) == 1
    assert errors[0].startswith('nginx_keepalive_upstreams[0].servers[0].address ')


@pytest.mark.parametrize('value', ['10.0.0.1; include /etc/shadow', 'a{b', 'a}b', 'a"b', "a'b", 'a\nb', 'a#b',
                                   'a\\b'])
def test_injection_refused_with_variable_name(value):
    errors = check([_server(address=value)])['errors']
    assert len(errors) == 1
    assert 'nginx_keepalive_upstreams[0].servers[0].address' in errors[0]
    assert 'could inject nginx syntax' in errors[0]


@pytest.mark.parametrize('field, var', [
    ('name', 'nginx_keepalive_upstreams[0].name'),
    ('keepalive_timeout', 'nginx_keepalive_upstreams[0].keepalive_timeout'),
    ('keepalive_time', 'nginx_keepalive_upstreams[0].keepalive_time'),
    ('balance', 'nginx_keepalive_upstreams[0].balance'),
    ('keepalive', 'nginx_keepalive_upstreams[0].keepalive'),
])
def test_injection_in_every_upstream_field(field, var):
    errors = check([_upstream(**{field: '60s; }'})])['errors']
    assert len(errors) == 1 and errors[0].startswith(var + ' ') and 'inject' in errors[0]


def test_injection_in_site_fields():
    site = _site(name='x;', listen=['80;'], server_name=['a.example.com;'],
                 locations=[{'path': '/ {', 'upstream': 'app',
                             'proxy_set_headers': {'X-A': '"$host"', 'X-B;': 'v'}}])
    errors = check(sites=[site])['errors']
    for var in ('nginx_keepalive_sites[0].name', 'nginx_keepalive_sites[0].listen[0]',
                'nginx_keepalive_sites[0].server_name[0]', 'nginx_keepalive_sites[0].locations[0].path',
                'nginx_keepalive_sites[0].locations[0].proxy_set_headers[X-A]',
                'nginx_keepalive_sites[0].locations[0].proxy_set_headers[X-B;]'):
        assert any(e.startswith(var + ' ') and 'inject' in e for e in errors), var
    assert len(errors) == 6


def test_injection_in_default_headers():
    errors = check(headers={'Host': '$host\ninclude /etc/passwd'})['errors']
    assert errors and errors[0].startswith('nginx_keepalive_proxy_headers[Host] ')


@pytest.mark.parametrize('value, ok', [
    ('60s', True), ('60', True), ('500ms', True), ('1h30m', True), ('1d', True), ('2w', True), ('1M', True),
    ('60 s', False), ('s', False), ('', False), ('1.5s', False), ('-1s', False), ('10x', False),
])
def test_nginx_time(value, ok):
    errors = check([_upstream(keepalive_timeout=value)])['errors']
    assert (errors == []) is ok


@pytest.mark.parametrize('field, value', [
    ('keepalive', 0), ('keepalive', -1), ('keepalive', 'many'), ('keepalive', True), ('keepalive_requests', 0),
])
def test_counts_refused(field, value):
    errors = check([_upstream(**{field: value})])['errors']
    assert len(errors) == 1 and errors[0].startswith('nginx_keepalive_upstreams[0].%s ' % field)


@pytest.mark.parametrize('port', [0, 65536, 'http', -1])
def test_ports_refused(port):
    errors = check([_server(address='10.0.0.1', port=port)])['errors']
    assert len(errors) == 1 and 'servers[0].port' in errors[0]


def test_port_given_as_string_is_accepted():
    result = check([_server(address='10.0.0.1', port='8080')])
    assert result['errors'] == [] and result['upstreams'][0]['servers'][0]['port'] == 8080


def test_unix_socket_with_port_refused():
    errors = check([_server(address='unix:/run/app.sock', port=80)])['errors']
    assert errors == ['nginx_keepalive_upstreams[0].servers[0].port is set for the unix socket '
                      'unix:/run/app.sock: leave port unset.']


def test_backup_with_ip_hash_refused():
    upstream = _upstream(balance='ip_hash', servers=[{'address': '10.0.0.1'}, {'address': '10.0.0.2', 'backup': True}])
    errors = check([upstream])['errors']
    assert len(errors) == 1 and 'servers[1].backup' in errors[0]


def test_all_backup_refused():
    errors = check([_upstream(servers=[{'address': '10.0.0.1', 'backup': True}])])['errors']
    assert any('all backup' in e for e in errors)


def test_duplicates_and_unknown_keys():
    errors = check([_upstream(), _upstream(keepalive_timeot='5s')])['errors']
    assert any("defines the upstream 'app' more than once" in e for e in errors)
    assert any(e.startswith('nginx_keepalive_upstreams[1].keepalive_timeot is not a known setting') for e in errors)


def test_site_must_reference_a_managed_upstream():
    site = _site(locations=[{'path': '/', 'upstream': 'other'}])
    errors = check(sites=[site])['errors']
    assert errors == ["nginx_keepalive_sites[0].locations[0].upstream is 'other', which is not in "
                      "nginx_keepalive_upstreams (app)."]


def test_connection_header_is_managed_by_the_role():
    errors = check(headers={'Connection': 'close'})['errors']
    assert len(errors) == 1 and 'managed by the role' in errors[0]


def test_location_headers_replace_defaults():
    site = _site(locations=[{'path': '/api/', 'upstream': 'app', 'modifier': '^~',
                             'proxy_set_headers': {'X-Forwarded-For': '$proxy_add_x_forwarded_for'}}])
    result = check(sites=[site], headers={'Host': '$host'})
    assert result['errors'] == []
    assert result['sites'][0]['locations'][0]['proxy_set_headers'] == {'X-Forwarded-For': '$proxy_add_x_forwarded_for'}


@pytest.mark.parametrize('listen, ok', [
    (80, True), ('127.0.0.1:8080', True), ('[::1]:8080', True), ('unix:/run/nginx.sock', True),
    ('localhost:80', True), (0, False), ('80 ssl', False), ('10.0.0.1', False),
])
def test_listen(listen, ok):
    assert (check(sites=[_site(listen=[listen])])['errors'] == []) is ok


def test_duplicate_location_refused():
    site = _site(locations=[{'path': '/', 'upstream': 'app'}, {'path': '/', 'upstream': 'app'}])
    errors = check(sites=[site])['errors']
    assert len(errors) == 1 and 'locations[1].path' in errors[0]


def test_wrong_types():
    assert val.nginx_keepalive_check('app', None, None)['errors'][0].startswith('nginx_keepalive_upstreams must')
    assert val.nginx_keepalive_check([], {'a': 1}, None)['errors'][0].startswith('nginx_keepalive_sites must')
    assert check([_upstream(servers=[])])['errors'][0].startswith('nginx_keepalive_upstreams[0].servers must')


@pytest.mark.parametrize('version, proxy_settings, keepalive_default, keepalive_time', [
    ('1.18.0', True, None, False),
    ('1.22.1', True, None, True),
    ('1.29.6', True, None, True),
    ('1.29.7', False, 32, True),
    ('1.30.0', False, 32, True),
    (None, True, None, False),
])
def test_features(version, proxy_settings, keepalive_default, keepalive_time):
    features = val.nginx_keepalive_features(version)
    assert features['proxy_settings'] is proxy_settings
    assert features['keepalive_default'] == keepalive_default
    assert features['keepalive_time'] is keepalive_time


def test_version_errors_for_keepalive_time_on_old_nginx():
    upstreams = check([_upstream(keepalive_time='1h')])['upstreams']
    errors = val.nginx_keepalive_version_errors(upstreams, val.nginx_keepalive_features('1.18.0'))
    assert len(errors) == 1 and errors[0].startswith('nginx_keepalive_upstreams[0].keepalive_time')
    assert val.nginx_keepalive_version_errors(upstreams, val.nginx_keepalive_features('1.22.1')) == []
