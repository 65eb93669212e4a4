"""Real nginx judges the nginx audit: every verdict must agree with the traffic.

converge left on each host the cases (cases.json, written by judge.py from a
printed seed), the traffic measured through real nginx (traffic.json: new
backend connections per case) and the audit of the same configuration
(audit.json: the filter nginx_observation over the module tcp_audit_info).

The audit's verdict on a case: "not pooled" when its *_pass carries
TW-NGINX-002, 003 or 004, or its upstream carries TW-NGINX-001; "skipped" when
the *_pass carries TW-NGINX-007; "pooled" otherwise. uwsgi_pass and scgi_pass
never pool by the rules (docs/nginx-audit-rules.md), so the audit says so by
raising no keepalive finding (001, 002, 003, 005) for them: that is its
verdict "not pooled", and any such finding contradicts the rules. A *_pass
to a literal address does not use the case's upstream, so the findings on
that upstream (which nothing names) say nothing about it; a fastcgi, memcached
or grpc one gets no finding (TW-NGINX-004 is for proxy_pass only): "not
judged", and the traffic must show it unpooled. The traffic's verdict: "not pooled" when at least 90 % of the
requests opened a backend connection, "pooled" at most half. Conservative
verdicts are checked against the adverse case: the client sends "Connection:
close", and the backend answers an HTTP/1.0 request in HTTP/1.0 (as Go's
net/http does), which nginx never keeps.
"""
import collections
import json
import math

WORK = '/var/tmp/harden-tcp-judge'
CONFIG = '/etc/nginx/judge'
BREAKING = {'TW-NGINX-002', 'TW-NGINX-003', 'TW-NGINX-004'}
KEEPALIVE_FINDINGS = {'TW-NGINX-001', 'TW-NGINX-002', 'TW-NGINX-003', 'TW-NGINX-005'}
NEVER_POOL = ('uwsgi', 'scgi')
# nginx 1.19.10 raised the default upstream keepalive_requests from 100 to 1000;
# nginx 1.19.1 started ending uwsgi and SCGI responses at their Content-Length.
DEFAULT_REQUESTS_CHANGED = (1, 19, 10)
ONE_SHOT_LENGTH = (1, 19, 1)
# What real nginx does with the fixed classes, independent of the audit.
FIXED_TRUTH = {
    'map-empty-to-empty': 'pooled', 'map-empty-to-close': 'not pooled', 'literal-keep-alive': 'pooled',
    'literal-upgrade': 'pooled', 'request-uri-after-upstream': 'pooled', 'case-different-upstream-name': 'pooled',
    'dotdot-include': 'pooled', 'dot-include': 'pooled', 'jenkins-duplicate-connection': 'not pooled',
    'client-connection-passed': 'not pooled', 'map-regex-never-tried-on-empty': 'pooled',
    'balancer-after-keepalive': 'not pooled', 'balancer-before-keepalive': 'pooled', 'literal-address': 'not pooled',
    'http10-keep-alive': 'not pooled', 'set-close': 'not pooled', 'location-header-drops-inherited': 'not pooled',
    'variable-host': 'pooled', 'keepalive-requests-10': 'pooled', 'no-keepalive': 'not pooled',
    'fastcgi-keep-conn': 'pooled', 'fastcgi-keep-conn-from-server': 'pooled', 'fastcgi-without-keep-conn': 'not pooled',
    'fastcgi-keep-conn-off-over-server-on': 'not pooled', 'fastcgi-literal-address': 'not pooled',
    'fastcgi-no-keepalive': 'not pooled', 'uwsgi-keepalive-upstream': 'not pooled',
    'scgi-keepalive-upstream': 'not pooled', 'memcached-keepalive-upstream': 'pooled',
    'memcached-no-keepalive': 'not pooled', 'grpc-keepalive-upstream': 'pooled', 'grpc-no-keepalive': 'not pooled',
    'keepalive-requests-default': 'pooled', 'keepalive-requests-100': 'pooled',
    'keepalive-requests-threshold': 'pooled', 'fastcgi-keepalive-requests-100': 'pooled',
    'memcached-keepalive-requests-100': 'pooled', 'grpc-keepalive-requests-100': 'pooled',
}


def _load(host):
    cases = json.loads(host.file('%s/cases.json' % CONFIG).content_string)
    traffic = json.loads(host.file('%s/traffic.json' % WORK).content_string)
    audit = json.loads(host.file('%s/audit.json' % WORK).content_string)
    return cases, traffic, audit


def _version(audit):
    return tuple(int(part) for part in audit['version'].split('.'))


def _ids_at(findings, sources):
    return {item['id'] for item in findings if item['source'] in sources}


def audit_verdict(case, findings):
    on_pass = _ids_at(findings, [case['pass_source']])
    if 'TW-NGINX-007' in on_pass:
        return 'skipped'
    on_upstream = set() if case['literal'] else _ids_at(findings, case['upstream_sources'])
    if case['protocol'] in NEVER_POOL:
        wrong = sorted((on_pass | on_upstream) & KEEPALIVE_FINDINGS)
        return 'poolable (%s)' % ', '.join(wrong) if wrong else 'not pooled'
    if case['literal'] and case['protocol'] != 'proxy':
        return 'not judged'
    return 'not pooled' if on_pass & BREAKING or 'TW-NGINX-001' in on_upstream else 'pooled'


def measured(result):
    if result['new_connections'] >= 0.9 * result['requests']:
        return 'not pooled'
    if result['new_connections'] <= result['requests'] // 2:
        return 'pooled'
    return 'unclear (%d new connections)' % result['new_connections']


def _rows(host):
    cases, traffic, audit = _load(host)
    rows = []
    for case in cases['cases']:
        if case['skipped']:
            print('%s: case %d (%s) skipped: %s' % (host.backend.get_hostname(), case['number'], case['description'],
                                                    case['skipped']))
            continue
        result = traffic[str(case['number'])]
        rows.append((case, result, audit_verdict(case, audit['findings']), measured(result)))
    return cases, rows, audit


def test_every_request_was_answered(host):
    _cases, rows, _audit = _load_rows(host)
    failed = [(case['number'], case['description'], result['errors']) for case, result, _a, _m in rows if result['failed']]
    assert failed == []


def test_no_verdict_contradicts_the_traffic(host):
    cases, rows, audit = _load_rows(host)
    assert audit['present'] is True and audit['version']
    disagreements = []
    judged = collections.Counter()
    agree = collections.Counter()
    for case, result, verdict, outcome in rows:
        if verdict in ('skipped', 'not judged'):
            continue
        judged[case['protocol']] += 1
        if verdict == outcome:
            agree[case['protocol']] += 1
            continue
        disagreements.append('case %d (%s, %s): audit says %s, %d/%d new backend connections (backend saw %s); '
                             'findings %s' % (case['number'], case['protocol'], case['description'], verdict,
                                              result['new_connections'], result['requests'], result['seen'],
                                              [(f['id'], f['source']) for f in audit['findings']
                                               if f['source'] in [case['pass_source']] + case['upstream_sources']]))
    print('%s: nginx %s, NGINX_JUDGE_SEED=%s, %d cases (%d random), %d judged, %d agree (%s), %d skipped (variable '
          'host), %d not judged (literal address, not proxy_pass)'
          % (host.backend.get_hostname(), audit['version'], cases['seed'], len(rows),
             sum(1 for row in rows if row[0]['kind'] == 'random'), sum(judged.values()), sum(agree.values()),
             ', '.join('%s %d/%d' % (protocol, agree[protocol], judged[protocol]) for protocol in sorted(judged)),
             sum(1 for row in rows if row[2] == 'skipped'), sum(1 for row in rows if row[2] == 'not judged')))
    assert disagreements == [], '\n'.join(disagreements)


def test_the_fixed_classes_behave_as_nginx_is_known_to(host):
    cases, rows, _audit = _load_rows(host)
    fixed = dict((case['description'], outcome) for case, _r, _v, outcome in rows if case['kind'] == 'fixed')
    skipped = [case['description'] for case in cases['cases'] if case['skipped']]
    assert fixed == dict((name, truth) for name, truth in FIXED_TRUTH.items() if name not in skipped)


def test_a_literal_address_of_another_protocol_is_not_pooled(host):
    _cases, rows, _audit = _load_rows(host)
    literal = [(case['description'], outcome) for case, _r, verdict, outcome in rows if verdict == 'not judged']
    assert literal and all(outcome == 'not pooled' for _name, outcome in literal), literal


def test_the_test_can_fail(host):
    """Enough random cases, and both outcomes in numbers: a judge that always agrees proves nothing."""
    _cases, rows, audit = _load_rows(host)
    outcomes = [outcome for case, _r, _v, outcome in rows if case['kind'] == 'random']
    assert len(outcomes) >= 40
    assert outcomes.count('pooled') >= 5 and outcomes.count('not pooled') >= 5, outcomes
    assert not [f for f in audit['findings'] if f['id'] == 'TW-NGINX-006']


def test_variable_hosts_are_skipped_and_named(host):
    _cases, rows, _audit = _load_rows(host)
    for case, _result, verdict, _outcome in rows:
        assert (verdict == 'skipped') == case['variable_host'], case


def test_keepalive_requests_closes_pooled_connections(host):
    _cases, rows, _audit = _load_rows(host)
    checked = 0
    for case, result, _verdict, outcome in rows:
        if case['keepalive_requests'] and outcome == 'pooled':
            least = math.ceil(result['requests'] / case['keepalive_requests'])
            assert least <= result['new_connections'] <= least + 2, (case, result)
            checked += 1
    assert checked >= 1


def test_keepalive_requests_findings_agree_with_the_traffic(host):
    """TW-NGINX-005 says a pooled connection is closed before the threshold: count how many the backend saw.

    With N requests on one worker, a connection that survives the threshold T
    means at most ceil(N/T) connections; more means keepalive_requests < T, so
    the upstream must carry TW-NGINX-005. With N = T the count decides both
    ways: one connection exactly when keepalive_requests >= T.
    """
    cases, rows, audit = _load_rows(host)
    threshold = cases['threshold']
    decisive = collections.Counter()
    wrong = []
    for case, result, verdict, outcome in rows:
        if outcome != 'pooled' or verdict != 'pooled':
            continue
        closes_early = result['new_connections'] > math.ceil(result['requests'] / threshold)
        reported = 'TW-NGINX-005' in _ids_at(audit['findings'], case['upstream_sources'])
        if result['requests'] == threshold:
            decisive[reported] += 1
            if reported != closes_early:
                wrong.append((case['description'], result['new_connections'], result['requests'], reported))
        elif closes_early and not reported:
            wrong.append((case['description'], result['new_connections'], result['requests'], reported))
    assert wrong == [], wrong
    assert decisive[True] >= 1 and decisive[False] >= 1, decisive


def test_the_default_keepalive_requests_depends_on_the_version(host):
    cases, rows, audit = _load_rows(host)
    default = 100 if _version(audit) < DEFAULT_REQUESTS_CHANGED else 1000
    case, result, _verdict, _outcome = [row for row in rows if row[0]['description'] == 'keepalive-requests-default'][0]
    assert result['new_connections'] == math.ceil(cases['threshold'] / default), (case, result)


def test_uwsgi_and_scgi_connections_are_never_reused(host):
    """nginx closes them after the response (1.19.1 on) or waits for the backend's idle close (before)."""
    _cases, rows, audit = _load_rows(host)
    closer = 'closed by nginx' if _version(audit) >= ONE_SHOT_LENGTH else 'left open by nginx'
    checked = 0
    for case, result, _verdict, _outcome in rows:
        if case['protocol'] in NEVER_POOL:
            ends = [note for note in result['seen'] if note.startswith(('closed by', 'left open by'))]
            assert len(ends) == 1 and ends[0].startswith(closer), (case['description'], result['seen'])
            checked += 1
    assert checked >= 2


def test_nginx_sets_fcgi_keep_conn_exactly_where_the_audit_expects_it(host):
    """A fastcgi_pass to a pooling upstream has TW-NGINX-002 exactly when nginx did not set FCGI_KEEP_CONN."""
    _cases, rows, audit = _load_rows(host)
    checked = 0
    for case, result, verdict, _outcome in rows:
        if case['protocol'] != 'fastcgi' or verdict in ('skipped', 'not judged'):
            continue
        on_upstream = _ids_at(audit['findings'], case['upstream_sources'])
        if 'TW-NGINX-001' in on_upstream:
            continue
        flagged = 'TW-NGINX-002' in _ids_at(audit['findings'], [case['pass_source']])
        assert result['seen'] == ['FCGI_KEEP_CONN %s' % ('not set' if flagged else 'set')], (case, result)
        checked += 1
    assert checked >= 4


_CACHE = {}


def _load_rows(host):
    key = host.backend.get_hostname()
    if key not in _CACHE:
        _CACHE[key] = _rows(host)
    return _CACHE[key]
