"""Real nginx judges the nginx audit: every verdict must agree with the traffic.

converge left on each host the cases (cases.json, written by judge.py from a
printed seed), the traffic measured through real nginx (traffic.json: new
backend connections per case) and the audit of the same configuration
(audit.json: the filter nginx_observation over the module tcp_audit_info).

The audit's verdict on a case: "not pooled" when its *_pass carries
TW-NGINX-002, 003 or 004, or its upstream carries TW-NGINX-001; "skipped" when
the *_pass carries TW-NGINX-007; "pooled" otherwise. The traffic's: "not
pooled" when at least 90 % of the requests opened a backend connection,
"pooled" at most half. Conservative verdicts are checked against the adverse
case: the client sends "Connection: close", and the backend answers an
HTTP/1.0 request in HTTP/1.0 (as Go's net/http does), which nginx never keeps.
"""
import json
import math

WORK = '/var/tmp/harden-tcp-judge'
CONFIG = '/etc/nginx/judge'
BREAKING = {'TW-NGINX-002', 'TW-NGINX-003', 'TW-NGINX-004'}
# What real nginx does with the fixed classes (issue 10), independent of the audit.
FIXED_TRUTH = {
    'map-empty-to-empty': 'pooled', 'map-empty-to-close': 'not pooled', 'literal-keep-alive': 'pooled',
    'literal-upgrade': 'pooled', 'request-uri-after-upstream': 'pooled', 'case-different-upstream-name': 'pooled',
    'dotdot-include': 'pooled', 'dot-include': 'pooled', 'jenkins-duplicate-connection': 'not pooled',
    'client-connection-passed': 'not pooled', 'map-regex-never-tried-on-empty': 'pooled',
    'balancer-after-keepalive': 'not pooled', 'balancer-before-keepalive': 'pooled', 'literal-address': 'not pooled',
    'http10-keep-alive': 'not pooled', 'set-close': 'not pooled', 'location-header-drops-inherited': 'not pooled',
    'variable-host': 'pooled', 'keepalive-requests-10': 'pooled', 'no-keepalive': 'not pooled',
}


def _load(host):
    cases = json.loads(host.file('%s/cases.json' % CONFIG).content_string)
    traffic = json.loads(host.file('%s/traffic.json' % WORK).content_string)
    audit = json.loads(host.file('%s/audit.json' % WORK).content_string)
    return cases, traffic, audit


def audit_verdict(case, findings):
    on_pass = {item['id'] for item in findings if item['source'] == case['pass_source']}
    if 'TW-NGINX-007' in on_pass:
        return 'skipped'
    upstream_off = any(item['id'] == 'TW-NGINX-001' and item['source'] in case['upstream_sources'] for item in findings)
    return 'not pooled' if on_pass & BREAKING or upstream_off else 'pooled'


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
        result = traffic[str(case['number'])]
        rows.append((case, result, audit_verdict(case, audit['findings']), measured(result)))
    return cases['seed'], rows, audit


def test_every_request_was_answered(host):
    _seed, rows, _audit = _load_rows(host)
    failed = [(case['number'], case['description'], result['errors']) for case, result, _a, _m in rows if result['failed']]
    assert failed == []


def test_no_verdict_contradicts_the_traffic(host):
    seed, rows, audit = _load_rows(host)
    assert audit['present'] is True and audit['version']
    disagreements = []
    judged = 0
    for case, result, verdict, outcome in rows:
        if verdict == 'skipped':
            continue
        judged += 1
        if verdict != outcome:
            disagreements.append('case %d (%s): audit says %s, %d/%d new backend connections (backend saw %s); '
                                 'findings %s' % (case['number'], case['description'], verdict,
                                                  result['new_connections'], result['requests'], result['seen'],
                                                  [(f['id'], f['source']) for f in audit['findings']
                                                   if f['source'] in [case['pass_source']] + case['upstream_sources']]))
    print('%s: nginx %s, NGINX_JUDGE_SEED=%s, %d cases (%d random), %d judged, %d agree, %d skipped (variable host)'
          % (host.backend.get_hostname(), audit['version'], seed, len(rows),
             sum(1 for row in rows if row[0]['kind'] == 'random'), judged, judged - len(disagreements),
             sum(1 for row in rows if row[2] == 'skipped')))
    assert disagreements == [], '\n'.join(disagreements)


def test_the_fixed_classes_behave_as_nginx_is_known_to(host):
    _seed, rows, _audit = _load_rows(host)
    fixed = dict((case['description'], outcome) for case, _r, _v, outcome in rows if case['kind'] == 'fixed')
    assert fixed == FIXED_TRUTH


def test_the_test_can_fail(host):
    """Enough random cases, and both outcomes in numbers: a judge that always agrees proves nothing."""
    _seed, rows, audit = _load_rows(host)
    outcomes = [outcome for case, _r, _v, outcome in rows if case['kind'] == 'random']
    assert len(outcomes) >= 40
    assert outcomes.count('pooled') >= 5 and outcomes.count('not pooled') >= 5, outcomes
    assert not [f for f in audit['findings'] if f['id'] == 'TW-NGINX-006']


def test_variable_hosts_are_skipped_and_named(host):
    _seed, rows, audit = _load_rows(host)
    for case, _result, verdict, _outcome in rows:
        assert (verdict == 'skipped') == case['variable_host'], case


def test_keepalive_requests_closes_pooled_connections(host):
    _seed, rows, _audit = _load_rows(host)
    checked = 0
    for case, result, _verdict, outcome in rows:
        if case['keepalive_requests'] and outcome == 'pooled':
            least = math.ceil(result['requests'] / case['keepalive_requests'])
            assert least <= result['new_connections'] <= least + 2, (case, result)
            checked += 1
    assert checked >= 1


_CACHE = {}


def _load_rows(host):
    key = host.backend.get_hostname()
    if key not in _CACHE:
        _CACHE[key] = _rows(host)
    return _CACHE[key]
