"""Verify the transaction scenario: each case's record (/root/cases/*.json), written by converge.yml, and the
host's final state.

A record holds what the playbook run reported (rc, its failures with their messages, the results of the
tasks the cases look at) and the host as files/fingerprint.py read it before and after: every file and link
under /etc/nginx and /etc/sysctl.d (type, mode, owner, sha256 or link target), the profile's runtime values,
nginx's master and workers, and one request through nginx on :8080.
"""

import json
import os

import pytest
import testinfra.utils.ansible_runner

testinfra_hosts = testinfra.utils.ansible_runner.AnsibleRunner(
    os.environ['MOLECULE_INVENTORY_FILE']).get_hosts('all')

SITE_LINK = '/etc/nginx/sites-enabled/app'
SITE = '/etc/nginx/sites-available/app'
RELOAD_TASK = 'Validate, reload, and wait until nginx loaded the configuration'
AGAIN_TASK = 'Reload nginx on the files put back and check that it serves'
WAITED_TASK = 'Say that this run waited for another one'
LOCK_TASK = 'Take the per-host harden-tcp lock (waiting at most tcp_snapshot_lock_wait seconds for another run)'
# The hand-written site proxies with nginx's defaults; the role's upstream pools connections.
OLD_CONFIG = {'status': 200, 'asked': 'HTTP/1.0 close'}
NEW_CONFIG = {'status': 200, 'asked': 'HTTP/1.1 -'}


def case(host, name):
    return json.loads(host.file('/root/cases/%s.json' % name).content_string)


def baseline(host):
    return json.loads(host.file('/root/baseline.json').content_string)


def nginx_files(state):
    """The files and links under /etc/nginx of a fingerprint (the profile's drop-in left out)."""
    return dict((path, entry) for path, entry in state['files'].items() if path.startswith('/etc/nginx/'))


def messages(run):
    return [failure['msg'] for failure in run['failures']]


def ran(run, task):
    """The results of a task in a run, skipped ones left out."""
    return [result for result in run['tasks'].get(task, []) if not result.get('skipped')]


def systemd_host(host):
    return 'systemd' in host.backend.get_hostname()


def test_one_host_runs_under_systemd_and_one_runs_every_case():
    # The other tests skip by host name: a renamed platform must not turn them all into skips.
    assert sorted('systemd' in name for name in testinfra_hosts) == [False, True], testinfra_hosts


@pytest.fixture()
def every_case(host):
    """The host that runs every case; the systemd host runs only the refused reload and a harden and rollback."""
    if systemd_host(host):
        pytest.skip('the systemd host runs only the reload cases')
    return host


# ------------------------------------------------------------------ a reload nginx refuses


def test_a_refused_reload_fails_the_run_naming_nginxs_bind_line(host):
    run = case(host, 'held-port')['run']

    assert run['rc'] == 2
    final = messages(run)[-1]
    assert 'nginx said: [emerg] bind() to 0.0.0.0:8090 failed (98: Address already in use)' in final
    assert 'kept its old workers' in final
    assert 'The files as they were before this change were put back.' in final
    assert 'nginx reloaded them and serves (0.0.0.0:80, 0.0.0.0:8080)' in final


def test_a_refused_reload_leaves_the_disk_byte_identical_and_the_link_a_link(host):
    record = case(host, 'held-port')

    assert nginx_files(record['before']) == nginx_files(baseline(host))
    assert nginx_files(record['after']) == nginx_files(record['before'])
    assert record['after']['files'][SITE_LINK] == ['link', '0777', 0, 0, '../sites-available/app']


def test_a_refused_reload_leaves_nginx_serving_its_old_configuration(host):
    record = case(host, 'held-port')

    assert record['after']['http'] == OLD_CONFIG
    assert record['after']['nginx']['master'] == record['before']['nginx']['master']
    # Reloaded once more, on the files put back: a new generation of workers.
    assert record['after']['nginx']['workers']
    assert not set(record['after']['nginx']['workers']) & set(record['before']['nginx']['workers'])
    assert record['after']['holders'] == [] and record['after']['tmp'] == []


def test_both_reloads_took_the_hosts_reload_path(host):
    run = case(host, 'held-port')['run']
    method = 'systemd' if systemd_host(host) else 'signal'

    first, again = ran(run, RELOAD_TASK), ran(run, AGAIN_TASK)
    assert [(result['method'], result['loaded'], result['reloaded']) for result in first] == [(method, False, True)]
    assert [(result['method'], result['loaded']) for result in again] == [(method, True)]
    assert first[0]['errors'][0] == '[emerg] bind() to 0.0.0.0:8090 failed (98: Address already in use)'


def test_on_systemd_a_harden_and_its_rollback_reload_through_systemd_and_confirm_it(host):
    if not systemd_host(host):
        pytest.skip('nginx runs without systemd here: the other cases reload it by signal')
    record = case(host, 'systemd-rollback')
    hardened, rolled_back = record['hardened'], record['rolled_back']

    outcomes = [messages(hardened['run']), messages(rolled_back['run'])]
    assert (hardened['run']['rc'], rolled_back['run']['rc']) == (0, 0), outcomes
    for run in (hardened['run'], rolled_back['run']):
        assert [(result['method'], result['loaded']) for result in ran(run, RELOAD_TASK)] == [('systemd', True)]
    # What nginx serves follows each reload, under the master systemd started.
    assert (record['before']['http'], hardened['after']['http'], rolled_back['after']['http']) == (
        OLD_CONFIG, NEW_CONFIG, OLD_CONFIG)
    assert hardened['after']['nginx']['master'] == record['before']['nginx']['master']
    assert rolled_back['after']['nginx']['master'] == record['before']['nginx']['master']
    assert nginx_files(hardened['after']) != nginx_files(record['before'])
    assert nginx_files(rolled_back['after']) == nginx_files(record['before'])


# ------------------------------------------------------------------ nginx -t rejects a site enabled by a link


def test_a_rejected_configuration_leaves_the_link_a_link_to_the_same_target(every_case):
    record = case(every_case, 'symlink-rejected')

    assert record['run']['rc'] == 2
    assert 'host not found in upstream "no-such-backend.invalid:8081"' in messages(record['run'])[-1]
    assert record['after']['files'][SITE_LINK] == ['link', '0777', 0, 0, '../sites-available/app']
    assert record['after']['files'][SITE] == baseline(every_case)['files'][SITE]
    assert nginx_files(record['after']) == nginx_files(record['before'])
    assert record['after']['http'] == OLD_CONFIG
    # nginx -t refused it: nginx was never reloaded.
    assert record['after']['nginx'] == record['before']['nginx']
    assert ran(record['run'], AGAIN_TASK) == []


# ------------------------------------------------------------------ a foreign snapshot directory


def test_a_foreign_snapshot_dir_is_refused_and_untouched(every_case):
    record = case(every_case, 'foreign-dir')

    assert record['run']['rc'] == 2
    assert messages(record['run'])[-1].startswith(
        'tcp_snapshot_dir /srv/shared exists and has no marker file, so it is not a harden-tcp snapshot directory')
    assert record['shared_mode'] == '1777'
    shared = sorted(path for path in record['after']['files'] if path.startswith('/srv/shared'))
    assert shared == ['/srv/shared/files', '/srv/shared/files/keep.orig', '/srv/shared/report.csv']
    # Nothing changed anywhere: the shared files, nginx's, sysctl's.
    assert record['after'] == record['before']


# ------------------------------------------------------------------ the per-host lock


def test_a_run_that_meets_a_held_lock_fails_naming_the_holder_and_changes_nothing(every_case):
    record = case(every_case, 'lock-held')
    holder = record['holder']

    assert record['run']['rc'] == 2
    assert messages(record['run'])[-1].startswith(
        'another harden-tcp run holds the lock /var/lib/harden-tcp/lock: the another run whose lock holder is pid %d, '
        'started %s' % (holder['pid'], holder['started']))
    assert 'Waited 3 s (tcp_snapshot_lock_wait); nothing was changed' in messages(record['run'])[-1]
    assert record['after']['files'] == record['before']['files']
    assert record['after']['sysctl'] == record['before']['sysctl']


def test_two_runs_at_once_wait_for_each_other_and_share_one_consistent_snapshot(every_case):
    record = case(every_case, 'concurrent')
    first, second = record['runs']

    assert (first['rc'], second['rc']) == (0, 0), [messages(first), messages(second)]
    waited = [run for run in (first, second) if ran(run, WAITED_TASK)]
    assert len(waited) == 1
    assert ran(waited[0], LOCK_TASK)[0]['waited'] > 0
    files = record['snapshot']['files']
    assert sorted(files) == sorted(['/etc/nginx/conf.d/harden-tcp-upstreams.conf', SITE, SITE_LINK,
                                    '/etc/nginx/snippets/harden-tcp-keepalive.conf',
                                    '/etc/sysctl.d/60-harden-tcp.conf'])
    assert files[SITE]['sha256'] == baseline(every_case)['files'][SITE][4]
    assert files[SITE_LINK]['state'] == 'link'
    assert record['before']['http'] == OLD_CONFIG
    assert record['after']['http'] == NEW_CONFIG
    assert record['after']['files'][SITE_LINK] == ['link', '0777', 0, 0, '../sites-available/app']


# ------------------------------------------------------------------ the proof reads what is live


def test_the_proof_refuses_a_host_whose_nginx_has_not_loaded_its_files(every_case):
    run = case(every_case, 'unlive')['run']

    assert run['rc'] == 2
    assert [failure['task'] for failure in run['failures']] == ['Fail when a change did not take']
    final = messages(run)[-1]
    assert 'last loaded its configuration at' in final
    assert 'but /etc/nginx/nginx.conf changed after that' in final
    assert 'the running nginx does not serve the configuration on disk' in final
    # Nothing else was wrong: no sysctl ("key: runtime X, wanted Y"), no finding in a managed file.
    assert final.startswith('The change did not take on %s: nginx (master pid ' % every_case.backend.get_hostname())
    assert ', wanted ' not in final and 'TW-NGINX' not in final


def test_the_same_host_is_proven_once_nginx_reloaded(every_case):
    run = case(every_case, 'unlive-reloaded')['run']

    assert run['rc'] == 0, messages(run)
    assert run['failures'] == []


# ------------------------------------------------------------------ rollback refusals


@pytest.mark.parametrize('name, record_text', [
    ('no-mode', 'files["/etc/nginx/sites-available/app"]: \'mode\' is missing'),
    ('escaping-key', 'sysctl["net.//.//.//.etc.hostname"]: the key escapes /proc/sys'),
])
def test_a_damaged_manifest_refuses_the_rollback_naming_the_record_and_restores_nothing(every_case, name, record_text):
    record = case(every_case, 'damaged-' + name)

    assert record['run']['rc'] == 2
    final = messages(record['run'])[-1]
    assert final.startswith('the harden-tcp snapshot manifest /var/lib/harden-tcp/manifest.json is damaged, so nothing '
                            'was changed: ')
    assert record_text in final
    # Nothing restored, nothing rewritten, the damaged manifest itself kept for a look.
    assert record['after']['files'] == record['before']['files']
    assert record['after']['sysctl'] == record['before']['sysctl']
    assert record['after']['http'] == NEW_CONFIG


def test_a_hand_edit_refuses_the_rollback_without_force(every_case):
    record = case(every_case, 'hand-edit')
    refused = record['refused']

    assert refused['run']['rc'] == 2
    assert '/etc/nginx/sites-available/app was changed since harden-tcp wrote it' in messages(refused['run'])[-1]
    assert 'tcp_rollback_force: true' in messages(refused['run'])[-1]
    assert refused['after']['files'] == record['before']['files']
    assert refused['after']['sysctl'] == record['before']['sysctl']


def test_a_forced_rollback_restores_everything_and_keeps_the_hand_edit(every_case):
    record = case(every_case, 'hand-edit')
    forced = record['forced']

    assert forced['run']['rc'] == 0
    assert forced['after']['files'] == baseline(every_case)['files']
    assert forced['after']['sysctl'] == baseline(every_case)['sysctl']
    assert forced['after']['http'] == OLD_CONFIG
    assert len(record['kept']) == 1
    assert record['kept_content'].endswith('# a hand edit made after harden-tcp\n')
    assert [(result['method'], result['loaded']) for result in ran(forced['run'], RELOAD_TASK)] == [('signal', True)]


# ------------------------------------------------------------------ the host at the end


def test_the_host_ends_exactly_as_it_began(host):
    # converge.yml asserted it too; this is the record of that last look.
    after = case(host, 'reset')['after']

    for key in ('files', 'sysctl', 'http'):
        assert after[key] == baseline(host)[key], key
    assert after['holders'] == [] and after['tmp'] == []


def test_the_snapshot_directory_keeps_only_its_marker_the_lock_and_kept_edits(host):
    expected = ['.harden-tcp-snapshot', 'lock'] + ([] if systemd_host(host) else ['hand-edits'])

    assert sorted(host.check_output('ls -A /var/lib/harden-tcp').split()) == sorted(expected)
    assert host.file('/var/lib/harden-tcp').mode == 0o700
