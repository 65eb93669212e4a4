"""The one finding catalogue: complete, well-formed, and what the README shows."""

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import catalogue

import repo_scripts


def test_readme_table_is_generated_from_the_catalogue():
    script = repo_scripts.load('scripts/catalogue_table.py')
    readme = (repo_scripts.REPO_ROOT / 'README.md').read_text()
    assert script.readme_table(readme) == script.table(), 'README.md drifted from the catalogue: run make docs'


def test_every_entry_is_complete():
    for finding_id, entry in catalogue.CATALOGUE.items():
        assert set(entry) - {'remediation_by_protocol'} == {'severity', 'title', 'rule', 'remediation'}, finding_id
        assert entry['severity'] in catalogue.SEVERITIES, finding_id
        assert all(entry[field].strip() for field in ('title', 'rule', 'remediation')), finding_id
        for protocol, text in entry.get('remediation_by_protocol', {}).items():
            assert protocol in ('fastcgi', 'grpc', 'memcached') and text.strip(), (finding_id, protocol)


def test_remediation_fits_the_protocol():
    proxy = catalogue.CATALOGUE['TW-NGINX-001']['remediation']
    fastcgi = catalogue.CATALOGUE['TW-NGINX-001']['remediation_by_protocol']['fastcgi']
    assert catalogue.remediation('TW-NGINX-001') == proxy
    assert catalogue.remediation('TW-NGINX-001', ['proxy']) == proxy
    assert catalogue.remediation('TW-NGINX-001', ['fastcgi']) == fastcgi
    assert catalogue.remediation('TW-NGINX-001', ['fastcgi', 'proxy']) == fastcgi + ' ' + proxy
    assert catalogue.remediation('TW-NGINX-004', ['fastcgi']) == catalogue.CATALOGUE['TW-NGINX-004']['remediation']
    assert catalogue.finding('TW-NGINX-002', 'x', 'y', ['fastcgi'])['remediation'] == (
        catalogue.CATALOGUE['TW-NGINX-002']['remediation_by_protocol']['fastcgi'])


def test_finding_carries_the_catalogue_text():
    item = catalogue.finding('TW-NGINX-003', 'seen here', '/etc/nginx/x.conf:3')
    assert item == {'id': 'TW-NGINX-003', 'severity': 'high', 'title': catalogue.CATALOGUE['TW-NGINX-003']['title'],
                    'detail': 'seen here', 'remediation': catalogue.CATALOGUE['TW-NGINX-003']['remediation'],
                    'source': '/etc/nginx/x.conf:3'}


def test_severity_helpers():
    findings = [{'severity': 'medium'}, {'severity': 'high'}, {'severity': 'bogus'}]
    assert catalogue.worst_severity(findings) == 'high'
    assert catalogue.severity_counts(findings) == {'critical': 0, 'high': 1, 'medium': 1, 'low': 0, 'info': 0}
    assert not catalogue.is_compliant(findings) and catalogue.is_compliant(findings[:1])
    assert [f['severity'] for f in catalogue.sort_findings(findings)] == ['high', 'medium', 'bogus']
