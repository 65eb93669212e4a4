# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of plugins/module_utils/tcp_timewait.py on recorded /proc text and netlink bytes.

Fixtures (tests/unit/fixtures):
- proc_recorded/ and netlink_recorded*.json: recorded on this project's CI
  machine (Linux 6.x, little-endian) by fixtures/record_timewait.py, with
  TIME_WAIT sockets towards 127.0.0.1:7101 x3, 127.0.0.2:7102 x2, ::1:7103 x2
  and ::ffff:127.0.0.1:7104 x1.
- proc_old_kernel/: a Linux 4.9 tree (see its README.md).
"""

from __future__ import annotations

import ast
import base64
import errno
import json
import os
import socket
import struct
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_timewait as core

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(__file__).resolve().parent / 'fixtures'
MODULE_UTILS_DIR = REPO_ROOT / 'plugins' / 'module_utils'
MODULES_DIR = REPO_ROOT / 'plugins' / 'modules'

RECORDED = str(FIXTURES_DIR / 'proc_recorded')
OLD_KERNEL = str(FIXTURES_DIR / 'proc_old_kernel')
RECORDED_REMOTES = {
    ('127.0.0.1', 7101): 3,
    ('127.0.0.2', 7102): 2,
    ('::1', 7103): 2,
    ('::ffff:127.0.0.1', 7104): 1,
}

# /proc/net/tcp prints addresses as host-order words: the recordings are little-endian.
little_endian_only = pytest.mark.skipif(sys.byteorder != 'little',
                                        reason='the /proc fixtures were recorded on a little-endian host')


def load_recording(name: str) -> Dict[str, List[bytes]]:
    with open(str(FIXTURES_DIR / name)) as handle:
        recorded = json.load(handle)
    return {family: [base64.b64decode(chunk) for chunk in chunks] for family, chunks in recorded['chunks'].items()}


def count_chunks(chunks: List[bytes]) -> Tuple[bool, int, Counter, Counter]:
    remotes, ports = Counter(), Counter()
    total = 0
    done = False
    for chunk in chunks:
        done, counted = core.parse_diag_chunk(chunk, len(chunk), remotes, ports)
        total += counted
    return done, total, remotes, ports


def diag_message(family: int, dst: str, dport: int, sport: int, state: int = core.TCP_TIME_WAIT,
                 extra: bytes = b'', msg_type: int = core.SOCK_DIAG_BY_FAMILY) -> bytes:
    """Build one SOCK_DIAG_BY_FAMILY message the way the kernel lays it out."""
    raw_dst = socket.inet_pton(family, dst).ljust(16, b'\0')
    raw_src = socket.inet_pton(family, '127.0.0.9' if family == socket.AF_INET else '::9').ljust(16, b'\0')
    body = struct.pack('=BBBB', family, state, 3, 0)
    body += struct.pack('>HH', sport, dport) + raw_src + raw_dst
    body += struct.pack('=I8sIIIII', 0, b'\0' * 8, 59000, 0, 0, 0, 0)
    assert len(body) == 72
    body += extra
    return core.NLMSG_HDR.pack(16 + len(body), msg_type, 2, 1, 0) + body


def done_message() -> bytes:
    return core.NLMSG_HDR.pack(20, core.NLMSG_DONE, 2, 1, 0) + struct.pack('=i', 0)


def error_message(err: int) -> bytes:
    return core.NLMSG_HDR.pack(36, core.NLMSG_ERROR, 0, 1, 0) + struct.pack('=i', -err) + b'\0' * 16


# INET_DIAG_MARK attribute (len 8, type 15, u32 mark): what root callers get.
MARK_ATTR = struct.pack('=HHI', 8, 15, 0)


# --- netlink: recorded bytes -------------------------------------------------

@pytest.mark.parametrize('recording, msg_len', [
    ('netlink_recorded.json', 96),
    ('netlink_recorded_no_net_admin.json', 88),
])
def test_recorded_netlink_dump_counts_every_destination(recording, msg_len):
    chunks = load_recording(recording)
    assert core.NLMSG_HDR.unpack_from(chunks['AF_INET'][0], 0)[0] == msg_len
    done4, total4, remotes4, ports4 = count_chunks(chunks['AF_INET'])
    done6, total6, remotes6, ports6 = count_chunks(chunks['AF_INET6'])
    assert done4 and done6
    assert (total4, total6) == (5, 3)
    decoded = dict(core.decode_diag_remotes(socket.AF_INET, remotes4))
    decoded.update(core.decode_diag_remotes(socket.AF_INET6, remotes6))
    assert decoded == RECORDED_REMOTES
    assert sum(core.decode_raw_ports(ports4).values()) == 5
    assert all(32768 <= port <= 60999 for port in core.decode_raw_ports(ports6))


def test_count_netlink_replays_a_recording(monkeypatch):
    chunks = load_recording('netlink_recorded.json')

    class ReplaySocket(object):
        def __init__(self):
            self.pending = []
            self.sent = []

        def send(self, request):
            self.sent.append(request)
            family = struct.unpack_from('=B', request, 16)[0]
            self.pending = list(chunks['AF_INET' if family == socket.AF_INET else 'AF_INET6'])

        def recv_into(self, view):
            data = self.pending.pop(0)
            view[:len(data)] = data
            return len(data)

        def close(self):
            pass

    fake = ReplaySocket()
    monkeypatch.setattr(core, 'open_diag_socket', lambda: fake)
    counts = core.count_netlink(include_ipv6=True)
    assert (counts.ipv4, counts.ipv6, counts.total) == (5, 3, 8)
    assert dict(counts.remotes) == RECORDED_REMOTES
    assert [struct.unpack_from('=B', req, 16)[0] for req in fake.sent] == [socket.AF_INET, socket.AF_INET6]

    counts = core.count_netlink(include_ipv6=False)
    assert (counts.ipv4, counts.ipv6) == (5, 0)


def test_diag_request_asks_for_tcp_time_wait_only():
    request = core.build_diag_request(socket.AF_INET6, 7)
    length, msg_type, flags, seq, pid = core.NLMSG_HDR.unpack_from(request, 0)
    assert (length, len(request)) == (72, 72)
    assert msg_type == core.SOCK_DIAG_BY_FAMILY == 20
    assert flags == core.NLM_F_REQUEST | core.NLM_F_DUMP == 0x301
    assert (seq, pid) == (7, 0)
    family, protocol, ext, states = struct.unpack_from('=BBBxI', request, 16)
    assert (family, protocol, ext, states) == (socket.AF_INET6, socket.IPPROTO_TCP, 0, 1 << 6)
    assert request[24:] == b'\0' * 48


# --- netlink: synthetic messages --------------------------------------------

def test_many_chunks_mixed_lengths_and_done_in_the_last_chunk():
    first = b''.join(diag_message(socket.AF_INET, '10.0.0.%d' % (i % 3 + 1), 80, 40000 + i) for i in range(300))
    second = b''.join(diag_message(socket.AF_INET, '10.0.0.1', 443, 40000 + i, extra=MARK_ATTR) for i in range(50))
    # A message of another length in the middle of a run, then DONE in the same buffer.
    second += diag_message(socket.AF_INET, '10.0.0.9', 443, 50000)
    second += b''.join(diag_message(socket.AF_INET, '10.0.0.1', 443, 41000 + i, extra=MARK_ATTR) for i in range(5))
    second += done_message()
    done, total, remotes, ports = count_chunks([first, second])
    assert done and total == 356
    assert core.decode_diag_remotes(socket.AF_INET, remotes) == {
        ('10.0.0.1', 80): 100, ('10.0.0.2', 80): 100, ('10.0.0.3', 80): 100,
        ('10.0.0.1', 443): 55, ('10.0.0.9', 443): 1,
    }
    decoded_ports = core.decode_raw_ports(ports)
    assert decoded_ports[40000] == 2 and decoded_ports[40299] == 1 and decoded_ports[50000] == 1
    assert sum(decoded_ports.values()) == 356


def test_single_message_and_ipv6_decoding():
    chunk = diag_message(socket.AF_INET6, '2001:db8::1', 8443, 33000) + done_message()
    done, total, remotes, ports = count_chunks([chunk])
    assert done and total == 1
    assert core.decode_diag_remotes(socket.AF_INET6, remotes) == {('2001:db8::1', 8443): 1}
    assert core.decode_raw_ports(ports) == {33000: 1}


def test_other_states_are_not_counted_even_if_the_kernel_sent_them():
    chunk = b''.join([
        diag_message(socket.AF_INET, '10.0.0.1', 80, 1000),
        diag_message(socket.AF_INET, '10.0.0.1', 80, 1001, state=5),
        diag_message(socket.AF_INET, '10.0.0.1', 80, 1002),
        diag_message(socket.AF_INET, '10.0.0.1', 80, 1003, state=1),
    ])
    _done, total, remotes, ports = count_chunks([chunk])
    assert total == 2
    assert core.decode_raw_ports(ports) == {1000: 1, 1002: 1}


def test_nlmsg_error_raises_with_the_errno_text():
    with pytest.raises(core.NetlinkError) as caught:
        count_chunks([error_message(errno.EPERM)])
    assert caught.value.errno == errno.EPERM
    assert 'EPERM' in str(caught.value) and 'Operation not permitted' in str(caught.value)


def test_done_with_a_negative_status_raises():
    chunk = diag_message(socket.AF_INET, '10.0.0.1', 80, 1000)
    chunk += core.NLMSG_HDR.pack(20, core.NLMSG_DONE, 2, 1, 0) + struct.pack('=i', -errno.EINTR)
    with pytest.raises(core.NetlinkError, match='EINTR'):
        count_chunks([chunk])


def test_truncated_message_raises():
    chunk = diag_message(socket.AF_INET, '10.0.0.1', 80, 1000)
    with pytest.raises(core.NetlinkError, match='EBADMSG'):
        count_chunks([chunk[:50]])


def test_dump_family_rejects_a_closed_socket():
    class Closed(object):
        def send(self, _request):
            pass

        def recv_into(self, _view):
            return 0

    with pytest.raises(core.NetlinkError, match='EPIPE'):
        core.dump_family(Closed(), socket.AF_INET, 1, bytearray(1024))


# --- procfs ------------------------------------------------------------------

@little_endian_only
def test_recorded_procfs_counts_every_destination():
    counts = core.count_procfs(RECORDED, include_ipv6=True)
    assert (counts.ipv4, counts.ipv6) == (5, 3)
    assert dict(counts.remotes) == RECORDED_REMOTES
    assert sum(counts.local_ports.values()) == 8


@little_endian_only
def test_procfs_without_ipv6():
    counts = core.count_procfs(RECORDED, include_ipv6=False)
    assert (counts.ipv4, counts.ipv6) == (5, 0)
    assert set(counts.remotes) == {('127.0.0.1', 7101), ('127.0.0.2', 7102)}


@little_endian_only
@pytest.mark.parametrize('family, hex_addr, text', [
    (socket.AF_INET, b'0100007F', '127.0.0.1'),
    (socket.AF_INET, b'0500000A', '10.0.0.5'),
    (socket.AF_INET, b'FFFFFFFF', '255.255.255.255'),
    (socket.AF_INET6, b'00000000000000000000000001000000', '::1'),
    (socket.AF_INET6, b'000000FD000000000000000002000000', 'fd00::2'),
    (socket.AF_INET6, b'B80D0120000000000000000001000000', '2001:db8::1'),
    (socket.AF_INET6, b'0000000000000000FFFF00000100007F', '::ffff:127.0.0.1'),
])
def test_decode_proc_address(family, hex_addr, text):
    assert core.decode_proc_address(family, hex_addr) == text


@little_endian_only
def test_ipv6_lines_including_ipv4_mapped():
    text = (
        b'  sl  local_address                         remote_address                        st tx_queue\n'
        b'   0: 00000000000000000000000001000000:B498 B80D0120000000000000000001000000:1F90 06 0\n'
        b'   1: 00000000000000000000000001000000:B499 B80D0120000000000000000001000000:1F90 06 0\n'
        b'   2: 0000000000000000FFFF00000100007F:C40A 0000000000000000FFFF00000500000A:01BB 06 0\n'
        b'   3: 00000000000000000000000001000000:B49A B80D0120000000000000000001000000:1F90 01 0\n'
        b'100000: 00000000000000000000000001000000:B49B 000000FD000000000000000002000000:0050 06 0\n'
    )
    total, remotes, ports = core.count_proc_blocks(socket.AF_INET6, [text])
    assert total == 4
    assert remotes == {('2001:db8::1', 8080): 2, ('::ffff:10.0.0.5', 443): 1, ('fd00::2', 80): 1}
    assert ports == {0xB498: 1, 0xB499: 1, 0xC40A: 1, 0xB49B: 1}


@little_endian_only
def test_block_reader_keeps_lines_whole(tmp_path):
    source = os.path.join(RECORDED, 'net', 'tcp')
    whole = core.count_proc_blocks(socket.AF_INET, core.iter_proc_blocks(source))
    for size in (7, 64, 150):
        assert core.count_proc_blocks(socket.AF_INET, core.iter_proc_blocks(source, size)) == whole
    # A last line without a newline still counts.
    with open(source, 'rb') as handle:
        trimmed = handle.read().rstrip(b'\n')
    target = tmp_path / 'tcp'
    target.write_bytes(trimmed)
    assert core.count_proc_blocks(socket.AF_INET, core.iter_proc_blocks(str(target), 100)) == whole


def test_missing_proc_net_tcp_is_an_error_missing_tcp6_is_no_ipv6(tmp_path):
    with pytest.raises(core.ProcFileError) as caught:
        core.count_procfs(str(tmp_path))
    assert caught.value.path == os.path.join(str(tmp_path), 'net/tcp')
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'tcp').write_text('  sl  local_address rem_address   st\n')
    counts = core.count_procfs(str(tmp_path))
    assert (counts.ipv4, counts.ipv6, dict(counts.remotes)) == (0, 0, {})


# --- kernel counters ----------------------------------------------------------

def test_sockstat_tw():
    with open(os.path.join(RECORDED, 'net', 'sockstat')) as handle:
        assert core.parse_sockstat_tw(handle.read()) == 8
    assert core.parse_sockstat_tw('TCP: inuse 2 orphan 0 tw 6 alloc 4 mem 1\n') == 6
    # sockstat6 has no tw field; UDP lines are not mistaken for TCP.
    assert core.parse_sockstat_tw('TCP6: inuse 3\nUDP: inuse 1 mem 0\n') is None


def test_netstat_counter_with_and_without_timewait_overflow():
    with open(os.path.join(RECORDED, 'net', 'netstat')) as handle:
        recorded = handle.read()
    assert 'TCPTimeWaitOverflow' in recorded
    assert core.parse_netstat_counter(recorded, 'TcpExt', 'TCPTimeWaitOverflow') == 0
    text = 'TcpExt: TW TCPTimeWaitOverflow TWKilled\nTcpExt: 5 42 1\nMPTcpExt: TCPTimeWaitOverflow\nMPTcpExt: 9\n'
    assert core.parse_netstat_counter(text, 'TcpExt', 'TCPTimeWaitOverflow') == 42
    with open(os.path.join(OLD_KERNEL, 'net', 'netstat')) as handle:
        assert core.parse_netstat_counter(handle.read(), 'TcpExt', 'TCPTimeWaitOverflow') is None


def test_port_range():
    assert core.parse_port_range('32768\t60999\n') == [32768, 60999]


def test_unreadable_sockstat_names_the_file(tmp_path):
    with pytest.raises(core.ProcFileError) as caught:
        core.read_kernel_counters(str(tmp_path))
    message = str(caught.value)
    assert os.path.join(str(tmp_path), 'net/sockstat') in message
    assert 'No such file or directory' in message


def test_sockstat_without_tw_field_is_an_error(tmp_path):
    (tmp_path / 'net').mkdir()
    (tmp_path / 'net' / 'sockstat').write_text('TCP: inuse 1\n')
    with pytest.raises(core.ProcFileError, match='no "tw" field'):
        core.read_kernel_counters(str(tmp_path))


# --- summary -----------------------------------------------------------------

def test_ranking_breaks_ties_by_address_then_port():
    remotes = {('10.0.0.2', 80): 5, ('10.0.0.1', 443): 5, ('10.0.0.1', 80): 5, ('::1', 22): 9}
    assert [(r['address'], r['port']) for r in core.rank_remotes(remotes)] == [
        ('::1', 22), ('10.0.0.1', 80), ('10.0.0.1', 443), ('10.0.0.2', 80)]
    assert core.rank_remote_addresses(remotes) == [
        {'address': '10.0.0.1', 'count': 10}, {'address': '::1', 'count': 9}, {'address': '10.0.0.2', 'count': 5}]
    assert core.rank_local_ports({443: 2, 80: 2, 22: 3}) == [
        {'port': 22, 'count': 3}, {'port': 80, 'count': 2}, {'port': 443, 'count': 2}]


def test_ratios():
    assert core.ratio(6, 4096) == 0.0015
    assert core.ratio(1, 0) is None
    assert core.port_pressure({}, [1024, 65535]) == 0.0
    assert core.port_pressure({('a', 1): 16128, ('b', 1): 3}, [1024, 65535]) == 0.25


@little_endian_only
def test_gather_on_the_old_kernel_tree_ignores_tw_recycle():
    result = core.gather_timewait(method='procfs', top_n=2, proc_root=OLD_KERNEL)
    assert os.path.exists(os.path.join(OLD_KERNEL, 'sys/net/ipv4/tcp_tw_recycle'))
    assert result['total'] == result['ipv4'] == 5
    assert result['ipv6'] == 0
    assert result['sockstat_tw'] == 6
    assert result['max_tw_buckets'] == 4096
    assert result['bucket_utilization'] == 0.0015
    assert result['overflow_total'] is None
    assert result['ephemeral_port_range'] == [32768, 61000]
    assert result['port_pressure'] == round(3 / 28233, 4) == 0.0001
    assert result['by_remote'] == [
        {'address': '10.0.0.5', 'port': 8080, 'count': 3},
        {'address': '10.0.0.5', 'port': 9090, 'count': 1},
    ]
    assert result['by_remote_address'] == [
        {'address': '10.0.0.5', 'count': 4}, {'address': '10.0.0.6', 'count': 1}]
    assert result['by_local_port'] == [{'port': 0xD2F0, 'count': 2}, {'port': 0xD2F2, 'count': 1}]
    assert result['method'] == 'procfs' and result['method_fallback_reason'] is None
    assert result['kernel'] == os.uname().release


@little_endian_only
def test_gather_recorded_tree_all_entries():
    result = core.gather_timewait(method='procfs', top_n=0, proc_root=RECORDED)
    assert {(r['address'], r['port']): r['count'] for r in result['by_remote']} == RECORDED_REMOTES
    assert len(result['by_local_port']) == 8
    assert (result['total'], result['sockstat_tw']) == (8, 8)
    assert result['overflow_total'] == 0


def test_negative_top_n_is_rejected():
    with pytest.raises(ValueError, match='top_n must be 0'):
        core.gather_timewait(top_n=-1, proc_root=RECORDED)


def test_unknown_method_is_rejected():
    with pytest.raises(core.TimewaitError, match="unknown method 'ebpf'"):
        core.gather_timewait(method='ebpf', proc_root=RECORDED)


@little_endian_only
@pytest.mark.parametrize('refusal', [
    PermissionError(errno.EPERM, 'Operation not permitted'),
    OSError(errno.EPROTONOSUPPORT, 'Protocol not supported'),
    core.NetlinkError(errno.EINVAL, 'dump'),
])
def test_auto_falls_back_to_procfs_and_says_why(refusal):
    def refused(_include_ipv6):
        raise refusal

    result = core.gather_timewait(method='auto', proc_root=RECORDED, netlink=refused)
    assert result['method'] == 'procfs'
    assert result['total'] == 8
    assert os.strerror(refusal.errno) in result['method_fallback_reason']


def test_netlink_method_does_not_fall_back():
    def refused(_include_ipv6):
        raise PermissionError(errno.EPERM, 'Operation not permitted')

    with pytest.raises(core.NetlinkError) as caught:
        core.gather_timewait(method='netlink', proc_root=RECORDED, netlink=refused)
    assert str(caught.value) == 'netlink sock_diag socket failed: [EPERM] Operation not permitted'


def test_live_netlink_and_procfs_agree_on_this_host():
    """Both methods on the real kernel (whatever this netns holds); no netlink -> procfs only."""
    try:
        netlink = core.count_netlink()
    except OSError as exc:  # pragma: no cover - depends on the sandbox
        if os.environ.get('CI'):
            pytest.fail('netlink sock_diag refused on a CI machine, which must run this test: %s' % exc)
        pytest.skip('netlink sock_diag refused here: %s' % exc)
    procfs = core.count_procfs()
    # Sockets can come and go between the two reads on a busy host; this one is quiet.
    assert abs(netlink.total - procfs.total) <= max(5, netlink.total // 100)


# --- Python 3.8 on managed hosts --------------------------------------------

@pytest.mark.parametrize('path', [MODULE_UTILS_DIR / 'tcp_timewait.py', MODULES_DIR / 'tcp_timewait_info.py'])
def test_sources_parse_as_python_3_8(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))
