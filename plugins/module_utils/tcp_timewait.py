# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Count TCP TIME_WAIT sockets, fast, with the Python standard library only.

This is the core of the ``tcp_timewait_info`` module. It runs on managed hosts,
so it must stay importable on Python 3.8 and must not import anything outside
the standard library.

Two ways to enumerate TIME_WAIT sockets:

* ``netlink``: a NETLINK_SOCK_DIAG dump filtered by the kernel to TIME_WAIT,
  the same interface ``ss`` uses.
* ``procfs``: ``/proc/net/tcp`` and ``/proc/net/tcp6``, for hosts where netlink
  is refused (seccomp profiles, some container runtimes).

Both count into small dictionaries keyed on the kernel's raw representation
(bytes or hex text) and decode only the distinct keys at the end, so memory is
bounded by the number of distinct destinations and local ports, never by the
number of sockets.

Shape of the dictionary returned by :func:`gather_timewait` (documented for
users in the module's RETURN block)::

    {"total": int, "ipv4": int, "ipv6": int,
     "sockstat_tw": int, "max_tw_buckets": int,
     "bucket_utilization": float | None, "overflow_total": int | None,
     "ephemeral_port_range": [low, high], "port_pressure": float,
     "by_remote": [{"address": str, "port": int, "count": int}],
     "by_remote_address": [{"address": str, "count": int}],
     "by_local_port": [{"port": int, "count": int}],
     "method": "netlink" | "procfs", "method_fallback_reason": str | None,
     "kernel": str}
"""

from __future__ import annotations

import errno
import heapq
import os
import re
import socket
import struct
from collections import Counter
from operator import itemgetter
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

METHODS = ('auto', 'netlink', 'procfs')

# Kernel constants (include/uapi/linux/{netlink,sock_diag,inet_diag}.h, net/tcp_states.h).
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x100 | 0x200  # NLM_F_ROOT | NLM_F_MATCH
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_TIME_WAIT = 6
# /proc/net/tcp prints the state as two hex digits.
PROC_STATE_TIME_WAIT = b'06'

# struct nlmsghdr: len, type, flags, seq, pid (host byte order).
NLMSG_HDR = struct.Struct('=IHHII')
# struct inet_diag_req_v2: family, protocol, ext, pad, states, then
# struct inet_diag_sockid (ports, addresses, interface, cookie) left zeroed.
INET_DIAG_REQ_V2 = struct.Struct('=BBBxI48x')
# Offsets inside one netlink message (nlmsghdr is 16 bytes, inet_diag_msg follows).
DIAG_MSG_OFFSET = NLMSG_HDR.size
DIAG_MSG_MIN_LEN = DIAG_MSG_OFFSET + 72  # sizeof(struct inet_diag_msg) == 72
# Offsets of the fields read from each message (from the nlmsghdr start):
# idiag_state (u8), idiag_sport (be16), then idiag_dport (be16), idiag_src[16]
# and idiag_dst[16] back to back.
STATE_OFFSET = 17
SPORT_OFFSET = 20
# One bytes slice, dport + src + dst, is the per-socket counting key: one slice
# is one hashable object, decoded to text only once per distinct key. Keeping
# the source address in it costs a few keys per local address, never a key per
# socket.
REMOTE_KEY_OFFSET = 22
REMOTE_KEY_SIZE = 2 + 16 + 16
DIAG_FIELDS = struct.Struct('=IH11xB2x2s%ds' % REMOTE_KEY_SIZE)
NLMSG_ERRNO = struct.Struct('=i')

# Large enough that the kernel never has to wait for us between dump chunks.
NETLINK_RCVBUF = 8 * 1024 * 1024
# The kernel caps one dump chunk near 32 KiB; a larger buffer costs nothing.
NETLINK_RECV_SIZE = 256 * 1024
# procfs files are read in blocks so memory does not grow with the table.
PROC_READ_SIZE = 1024 * 1024

# The part of a /proc/net/tcp{,6} line from the local port to the state:
# ":LPORT REMOTE:RPORT 06 ". Only TIME_WAIT lines match; the groups are the
# local port and "REMOTE:RPORT". Starting with the literal ':' lets the regex
# engine skip ahead to candidate positions instead of trying every byte; no
# other ':' in a line is followed by this shape.
_PROC_TCP_PATTERN = rb':([0-9A-F]{4}) ([0-9A-F]{%d}:[0-9A-F]{4}) ' + PROC_STATE_TIME_WAIT + rb' '
PROC_TCP_LINE = {
    socket.AF_INET: re.compile(_PROC_TCP_PATTERN % 8),
    socket.AF_INET6: re.compile(_PROC_TCP_PATTERN % 32),
}
PROC_TCP_FILE = {socket.AF_INET: 'net/tcp', socket.AF_INET6: 'net/tcp6'}

RemoteKey = Tuple[str, int]


class TimewaitError(Exception):
    """Base class: something the module reports with fail_json."""


class ProcFileError(TimewaitError):
    """A /proc file could not be read or did not have the expected shape."""

    def __init__(self, path: str, reason: Any) -> None:
        super().__init__('cannot read %s: %s' % (path, reason))
        self.path = path
        self.reason = reason


class NetlinkError(TimewaitError):
    """The NETLINK_SOCK_DIAG dump failed or was refused."""

    def __init__(self, errnum: int, context: str) -> None:
        text = os.strerror(errnum) if errnum else 'unknown error'
        name = errno.errorcode.get(errnum, str(errnum))
        super().__init__('netlink sock_diag %s failed: [%s] %s' % (context, name, text))
        self.errno = errnum


class TimewaitCounts(object):
    """TIME_WAIT sockets counted by one method, already decoded to text.

    ``remotes`` maps ``(address, port)`` to a count, ``local_ports`` maps a
    local port to a count. Both hold one entry per distinct value.
    """

    def __init__(self) -> None:
        self.ipv4 = 0
        self.ipv6 = 0
        self.remotes = Counter()  # type: Counter
        self.local_ports = Counter()  # type: Counter

    @property
    def total(self) -> int:
        """All TIME_WAIT sockets enumerated, both families."""
        return self.ipv4 + self.ipv6

    def add_family(self, family: int, count: int, remotes: Dict[RemoteKey, int],
                   local_ports: Dict[int, int]) -> None:
        """Merge one family's decoded counts."""
        if family == socket.AF_INET:
            self.ipv4 += count
        else:
            self.ipv6 += count
        self.remotes.update(remotes)
        self.local_ports.update(local_ports)


# ---------------------------------------------------------------------------
# netlink
#
# This is the one place the project hand-writes what pyroute2 does: the
# managed host has nothing but the standard library installed.
# ---------------------------------------------------------------------------

def build_diag_request(family: int, seq: int) -> bytes:
    """Return one SOCK_DIAG_BY_FAMILY dump request for TCP TIME_WAIT sockets."""
    # Asking the kernel for TIME_WAIT only means it never sends the rest.
    body = INET_DIAG_REQ_V2.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_TIME_WAIT)
    header = NLMSG_HDR.pack(NLMSG_HDR.size + len(body), SOCK_DIAG_BY_FAMILY,
                            NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
    return header + body


def open_diag_socket() -> socket.socket:
    """Open a NETLINK_SOCK_DIAG socket with a large receive buffer.

    Raises OSError when the kernel or a seccomp profile refuses netlink.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_SOCK_DIAG)
    try:
        # SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; fall back quietly.
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, 'SO_RCVBUFFORCE', 33), NETLINK_RCVBUF)
    except OSError:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NETLINK_RCVBUF)
        except OSError:
            pass
    sock.bind((0, 0))
    return sock


# Struct objects that read the remote key of whole messages, by message length.
_REMOTE_KEY_STRUCTS = {}  # type: Dict[int, struct.Struct]


def remote_key_struct(msg_len: int) -> struct.Struct:
    """Return a Struct that reads the remote key from one msg_len-byte message."""
    found = _REMOTE_KEY_STRUCTS.get(msg_len)
    if found is None:
        tail = msg_len - REMOTE_KEY_OFFSET - REMOTE_KEY_SIZE
        found = struct.Struct('=%dx%ds%dx' % (REMOTE_KEY_OFFSET, REMOTE_KEY_SIZE, tail))
        _REMOTE_KEY_STRUCTS[msg_len] = found
    return found


def uniform_prefix(data: bytes, offset: int, stop: int, msg_len: int) -> int:
    """How many msg_len-byte messages from offset share the first one's length and type.

    Strided slices compare one header byte across all messages at once, so a
    well-formed chunk is checked without a Python loop per message.
    """
    count = (stop - offset) // msg_len
    header = data[offset:offset + 6]  # nlmsg_len (4 bytes) and nlmsg_type (2 bytes)
    if all(data[offset + i:stop:msg_len].count(header[i]) == count for i in range(6)):
        return count
    for index in range(count):
        start = offset + index * msg_len
        if data[start:start + 6] != header:
            return index
    return count


def count_uniform_run(data: bytes, offset: int, end: int, msg_len: int,
                      remotes: Counter, local_ports: Counter) -> Tuple[int, int]:
    """Count a run of same-length diag messages without a Python loop per message.

    The kernel fills a dump chunk with messages of one length (72 bytes of
    inet_diag_msg, plus an 8-byte INET_DIAG_MARK attribute when the caller has
    CAP_NET_ADMIN), so a chunk is usually one run. Local ports are read as a
    strided memoryview of native u16 (raw network-order values, see
    decode_raw_ports) and remote keys with Struct.iter_unpack; both go
    straight into Counter.update, which loops in C.

    Returns (messages consumed, TIME_WAIT sockets counted); consumed is 0 when
    the message at offset does not start a run of at least two, and the
    caller then walks that message on its own.
    """
    if msg_len % 4 or (end - offset) // msg_len < 2:
        return 0, 0
    consumed = uniform_prefix(data, offset, offset + ((end - offset) // msg_len) * msg_len, msg_len)
    if consumed < 2:
        return 0, 0
    stop = offset + consumed * msg_len
    window = memoryview(data)[offset:stop]
    if data[offset + STATE_OFFSET:stop:msg_len].count(TCP_TIME_WAIT) != consumed:
        # The request filters on TIME_WAIT already; this only guards odd kernels.
        return consumed, count_time_wait_rows(window, msg_len, remotes, local_ports)
    local_ports.update(window.cast('H')[SPORT_OFFSET // 2::msg_len // 2])
    remotes.update(map(itemgetter(0), remote_key_struct(msg_len).iter_unpack(window)))
    return consumed, consumed


def count_time_wait_rows(window: memoryview, msg_len: int, remotes: Counter, local_ports: Counter) -> int:
    """Slow path of count_uniform_run: count only the rows whose state is TIME_WAIT."""
    counted = 0
    ports = window.cast('H')
    for start in range(0, len(window), msg_len):
        state, _sport, key = DIAG_FIELDS.unpack_from(window, start)[2:]
        if state == TCP_TIME_WAIT:
            remotes[key] += 1
            local_ports[ports[(start + SPORT_OFFSET) // 2]] += 1
            counted += 1
    return counted


def parse_diag_chunk(data: bytes, nbytes: int, remotes: Counter, local_ports: Counter) -> Tuple[bool, int]:
    """Count the TIME_WAIT messages in one netlink receive buffer.

    Returns ``(done, count)``: done is True once NLMSG_DONE was seen. Raises
    NetlinkError on NLMSG_ERROR or a malformed message.
    """
    offset = 0
    counted = 0
    while offset + NLMSG_HDR.size <= nbytes:
        msg_len, msg_type = NLMSG_HDR.unpack_from(data, offset)[:2]
        if msg_len < NLMSG_HDR.size or offset + msg_len > nbytes:
            raise NetlinkError(errno.EBADMSG, 'message at offset %d' % offset)
        if msg_type == NLMSG_DONE:
            # NLMSG_DONE carries the dump's final status; negative means it failed midway.
            if msg_len >= NLMSG_HDR.size + NLMSG_ERRNO.size:
                status = NLMSG_ERRNO.unpack_from(data, offset + NLMSG_HDR.size)[0]
                if status < 0:
                    raise NetlinkError(-status, 'dump')
            return True, counted
        if msg_type == NLMSG_ERROR:
            err = -NLMSG_ERRNO.unpack_from(data, offset + NLMSG_HDR.size)[0]
            raise NetlinkError(err, 'dump')
        if msg_type == SOCK_DIAG_BY_FAMILY and msg_len >= DIAG_MSG_MIN_LEN:
            consumed, run_count = count_uniform_run(data, offset, nbytes, msg_len, remotes, local_ports)
            if consumed:
                counted += run_count
                offset += consumed * msg_len
                continue
            state, raw_sport, key = DIAG_FIELDS.unpack_from(data, offset)[2:]
            if state == TCP_TIME_WAIT:
                remotes[key] += 1
                # The same native-u16 reading of the network-order port as the fast path.
                local_ports[struct.unpack('=H', raw_sport)[0]] += 1
                counted += 1
        # Netlink messages are 4-byte aligned.
        offset += (msg_len + 3) & ~3
    return False, counted


def decode_diag_remotes(family: int, remotes: Counter) -> Dict[RemoteKey, int]:
    """Turn raw remote keys (dport + src + dst bytes) into (text address, port)."""
    width = 4 if family == socket.AF_INET else 16
    decoded = {}  # type: Dict[RemoteKey, int]
    for raw, count in remotes.items():
        key = (socket.inet_ntop(family, raw[18:18 + width]), int.from_bytes(raw[0:2], 'big'))
        decoded[key] = decoded.get(key, 0) + count
    return decoded


def decode_raw_ports(local_ports: Counter) -> Dict[int, int]:
    """Turn ports read as native u16 from network-order bytes into port numbers."""
    return {socket.ntohs(raw): count for raw, count in local_ports.items()}


def dump_family(sock: socket.socket, family: int, seq: int, buf: bytearray) -> Tuple[int, Counter, Counter]:
    """Dump one address family's TIME_WAIT sockets; return (count, raw remotes, raw ports)."""
    sock.send(build_diag_request(family, seq))
    remotes = Counter()  # type: Counter
    local_ports = Counter()  # type: Counter
    total = 0
    view = memoryview(buf)
    while True:
        nbytes = sock.recv_into(view)
        if nbytes == 0:
            raise NetlinkError(errno.EPIPE, 'dump (socket closed before NLMSG_DONE)')
        # One copy per chunk: bytes has the strided slices with .count() the fast path uses.
        done, counted = parse_diag_chunk(bytes(view[:nbytes]), nbytes, remotes, local_ports)
        total += counted
        if done:
            return total, remotes, local_ports


def count_netlink(include_ipv6: bool = True) -> TimewaitCounts:
    """Enumerate TIME_WAIT sockets with NETLINK_SOCK_DIAG.

    Raises OSError when netlink is refused and NetlinkError when the kernel
    answers a dump with an error.
    """
    families = [socket.AF_INET]
    if include_ipv6:
        families.append(socket.AF_INET6)
    counts = TimewaitCounts()
    buf = bytearray(NETLINK_RECV_SIZE)
    sock = open_diag_socket()
    try:
        for seq, family in enumerate(families, start=1):
            total, remotes, local_ports = dump_family(sock, family, seq, buf)
            counts.add_family(family, total, decode_diag_remotes(family, remotes), decode_raw_ports(local_ports))
    finally:
        sock.close()
    return counts


# ---------------------------------------------------------------------------
# procfs
# ---------------------------------------------------------------------------

def proc_path(proc_root: str, relpath: str) -> str:
    """Join a path below the /proc root (a parameter so tests can use recorded trees)."""
    return os.path.join(proc_root, relpath)


def read_proc_text(proc_root: str, relpath: str) -> str:
    """Read a small /proc file; raise ProcFileError naming the file on failure."""
    path = proc_path(proc_root, relpath)
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcFileError(path, exc)


def iter_proc_blocks(path: str, block_size: int = PROC_READ_SIZE) -> Iterable[bytes]:
    """Yield a file's content in blocks that end on a line boundary."""
    with open(path, 'rb') as handle:
        carry = b''
        while True:
            block = handle.read(block_size)
            if not block:
                break
            cut = block.rfind(b'\n') + 1
            if cut == 0:
                carry += block
                continue
            yield carry + block[:cut]
            carry = block[cut:]
        if carry:
            yield carry + b'\n'


def decode_proc_address(family: int, hex_addr: bytes) -> str:
    """Decode an address as /proc/net/tcp{,6} prints it.

    The kernel prints the address words with %08X from host memory, so each
    32-bit word is the network-order bytes read as a host-order integer
    (byte-reversed on little-endian machines).
    """
    words = [int(hex_addr[i:i + 8], 16) for i in range(0, len(hex_addr), 8)]
    raw = struct.pack('=%dI' % len(words), *words)
    return socket.inet_ntop(family, raw)


def count_proc_blocks(family: int, blocks: Iterable[bytes]) -> Tuple[int, Dict[RemoteKey, int], Dict[int, int]]:
    """Count TIME_WAIT lines of /proc/net/tcp{,6} text blocks.

    Returns (count, {(address, port): count}, {local port: count}).
    """
    pattern = PROC_TCP_LINE[family]
    remotes = Counter()  # type: Counter
    local_ports = Counter()  # type: Counter
    for block in blocks:
        matches = pattern.findall(block)
        if matches:
            ports, peers = zip(*matches)
            local_ports.update(ports)
            remotes.update(peers)
    decoded = {}  # type: Dict[RemoteKey, int]
    for peer, count in remotes.items():
        hex_addr, hex_port = peer.split(b':')
        key = (decode_proc_address(family, hex_addr), int(hex_port, 16))
        decoded[key] = decoded.get(key, 0) + count
    ports_out = {int(port, 16): count for port, count in local_ports.items()}
    return sum(remotes.values()), decoded, ports_out


def count_procfs(proc_root: str = '/proc', include_ipv6: bool = True) -> TimewaitCounts:
    """Enumerate TIME_WAIT sockets from /proc/net/tcp and /proc/net/tcp6.

    A missing /proc/net/tcp6 means the kernel runs without IPv6 and counts as
    no IPv6 sockets; any other read failure raises ProcFileError.
    """
    families = [socket.AF_INET]
    if include_ipv6:
        families.append(socket.AF_INET6)
    counts = TimewaitCounts()
    for family in families:
        path = proc_path(proc_root, PROC_TCP_FILE[family])
        try:
            total, remotes, local_ports = count_proc_blocks(family, iter_proc_blocks(path))
        except FileNotFoundError:
            if family == socket.AF_INET6:
                continue
            raise ProcFileError(path, 'file not found')
        except OSError as exc:
            raise ProcFileError(path, exc)
        counts.add_family(family, total, remotes, local_ports)
    return counts


# ---------------------------------------------------------------------------
# Kernel counters and settings
# ---------------------------------------------------------------------------

def parse_sockstat_tw(text: str) -> Optional[int]:
    """Return the ``tw`` value of the ``TCP:`` line of /proc/net/sockstat.

    It counts every timewait entry of both families, including FIN_WAIT2
    orphans the kernel keeps as timewait entries, so it can exceed the number
    of TIME_WAIT sockets enumerated. /proc/net/sockstat6 has no tw field.
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == 'TCP:':
            pairs = dict(zip(fields[1::2], fields[2::2]))
            if 'tw' in pairs:
                return int(pairs['tw'])
    return None


def parse_netstat_counter(text: str, section: str, name: str) -> Optional[int]:
    """Return one counter of /proc/net/netstat (name line, value line pairs), or None."""
    prefix = section + ':'
    lines = [line.split() for line in text.splitlines() if line.startswith(prefix)]
    # Lines come in pairs: the names, then the values.
    for names, values in zip(lines[0::2], lines[1::2]):
        if name in names:
            return int(values[names.index(name)])
    return None


def parse_port_range(text: str) -> List[int]:
    """Parse ip_local_port_range ("low<TAB>high") into [low, high]."""
    low, high = (int(field) for field in text.split())
    return [low, high]


def read_kernel_counters(proc_root: str = '/proc') -> Dict[str, Any]:
    """Read sockstat tw, tcp_max_tw_buckets, TCPTimeWaitOverflow and the port range."""
    sockstat_path = proc_path(proc_root, 'net/sockstat')
    sockstat_tw = parse_sockstat_tw(read_proc_text(proc_root, 'net/sockstat'))
    if sockstat_tw is None:
        raise ProcFileError(sockstat_path, 'no "tw" field on the TCP: line')
    try:
        max_tw_buckets = int(read_proc_text(proc_root, 'sys/net/ipv4/tcp_max_tw_buckets'))
        port_range = parse_port_range(read_proc_text(proc_root, 'sys/net/ipv4/ip_local_port_range'))
    except ValueError as exc:
        raise ProcFileError(proc_path(proc_root, 'sys/net/ipv4'), exc)
    overflow = parse_netstat_counter(read_proc_text(proc_root, 'net/netstat'), 'TcpExt', 'TCPTimeWaitOverflow')
    return {
        'sockstat_tw': sockstat_tw,
        'max_tw_buckets': max_tw_buckets,
        'overflow_total': overflow,
        'ephemeral_port_range': port_range,
    }


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------

def ratio(numerator: int, denominator: int) -> Optional[float]:
    """numerator/denominator rounded to 4 decimals; None when the denominator is 0."""
    if denominator <= 0:
        return None
    return round(float(numerator) / denominator, 4)


def largest_first(counts: Dict[Any, int], top_n: int) -> List[Tuple[Any, int]]:
    """(key, count) pairs, largest count first, ties by key; top_n of them, 0 for all.

    heapq.nsmallest keeps a top-10 of tens of thousands of local ports cheap.
    """
    def order(item: Tuple[Any, int]) -> Tuple[int, Any]:
        return -item[1], item[0]

    if top_n == 0:
        return sorted(counts.items(), key=order)
    return heapq.nsmallest(top_n, counts.items(), key=order)


def rank_remotes(remotes: Dict[RemoteKey, int], top_n: int = 0) -> List[Dict[str, Any]]:
    """[{address, port, count}], largest first, ties by address then port."""
    return [{'address': addr, 'port': port, 'count': count}
            for (addr, port), count in largest_first(remotes, top_n)]


def rank_remote_addresses(remotes: Dict[RemoteKey, int], top_n: int = 0) -> List[Dict[str, Any]]:
    """[{address, count}] summed over ports, largest first, ties by address."""
    per_address = Counter()  # type: Counter
    for (addr, _port), count in remotes.items():
        per_address[addr] += count
    return [{'address': addr, 'count': count} for addr, count in largest_first(per_address, top_n)]


def rank_local_ports(local_ports: Dict[int, int], top_n: int = 0) -> List[Dict[str, Any]]:
    """[{port, count}], largest first, ties by port."""
    return [{'port': port, 'count': count} for port, count in largest_first(local_ports, top_n)]


def port_pressure(remotes: Dict[RemoteKey, int], port_range: List[int]) -> float:
    """Largest count towards one remote address+port over the ephemeral range size."""
    if not remotes:
        return 0.0
    size = port_range[1] - port_range[0] + 1
    return ratio(max(remotes.values()), size) or 0.0


def summarize(counts: TimewaitCounts, kernel: Dict[str, Any], top_n: int) -> Dict[str, Any]:
    """Build the module's ``timewait`` dictionary (without method and kernel release)."""
    return {
        'total': counts.total,
        'ipv4': counts.ipv4,
        'ipv6': counts.ipv6,
        'sockstat_tw': kernel['sockstat_tw'],
        'max_tw_buckets': kernel['max_tw_buckets'],
        'bucket_utilization': ratio(kernel['sockstat_tw'], kernel['max_tw_buckets']),
        'overflow_total': kernel['overflow_total'],
        'ephemeral_port_range': kernel['ephemeral_port_range'],
        'port_pressure': port_pressure(counts.remotes, kernel['ephemeral_port_range']),
        'by_remote': rank_remotes(counts.remotes, top_n),
        'by_remote_address': rank_remote_addresses(counts.remotes, top_n),
        'by_local_port': rank_local_ports(counts.local_ports, top_n),
    }


def count_with_method(method: str, include_ipv6: bool, proc_root: str,
                      netlink: Callable[[bool], TimewaitCounts] = count_netlink) -> Tuple[TimewaitCounts, str, Optional[str]]:
    """Run the requested method; return (counts, method that ran, fallback reason).

    ``auto`` tries netlink and falls back to procfs when netlink is refused or
    fails; the reason is returned so the caller can report it.
    """
    if method not in METHODS:
        raise TimewaitError('unknown method %r, expected one of %s' % (method, ', '.join(METHODS)))
    if method == 'procfs':
        return count_procfs(proc_root, include_ipv6), 'procfs', None
    try:
        return netlink(include_ipv6), 'netlink', None
    except NetlinkError as exc:
        if method == 'netlink':
            raise
        reason = str(exc)
    except OSError as exc:
        if method == 'netlink':
            raise NetlinkError(exc.errno or 0, 'socket') from exc
        reason = 'netlink sock_diag socket refused: %s' % exc
    return count_procfs(proc_root, include_ipv6), 'procfs', reason


def gather_timewait(method: str = 'auto', top_n: int = 10, include_ipv6: bool = True,
                    proc_root: str = '/proc',
                    netlink: Callable[[bool], TimewaitCounts] = count_netlink) -> Dict[str, Any]:
    """Count TIME_WAIT sockets and read the related kernel counters.

    Returns the ``timewait`` dictionary described in the module docstring.
    Raises TimewaitError (ProcFileError, NetlinkError) on failure and
    ValueError for a negative top_n. ``netlink`` is replaceable for tests.
    """
    if top_n < 0:
        raise ValueError('top_n must be 0 (all) or a positive integer, got %d' % top_n)
    counts, ran, reason = count_with_method(method, include_ipv6, proc_root, netlink)
    result = summarize(counts, read_kernel_counters(proc_root), top_n)
    result['method'] = ran
    result['method_fallback_reason'] = reason
    result['kernel'] = os.uname().release
    return result
