"""The HTML report in headless Chromium: what a person sees and can do, and that no host value runs.

Pages are written by report_files.write_reports, as the tcp_report action
writes them, and opened from disk. Chromium decides: sorting, filtering,
paging and expanding are done by clicking; what is asserted is the rendered
text. The hostile fleet's values (script tags, onerror handlers, ']]>',
control characters) must show as text and never run. The last test writes
the screenshot README.md shows (build/report.png; `make screenshot` copies it to docs/images/).
"""

from __future__ import annotations

import json
import pathlib

import pytest
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as tr
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files as rf
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_html
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import synthetic_fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / 'tests' / 'unit' / 'fixtures' / 'report'
# Written under build/ (ignored by git), so a test run leaves the checkout clean; `make screenshot`
# copies it to docs/images/report.png, the picture README.md shows.
SCREENSHOT = ROOT / 'build' / 'report.png'
# The rendered text of each cell of the host rows (the host cell without its expand button).
ROWS_JS = """return Array.from(document.querySelectorAll('#hosts tbody tr.host-row')).map(function (tr) {
  return Array.from(tr.cells).map(function (td) {
    var button = td.querySelector('button.toggle');
    var text = td.innerText;
    return (button ? text.slice(button.innerText.length) : text).trim(); }); });"""
COLUMNS = [label for label, _cls, _first in report_html.HOST_COLUMNS]


def write_page(directory, records, hosts, errors, run, previous=None):
    if previous is not None:
        rf.write_reports(previous, str(directory), 'tcp-audit', [])
    fleet = tr.tcp_report_fleet(records, hosts, errors, run)
    files = rf.write_reports(fleet, str(directory), 'tcp-audit', ['html'])
    return pathlib.Path(files['html']), fleet


def open_report(browser, path):
    browser.get(path.as_uri())
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.TAG_NAME, 'html').get_attribute('data-ready') == 'true')


def shown_rows(browser):
    return [dict(zip(COLUMNS, cells)) for cells in browser.execute_script(ROWS_JS)]


def status(browser):
    return browser.find_element(By.ID, 'hosts-status').text


def click_heading(browser, label):
    browser.find_element(By.XPATH, '//table[@id="hosts"]//th/button[normalize-space()="%s"]' % label).click()


def number(text):
    return float(text.rstrip('%')) if text else -1.0


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory):
    """A 300-host fleet judged by the real judge, its page open-able from disk."""
    records, errors, hosts, run = synthetic_fleet.fleet(300, seed=21)
    path, fleet = write_page(tmp_path_factory.mktemp('synthetic'), records, hosts, errors, run)
    return path, fleet


def test_hosts_are_worst_first_in_pages_of_a_hundred(browser, synthetic):
    path, fleet = synthetic
    open_report(browser, path)
    rows = shown_rows(browser)
    expected = [tr.visible(e['host']) for e in tr.sorted_hosts(fleet)]
    assert [r['Host'] for r in rows] == expected[:100]
    assert status(browser) == 'Hosts 1 to 100 of 300'
    browser.find_element(By.ID, 'page-next').click()
    assert [r['Host'] for r in shown_rows(browser)] == expected[100:200]
    assert status(browser) == 'Hosts 101 to 200 of 300'


def test_sorting_by_a_column_and_back(browser, synthetic):
    path, fleet = synthetic
    open_report(browser, path)
    click_heading(browser, 'TIME_WAIT')
    values = [number(r['TIME_WAIT']) for r in shown_rows(browser)]
    audited = sorted((e['timewait']['sockstat_tw'] for e in fleet['hosts'] if e['timewait']['sockstat_tw'] is not None),
                     reverse=True)
    assert values == [float(v) for v in audited[:100]]
    click_heading(browser, 'TIME_WAIT')
    ascending = [number(r['TIME_WAIT']) for r in shown_rows(browser)]
    assert ascending == sorted(ascending) and ascending[0] == -1.0  # hosts without a count first
    heading = browser.find_element(By.XPATH, '//table[@id="hosts"]//th[button[normalize-space()="TIME_WAIT"]]')
    assert heading.get_attribute('aria-sort') == 'ascending'
    click_heading(browser, 'Host')
    names = [r['Host'] for r in shown_rows(browser)]
    assert names == sorted(tr.visible(e['host']) for e in fleet['hosts'])[:100]


def test_filters_by_state_finding_and_name(browser, synthetic):
    path, fleet = synthetic
    open_report(browser, path)
    for box in browser.find_elements(By.CSS_SELECTOR, 'input.state-filter'):
        if box.get_attribute('value') != 'unreachable':
            box.click()
    rows = shown_rows(browser)
    assert rows and {r['State'] for r in rows} == {'unreachable'}
    assert status(browser).endswith('of %d (filtered from 300)' % fleet['totals']['unreachable'])
    for box in browser.find_elements(By.CSS_SELECTOR, 'input.state-filter'):
        if not box.is_selected():
            box.click()
    port = next(f for f in fleet['findings'] if f['id'] == 'TW-PORT-001')
    Select(browser.find_element(By.ID, 'filter-finding')).select_by_visible_text('TW-PORT-001 (%d)' % port['count'])
    rows = shown_rows(browser)
    assert sorted(r['Host'] for r in rows) == sorted(port['hosts'])
    assert all('TW-PORT-001' in r['Findings'] for r in rows)
    Select(browser.find_element(By.ID, 'filter-finding')).select_by_value('-1')
    browser.find_element(By.ID, 'filter-host').send_keys('lb-lon3')
    names = [r['Host'] for r in shown_rows(browser)]
    assert names and all('lb-lon3' in name for name in names)
    assert len(names) == len([e for e in fleet['hosts'] if 'lb-lon3' in e['host']])


def test_show_hosts_of_a_finding_from_its_row(browser, synthetic):
    path, fleet = synthetic
    open_report(browser, path)
    index = next(i for i, f in enumerate(fleet['findings']) if f['id'] == 'TW-SYSCTL-008')
    browser.find_element(By.CSS_SELECTOR, 'button.show-hosts[data-finding="%d"]' % index).click()
    assert sorted(r['Host'] for r in shown_rows(browser)) == sorted(fleet['findings'][index]['hosts'])


def test_expanding_a_host_shows_its_findings_settings_and_destinations(browser, synthetic):
    path, fleet = synthetic
    open_report(browser, path)
    entry = next(e for e in tr.sorted_hosts(fleet) if 'TW-PORT-001' in e['finding_ids'])
    browser.find_element(By.ID, 'filter-host').send_keys(entry['host'])
    button = browser.find_element(By.CSS_SELECTOR, '#hosts tbody tr.host-row button.toggle')
    assert button.get_attribute('aria-expanded') == 'false'
    button.click()
    detail = browser.find_element(By.CSS_SELECTOR, '#hosts tbody tr.detail')
    tables = detail.find_elements(By.TAG_NAME, 'table')
    findings = [[td.text for td in tr_.find_elements(By.TAG_NAME, 'td')]
                for tr_ in tables[0].find_elements(By.CSS_SELECTOR, ':scope > tbody > tr')]
    record = entry['record']
    assert [(row[0], row[1], row[3]) for row in findings] == [(f['id'], f['severity'], f['detail']) for f in record['findings']]
    assert all(row[5] for row in findings)  # every finding shows its remediation
    settings = {tr_.find_elements(By.TAG_NAME, 'td')[0].text: [td.text for td in tr_.find_elements(By.TAG_NAME, 'td')]
                for tr_ in tables[1].find_elements(By.CSS_SELECTOR, ':scope > tbody > tr')}
    reuse = record['sysctl']['net.ipv4.tcp_tw_reuse']
    assert settings['net.ipv4.tcp_tw_reuse'] == ['net.ipv4.tcp_tw_reuse', reuse['runtime'], reuse['boot'],
                                                 reuse['boot_source'], reuse['expected']]
    destinations = [[td.text for td in tr_.find_elements(By.TAG_NAME, 'td')]
                    for tr_ in tables[2].find_elements(By.CSS_SELECTOR, ':scope > tbody > tr')]
    assert destinations == [[d['address'], str(d['port']), str(d['count'])] for d in record['timewait']['by_remote']]
    assert 'Observed (UTC) ' + record['observed_at'] in detail.text
    browser.find_element(By.CSS_SELECTOR, '#hosts tbody tr.host-row button.toggle').click()
    assert not browser.find_elements(By.CSS_SELECTOR, '#hosts tbody tr.detail')


def test_finding_ids_and_host_names_do_not_wrap_inside_a_word(browser, synthetic):
    path, _fleet = synthetic
    browser.set_window_size(760, 1000)
    try:
        open_report(browser, path)
        # Lines each id and each host name is laid out on: one, however narrow the window.
        lines = browser.execute_script("""
          function lines(node) { var range = document.createRange(); range.selectNodeContents(node);
                                 return range.getClientRects().length; }
          var ids = Array.from(document.querySelectorAll('#hosts .id, #findings .id')).map(lines);
          var hosts = Array.from(document.querySelectorAll('#hosts td.host')).map(function (td) { return lines(td.lastChild); });
          return [ids, hosts];""")
        assert len(lines[0]) > 100 and len(lines[1]) == 100
        assert set(lines[0]) == {1} and set(lines[1]) == {1}
        # The window really is narrow: findings cells do wrap, between ids.
        assert browser.execute_script("""return Array.from(document.querySelectorAll('#hosts tbody tr.host-row'))
          .some(function (tr) { var ids = tr.cells[3].querySelectorAll('.id');
                                return ids.length > 1 && ids[ids.length - 1].offsetTop > ids[0].offsetTop; });""")
    finally:
        browser.set_window_size(1400, 1000)


def test_hostile_values_show_as_text_and_never_run(browser, tmp_path):
    data = json.loads((FIXTURES / 'hostile.json').read_text())
    normal = json.loads((FIXTURES / 'fleet.json').read_text())
    records = dict(normal['records'], **data['records'])
    errors = dict(normal['errors'], **data['errors'])
    hosts = normal['hosts'] + data['hosts']
    path, fleet = write_page(tmp_path, records, hosts, errors, data['run'])
    open_report(browser, path)
    shown = sorted(r['Host'] for r in shown_rows(browser))
    assert shown == sorted(tr.visible(h, report_html.TEXT).strip() for h in hosts)
    # Open every host's details, sort and filter: every code path that draws host text.
    for index in range(len(hosts)):
        browser.find_elements(By.CSS_SELECTOR, '#hosts tbody tr.host-row button.toggle')[index].click()
    for label in COLUMNS:
        click_heading(browser, label)
    Select(browser.find_element(By.ID, 'filter-finding')).select_by_index(1)
    details = browser.find_element(By.ID, 'hosts').text
    assert '<script>window.__pwned=2</script>' in browser.find_element(By.TAG_NAME, 'body').text + details
    assert browser.execute_script('return window.__pwned === undefined && document.querySelectorAll("img").length === 0')
    # Only the page's own two scripts exist, and nothing was fetched.
    assert browser.execute_script('return document.scripts.length') == 2
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    errors_logged = [entry['message'] for entry in browser.get_log('browser') if entry['level'] == 'SEVERE']
    assert errors_logged == []


def test_the_policy_blocks_markup_that_would_get_in(browser, synthetic):
    # Defence in depth: were a bug to let markup into the page, the page's
    # Content-Security-Policy still refuses to run its handlers or fetch anything.
    path, _fleet = synthetic
    open_report(browser, path)
    browser.execute_script("""document.body.insertAdjacentHTML('beforeend',
      '<img id="probe" src="data:," onerror="window.__pwned = 1"><img src="http://192.0.2.1/x.png">');""")
    WebDriverWait(browser, 10).until(lambda d: any('Content Security Policy' in e['message'] for e in d.get_log('browser')))
    assert browser.execute_script('return window.__pwned === undefined')


def test_screenshot_for_the_readme(browser, tmp_path):
    records, errors, hosts, run = synthetic_fleet.fleet(48, seed=4)
    before_records, before_errors, _hosts, before_run = synthetic_fleet.fleet(48, seed=3)
    previous = tr.tcp_report_fleet(before_records, hosts, before_errors, dict(before_run, generated_at='2026-01-01T03:04:05Z'))
    path, fleet = write_page(tmp_path, records, hosts, errors, run, previous=previous)
    browser.set_window_size(1280, 1500)
    try:
        open_report(browser, path)
        browser.find_elements(By.CSS_SELECTOR, '#hosts tbody tr.host-row button.toggle')[0].click()
        browser.execute_script('window.scrollTo(0, 0);')
        assert browser.find_element(By.CSS_SELECTOR, '#hosts tbody tr.detail').is_displayed()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
    finally:
        browser.set_window_size(1400, 1000)
    assert SCREENSHOT.stat().st_size > 50000 and fleet['history'] is not None
