"""Verify nginx_keepalive on a live container: configuration, service and the traffic proof."""
import hashlib
import json

PROOF_DIR = '/var/tmp/harden-tcp-proof'


def _json(host, name):
    return json.loads(host.file('%s/%s' % (PROOF_DIR, name)).content_string)


def test_nginx_dump_holds_keepalive_blocks(host):
    dump = host.check_output('nginx -T 2>/dev/null')
    assert 'upstream proof_backend {' in dump
    assert 'server 127.0.0.1:8081;' in dump
    assert 'keepalive 16;' in dump
    assert 'keepalive_requests 1000;' in dump
    assert 'keepalive_timeout 30s;' in dump
    assert 'proxy_pass http://proof_backend;' in dump
    assert 'proxy_http_version 1.1;' in dump
    assert 'proxy_set_header Connection "";' in dump
    assert 'proxy_pass http://127.0.0.1:8081' not in dump


def test_managed_files_are_root_owned_0644(host):
    for path in ('/etc/nginx/sites-enabled/app', '/etc/nginx/conf.d/harden-tcp-upstreams.conf',
                 '/etc/nginx/snippets/harden-tcp-keepalive.conf'):
        managed = host.file(path)
        assert managed.exists
        assert managed.user == 'root'
        assert managed.mode == 0o644


def test_nginx_running_and_config_valid(host):
    assert host.process.filter(comm='nginx')
    assert host.run('nginx -t').rc == 0


def test_proxy_answers_through_the_upstream(host):
    out = host.check_output(
        "python3 -c \"import urllib.request as u; r = u.urlopen('http://127.0.0.1:8080/', timeout=5); "
        "print(r.status, r.headers['X-Backend'])\"")
    assert out.split() == ['200', 'harden-tcp-proof']


def test_timewait_at_least_50x_fewer(host):
    proof = _json(host, 'proof.json')
    assert proof['requests_per_phase'] >= 5000
    assert proof['before']['load']['failed'] == 0
    assert proof['after']['load']['failed'] == 0
    # Without pooling nearly every request leaves one TIME_WAIT socket (loopback
    # tcp_tw_reuse=2 lets new connections take over a few of them).
    assert proof['timewait_before'] >= 0.5 * proof['requests_per_phase']
    assert proof['timewait_before'] >= 50 * max(proof['timewait_after'], 1)


def test_no_failed_request_while_the_role_applied_and_reloaded(host):
    client = _json(host, 'proof.json')['reload_client']
    assert client['done']
    assert client['requests'] > 100
    assert client['failed'] == 0, client['errors']


def test_rejected_config_changed_nothing_and_nginx_kept_serving(host):
    bad = _json(host, 'proof.json')['bad_run']
    assert 'nginx said' in bad['message']
    assert 'host not found' in bad['message']
    assert bad['unchanged']
    assert bad['sha256_before'] == bad['sha256_after']
    assert bad['serving']['failed'] == 0
    assert bad['serving']['ok'] == bad['serving']['requests']


def test_snapshot_holds_the_hand_written_site(host):
    manifest = json.loads(host.file('/var/lib/harden-tcp/manifest.json').content_string)
    record = manifest['files']['/etc/nginx/sites-enabled/app']
    assert record['state'] != 'absent'
    legacy = host.file('/var/lib/harden-tcp/files/%s.orig'
                       % hashlib.sha256(b'/etc/nginx/sites-enabled/app').hexdigest()).content_string
    assert 'proxy_pass http://127.0.0.1:8081;' in legacy
    assert manifest['files']['/etc/nginx/conf.d/harden-tcp-upstreams.conf']['state'] == 'absent'


def test_audit_findings_before_and_after(host):
    before = _json(host, 'audit-before.json')
    after = _json(host, 'audit-after.json')
    assert before['present'] and after['present']
    assert [(f['id'], f['source']) for f in before['findings']] == [
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/app:9')]
    assert after['findings'] == []
