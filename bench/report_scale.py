"""Benchmark the fleet report at 1,000, 5,000 and 20,000 hosts: the report step, the report play, the page.

For each fleet size, synthetic audit records (tests/synthetic_fleet.py: seeded
observations judged by the real judge) are reported three ways:

  step  the report's Python step alone, as the action plugin runs it
        (report.tcp_report_fleet + report_files.write_reports, every format),
        in a fresh process: seconds and peak memory of that process.
  play  playbooks/report.yml run by ansible-playbook over an inventory of that
        many hosts whose records sit in a jsonfile fact cache (no host is
        contacted): wall time and peak memory (largest process: ansible-playbook
        or a worker), the action's own timings, and the same inventory with a
        one-task play for comparison (what Ansible costs before the report).
  page  the HTML page in headless Chromium: size, time until the table is
        drawn, one sort (TIME_WAIT), one filter (a finding id), one search.

Targets (issue 14): 1,000 hosts under 3 s and 20,000 under 60 s of report
time, under 1 GB of controller memory. Figures, not a test: it prints them.
Run from the project root with the venv first on PATH:

  python3 bench/report_scale.py                      # 1000 5000 20000
  python3 bench/report_scale.py --hosts 1000 --skip-play
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / 'collections'), str(ROOT / 'tests')]

CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync',
                  '--window-size=1400,1000')


def measured(argv: List[str], **kwargs: Any) -> Dict[str, Any]:
    """Run argv in a child Python that reports wall time and the peak RSS of the largest process below it."""
    probe = ('import json, resource, subprocess, sys, time\n'
             'start = time.monotonic()\n'
             'result = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n'
             'print(json.dumps({"rc": result.returncode, "wall": time.monotonic() - start, "output": result.stdout,\n'
             '                  "maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n')
    out = subprocess.run([sys.executable, '-c', probe, *argv], stdout=subprocess.PIPE, text=True, check=True, **kwargs)
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------
# step: the Python step alone (run in a child process: --step N DIR)
# ---------------------------------------------------------------------------

def step(count: int, directory: str) -> None:
    """Generate the records, then time the report step; print JSON."""
    from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report as rp
    from ansible_collections.harden_tcp.tcp.plugins.plugin_utils import report_files
    import synthetic_fleet

    records, errors, hosts, run = synthetic_fleet.fleet(count)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    with report_files.no_gc_pauses():
        fleet = rp.tcp_report_fleet(records, hosts, errors, run)
        built = time.monotonic()
        files = report_files.write_reports(fleet, directory, 'tcp-audit', report_files.FORMATS)
    done = time.monotonic()
    print(json.dumps({'build': built - started, 'write': done - built, 'total': done - started,
                      'records_mb': before, 'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      'sizes_kb': {fmt: os.path.getsize(path) // 1024 for fmt, path in files.items()}}))


def run_step(count: int, work: pathlib.Path) -> Dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, '--step', str(count), str(work / 'step')],
                         stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(out.stdout)


# ---------------------------------------------------------------------------
# play: playbooks/report.yml over a fact cache
# ---------------------------------------------------------------------------

def close_leaked_cache_files(directory: pathlib.Path) -> None:
    """Close the descriptors ansible-core 2.19's jsonfile cache leaves open, one per set() (Linux /proc).

    BaseFileCacheModule.set() never closes the descriptor tempfile.mkstemp()
    returns, so writing 20,000 hosts' facts in one process runs out of
    descriptors (the limit here is 20,000).
    """
    for name in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + name)
        except OSError:
            continue
        if target.startswith(str(directory) + '/'):
            os.close(int(name))


def prepare_play(count: int, work: pathlib.Path) -> pathlib.Path:
    """Inventory of count local hosts, and a jsonfile fact cache holding their records and errors.

    The cache is written by Ansible's own jsonfile cache plugin, in the format
    (and under the file names) Ansible reads back.
    """
    from ansible.plugins.loader import cache_loader, init_plugin_loader
    import synthetic_fleet

    records, errors, hosts, _run = synthetic_fleet.fleet(count)
    init_plugin_loader()
    facts_dir = work / 'facts'
    cache = cache_loader.get('ansible.builtin.jsonfile', _uri=str(facts_dir), _timeout=86400)
    for index, host in enumerate(hosts):
        facts = {}
        if host in records:
            facts['tcp_audit_record'] = records[host]
        if host in errors:
            facts['tcp_report_host_error'] = errors[host]
        cache.set(host, facts)
        if index % 1000 == 999:
            close_leaked_cache_files(facts_dir)
    close_leaked_cache_files(facts_dir)
    inventory = work / 'inventory.json'
    inventory.write_text(json.dumps({'all': {'hosts': {host: None for host in hosts},
                                             'vars': {'ansible_connection': 'local'}}}))
    (work / 'baseline.yml').write_text('- name: One task, once\n  hosts: all\n  gather_facts: false\n  tasks:\n'
                                       '    - name: Nothing\n      ansible.builtin.debug:\n        msg: once\n'
                                       '      run_once: true\n')
    return inventory


def run_play(count: int, work: pathlib.Path) -> Dict[str, Any]:
    inventory = prepare_play(count, work)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'), ANSIBLE_CACHE_PLUGIN='ansible.builtin.jsonfile',
               ANSIBLE_CACHE_PLUGIN_CONNECTION=str(work / 'facts'), ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json')
    baseline = measured(['ansible-playbook', '-i', str(inventory), str(work / 'baseline.yml')], env=env, cwd=ROOT)
    play = measured(['ansible-playbook', '-i', str(inventory), str(ROOT / 'playbooks' / 'report.yml'),
                     '-e', 'tcp_report_dir=%s' % (work / 'play')], env=env, cwd=ROOT)
    if play['rc'] != 0 or baseline['rc'] != 0:
        raise SystemExit('ansible-playbook failed:\n%s' % (play['output'] or baseline['output'])[-3000:])
    document = json.loads(play['output'])
    tasks = [task for p in document['plays'] for task in p['tasks']]
    action = next(task for task in tasks if task['task']['name'].endswith('Build and write the report'))
    timings = next(iter(action['hosts'].values()))['timings']
    return {'wall': play['wall'], 'maxrss_mb': play['maxrss_mb'], 'baseline': baseline['wall'],
            'baseline_maxrss_mb': baseline['maxrss_mb'], 'timings': timings}


# ---------------------------------------------------------------------------
# page: the HTML in headless Chromium
# ---------------------------------------------------------------------------

def run_page(html: pathlib.Path) -> Dict[str, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in CHROMIUM_FLAGS + ('--user-data-dir=' + tempfile.mkdtemp(prefix='bench-chromium-'),):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    try:
        driver.get(html.as_uri())
        WebDriverWait(driver, 120).until(lambda d: d.execute_script(
            "return document.documentElement.getAttribute('data-ready') === 'true'"))
        # From the start of navigation to the table drawn: the page's script sets data-ready when done.
        loaded = driver.execute_script("return performance.now()")
        timing = driver.execute_script("""
          function timed(act) { var t = performance.now(); act(); document.body.offsetHeight; return performance.now() - t; }
          return {
            sort: timed(function () { document.querySelector('#hosts th[data-col="4"] button').click(); }),
            filter: timed(function () { var s = document.getElementById('filter-finding'); s.value = '0';
                                        s.dispatchEvent(new Event('change')); }),
            search: timed(function () { var s = document.getElementById('filter-host'); s.value = 'lb-lon3';
                                        s.dispatchEvent(new Event('input')); })};""")
    finally:
        driver.quit()
    return dict(timing, load=loaded)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--hosts', type=int, nargs='+', default=[1000, 5000, 20000])
    parser.add_argument('--skip-play', action='store_true', help='leave out the ansible-playbook runs')
    parser.add_argument('--skip-page', action='store_true', help='leave out Chromium')
    parser.add_argument('--step', nargs=2, metavar=('HOSTS', 'DIR'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(int(args.step[0]), args.step[1])
        return 0
    rows = []
    for count in args.hosts:
        work = pathlib.Path(tempfile.mkdtemp(prefix='report-scale-%d-' % count))
        row = {'hosts': count, 'step': run_step(count, work)}
        print('%6d hosts  step %.1f s (build %.1f, write %.1f), %.0f MB peak; files %s' % (
            count, row['step']['total'], row['step']['build'], row['step']['write'], row['step']['maxrss_mb'],
            ', '.join('%s %.1f MB' % (fmt, kb / 1024) for fmt, kb in row['step']['sizes_kb'].items())), flush=True)
        if not args.skip_play:
            row['play'] = run_play(count, work)
            play = row['play']
            print('        play  report.yml %.1f s, %.0f MB peak (one-task play on the same inventory %.1f s, %.0f MB); '
                  'action: %s' % (play['wall'], play['maxrss_mb'], play['baseline'], play['baseline_maxrss_mb'],
                                  ', '.join('%s %.1f s' % item for item in play['timings'].items())), flush=True)
        if not args.skip_page:
            row['page'] = run_page(work / 'step' / 'tcp-audit.html')
            print('        page  %.1f MB, drawn after %.0f ms; sort %.0f ms, filter %.0f ms, search %.0f ms' % (
                row['step']['sizes_kb']['html'] / 1024, row['page']['load'], row['page']['sort'], row['page']['filter'],
                row['page']['search']), flush=True)
        rows.append(row)
    print()
    print('| hosts | report step | peak memory | report.yml play | play peak memory | one-task play | HTML | page drawn | sort | filter |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for row in rows:
        play, page = row.get('play') or {}, row.get('page') or {}
        print('| %d | %.1f s | %.0f MB | %s | %s | %s | %.1f MB | %s | %s | %s |' % (
            row['hosts'], row['step']['total'], row['step']['maxrss_mb'],
            '%.1f s' % play['wall'] if play else '-', '%.0f MB' % play['maxrss_mb'] if play else '-',
            '%.1f s' % play['baseline'] if play else '-', row['step']['sizes_kb']['html'] / 1024,
            '%.0f ms' % page['load'] if page else '-', '%.0f ms' % page['sort'] if page else '-',
            '%.0f ms' % page['filter'] if page else '-'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
