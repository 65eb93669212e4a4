"""Verify nginx_keepalive on a live container: configuration, service and the traffic proof;
then (after cleanup ran playbooks/rollback-tcp.yml) the rollback.

The scenario runs verify twice: after converge + side_effect (the role's
configuration is live) and after cleanup (the host was rolled back and
carries a marker). Each test applies to one of the two states and skips in
the other.
"""
import hashlib
import json
import re
import time


PROOF_DIR = '/var/tmp/harden-tcp-proof'
SITE = '/etc/nginx/sites-enabled/app'
PROXY = "import urllib.request as u; r = u.urlopen('http://127.0.0.1:8080/', timeout=5); " \
        "print(r.status, r.headers['X-Backend'], r.headers['X-Backend-Request'])"


def _json(host, name):
    return json.loads(host.file('%s/%s' % (PROOF_DIR, name)).content_string)


def _root_json(host, path):
    return json.loads(host.file(path).content_string)


def _through_proxy(host):
    """Return (status, X-Backend, how the backend was asked) of one request through nginx on :8080."""
    status, backend, asked = host.check_output('python3 -c "%s"' % PROXY).split(' ', 2)
    return status, backend, asked


def _workers(host, master):
    """Return the pids of the nginx master's children (its workers, old ones still shutting down included)."""
    return set(int(pid) for pid in host.run('pgrep -P %s', str(master)).stdout.split())


def _master(host):
    return int(host.file('/run/nginx.pid').content_string.strip())


def _pre_harden(host):
    return _root_json(host, '/root/pre-harden-nginx.json')


def test_nginx_dump_holds_keepalive_blocks(hardened):
    dump = hardened.check_output('nginx -T 2>/dev/null')
    assert 'upstream proof_backend {' in dump
    assert 'server 127.0.0.1:8081;' in dump
    assert 'keepalive 16;' in dump
    assert 'keepalive_requests 1000;' in dump
    assert 'keepalive_timeout 30s;' in dump
    assert 'proxy_pass http://proof_backend;' in dump
    assert 'proxy_http_version 1.1;' in dump
    assert 'proxy_set_header Connection "";' in dump
    assert 'proxy_pass http://127.0.0.1:8081' not in dump


def test_managed_files_are_root_owned_0644(hardened):
    for path in ('/etc/nginx/sites-enabled/app', '/etc/nginx/conf.d/harden-tcp-upstreams.conf',
                 '/etc/nginx/snippets/harden-tcp-keepalive.conf'):
        managed = hardened.file(path)
        assert managed.exists
        assert managed.user == 'root'
        assert managed.mode == 0o644


def test_nginx_running_and_config_valid(hardened):
    assert hardened.process.filter(comm='nginx')
    assert hardened.run('nginx -t').rc == 0


def test_proxy_answers_through_the_upstream(hardened):
    # The running master loaded the keepalive upstream: HTTP/1.1, Connection header cleared.
    assert _through_proxy(hardened) == ('200', 'harden-tcp-proof', 'HTTP/1.1 -')


def test_timewait_at_least_50x_fewer(hardened):
    proof = _json(hardened, 'proof.json')
    assert proof['requests_per_phase'] >= 5000
    assert proof['before']['load']['failed'] == 0
    assert proof['after']['load']['failed'] == 0
    # Without pooling nearly every request leaves one TIME_WAIT socket (loopback
    # tcp_tw_reuse=2 lets new connections take over a few of them).
    assert proof['timewait_before'] >= 0.5 * proof['requests_per_phase']
    assert proof['timewait_before'] >= 50 * max(proof['timewait_after'], 1)


def test_no_failed_request_while_the_role_applied_and_reloaded(hardened):
    client = _json(hardened, 'proof.json')['reload_client']
    assert client['done']
    assert client['requests'] > 100
    assert client['failed'] == 0, client['errors']


def test_rejected_config_changed_nothing_and_nginx_kept_serving(hardened):
    bad = _json(hardened, 'proof.json')['bad_run']
    assert 'nginx said' in bad['message']
    assert 'host not found' in bad['message']
    assert bad['unchanged']
    assert bad['sha256_before'] == bad['sha256_after']
    assert bad['serving']['failed'] == 0
    assert bad['serving']['ok'] == bad['serving']['requests']


def test_snapshot_holds_the_hand_written_site(hardened):
    manifest = json.loads(hardened.file('/var/lib/harden-tcp/manifest.json').content_string)
    # Every file the role replaced or created is in the shared snapshot, as prepare recorded it.
    for path, before in _pre_harden(hardened)['files'].items():
        record = manifest['files'][path]
        assert record['tag'] == 'nginx_keepalive', path
        assert record['state'] == before['state'], path
        if before['state'] == 'present':
            assert (record['sha256'], record['mode'], record['owner']) == \
                (before['sha256'], before['mode'], before['owner']), path
    record = manifest['files']['/etc/nginx/sites-enabled/app']
    assert record['state'] != 'absent'
    blob = '/var/lib/harden-tcp/files/%s.orig' % hashlib.sha256(b'/etc/nginx/sites-enabled/app').hexdigest()
    legacy = hardened.file(blob).content_string
    assert 'proxy_pass http://127.0.0.1:8081;' in legacy
    assert manifest['files']['/etc/nginx/conf.d/harden-tcp-upstreams.conf']['state'] == 'absent'


def test_audit_findings_before_and_after(hardened):
    before = _json(hardened, 'audit-before.json')
    after = _json(hardened, 'audit-after.json')
    assert before['present'] and after['present']
    assert [(f['id'], f['source']) for f in before['findings']] == [
        ('TW-NGINX-004', '/etc/nginx/sites-enabled/app:9')]
    assert after['findings'] == []


def test_rollback_restores_every_file_byte_for_byte(restored):
    files = _pre_harden(restored)['files']
    assert sorted(files) == sorted([SITE, '/etc/nginx/conf.d/harden-tcp-upstreams.conf',
                                    '/etc/nginx/snippets/harden-tcp-keepalive.conf'])
    assert files[SITE]['state'] == 'present'
    for path, before in files.items():
        now = restored.file(path)
        if before['state'] == 'absent':
            assert not now.exists, path
            continue
        assert now.is_file, path
        assert restored.check_output('sha256sum %s', path).split()[0] == before['sha256'], path
        assert '%04o' % now.mode == before['mode'], path
        assert (now.user, now.group) == (before['owner'], before['group']), path


def test_rollback_leaves_etc_nginx_as_it_was(restored):
    tree = sorted(restored.check_output('find /etc/nginx -mindepth 1').splitlines())
    assert tree == _pre_harden(restored)['tree']


def test_restored_config_is_the_hand_written_one(restored):
    assert restored.run('nginx -t').rc == 0
    dump = restored.check_output('nginx -T 2>/dev/null')
    assert 'proxy_pass http://127.0.0.1:8081;' in dump
    assert 'upstream proof_backend' not in dump
    assert not re.search(r'^\s*upstream\s', dump, re.MULTILINE)
    assert 'harden-tcp-upstreams.conf' not in dump
    assert 'harden-tcp-keepalive.conf' not in dump
    assert 'keepalive 16;' not in dump
    assert 'proxy_http_version 1.1;' not in dump


def test_nginx_still_serves_through_the_restored_site(restored):
    assert restored.process.filter(comm='nginx')
    # The hand-written site proxies with nginx's defaults: HTTP/1.0, "Connection: close".
    # Only a master that re-read its configuration asks the backend this way.
    assert _through_proxy(restored) == ('200', 'harden-tcp-proof', 'HTTP/1.0 close')


def test_nginx_master_reloaded_not_restarted(restored):
    before = _root_json(restored, '/root/nginx-before-rollback.json')
    assert before['workers']
    assert _master(restored) == before['master']
    # A reload starts new workers and lets the old ones finish; give them time to exit.
    deadline = time.time() + 30
    workers = _workers(restored, before['master'])
    while workers & set(before['workers']) and time.time() < deadline:
        time.sleep(1)
        workers = _workers(restored, before['master'])
    assert workers
    assert not workers & set(before['workers'])


def test_rollback_clears_the_snapshot(restored):
    # The manifest and its blobs go; harden-tcp's directory stays with its marker and the lock file.
    assert not restored.file('/var/lib/harden-tcp/manifest.json').exists
    assert sorted(restored.check_output('ls -A /var/lib/harden-tcp').split()) == ['.harden-tcp-snapshot', 'lock']
