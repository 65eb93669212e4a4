# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/nginx_live.py on /proc trees recorded from a real nginx.

The recordings (tests/unit/fixtures/nginx_proc/*.json, made with
record_nginx_proc.py in a Debian 12 container under systemd) are one sequence
of the same master, pid 62:

* running.json: workers 212 and 214, plus 195 still finishing a request
  ("worker process is shutting down") after an earlier reload;
* retiring.json: right after `systemctl reload nginx` with a request in
  flight: new workers 239 and 241, 212 retiring, 214 gone;
* rejected.json: after a reload the master refused (a listen address another
  process held): the same workers as before; rejected-error.log holds what
  nginx wrote to its error log.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import pytest
import yaml

from ansible_collections.harden_tcp.tcp.plugins.module_utils import nginx_live as live
from ansible_collections.harden_tcp.tcp.plugins.modules import nginx_live_info, nginx_reload

FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'nginx_proc'
CORPUS = Path(__file__).resolve().parents[1] / 'corpus' / 'nginx'
MASTER = 62


def _error_lines_since(offsets):
    """The [emerg] and [alert] lines written to the logs after their offsets (one read of each)."""
    return live.read_error_lines(dict(offsets), [])


def recording(name):
    return json.loads((FIXTURES / (name + '.json')).read_text())


def build_proc(root: Path, name: str) -> str:
    """Rebuild a recorded /proc tree under root; return its path."""
    data = recording(name)
    root.mkdir(parents=True)
    (root / 'uptime').write_text(data['uptime'])
    for pid, entry in data['pids'].items():
        base = root / pid
        base.mkdir()
        (base / 'stat').write_text(entry['stat'])
        (base / 'cmdline').write_text(entry['cmdline'])
        if 'fd' in entry:
            (base / 'fd').mkdir()
            for number, target in entry['fd'].items():
                os.symlink(target, str(base / 'fd' / number))
            (base / 'net').mkdir()
            for table, text in entry['net'].items():
                (base / 'net' / table).write_text(text)
    return str(root)


@pytest.fixture
def proc(tmp_path):
    """build(name) -> path of that recorded /proc tree (built once per test)."""
    def build(name):
        root = tmp_path / ('proc-' + name)
        return str(root) if root.exists() else build_proc(root, name)
    return build


@pytest.fixture
def pid_file(tmp_path):
    path = tmp_path / 'nginx.pid'
    path.write_text('%d\n' % MASTER)
    return str(path)


def pids(processes):
    return [process['pid'] for process in processes]


# ------------------------------------------------------------------ processes


def test_the_master_is_found_through_its_pid_file(proc, pid_file):
    master = live.read_master(pid_file, proc('running'))

    assert master['pid'] == MASTER
    assert master['ppid'] == 1
    assert master['start_ticks'] == 256301
    assert master['title'] == 'nginx: master process /usr/sbin/nginx -g daemon on; master_process on;'


@pytest.mark.parametrize('content', ['', 'abc\n', '212\n', '99999\n'])
def test_a_pid_file_naming_no_live_master_means_not_running(proc, tmp_path, content):
    # Empty (a failed start), garbage, a worker's pid, a pid nobody has.
    path = tmp_path / 'nginx.pid'
    path.write_text(content)

    assert live.read_master(str(path), proc('running')) is None


def test_a_zombie_master_does_not_count(proc, pid_file):
    root = Path(proc('running'))
    stat = (root / str(MASTER) / 'stat').read_text()
    (root / str(MASTER) / 'stat').write_text(stat.replace(') S ', ') Z ', 1))

    assert live.read_master(pid_file, str(root)) is None


def test_generation_splits_current_and_retiring_workers(proc):
    running = live.generation(MASTER, proc('running'))
    retiring = live.generation(MASTER, proc('retiring'))

    assert (pids(running['current']), pids(running['retiring'])) == ([212, 214], [195])
    assert (pids(retiring['current']), pids(retiring['retiring'])) == ([239, 241], [195, 212])


# ------------------------------------------------------------------ judging a reload


def test_a_reload_that_took_shows_new_workers_and_no_old_one_active(proc):
    outcome = live.reload_outcome(live.generation(MASTER, proc('running')), live.generation(MASTER, proc('retiring')),
                                  [])

    assert outcome['state'] == 'loaded'
    assert pids(outcome['new']) == [239, 241]
    assert outcome['old_active'] == []


def test_a_refused_reload_keeps_the_same_workers_and_logs_emerg(proc, tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'')
    offsets = live.log_offsets([str(log)])
    log.write_bytes((FIXTURES / 'rejected-error.log').read_bytes())
    before = live.generation(MASTER, proc('rejected'))

    outcome = live.reload_outcome(before, before, _error_lines_since(offsets))

    assert outcome['state'] == 'rejected'
    assert outcome['new'] == []
    assert pids(outcome['old_active']) == [145, 146]


def test_nothing_new_yet_is_pending(proc):
    before = live.generation(MASTER, proc('running'))

    assert live.reload_outcome(before, before, [])['state'] == 'pending'


def test_a_respawned_worker_beside_active_old_ones_is_not_a_reload(proc):
    # A worker that crashed and was respawned is new, but the old generation is still at work.
    root = Path(proc('running'))
    before = live.generation(MASTER, str(root))
    (root / '300').mkdir()
    (root / '300' / 'stat').write_text('300 (nginx) S 62 62 62 0 -1 4194624 0 0 0 0 0 0 0 0 20 0 1 0 262000 1 1 0\n')
    (root / '300' / 'cmdline').write_text('nginx: worker process\x00')

    outcome = live.reload_outcome(before, live.generation(MASTER, str(root)), [])

    assert pids(outcome['new']) == [300]
    assert pids(outcome['old_active']) == [212, 214]
    assert outcome['state'] == 'pending'


# ------------------------------------------------------------------ error logs


def test_only_emerg_and_alert_lines_after_the_offset_count(tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'2026/11/27 12:00:00 [emerg] 62#62: an old failure, before the reload\n')
    offsets = live.log_offsets([str(log), str(tmp_path / 'missing.log')])
    with open(str(log), 'ab') as handle:
        handle.write(b'2026/11/27 12:00:01 [notice] 62#62: signal process started\n'
                     b'2026/11/27 12:00:01 [error] 63#63: *5 connect() failed (111: Connection refused)\n'
                     b'2026/11/27 12:00:01 [alert] 64#64: *7 open socket #12 left in connection 3\n'
                     b'127.0.0.1 - - [27/Nov/2026:12:00:01 +0000] "GET /2026/11/27 12:00:01 [emerg] 1#1: x" 404\n'
                     b'2026/11/27 12:00:02 [emerg] 62#62: bind() to 0.0.0.0:8090 failed (98: Address already in use)\n')

    lines = _error_lines_since(offsets)

    assert offsets == {str(log): 69}
    assert [(line['level'], line['pid'], line['message']) for line in lines] == [
        ('alert', 64, 'open socket #12 left in connection 3'),
        ('emerg', 62, 'bind() to 0.0.0.0:8090 failed (98: Address already in use)')]
    assert lines[1] == {'path': str(log), 'time': '2026/11/27 12:00:02', 'level': 'emerg', 'pid': 62,
                        'message': 'bind() to 0.0.0.0:8090 failed (98: Address already in use)'}


def test_a_rotated_log_is_read_from_its_start(tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'x' * 500 + b'\n')
    offsets = live.log_offsets([str(log)])
    log.write_bytes(b'2026/11/27 12:00:02 [emerg] 62#62: still could not bind()\n')

    assert [line['message'] for line in _error_lines_since(offsets)] == ['still could not bind()']


def test_error_lines_are_bounded_and_cleaned(tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'')
    offsets = live.log_offsets([str(log)])
    log.write_bytes(b''.join(b'2026/11/27 12:00:02 [alert] 62#62: \x1b[31mred\x1b[0m ' + b'y' * 1000 + b'\n'
                             for _line in range(50)))

    lines = _error_lines_since(offsets)

    assert len(lines) == live.MAX_ERROR_LINES
    assert lines[0]['message'].startswith('?[31mred?[0m yyy')
    assert len(lines[0]['message']) == live.MAX_LINE_CHARS


def test_a_log_that_is_not_a_regular_file_is_never_read(tmp_path):
    # error_log /dev/stderr, or a FIFO: reading it would wait for a writer forever.
    fifo = tmp_path / 'fifo.log'
    os.mkfifo(str(fifo))

    assert live.log_offsets([str(fifo), str(tmp_path)]) == {}
    assert _error_lines_since({str(fifo): 0}) == []


def test_lines_are_read_once_and_only_when_whole(tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'')
    positions, found = live.log_offsets([str(log)]), []
    log.write_bytes(b'2026/11/27 12:00:02 [emerg] 62#62: bind() to 0.0.0.0:8090 fail')

    assert live.read_error_lines(positions, found) == [] and positions == {str(log): 0}

    with open(str(log), 'ab') as handle:
        handle.write(b'ed (98: Address already in use)\n')
    live.read_error_lines(positions, found)
    live.read_error_lines(positions, found)

    assert [line['message'] for line in found] == ['bind() to 0.0.0.0:8090 failed (98: Address already in use)']
    assert positions == {str(log): os.path.getsize(str(log))}


def test_a_line_longer_than_one_read_is_skipped_not_waited_for(tmp_path, monkeypatch):
    monkeypatch.setattr(live, 'MAX_LOG_BYTES', 64)
    log = tmp_path / 'error.log'
    log.write_bytes(b'x' * 200 + b'\n2026/11/27 12:00:02 [alert] 62#62: after the long line\n')
    positions, found = {str(log): 0}, []

    for _read in range(6):
        live.read_error_lines(positions, found)

    assert [line['message'] for line in found] == ['after the long line']


def test_the_recorded_bind_failure_sums_up_as_nginx_said_it(tmp_path):
    log = tmp_path / 'error.log'
    log.write_bytes(b'')
    offsets = live.log_offsets([str(log)])
    log.write_bytes((FIXTURES / 'rejected-error.log').read_bytes())

    assert live.error_summary(_error_lines_since(offsets)) == [
        '[emerg] bind() to 0.0.0.0:8090 failed (98: Address already in use)', '[emerg] still could not bind()']


def test_the_logs_the_master_holds_open_are_found(proc):
    # fd 2 and 3 are error.log, 4 access.log (Debian 12's nginx under systemd).
    assert live.open_log_files(MASTER, proc('running')) == ['/var/log/nginx/error.log', '/var/log/nginx/access.log']


# ------------------------------------------------------------------ listening sockets


def test_the_masters_listening_sockets_are_read_from_its_network_namespace(proc):
    assert live.listening(MASTER, proc('running')) == [
        {'family': 'ipv4', 'address': '0.0.0.0', 'port': 80},
        {'family': 'ipv6', 'address': '::', 'port': 80}]


def test_a_probe_reads_the_status_line_of_a_real_listener():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    port = server.getsockname()[1]

    def answer():
        conn, _addr = server.accept()
        conn.recv(1024)
        conn.sendall(b'HTTP/1.1 204 No Content\r\n\r\n')
        conn.close()

    thread = threading.Thread(target=answer)
    thread.start()
    result = live.probe({'family': 'ipv4', 'address': '0.0.0.0', 'port': port})
    thread.join()
    server.close()

    assert result == {'address': '0.0.0.0', 'port': port, 'connected': True, 'status': 204, 'error': None}


def test_a_probe_of_a_closed_port_says_it_did_not_connect():
    spare = socket.socket()
    spare.bind(('127.0.0.1', 0))
    port = spare.getsockname()[1]
    spare.close()

    result = live.probe({'family': 'ipv4', 'address': '127.0.0.1', 'port': port}, timeout=1)

    assert (result['connected'], result['status']) == (False, None)
    assert 'refused' in result['error']


# ------------------------------------------------------------------ nginx -T and -V text


def test_files_error_logs_and_pid_come_from_a_real_dump():
    dump = (CORPUS / '01-jenkins-docs' / 'nginx-T.txt').read_text()

    assert live.config_files(dump) == ['/etc/nginx/nginx.conf', '/etc/nginx/mime.types',
                                       '/etc/nginx/sites-enabled/jenkins']
    assert live.error_log_paths(dump) == ['/var/log/nginx/error.log', '/var/log/nginx/jenkins.error.log']
    assert live.pid_file_of(dump) == '/run/nginx.pid'


def test_error_log_targets_without_a_file_are_left_out_and_relative_ones_resolved():
    dump = ('# configuration file /etc/nginx/nginx.conf:\n'
            'error_log stderr;\nerror_log syslog:server=unix:/dev/log;\n  error_log memory:32m debug;\n'
            'error_log /dev/null;\nerror_log /dev/stderr;\nerror_log "logs/quoted error.log" warn;\n'
            '# error_log /commented.log;\n')

    assert live.error_log_paths(dump, '/usr/share/nginx') == ['/usr/share/nginx/logs/quoted error.log']


def test_a_relative_pid_file_needs_the_prefix():
    dump = 'pid logs/nginx.pid;\n'

    assert live.pid_file_of(dump) == live.DEFAULT_PID_FILE
    assert live.pid_file_of(dump, prefix='/usr/share/nginx') == '/usr/share/nginx/logs/nginx.pid'
    assert live.pid_file_of('events {}\n') == live.DEFAULT_PID_FILE


def test_configure_arguments_of_nginx_minus_V():
    text = ('nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0.9\nconfigure arguments: --with-cc-opt=-O2 '
            '--prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=stderr '
            '--pid-path=/run/nginx.pid\n')

    assert live.configure_args(text) == {'prefix': '/usr/share/nginx', 'error-log-path': 'stderr',
                                         'pid-path': '/run/nginx.pid'}


# ------------------------------------------------------------------ what is live


def test_the_load_time_is_the_start_of_the_current_workers(proc):
    data = recording('running')
    up = float(data['uptime'].split()[0])

    when = live.loaded_at(live.read_process(MASTER, proc('running')), proc('running'), now=data['time'], ticks=100)

    # Workers 212 and 214 started at 2607.59 s and 2607.60 s after boot; 195 is retiring and does not count.
    assert when == pytest.approx(data['time'] - (up - 2607.59), abs=1e-6)


def test_files_changed_after_the_load_mean_not_loaded(proc, pid_file, tmp_path):
    conf = tmp_path / 'nginx.conf'
    conf.write_text('events {}\n')
    site = tmp_path / 'site'
    site.write_text('server {}\n')
    link = tmp_path / 'enabled'
    os.symlink(str(site), str(link))
    dump = ''.join('# configuration file %s:\n...\n' % path for path in (conf, link))
    changed = max(os.stat(str(path)).st_ctime for path in (conf, site))
    # How old the current workers were when /proc was recorded: "now" places their start.
    age = float(recording('running')['uptime'].split()[0]) - 2607.59

    tree = proc('running')

    later = live.live_state(dump, pid_file, tree, now=changed + age + 1000, ticks=100)
    earlier = live.live_state(dump, pid_file, tree, now=changed + age - 1000, ticks=100)

    assert later['running'] and later['master_pid'] == MASTER
    assert later['files'] == [str(conf), str(link)]
    assert later['loaded_at'] == pytest.approx(changed + 1000, abs=0.01)
    assert (later['loaded'], later['changed_after_load']) == (True, [])
    # The workers started 1000 s before the files changed: the running nginx has not loaded them.
    assert earlier['loaded'] is False
    assert [item['path'] for item in earlier['changed_after_load']] == [str(conf), str(link)]


def test_nothing_is_live_when_nginx_does_not_run(tmp_path, proc):
    state = live.live_state('# configuration file /etc/nginx/nginx.conf:\n', str(tmp_path / 'none.pid'),
                            proc('running'))

    assert state == {'running': False, 'master_pid': None, 'pid_file': str(tmp_path / 'none.pid'),
                     'loaded_at': None, 'files': ['/etc/nginx/nginx.conf'], 'changed_after_load': [], 'loaded': None}


def test_a_rejected_dump_cannot_say_what_is_live(proc, pid_file):
    assert live.live_state('', pid_file, proc('running'))['loaded'] is None
    assert live.live_from_dump({'binary': None}) is None
    assert live.live_from_dump({'binary': '/usr/sbin/nginx', 'rc': 1, 'stdout': '# configuration file /x:\n',
                                'stderr': 'nginx: [emerg] ...'}, proc('running'))['files'] == []


# ------------------------------------------------------------------ waiting for a reload


class Clock:
    """A fake monotonic clock; sleeping advances it and runs the hook (the world changing meanwhile)."""

    def __init__(self, hook=None):
        self.now = 0.0
        self.hook = hook
        self.sleeps = 0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        if self.hook:
            self.hook(self)


def switching_proc(tmp_path, first, then, after_sleeps=1):
    """A /proc link that points at recording ``first`` and switches to ``then`` after some sleeps."""
    link = tmp_path / 'proc'
    first_tree = build_proc(tmp_path / first, first)
    then_tree = build_proc(tmp_path / then, then)
    os.symlink(first_tree, str(link))

    def hook(clock):
        if clock.sleeps == after_sleeps:
            os.unlink(str(link))
            os.symlink(then_tree, str(link))
    return str(link), hook


def test_waiting_ends_as_soon_as_the_new_generation_is_there(tmp_path):
    link, hook = switching_proc(tmp_path, 'running', 'retiring', after_sleeps=3)
    clock = Clock(hook)
    before = live.generation(MASTER, link)

    outcome = live.wait_for_reload(MASTER, before, {}, 20, link, clock=clock, sleep=clock.sleep)

    assert outcome['state'] == 'loaded'
    assert pids(outcome['new']) == [239, 241]
    assert outcome['errors'] == []
    assert outcome['waited'] == pytest.approx(0.3)


def test_waiting_collects_every_line_of_a_refusal_until_the_log_is_quiet(tmp_path, proc):
    tree = proc('rejected')
    log = tmp_path / 'error.log'
    log.write_bytes(b'')
    offsets = live.log_offsets([str(log)])
    recorded = (FIXTURES / 'rejected-error.log').read_bytes().splitlines(True)

    def hook(clock):
        # nginx retries the busy address: one line every 0.5 s, then gives up.
        if clock.sleeps % 5 == 1 and recorded:
            with open(str(log), 'ab') as handle:
                handle.write(recorded.pop(0))
    clock = Clock(hook)
    before = live.generation(MASTER, tree)

    outcome = live.wait_for_reload(MASTER, before, offsets, 20, tree, clock=clock, sleep=clock.sleep)

    assert outcome['state'] == 'rejected'
    assert len(outcome['errors']) == 6
    assert outcome['errors'][-1]['message'] == 'still could not bind()'
    assert outcome['waited'] >= 2.5 + 1.5


def test_waiting_gives_up_after_the_timeout(proc):
    tree = proc('running')
    clock = Clock()

    outcome = live.wait_for_reload(MASTER, live.generation(MASTER, tree), {}, 5, tree, clock=clock, sleep=clock.sleep)

    assert outcome['state'] == 'timeout'
    assert 5 <= outcome['waited'] < 5.2


# ------------------------------------------------------------------ reload_and_confirm


class Host:
    """Programs and signals as reload_and_confirm sees them."""

    def __init__(self, dump_rc=0, main_pid='62', reload_rc=0, error_log='/nonexistent/error.log'):
        self.error_log = error_log
        self.calls = []
        self.signals = []
        self.dump_rc = dump_rc
        self.main_pid = main_pid
        self.reload_rc = reload_rc

    def run(self, argv):
        self.calls.append(argv)
        if argv[1:] == ['-T', '-q']:
            if self.dump_rc:
                return 1, '', ('nginx: [emerg] host not found in upstream "no-such-backend.invalid:8081" in '
                               '/etc/nginx/conf.d/harden-tcp-upstreams.conf:5\nnginx: configuration file '
                               '/etc/nginx/nginx.conf test failed\n')
            return 0, '# configuration file /etc/nginx/nginx.conf:\nerror_log %s;\n' % self.error_log, ''
        if argv[1:] == ['-V']:
            return 0, '', 'configure arguments: --prefix=/usr/share/nginx --error-log-path=/var/log/nginx/error.log\n'
        if argv[:2] == ['systemctl', 'show']:
            return 0, self.main_pid + '\n', ''
        if argv[:2] == ['systemctl', 'reload']:
            return self.reload_rc, '', 'Job for nginx.service failed.\n' if self.reload_rc else ''
        raise AssertionError(argv)

    def kill(self, pid, signum):
        self.signals.append((pid, signum))


def outcome_of(state, new=(), errors=()):
    def wait(master, before, offsets, timeout, proc):
        return {'state': state, 'new': [{'pid': pid} for pid in new], 'old_active': [],
                'errors': list(errors), 'waited': 0.2}
    return wait


def confirm(host, proc_tree, pid_file, tmp_path, systemd=False, **kwargs):
    systemd_dir = tmp_path / 'systemd-system'
    if systemd:
        systemd_dir.mkdir(exist_ok=True)
    return live.reload_and_confirm(host.run, '/usr/sbin/nginx', pid_file, proc=proc_tree, systemd_dir=str(systemd_dir),
                                   kill=host.kill, probe_listeners=False, **kwargs)


def test_a_configuration_nginx_minus_t_rejects_is_never_reloaded(proc, pid_file, tmp_path):
    host = Host(dump_rc=1)

    ok, result = confirm(host, proc('running'), pid_file, tmp_path, wait=outcome_of('loaded'))

    assert ok is False
    assert (result['validated'], result['reloaded'], result['changed']) == (False, False, False)
    assert host.signals == [] and len(host.calls) == 1
    assert result['msg'] == (
        'nginx -t rejected the configuration, so nginx was not reloaded and keeps running on what it loaded before; '
        'nginx said: nginx: [emerg] host not found in upstream "no-such-backend.invalid:8081" in '
        '/etc/nginx/conf.d/harden-tcp-upstreams.conf:5')


def test_a_stopped_nginx_is_validated_not_started(proc, tmp_path):
    host = Host()

    ok, result = confirm(host, proc('running'), str(tmp_path / 'absent.pid'), tmp_path, wait=outcome_of('loaded'))

    assert ok is True
    assert (result['validated'], result['running'], result['reloaded'], result['changed']) == (True, False, False, False)
    assert host.signals == []
    assert result['msg'].startswith('nginx is not running')


def test_without_systemd_the_master_gets_sighup(proc, pid_file, tmp_path):
    log = tmp_path / 'error.log'
    log.write_text('')
    host = Host(error_log=str(log))

    ok, result = confirm(host, proc('running'), pid_file, tmp_path, wait=outcome_of('loaded', new=[239, 241]))

    assert ok is True
    assert host.signals == [(MASTER, 1)]
    assert (result['method'], result['loaded'], result['workers_before'], result['workers_new']) == \
        ('signal', True, [212, 214], [239, 241])
    # The dump's error_log; the compiled-in one and those the recorded master holds do not exist here.
    assert result['error_logs'] == [str(log)]


def test_under_systemd_the_unit_running_this_master_is_reloaded(proc, pid_file, tmp_path):
    host = Host(main_pid='62')

    ok, result = confirm(host, proc('running'), pid_file, tmp_path, systemd=True, wait=outcome_of('loaded', new=[239]))

    assert ok is True
    assert host.signals == []
    assert ['systemctl', 'reload', 'nginx'] in host.calls
    assert result['method'] == 'systemd'


def test_under_systemd_an_nginx_started_by_hand_gets_the_signal(proc, pid_file, tmp_path):
    # systemd runs, but its nginx unit is not this master (MainPID 0: inactive).
    host = Host(main_pid='0')

    ok, result = confirm(host, proc('running'), pid_file, tmp_path, systemd=True, wait=outcome_of('loaded', new=[239]))

    assert ok and result['method'] == 'signal'
    assert host.signals == [(MASTER, 1)]


def test_a_failing_systemctl_reload_is_reported(proc, pid_file, tmp_path):
    ok, result = confirm(Host(reload_rc=1), proc('running'), pid_file, tmp_path, systemd=True,
                         wait=outcome_of('loaded'))

    assert ok is False
    assert result['msg'] == 'systemctl reload nginx failed: Job for nginx.service failed.'


def test_a_refused_reload_fails_with_nginxs_own_line(proc, pid_file, tmp_path):
    errors = [{'path': '/var/log/nginx/error.log', 'time': 't', 'level': 'emerg', 'pid': 62,
               'message': 'bind() to 0.0.0.0:8090 failed (98: Address already in use)'}] * 5

    ok, result = confirm(Host(), proc('rejected'), pid_file, tmp_path, wait=outcome_of('rejected', errors=errors))

    assert ok is False
    assert (result['reloaded'], result['loaded'], result['changed']) == (True, False, True)
    assert result['errors'] == ['[emerg] bind() to 0.0.0.0:8090 failed (98: Address already in use)']
    assert result['msg'] == (
        'nginx rejected the new configuration: its master (pid 62) kept its old workers and keeps serving its previous '
        'configuration; nginx said: [emerg] bind() to 0.0.0.0:8090 failed (98: Address already in use) '
        '(/var/log/nginx/error.log)')


def test_a_reload_with_no_sign_of_life_times_out(proc, pid_file, tmp_path):
    ok, result = confirm(Host(), proc('running'), pid_file, tmp_path, timeout=7, wait=outcome_of('timeout'))

    assert ok is False
    assert result['msg'].startswith('nginx did not load the new configuration within 7 s: no new worker processes')


def test_check_mode_reloads_nothing(proc, pid_file, tmp_path):
    host = Host()

    ok, result = confirm(host, proc('running'), pid_file, tmp_path, check_mode=True, wait=outcome_of('loaded'))

    assert ok and result['changed'] and not result['reloaded']
    assert host.signals == []


# ------------------------------------------------------------------ the modules


@pytest.mark.parametrize('module', [nginx_reload, nginx_live_info])
def test_module_documentation_parses(module):
    documentation = yaml.safe_load(module.DOCUMENTATION)
    returned = yaml.safe_load(module.RETURN)
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
    assert all(isinstance(line, str) for line in documentation['description'])
    assert all(isinstance(value['description'], (str, list)) for value in returned.values())


def test_nginx_reload_refuses_a_missing_binary(run_module, tmp_path):
    kind, result = run_module(nginx_reload.main, {'binary': str(tmp_path / 'nginx')})

    assert kind == 'fail'
    assert result['msg'] == 'no nginx binary at %s (nginx_keepalive_binary)' % (tmp_path / 'nginx')


def test_nginx_live_info_without_nginx(run_module, tmp_path):
    kind, result = run_module(nginx_live_info.main, {'binary': str(tmp_path / 'nginx')})

    assert kind == 'exit'
    assert (result['present'], result['running'], result['loaded'], result['changed']) == (False, False, None, False)
