# -*- coding: utf-8 -*-
"""Every report format over the fixture fleets, each output parsed by a real parser.

fleet.json is a small fleet in known states; hostile.json is a fleet whose
hosts send script tags, quotes, ']]>', control characters, ANSI escapes,
pipes and newlines, non-numbers where numbers belong and malformed records.
The JSON is parsed strictly, the Markdown with markdown-it (CommonMark and
tables), the HTML page as XML and with Python's HTML parser, the JUnit file as
XML. The node_exporter textfile template is rendered as Ansible's template
module renders it (promtool parses it in tests/monitoring). Headless Chromium
runs the page in tests/browser.
"""

from __future__ import annotations

import html.parser
import io
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files as rf
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_html, report_text
from markdown_it import MarkdownIt
from report_templates import render_textfile

FIXTURES = pathlib.Path(__file__).resolve().parent / 'fixtures' / 'report'
XHTML = '{http://www.w3.org/1999/xhtml}'
SVG = '{http://www.w3.org/2000/svg}'
HUGE = 200000


def load(name):
    data = json.loads((FIXTURES / name).read_text())
    if name == 'hostile.json':
        # A host that sends a huge message, and numbers that are not finite.
        host = next(h for h in data['errors'] if h.startswith('unreachable-'))
        data['errors'][host]['msg'] += 'A' * HUGE
        first = data['hosts'][0]
        data['records'][first]['timewait']['bucket_utilization'] = float('nan')
        data['records'][first]['timewait']['max_tw_buckets'] = float('inf')
    return data


def build(name, **run):
    data = load(name)
    return tr.tcp_report_fleet(data['records'], data['hosts'], data['errors'], dict(data['run'], **run))


@pytest.fixture()
def fleet():
    return build('fleet.json')


@pytest.fixture()
def hostile():
    return build('hostile.json')


# ---------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------

class TagCollector(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text of each script element, as a browser's tokenizer sees them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in_script = [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == 'script':
            self._in_script = True
            self.scripts.append('')

    def handle_endtag(self, tag):
        if tag == 'script':
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def html_tags(text):
    collector = TagCollector()
    collector.feed(text)
    collector.close()
    return collector


def markdown_html(text):
    return MarkdownIt('commonmark').enable('table').render(text)


def strict_json(text):
    def refuse(token):
        raise ValueError('not JSON: %s' % token)
    return json.loads(text, parse_constant=refuse)


# ---------------------------------------------------------------------------
# The known fleet
# ---------------------------------------------------------------------------

def test_html_is_well_formed_and_lists_every_host_worst_first(fleet):
    page = report_html.page(fleet)
    root = ET.fromstring(page)  # strict XML parse: every tag closed, every & escaped
    table = next(t for t in root.iter(XHTML + 'table') if t.get('id') == 'hosts')
    rows = table.find(XHTML + 'tbody').findall(XHTML + 'tr')
    names = [''.join(row.find(XHTML + 'td').itertext()) for row in rows]
    assert names == [e['host'] for e in tr.sorted_hosts(fleet)]
    assert names[:3] == ['old-01', 'lb-<1>&"x"', 'web-02']
    data = strict_json(root.find(".//{http://www.w3.org/1999/xhtml}script[@id='report-data']").text)
    assert [h[0] for h in data['hosts']] == names and data['omitted'] == 0
    old = data['details'][0]
    record = next(e['record'] for e in fleet['hosts'] if e['host'] == 'old-01')
    assert [f[1] for f in old['f']] == [f['id'] for f in record['findings']]
    assert root.find('.//' + SVG + 'svg') is not None


def test_html_has_no_external_reference_and_a_policy_that_forbids_fetching(fleet):
    page = report_html.page(fleet)
    assert not re.search(r'\b(src|href|action|formaction)=', page)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and 'unsafe-inline' not in csp.split('script-src')[1].split(';')[0]


def test_the_script_policy_hash_is_the_hash_of_the_page_script(fleet):
    import base64
    import hashlib
    page = report_html.page(fleet)
    script = html_tags(page).scripts[-1]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert "'sha256-%s'" % digest in page


def test_html_caps_the_hosts_listed_worst_first_and_says_so(fleet):
    page = report_html.page(fleet, {'html_max_hosts': 3})
    data = strict_json(ET.fromstring(page).find(".//{http://www.w3.org/1999/xhtml}script[@id='report-data']").text)
    assert [h[0] for h in data['hosts']] == ['old-01', 'lb-<1>&"x"', 'web-02'] and data['omitted'] == 5
    assert 'the other 5 are in tcp-audit.json' in page


def test_html_shows_run_notices_and_history(fleet):
    fleet['run'].update(run_id='r2', slice={'number': 1, 'count': 2}, limit='web*')
    previous = json.loads(json.dumps(fleet))
    previous['hosts'][0]['state'] = 'compliant'
    fleet['history'] = tr.report_history(previous, fleet, '/r/old.json')
    root = ET.fromstring(report_html.page(fleet))
    notices = [''.join(p.itertext()) for p in root.iter(XHTML + 'p') if p.get('class') == 'notice']
    assert any(n.startswith('Partial report: slice 1 of 2') for n in notices)
    assert any('--limit web*' in n for n in notices)
    changes = next(t for t in root.iter(XHTML + 'table') if 'state-changes' in (t.get('class') or ''))
    assert [''.join(td.itertext()) for td in changes.find(XHTML + 'tbody').find(XHTML + 'tr')] == ['db-01', 'compliant', 'unreachable']


def test_chart_is_scaled_to_each_limit(fleet):
    svg = ET.fromstring(report_html.chart_svg(fleet))
    rows = svg.findall(SVG + 'g')
    assert len(rows) == 5  # unreachable and failed hosts have no bar
    lb = next(r for r in rows if r.find(SVG + 'text').text == 'lb-<1>&"x"')
    usage_bar = lb.findall(SVG + 'rect')[2]
    assert float(usage_bar.get('width')) == pytest.approx(0.9521 * 420, abs=0.1)
    assert usage_bar.get('fill') == report_html.CHART_COLOURS['noncompliant']
    assert '7800 / 8192 (95.2%)' in ET.tostring(lb, encoding='unicode')
    assert report_html.chart_svg(fleet, max_hosts=2).count('<g class="row') == 2


def test_markdown_summary(fleet):
    text = report_text.markdown(fleet)
    assert '# TCP TIME_WAIT audit: 3 of 8 hosts not compliant' in text
    assert '| 8 | 2 | 3 | 2 | 1 | 0 | 7855 |' in text
    worst = [line.split(' | ')[0].lstrip('| ') for line in text.split('## Hosts most at risk')[1].split('## Findings')[0].splitlines()
             if line.startswith('| ') and not line.startswith('| Host')]
    assert worst[:3] == ['old-01', 'lb-\\<1\\>\\&"x"', 'web-02']
    assert '### TW-SYSCTL-006 (high): runtime value differs from the profile' in text
    rendered = markdown_html(text)
    assert '<td>lb-&lt;1&gt;&amp;&quot;x&quot;</td>' in rendered


def test_markdown_lists_hosts_per_finding_up_to_the_limit(fleet):
    text = report_text.markdown(fleet, {'md_hosts_per_finding': 1})
    assert '- Hosts (2): old-01, and 1 more (see tcp-audit.json)' in text


def test_junit_counts_and_cases(fleet):
    root = ET.fromstring(report_text.junit(fleet).split('\n', 1)[1])
    suite = root.find('testsuite')
    assert (suite.get('tests'), suite.get('failures'), suite.get('errors')) == ('8', '3', '3')
    cases = {case.get('name'): case for case in suite.findall('testcase')}
    assert set(cases) == {e['host'] for e in fleet['hosts']}
    assert cases['web-02'].find('failure').get('message') == 'TW-SYSCTL-006 runtime value differs from the profile'
    assert cases['old-01'].find('failure').get('message').count('TW-SYSCTL-006') == 1
    assert cases['db-01'].find('error').get('type') == 'unreachable'
    assert cases['db-02'].find('error').get('type') == 'failed'
    assert cases['web-01'].find('failure') is None and cases['web-01'].find('error') is None
    assert 'TW-SYSCTL-008' in cases['web-03'].find('system-out').text


# ---------------------------------------------------------------------------
# The hostile fleet, through every format
# ---------------------------------------------------------------------------

def test_hostile_json_is_strict_json_and_keeps_every_value(hostile, tmp_path):
    files = rf.write_reports(hostile, str(tmp_path), 'tcp-audit', [])
    report = strict_json(pathlib.Path(files['json']).read_text())
    data = load('hostile.json')
    assert [e['host'] for e in report['hosts']] == sorted(data['hosts'])
    # The JSON is the source of truth: host text is kept exactly, only non-finite numbers become null.
    entry = next(e for e in report['hosts'] if e['host'] == data['hosts'][1])
    assert entry['record']['kernel']['release'] == data['records'][data['hosts'][1]]['kernel']['release']
    unreachable = next(e for e in report['hosts'] if e['host'].startswith('unreachable-'))
    assert len(unreachable['error']) > HUGE and unreachable['error'].endswith('A' * 10)
    first = next(e for e in report['hosts'] if e['host'] == data['hosts'][0])
    assert first['record']['timewait']['bucket_utilization'] is None


def test_hostile_numbers_are_coerced_or_left_out(hostile):
    entry = next(e for e in hostile['hosts'] if e['host'] == load('hostile.json')['hosts'][1])
    assert entry['timewait'] == {'total': None, 'ipv4': None, 'ipv6': None, 'sockstat_tw': None, 'max_tw_buckets': None,
                                 'bucket_utilization': None, 'overflow_total': None, 'port_pressure': None,
                                 'method': entry['record']['timewait']['method']}
    assert hostile['totals']['timewait_total'] == 3  # only plain-ok's number counts


def test_hostile_html_stays_text(hostile):
    page = report_html.page(hostile)
    ET.fromstring(page)  # well-formed: ']]>', '<' and '&' from hosts are all escaped
    tokens = html_tags(page)
    tags = [tag for tag, _attrs in tokens.tags]
    assert tags.count('script') == 2 and 'img' not in tags and tags.count('svg') == 1 and 'b' not in tags
    events = [(tag, name) for tag, attrs in tokens.tags for name in attrs if name.startswith('on')]
    assert events == []
    assert all(not (value or '').lstrip().lower().startswith('javascript:') for _tag, attrs in tokens.tags
               for value in attrs.values())
    # The data block is JSON that could not end its script element, and holds the names as visible text.
    data = strict_json(tokens.scripts[0])
    assert '<' not in tokens.scripts[0] and '&' not in tokens.scripts[0]
    assert sorted(h[0] for h in data['hosts']) == sorted(tr.visible(h, report_html.TEXT) for h in load('hostile.json')['hosts'])
    text = json.dumps(data, ensure_ascii=False)
    assert not re.search('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]', text)
    assert len(page) < 400000  # the 200,000-character message is cut in the page


def test_hostile_html_detail_shows_what_the_record_holds(hostile):
    data = report_html.page_data(hostile, tr.sorted_hosts(hostile))
    hosts = [h[0] for h in data['hosts']]
    xss = load('hostile.json')['hosts'][1]
    detail = data['details'][hosts.index(tr.visible(xss, report_html.TEXT))]
    assert [f[1] for f in detail['f']] == ['TW-<b>X</b>', "['a', 'list']", 'TW-SYSCTL-006']
    assert detail['t'][0] == [xss, None, None]
    assert 'boot_prediction' in detail['x'] and 'upstreams' in detail['x']['nginx']


def test_hostile_markdown_renders_no_markup_and_keeps_its_tables(hostile):
    text = report_text.markdown(hostile)
    rendered = markdown_html(text)
    tokens = html_tags(rendered)
    allowed = {'h1', 'h2', 'h3', 'p', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'ul', 'li', 'strong', 'blockquote'}
    assert {tag for tag, _attrs in tokens.tags} <= allowed
    assert all(not attrs or set(attrs) <= {'style'} for _tag, attrs in tokens.tags)
    for table in re.findall(r'<table>.*?</table>', rendered, re.S):
        rows = re.findall(r'<tr>(.*?)</tr>', table, re.S)
        widths = {len(re.findall(r'<t[hd][ >]', row)) for row in rows}
        assert len(widths) == 1, table[:300]
    assert not re.search('[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]', text)


def test_hostile_junit_is_well_formed_with_visible_names(hostile):
    document = report_text.junit(hostile)
    root = ET.fromstring(document.split('\n', 1)[1])
    cases = root.find('testsuite').findall('testcase')
    assert sorted(c.get('name') for c in cases) == sorted(tr.visible(h, 1000) for h in load('hostile.json')['hosts'])
    ansi = next(c for c in cases if c.get('name').startswith('\u241b[31m'))
    assert ansi.find('failure') is not None
    assert len(document) < 200000


def test_hostile_run_metadata_is_escaped_everywhere(hostile):
    page = report_html.page(hostile)
    assert '<script>window.__pwned' not in page and 'onerror="' not in page
    text = report_text.markdown(hostile)
    assert '\\<script\\>' in text


# ---------------------------------------------------------------------------
# The node_exporter textfile (a Jinja template on each host)
# ---------------------------------------------------------------------------

SAMPLE = re.compile(r'[a-z_]+(\{[a-z]+="([^"\\\n]|\\["\\n])*"(,[a-z]+="([^"\\\n]|\\["\\n])*")*\})? -?[0-9.]+')


def textfile_samples(text):
    samples = [line for line in text.splitlines() if line and not line.startswith('#')]
    names = [re.match(r'[a-z_]+(\{[^}]*\})?', line).group(0) for line in samples]
    assert len(names) == len(set(names)), 'duplicate series make node_exporter reject the file'
    for line in samples:
        assert SAMPLE.fullmatch(line), line
    return samples


def test_prometheus_textfile():
    record = load('fleet.json')['records']['old-01']
    samples = textfile_samples(render_textfile(dict(record, observed_at='2026-01-02T03:04:05Z')))
    assert 'harden_tcp_compliant 0' in samples
    assert 'harden_tcp_max_tw_buckets 65536' in samples
    assert 'harden_tcp_finding{id="TW-SYSCTL-006",severity="high"} 1' in samples
    assert 'harden_tcp_findings{severity="critical"} 1' in samples
    assert 'harden_tcp_audit_timestamp_seconds 1767323045' in samples
    # overflow_total is null on this host: no sample rather than a made-up 0.
    assert not any(line.startswith('harden_tcp_timewait_overflow_total') for line in samples)


def test_prometheus_textfile_of_a_hostile_record():
    data = load('hostile.json')
    samples = textfile_samples(render_textfile(data['records'][data['hosts'][1]]))
    # No sample for what is not a number; the unknown audit time is 0, so the staleness alert fires.
    assert not any(line.startswith(('harden_tcp_timewait_buckets_used', 'harden_tcp_max_tw_buckets')) for line in samples)
    assert 'harden_tcp_audit_timestamp_seconds 0' in samples and 'harden_tcp_compliant 0' in samples
    assert 'harden_tcp_finding{id="TW-<b>X</b>",severity="high"} 1' in samples
    assert 'harden_tcp_finding{id="[\'a\', \'list\']",severity="unknown"} 1' in samples


def test_renderers_accept_what_report_files_passes(fleet):
    out = io.StringIO()
    rf.write_json(fleet, out)
    names = {'json': 'x.json'}
    assert 'x.json' in report_text.markdown(fleet, {}, names) and 'x.json' in report_html.page(fleet, {}, names)
