# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read sysctl keys at runtime and predict what the sysctl tools will make of the files.

Core of the ``tcp_sysctl_info`` and ``tcp_audit_info`` modules. Runs on managed
hosts: Python 3.8, standard library only.

Two predictions per key (README.md, "Which file wins at boot"):

* ``boot``: what systemd-sysctl applies when systemd runs the boot (the
  behaviour of systemd 247, 252 and 257, Debian 11 to 13), then an active tuned
  profile. Without systemd, ``sysctl --system`` (what the procps init script runs).
* ``system``: what this host's ``sysctl --system`` (procps 3.3 or 4.0) applies.

Both are simulated the way the tools do it: which files they read (masking,
sorting, /etc/sysctl.conf, dot-files, procps' glob on file names), how they
split and parse lines, how they spell keys as paths, how they expand globs
against the live /proc/sys and exclude keys from them, which of several values
they write, and what the kernel then stores (``kernel_store``). The
differential test (tests/differential/) runs the real tools on seeded random
trees in containers of Debian 11, 12 and 13 and compares.

File contents are handled as latin-1 text: one character per byte, so byte
values, sorting and lengths are those the C tools see.
"""

from __future__ import absolute_import, division, print_function

import errno
import hashlib
import os
import posixpath
import re
import stat
import string
from collections import OrderedDict

try:
    from typing import Any, Dict, List, Optional, Set, Tuple  # noqa: F401 (type comments only)
except ImportError:  # pragma: no cover
    pass

SYSCTL_DIRS = ('/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d', '/lib/sysctl.d')
SYSCTL_CONF = '/etc/sysctl.conf'
PROFILE_KEYS = ('net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_timestamps', 'net.ipv4.tcp_tw_recycle',
                'net.ipv4.tcp_max_tw_buckets', 'net.ipv4.ip_local_port_range')
# Defaults of the `auto` sizing of net.ipv4.tcp_max_tw_buckets (README.md, "The auto size of tcp_max_tw_buckets").
AUTO_PER_MIB = 16
AUTO_MIN = 32768
AUTO_MAX = 1048576
ST_RDONLY = getattr(os, 'ST_RDONLY', 1)

# Bounds on what one host makes the module read.
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 1000
MAX_SETTINGS = 100  # per key in the result: the last ones
MAX_GLOB_MATCHES = 100000
# systemd-sysctl stops reading a file at a line this long (LONG_LINE_MAX, -ENOBUFS).
LONG_LINE_MAX = 1024 * 1024

# The options of tcp_sysctl_info that tcp_audit_info shares (it makes the same
# call, with the TIME_WAIT count and the nginx dump added).
ARGUMENT_SPEC = dict(
    keys=dict(type='list', elements='str', default=list(PROFILE_KEYS), no_log=False),
    expected=dict(type='dict', default={}),
    profile_file=dict(type='path'),
    auto_max_tw_buckets=dict(type='dict', options=dict(
        per_mib=dict(type='int', default=AUTO_PER_MIB),
        minimum=dict(type='int', default=AUTO_MIN),
        maximum=dict(type='int', default=AUTO_MAX),
    )),
)


# ------------------------------------------------------------------ key forms


def normalize_key(key):
    # type: (str) -> str
    """Return a key in dotted form. Like systemd: when the first separator is a
    slash, slashes become dots and dots become slashes (dots inside a component,
    such as a VLAN interface name, survive as slashes)."""
    key = key.strip().strip('/')
    first_slash, first_dot = key.find('/'), key.find('.')
    if first_slash != -1 and (first_dot == -1 or first_slash < first_dot):
        return key.translate(str.maketrans('/.', './'))
    return key


def key_path(key):
    # type: (str) -> str
    """The path of a key under /proc/sys, relative: 'net.ipv4.tcp_tw_reuse' -> 'net/ipv4/tcp_tw_reuse'."""
    return posixpath.normpath('/'.join(part.replace('/', '.') for part in normalize_key(key).split('.'))).lstrip('/')


def fold(value):
    # type: (Optional[str]) -> Optional[str]
    """Fold whitespace the way the record shows values: '32768\\t60999' -> '32768 60999'."""
    if value is None:
        return None
    return ' '.join(str(value).split())


def display(text):
    # type: (Optional[str]) -> Optional[str]
    """A latin-1 (byte) string as readable text for the record, control characters escaped."""
    if text is None:
        return None
    text = text.encode('latin-1').decode('utf-8', 'replace')
    return ''.join(c if c == ' ' or (c.isprintable() and not c.isspace()) else repr(c)[1:-1] for c in text)


def swap_separators(key):
    # type: (str) -> str
    """What procps (slashdot) and systemd (sysctl_normalize) do first: when the first
    separator is a dot, dots and slashes trade places."""
    match = re.search(r'[./]', key)
    if match is None or match.group(0) == '/':
        return key
    return key.translate(str.maketrans('./', '/.'))


def is_glob(text):
    # type: (str) -> bool
    """string_is_glob() of both tools: the text holds '*', '?' or '['."""
    return any(c in text for c in '*?[')


# ------------------------------------------------------------------ the kernel

# How the kernel parses a write to a key: (handler, minimum, maximum). u8 is
# proc_dou8vec_minmax, uint proc_douintvec(_minmax), int proc_dointvec(_minmax),
# jiffies proc_dointvec_jiffies, ports ipv4_local_port_range. The table holds every
# scalar key of net/ipv4/sysctl_net_ipv4.c (ipv4_net_table, per network namespace)
# whose entry is the same in Debian's kernels 5.10.223, 6.1.176 and 6.12.38; the
# differential test writes each with the kernel under test. Other keys are
# reported as written (tcp_reordering and tcp_max_reordering, bounded since, too).
KERNEL_KEYS = {
    'net/ipv4/fwmark_reflect': ('u8', 0, 255),
    'net/ipv4/icmp_ratemask': ('int', None, None),
    'net/ipv4/igmp_max_memberships': ('int', None, None),
    'net/ipv4/igmp_max_msf': ('int', None, None),
    'net/ipv4/igmp_qrv': ('int', 1, None),
    'net/ipv4/ip_autobind_reuse': ('u8', 0, 1),
    'net/ipv4/ip_default_ttl': ('u8', 1, 255),
    'net/ipv4/ip_dynaddr': ('u8', 0, 255),
    'net/ipv4/ip_early_demux': ('u8', 0, 255),
    'net/ipv4/ip_forward_use_pmtu': ('u8', 0, 255),
    'net/ipv4/ip_no_pmtu_disc': ('u8', 0, 255),
    'net/ipv4/ip_nonlocal_bind': ('u8', 0, 255),
    'net/ipv4/nexthop_compat_mode': ('u8', 0, 1),
    'net/ipv4/raw_l3mdev_accept': ('u8', 0, 1),
    'net/ipv4/tcp_abort_on_overflow': ('u8', 0, 255),
    'net/ipv4/tcp_adv_win_scale': ('int', -31, 31),
    'net/ipv4/tcp_app_win': ('u8', 0, 31),
    'net/ipv4/tcp_autocorking': ('u8', 0, 1),
    'net/ipv4/tcp_base_mss': ('int', None, None),
    'net/ipv4/tcp_challenge_ack_limit': ('int', None, None),
    'net/ipv4/tcp_dsack': ('u8', 0, 255),
    'net/ipv4/tcp_early_retrans': ('u8', 0, 4),
    'net/ipv4/tcp_fack': ('u8', 0, 255),
    'net/ipv4/tcp_fastopen': ('int', None, None),
    'net/ipv4/tcp_fin_timeout': ('jiffies', None, None),
    'net/ipv4/tcp_frto': ('u8', 0, 255),
    'net/ipv4/tcp_fwmark_accept': ('u8', 0, 255),
    'net/ipv4/tcp_keepalive_intvl': ('jiffies', None, None),
    'net/ipv4/tcp_keepalive_probes': ('u8', 0, 255),
    'net/ipv4/tcp_keepalive_time': ('jiffies', None, None),
    'net/ipv4/tcp_l3mdev_accept': ('u8', 0, 1),
    'net/ipv4/tcp_limit_output_bytes': ('int', None, None),
    'net/ipv4/tcp_max_syn_backlog': ('int', None, None),
    'net/ipv4/tcp_max_tw_buckets': ('int', None, None),
    'net/ipv4/tcp_migrate_req': ('u8', 0, 1),
    'net/ipv4/tcp_min_rtt_wlen': ('int', 0, 86400),
    'net/ipv4/tcp_min_snd_mss': ('int', 48, 65535),
    'net/ipv4/tcp_min_tso_segs': ('u8', 1, 255),
    'net/ipv4/tcp_moderate_rcvbuf': ('u8', 0, 255),
    'net/ipv4/tcp_mtu_probe_floor': ('int', 48, 65535),
    'net/ipv4/tcp_mtu_probing': ('u8', 0, 255),
    'net/ipv4/tcp_no_metrics_save': ('u8', 0, 255),
    'net/ipv4/tcp_no_ssthresh_metrics_save': ('u8', 0, 1),
    'net/ipv4/tcp_notsent_lowat': ('uint', 0, 4294967295),
    'net/ipv4/tcp_orphan_retries': ('u8', 0, 255),
    'net/ipv4/tcp_pacing_ca_ratio': ('int', 0, 1000),
    'net/ipv4/tcp_pacing_ss_ratio': ('int', 0, 1000),
    'net/ipv4/tcp_probe_threshold': ('int', None, None),
    'net/ipv4/tcp_recovery': ('u8', 0, 255),
    'net/ipv4/tcp_reflect_tos': ('u8', 0, 1),
    'net/ipv4/tcp_retrans_collapse': ('u8', 0, 255),
    'net/ipv4/tcp_retries1': ('u8', 0, 255),
    'net/ipv4/tcp_retries2': ('u8', 0, 255),
    'net/ipv4/tcp_rfc1337': ('u8', 0, 255),
    'net/ipv4/tcp_sack': ('u8', 0, 255),
    'net/ipv4/tcp_slow_start_after_idle': ('u8', 0, 255),
    'net/ipv4/tcp_stdurg': ('u8', 0, 255),
    'net/ipv4/tcp_syn_retries': ('u8', 1, 127),
    'net/ipv4/tcp_synack_retries': ('u8', 0, 255),
    'net/ipv4/tcp_syncookies': ('u8', 0, 255),
    'net/ipv4/tcp_thin_linear_timeouts': ('u8', 0, 255),
    'net/ipv4/tcp_timestamps': ('u8', 0, 255),
    'net/ipv4/tcp_tso_win_divisor': ('u8', 0, 255),
    'net/ipv4/tcp_tw_reuse': ('u8', 0, 2),
    'net/ipv4/tcp_window_scaling': ('u8', 0, 255),
    'net/ipv4/tcp_workaround_signed_windows': ('u8', 0, 255),
    'net/ipv4/udp_rmem_min': ('int', 1, None),
    'net/ipv4/udp_wmem_min': ('int', 1, None),
    'net/ipv4/tcp_tw_recycle': ('int', None, None),
    'net/ipv4/ip_local_port_range': ('ports', 1, 65535),
}
# Kernels before 5.14 (Debian's before 5.10.178-1) had int handlers where the table
# says u8: those keys are left unmodelled there, except these three.
LEGACY_KERNEL_KEYS = {
    'net/ipv4/tcp_tw_reuse': ('int', 0, 2),
    'net/ipv4/tcp_timestamps': ('int', None, None),
    'net/ipv4/tcp_syn_retries': ('int', 1, 127),
}
KERNEL_DEFAULTS = {'net/ipv4/ip_local_port_range': '32768 60999'}
KERNEL_SPACE = ' \t\n\v\f\r\xa0'      # proc_skip_spaces(): the kernel's isspace(), latin-1
NUMBER_END = ' \t\n'                   # proc_wspace_sep: what may follow a number
TMPBUFLEN = 22                         # proc_get_long() reads at most 21 characters
PAGE_LIMIT = 4095                      # a write is cut at PAGE_SIZE - 1
INT_MAX = 2 ** 31 - 1
UINT_MAX = 2 ** 32 - 1
ULONG_MAX = 2 ** 64 - 1
JIFFIES_HZ = 250                       # CONFIG_HZ of Debian's kernels
DIGIT_VALUES = dict((c, int(c, 16)) for c in '0123456789abcdefABCDEF')


def kernel_handlers(release=None, proc_version=None):
    # type: (Optional[str], Optional[str]) -> Dict[str, Tuple[str, Optional[int], Optional[int]]]
    """The handler table of the running kernel: KERNEL_KEYS, with the int handlers of
    kernels before 5.14 (Debian: before 5.10.178-1, read from /proc/version)."""
    handlers = dict(KERNEL_KEYS)
    match = re.match(r'(\d+)\.(\d+)', release or '')
    if match and (int(match.group(1)), int(match.group(2))) < (5, 14):
        debian = re.search(r'Debian (\d+)\.(\d+)\.(\d+)', proc_version or '')
        patched = (debian is not None and (int(match.group(1)), int(match.group(2))) == (5, 10)
                   and tuple(int(n) for n in debian.groups()) >= (5, 10, 178))
        if not patched:
            handlers = dict((key, handler) for key, handler in handlers.items() if handler[0] != 'u8')
            handlers.update(LEGACY_KERNEL_KEYS)
    return handlers


def _kernel_number(buf, pos):
    # type: (str, int) -> Optional[Tuple[bool, int, int]]
    """proc_get_long(): (negative, value, position after it), or None for EINVAL."""
    size = len(buf) - pos
    if size <= 0:
        return None
    tmp = buf[pos:pos + TMPBUFLEN - 1]
    index, negative = 0, False
    if tmp[0] == '-' and size > 1:
        index, negative = 1, True
    if index >= len(tmp) or not '0' <= tmp[index] <= '9':
        return None
    base = 10
    if tmp[index] == '0':
        base = 8
        if tmp[index + 1:index + 2] in ('x', 'X') and tmp[index + 2:index + 3] in DIGIT_VALUES:
            base, index = 16, index + 2
    value = 0
    while index < len(tmp):
        digit = DIGIT_VALUES.get(tmp[index])
        if digit is None or digit >= base:
            break
        value = value * base + digit
        index += 1
    if value > ULONG_MAX or index == TMPBUFLEN - 1:
        return None
    if index < size and buf[pos + index] not in NUMBER_END:
        return None
    return negative, value, pos + index


def _skip_space(buf, pos):
    # type: (str, int) -> int
    while pos < len(buf) and buf[pos] in KERNEL_SPACE:
        pos += 1
    return pos


def _int_value(negative, value):
    # type: (bool, int) -> Optional[int]
    """do_proc_dointvec_conv(): the int, or None when it does not fit."""
    if negative:
        return -value if value <= INT_MAX + 1 else None
    return value if value <= INT_MAX else None


def kernel_store(handler, text, previous=None, newline=True, port_floor=1024):
    # type: (Optional[Tuple[str, Optional[int], Optional[int]]], str, Optional[str], bool, int) -> Tuple[Optional[str], Optional[str]]
    """What the kernel stores when a tool writes ``text`` (plus a newline) to a key:
    ``(value, None)`` or ``(None, why it is rejected)``.

    The value is the kernel's own spelling ('010' -> '8', '6000 # note' -> '6000').
    ``previous`` is the value before (ip_local_port_range keeps its upper bound when
    one number is written). Keys without a handler keep the text, whitespace folded.
    """
    if handler is None:
        return fold(text), None
    kind, low, high = handler
    buf = (text + ('\n' if newline else ''))[:PAGE_LIMIT]
    pos = _skip_space(buf, 0)
    if pos == len(buf):
        return None, 'no number'
    if kind == 'ports':
        return _store_ports(buf, previous, low, high, port_floor)
    parsed = _kernel_number(buf, pos)
    if parsed is None:
        return None, 'not a number the kernel reads (%s)' % display(text)
    negative, value, _pos = parsed
    if kind in ('u8', 'uint'):
        if negative or value > UINT_MAX or value < low or value > high:
            return None, 'outside %d..%d' % (low, high)
        return str(value), None
    if kind == 'jiffies' and value > INT_MAX // JIFFIES_HZ:
        return None, 'outside -%d..%d' % (INT_MAX // JIFFIES_HZ, INT_MAX // JIFFIES_HZ)
    number = _int_value(negative, value)
    if number is None or (low is not None and number < low) or (high is not None and number > high):
        return None, 'outside %s..%s' % (-INT_MAX - 1 if low is None else low, INT_MAX if high is None else high)
    return str(number), None


def _store_ports(buf, previous, low, high, port_floor):
    # type: (str, Optional[str], int, int, int) -> Tuple[Optional[str], Optional[str]]
    """ipv4_local_port_range(): up to two ints (one keeps the old upper bound), low <= high."""
    ports = [int(n) for n in (previous or KERNEL_DEFAULTS['net/ipv4/ip_local_port_range']).split()[:2]]
    pos, parsed = 0, 0
    for index in range(2):
        pos = _skip_space(buf, pos)
        if pos == len(buf):
            break
        number = _kernel_number(buf, pos)
        if number is None:
            return None, 'not two port numbers'
        value = _int_value(number[0], number[1])
        if value is None or value < low or value > high:
            return None, 'port outside %d..%d' % (low, high)
        ports[index], pos, parsed = value, number[2], parsed + 1
    if not parsed:
        return None, 'no number'
    if ports[1] < ports[0] or ports[0] < port_floor:
        return None, 'not a range from %d up' % port_floor
    return '%d %d' % tuple(ports), None


# ------------------------------------------------------------------ glob(3)


class LocalFS(object):
    """Paths of this machine, as glob(3) sees them."""

    @staticmethod
    def listdir(path):
        # type: (str) -> List[str]
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    @staticmethod
    def isdir(path):
        # type: (str) -> bool
        return os.path.isdir(path)

    @staticmethod
    def lexists(path):
        # type: (str) -> bool
        return os.path.lexists(path)


POSIX_CLASSES = {
    'alnum': 'a-zA-Z0-9', 'alpha': 'a-zA-Z', 'blank': ' \\t', 'cntrl': '\\x00-\\x1f\\x7f', 'digit': '0-9',
    'graph': '\\x21-\\x7e', 'lower': 'a-z', 'print': '\\x20-\\x7e', 'space': ' \\t\\n\\r\\f\\v', 'upper': 'A-Z',
    'xdigit': '0-9A-Fa-f', 'punct': ''.join(re.escape(c) for c in string.punctuation),
}


def _has_magic(pattern):
    # type: (str) -> bool
    """glibc's __glob_pattern_p(): '*' or '?', or '[' with a ']' after it (backslash escapes)."""
    bracket, index = False, 0
    while index < len(pattern):
        char = pattern[index]
        if char in '*?':
            return True
        if char == '\\':
            index += 2
            continue
        if char == '[':
            bracket = True
        elif char == ']' and bracket:
            return True
        index += 1
    return False


def _bracket(pattern, index):
    # type: (str, int) -> Optional[Tuple[str, int]]
    """A bracket expression starting after '[' as a regex class, and where it ends."""
    end, negate, parts, first = index, False, [], True
    if end < len(pattern) and pattern[end] in '!^':
        negate, end = True, end + 1
    while True:
        if end >= len(pattern):
            return None
        char = pattern[end]
        if char == ']' and not first:
            end += 1
            break
        first = False
        if char == '[' and pattern.startswith(':', end + 1):
            close = pattern.find(':]', end + 2)
            if close < 0 or pattern[end + 2:close] not in POSIX_CLASSES:
                return None
            parts.append(POSIX_CLASSES[pattern[end + 2:close]])
            end = close + 2
            continue
        if char == '\\' and end + 1 < len(pattern):
            char, end = pattern[end + 1], end + 2
        else:
            end += 1
        if end + 1 < len(pattern) and pattern[end] == '-' and pattern[end + 1] != ']':
            last, end = pattern[end + 1], end + 2
            if last == '\\' and end < len(pattern):
                last, end = pattern[end], end + 1
            if last >= char:
                parts.append('%s-%s' % (re.escape(char), re.escape(last)))
            continue
        parts.append(re.escape(char))
    if not parts:
        return ('[\\s\\S]' if negate else '(?!)'), end
    return ('[^%s]' if negate else '[%s]') % ''.join(parts), end


def fnmatch_regex(pattern):
    # type: (str) -> Any
    """fnmatch(3) of one path component (FNM_PERIOD), as a compiled regex."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == '*':
            out.append('.*')
        elif char == '?':
            out.append('.')
        elif char == '\\' and index < len(pattern):
            out.append(re.escape(pattern[index]))
            index += 1
        elif char == '[' and _bracket(pattern, index) is not None:
            regex, index = _bracket(pattern, index)
            out.append(regex)
        else:
            out.append(re.escape(char))
    return re.compile('(?s)%s\\Z' % ''.join(out))


def _next_brace_sub(pattern, index):
    # type: (str, int) -> Optional[int]
    """glibc's next_brace_sub(): the ',' or '}' that ends this alternative."""
    depth = 0
    while index < len(pattern):
        char = pattern[index]
        if char == '\\':
            index += 2
            continue
        if char in ',}' and depth == 0:
            return index
        if char == '}':
            depth -= 1
        elif char == '{':
            depth += 1
        index += 1
    return None


def brace_alternatives(pattern):
    # type: (str) -> Optional[List[str]]
    """GLOB_BRACE: the patterns of the first well-formed {a,b} group, or None."""
    begin = 0
    while begin < len(pattern) and pattern[begin] != '{':
        begin += 2 if pattern[begin] == '\\' else 1
    if begin >= len(pattern):
        return None
    following = _next_brace_sub(pattern, begin + 1)
    if following is None:
        return None
    rest = following
    while pattern[rest] != '}':
        rest = _next_brace_sub(pattern, rest + 1)
        if rest is None:
            return None
    alternatives, start = [], begin + 1
    while True:
        alternatives.append(pattern[:begin] + pattern[start:following] + pattern[rest + 1:])
        if pattern[following] == '}':
            return alternatives
        start = following + 1
        following = _next_brace_sub(pattern, start)


def _join(directory, name):
    # type: (str, str) -> str
    return '/' + name if directory == '/' else directory + '/' + name


def _glob_plain(pattern, fs, onlydir, budget):
    # type: (str, Any, bool, List[int]) -> List[str]
    slash = pattern.rfind('/')
    if slash < 0:
        return [pattern] if fs.lexists(pattern) else []
    directory, name = pattern[:slash] or '/', pattern[slash + 1:]
    if not name:
        if _has_magic(directory):
            return [found + '/' for found in _glob_plain(directory, fs, True, budget)]
        return [pattern] if fs.isdir(directory) else []
    directories = _glob_plain(directory, fs, True, budget) if _has_magic(directory) else [directory]
    found = []
    for parent in directories:
        if _has_magic(name):
            regex = fnmatch_regex(name)
            for entry in fs.listdir(parent):
                budget[0] -= 1
                if budget[0] < 0:
                    raise ValueError('glob %s matches too many paths' % pattern)
                if entry.startswith('.') and not name.startswith('.'):
                    continue
                path = _join(parent, entry)
                if regex.match(entry) and (not onlydir or fs.isdir(path)):
                    found.append(path)
        else:
            path = _join(parent, name)
            if fs.lexists(path) and (not onlydir or fs.isdir(path)):
                found.append(path)
    return found


def glob_paths(pattern, fs, brace=False, nocheck=False, sort=True, budget=None):
    # type: (str, Any, bool, bool, bool, Optional[List[int]]) -> List[str]
    """glob(3) as glibc does it, on the file system ``fs`` (LocalFS or a Tree).

    GLOB_BRACE expands the first {a,b} group (each alternative sorted on its own);
    with GLOB_NOCHECK a pattern that matches nothing comes back as it is.
    """
    budget = [MAX_GLOB_MATCHES] if budget is None else budget
    if brace:
        alternatives = brace_alternatives(pattern)
        if alternatives is not None:
            found = []
            for alternative in alternatives:
                found.extend(glob_paths(alternative, fs, brace=True, sort=sort, budget=budget))
            if found or not nocheck:
                return found
    found = _glob_plain(pattern, fs, False, budget)
    if sort:
        found.sort(key=lambda path: path.encode('utf-8', 'surrogateescape'))
    if not found and nocheck:
        return [pattern]
    return found


# ------------------------------------------------------------------ the files


class Tree(object):
    """The configuration files under ``root`` (paths are absolute inside it), with an
    optional overlay ``{path: bytes, or None for removed}`` that answers "what if the
    drop-in were there"."""

    def __init__(self, root='/', overlay=None, cache=None):
        # type: (str, Optional[Dict[str, Optional[bytes]]], Optional[Dict[str, Any]]) -> None
        self.root = root or '/'
        self.overlay = dict((posixpath.normpath(path), content) for path, content in (overlay or {}).items())
        self.cache = {'bytes': 0} if cache is None else cache  # file contents, shared with overlays

    def with_overlay(self, overlay):
        # type: (Dict[str, Optional[bytes]]) -> Tree
        merged = dict(self.overlay)
        merged.update(overlay)
        return Tree(self.root, merged, self.cache)

    def real(self, path):
        # type: (str) -> str
        return os.path.join(self.root, path.lstrip('/'))

    def names(self, directory):
        # type: (str) -> Optional[List[str]]
        """Entry names of a directory (readdir, any type), or None when it cannot be opened."""
        try:
            found = set(os.listdir(self.real(directory)))  # type: Optional[Set[str]]
        except OSError:
            found = None
        for path, content in self.overlay.items():
            parent, name = posixpath.split(path)
            if parent != directory:
                continue
            if content is None:
                if found is not None:
                    found.discard(name)
            else:
                found = (found or set()) | set([name])
        return None if found is None else sorted(found, key=to_bytes)

    def listdir(self, directory):
        # type: (str) -> List[str]
        return self.names(directory) or []

    def kind(self, path):
        # type: (str) -> str
        """'file', 'dir', 'null' (a character device), 'missing' (also a dangling link) or 'other'."""
        if path in self.overlay:
            return 'missing' if self.overlay[path] is None else 'file'
        try:
            mode = os.stat(self.real(path)).st_mode
        except OSError as exc:
            return 'missing' if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 'other'
        if stat.S_ISREG(mode):
            return 'file'
        if stat.S_ISDIR(mode):
            return 'dir'
        return 'null' if stat.S_ISCHR(mode) else 'other'

    def isdir(self, path):
        # type: (str) -> bool
        return self.kind(path) == 'dir'

    def lexists(self, path):
        # type: (str) -> bool
        if path in self.overlay:
            return self.overlay[path] is not None
        return os.path.lexists(self.real(path))

    def read(self, path):
        # type: (str) -> Optional[str]
        """The bytes of a file as latin-1 text, or None when it cannot be read."""
        if path in self.overlay:
            content = self.overlay[path]
            return None if content is None else content.decode('latin-1')
        kind = self.kind(path)
        if kind == 'null':
            return ''
        if kind != 'file':
            return None
        if path not in self.cache:
            try:
                with open(self.real(path), 'rb') as handle:
                    self.cache[path] = handle.read(MAX_FILE_BYTES).decode('latin-1')
            except (IOError, OSError):
                self.cache[path] = None
            self.cache['bytes'] += len(self.cache[path] or '')
            if self.cache['bytes'] > MAX_TOTAL_BYTES:
                raise ValueError('the sysctl configuration files hold more than %d MiB' % (MAX_TOTAL_BYTES // 2 ** 20))
        return self.cache[path]


def to_bytes(name):
    # type: (str) -> bytes
    """Sort key of a file name: its bytes, as strcmp() compares them."""
    return name.encode('utf-8', 'surrogateescape')


def conf_files(tree, directories, skip_hidden):
    # type: (Tree, Tuple[str, ...], bool) -> List[str]
    """The *.conf files in ``directories``: a name in an earlier directory masks the
    same name in later ones whatever it is (file, link, directory, dangling link),
    and the survivors sort by name, bytewise."""
    chosen = OrderedDict()  # type: OrderedDict[str, str]
    for directory in directories:
        for name in tree.names(directory) or []:
            if not name.endswith('.conf') or (skip_hidden and name.startswith('.')):
                continue
            if name not in chosen:
                chosen[name] = _join(directory, name)
            if len(chosen) > MAX_FILES:
                raise ValueError('more than %d sysctl configuration files' % MAX_FILES)
    return [chosen[name] for name in sorted(chosen, key=to_bytes)]


# ------------------------------------------------------------------ /proc/sys


class ProcSys(object):
    """Where the tools write: the live /proc/sys (or a recorded tree in tests)."""

    def __init__(self, base='/proc/sys', handlers=None):
        # type: (str, Optional[Dict[str, Tuple[str, Optional[int], Optional[int]]]]) -> None
        self.base = base.rstrip('/') or '/'
        self.real_base = os.path.realpath(self.base)
        self.handlers = KERNEL_KEYS if handlers is None else handlers
        self.fs = LocalFS()
        # ip_local_port_range may not start below it (containers often lower it to 0).
        floor = read_text(os.path.join(self.base, 'net/ipv4/ip_unprivileged_port_start')) or ''
        self.port_floor = int(floor) if floor.strip().isdigit() else 1024

    def store(self, target, value, previous=None, newline=True):
        # type: (str, str, Optional[str], bool) -> Tuple[Optional[str], Optional[str]]
        """kernel_store() with this kernel's handler of the key."""
        return kernel_store(self.handlers.get(target), value, previous, newline, self.port_floor)

    def target(self, rel):
        # type: (str) -> Optional[str]
        """The key a tool writes when it opens base + '/' + rel (the kernel resolves
        '//', '.' and '..'), or None when the open fails: missing, a directory,
        read-only, or outside /proc/sys (procps 4 checks the real path)."""
        path = self.base + '/' + rel
        try:
            mode = os.stat(path).st_mode
        except (OSError, ValueError):
            return None
        if stat.S_ISDIR(mode) or not mode & stat.S_IWUSR:
            return None
        real = os.path.realpath(path)
        if not real.startswith(self.real_base + '/'):
            return None
        return real[len(self.real_base) + 1:]


class Writes(object):
    """The writes of one tool run that reach the keys asked about, in order, with the
    value the kernel keeps after each."""

    def __init__(self, proc, wanted, initial, tool):
        # type: (ProcSys, Set[str], Dict[str, str], str) -> None
        self.proc = proc
        self.wanted = wanted
        self.current = dict(initial)
        self.tool = tool
        self.events = []   # type: List[Dict[str, Any]]
        self.lines = []    # type: List[Dict[str, Any]]
        self.cancels = {}  # type: Dict[str, str]

    def could_reach(self, rel):
        # type: (str) -> bool
        """Only paths that spell a wanted key are opened (the kernel resolves '..' the way
        normpath does when every component exists)."""
        return posixpath.normpath('/' + rel).lstrip('/') in self.wanted

    def write(self, rel, value, origin, newline=True):
        # type: (str, str, Dict[str, Any], bool) -> None
        """A tool writes ``value`` to /proc/sys/``rel``: record what the kernel keeps."""
        if not self.could_reach(rel):
            return
        target = self.proc.target(rel)
        if target is None or target not in self.wanted:
            return
        stored, reason = self.proc.store(target, value, self.current.get(target), newline)
        if stored is not None:
            self.current[target] = stored
        self.events.append({'target': target, 'value': value, 'path': origin['path'], 'line': origin['line'],
                            'stored': stored, 'reason': reason, 'tool': self.tool})

    def named(self, rel, value, origin):
        # type: (str, Optional[str], Dict[str, Any]) -> None
        """Remember a line that names a wanted key, written or not (for the settings list)."""
        if value is None or is_glob(rel):
            return
        spelled = posixpath.normpath('/' + rel).lstrip('/')
        if spelled in self.wanted:
            self.lines.append({'target': spelled, 'value': value, 'path': origin['path'], 'line': origin['line']})


# ------------------------------------------------------------------ systemd-sysctl


def systemd_model(version):
    # type: (Optional[int]) -> int
    """The modelled behaviour for a systemd version: 247 (writes '..' paths through the
    kernel), 252 (refuses them), 257 (also drops a leading '/..', no /lib/sysctl.d)."""
    if version is None or version >= 255:
        return 257
    return 247 if version < 250 else 252


def split_lines_systemd(text):
    # type: (str) -> Tuple[List[str], bool]
    """read_line(): '\\n', '\\r' and NUL end a line ('\\r\\n', '\\n\\r' and a following NUL
    join the same ending). Also whether the file was cut at a line of LONG_LINE_MAX."""
    lines, pos, size = [], 0, len(text)
    while pos < size:
        match = LINE_END.search(text, pos)
        end = match.start() if match else size
        if end - pos >= LONG_LINE_MAX:
            return lines, True
        lines.append(text[pos:end])
        seen, pos = 0, end
        while pos < size:
            kind = {'\x00': 1, '\n': 2, '\r': 4}.get(text[pos], 0)
            if not kind or seen & 1 or seen & kind:
                break
            seen |= kind
            pos += 1
    return lines, False


SYSTEMD_SPACE = ' \t\n\r'
LINE_END = re.compile('[\n\r\x00]')


def simplify_path(path, model):
    # type: (str, int) -> str
    """systemd's path_simplify(): drop repeated '/', '.' components and a trailing '/',
    keep '..'; 257 also drops '..' at the start of an absolute path."""
    if not path:
        return path
    absolute = path.startswith('/')
    if model == 247:
        out, index, slash, skip_slash = [], 0, False, False
        if path[0] == '.' and path[1:2] in ('', '/'):
            index, skip_slash = 1, True
        while index < len(path):
            char = path[index]
            index += 1
            if char == '/':
                slash = True
                continue
            if slash:
                if char == '.' and path[index:index + 1] in ('', '/'):
                    continue
                slash = False
                if skip_slash:
                    skip_slash = False
                else:
                    out.append('/')
            out.append(char)
        return ''.join(out) or ('/' if absolute else '.')
    parts = [part for part in path.split('/') if part not in ('', '.')]
    if model >= 257 and absolute:
        while parts and parts[0] == '..':
            parts.pop(0)
    joined = '/'.join(parts)
    if absolute:
        return '/' + joined
    return joined or '.'


def systemd_normalize(key, model):
    # type: (str, int) -> str
    """sysctl_normalize(): swap separators, simplify, drop one leading '/'."""
    key = simplify_path(swap_separators(key), model)
    if key.startswith('/') and len(key) > 1:
        key = key[1:]
    return key


def parse_systemd(text, path, model):
    # type: (str, str, int) -> Tuple[List[Dict[str, Any]], bool]
    """systemd-sysctl's parse_file(): the assignments of one file, and whether it was cut short.

    Each is ``{key, value, ignore, path, line}``; ``value`` None is a '-key' line (an
    exclusion from globs that also cancels an earlier assignment of the key).
    """
    lines, truncated = split_lines_systemd(text)
    found = []
    for number, line in enumerate(lines, start=1):
        line = line.strip(SYSTEMD_SPACE)
        if not line or line[0] in '#;':
            continue
        ignore = False
        if '=' in line:
            key, value = line.split('=', 1)
            if key.startswith('-'):
                ignore, key = True, key[1:]
            value = value.strip(SYSTEMD_SPACE)  # type: Optional[str]
        elif line.startswith('-'):
            key, value = line[1:], None
        else:
            continue  # "Line is not an assignment"
        found.append({'key': systemd_normalize(key.strip(SYSTEMD_SPACE), model), 'value': value, 'ignore': ignore,
                      'path': path, 'line': number})
    return found, truncated


def systemd_writes(tree, proc, model, wanted, initial):
    # type: (Tree, ProcSys, int, Set[str], Dict[str, str]) -> Tuple[Writes, List[str]]
    """Every write systemd-sysctl makes to the wanted keys, and the files it reads.

    One ordered map from key to its last assignment (a re-statement with the same value
    keeps the first place); then each entry is written once, in map order: a glob to
    every match the map does not name explicitly, a '-key' entry never.
    """
    directories = SYSCTL_DIRS if model < 257 else SYSCTL_DIRS[:4]
    files = conf_files(tree, directories, skip_hidden=True)
    options = OrderedDict()  # type: OrderedDict[str, Dict[str, Any]]
    writes = Writes(proc, wanted, initial, 'boot')
    for path in files:
        text = tree.read(path)  # a dangling link: skipped silently; a directory: an error, nothing read
        if text is None:
            continue
        assignments, _truncated = parse_systemd(text, path, model)
        for option in assignments:
            writes.named(option['key'], option['value'], option)
            existing = options.get(option['key'])
            if existing is not None:
                if existing['value'] == option['value']:
                    continue
                del options[option['key']]
            options[option['key']] = option
    for key, option in options.items():
        if option['value'] is None:
            spelled = posixpath.normpath('/' + key).lstrip('/')
            if spelled in wanted:
                writes.cancels[spelled] = '%s:%d' % (option['path'], option['line'])
            continue
        if is_glob(key):
            for match in glob_paths(proc.base + '/' + key, proc.fs, brace=True, nocheck=True, sort=False):
                rel = match[len(proc.base):].lstrip('/') if match.startswith(proc.base + '/') else None
                if rel is not None and rel not in options:
                    _systemd_write(writes, rel, option, model)
        else:
            _systemd_write(writes, key, option, model)
    return writes, files


def _systemd_write(writes, rel, option, model):
    # type: (Writes, str, Dict[str, Any], int) -> None
    """sysctl_write(): 252 and later refuse a path with a '..' component (EINVAL)."""
    if model >= 252:
        simplified = simplify_path('/proc/sys/' + rel, model)
        if '..' in simplified.split('/'):
            return
        rel = simplified[len('/proc/sys/'):]
    writes.write(rel, option['value'], option)


# ------------------------------------------------------------------ procps sysctl --system

C_SPACE = ' \t\n\v\f\r'  # isspace() in the C locale


def procps_model(version):
    # type: (Optional[str]) -> int
    """3 for procps 3.3 (no globs, writes as it reads), 4 for 4.0 and later."""
    return 3 if version and version.split('.')[0] in ('1', '2', '3') else 4


def _c_rstrip(text, spaces):
    # type: (str, str) -> str
    """procps' rstrip(): trailing whitespace, but never the first character."""
    end = len(text) - 1
    while end > 0 and text[end] in spaces:
        end -= 1
    return text[:end + 1]


def procps_path(key):
    # type: (str) -> str
    """setting_new()/WriteSetting(): a second leading '-' goes, then the separators swap."""
    return swap_separators(key[1:] if key.startswith('-') else key)


def parse_procps(text, path, model):
    # type: (str, str, int) -> List[Dict[str, Any]]
    """The settings of one file as procps reads them: lines end at '\\n' only and a NUL
    ends the line's text. Each is ``{rel, value, exclude, path, line}`` (rel: the path
    after /proc/sys/)."""
    found = []
    pieces = text.split('\n')
    for number, raw in enumerate(pieces, start=1):
        last = number == len(pieces)
        if last and not raw:
            break
        line = raw if last else raw + '\n'
        if len(line) < 2:
            continue  # getline() read fewer than 2 bytes
        line = line.split('\x00', 1)[0]
        setting = _parse_procps4(line) if model >= 4 else _parse_procps3(line)
        if setting is not None:
            setting.update(path=path, line=number)
            found.append(setting)
    return found


def _parse_procps4(line):
    # type: (str) -> Optional[Dict[str, Any]]
    """parse_setting_line() of procps 4.0."""
    key = line.lstrip(C_SPACE)
    if len(key) < 2 or key[0] in '#;':
        return None
    if '=' not in key:
        if not key.startswith('-'):
            return None  # "invalid syntax"
        return {'rel': procps_path(_c_rstrip(key[1:], C_SPACE)), 'value': None, 'exclude': True}
    key, value = key.split('=', 1)
    if key.startswith('-'):
        key = key[1:]
    return {'rel': procps_path(_c_rstrip(key, C_SPACE)), 'value': _c_rstrip(value.lstrip(C_SPACE), C_SPACE),
            'exclude': False}


def _parse_procps3(line):
    # type: (str) -> Optional[Dict[str, Any]]
    """Preload() of procps 3.3: strtok() on '=' then on '\\n\\r'; a line without '='
    writes '=' (always refused), so it is left out."""
    text = _c_rstrip(line, ' \t\n\r').lstrip(' \t')
    if len(text) < 2 or text[0] in '#;':
        return None
    start = len(text) - len(text.lstrip('='))
    equals = text.find('=', start)
    if start == len(text) or equals < 0:
        return None
    name = _c_rstrip(text[start:equals], ' \t\n\r')
    value = re.split('[\n\r]', text[equals + 1:].lstrip('\n\r'), 1)[0]
    if not value:
        return None  # "invalid syntax"
    value = value.lstrip(' \t')
    if name.startswith('-'):
        name = name[1:]
    return {'rel': swap_separators(name), 'value': value, 'exclude': False}


def procps_files(tree):
    # type: (Tree) -> List[str]
    """PreloadSystem(): *.conf (dot-files too) in the five directories by name, then
    /etc/sysctl.conf if it is a regular file."""
    files = conf_files(tree, SYSCTL_DIRS, skip_hidden=False)
    if tree.kind(SYSCTL_CONF) == 'file':
        files.append(SYSCTL_CONF)
    return files


def procps_writes(tree, proc, model, wanted, initial, tool='system'):
    # type: (Tree, ProcSys, int, Set[str], Dict[str, str], str) -> Tuple[Writes, List[str]]
    """Every write ``sysctl --system`` makes to the wanted keys, and the files it reads.

    Each file name goes through glob(3) first (a name like '5[0].conf' reads 50.conf);
    a file that cannot be opened ends that name. procps 4 collects every line, then
    writes them in order: a glob to each match that no line names with exactly that
    path, a '-key' line never. procps 3.3 writes each line as it reads it, no globs.
    """
    files = procps_files(tree)
    settings = []
    read = []
    for name in files:
        for path in glob_paths(name, tree, brace=True, nocheck=True):
            if tree.kind(path) in ('missing', 'other'):
                break
            read.append(path)
            settings.extend(parse_procps(tree.read(path) or '', path, model))
    writes = Writes(proc, wanted, initial, tool)
    named = set(setting['rel'] for setting in settings)
    for setting in settings:
        writes.named(setting['rel'], setting['value'], setting)
        if setting['exclude']:
            continue
        if model >= 4 and is_glob(setting['rel']):
            for match in glob_paths(proc.base + '/' + setting['rel'], proc.fs):
                rel = match[len(proc.base) + 1:]
                if rel not in named:
                    writes.write(rel, setting['value'], setting)
        elif not (model < 4 and rel_is_deprecated(setting['rel'])):
            writes.write(setting['rel'], setting['value'], setting)
    return writes, read


def rel_is_deprecated(rel):
    # type: (str) -> bool
    """procps 3.3 refuses two deprecated neighbour keys."""
    return rel.rsplit('/', 1)[-1].rsplit('.', 1)[-1] in ('base_reachable_time', 'retrans_time')


# ------------------------------------------------------------------ tuned

TUNED_DIRS = ('/etc/tuned/profiles', '/etc/tuned', '/usr/lib/tuned/profiles', '/usr/lib/tuned')
TUNED_UNIT_OPTIONS = ('type', 'devices', 'enabled', 'replace', 'drop', 'priority', 'devices_udev_regex', 'script',
                      'uname_regex', 'cpuinfo_regex')
TUNED_REAPPLY_DIRS = ('/run/sysctl.d', '/etc/sysctl.d')


def parse_ini(text):
    # type: (str) -> OrderedDict
    """tuned.conf as tuned's ConfigParser reads it ('=' only, '#' comments also after a
    blank): section -> option -> (value, line)."""
    sections = OrderedDict()  # type: OrderedDict[str, OrderedDict]
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if line.startswith('[') and line.endswith(']'):
            current = sections.setdefault(line[1:-1].strip(), OrderedDict())
            continue
        if current is None or '=' not in line:
            continue
        option, value = line.split('=', 1)
        value = re.split(r'\s#', value, 1)[0]
        current[option.strip()] = (value.strip(), number)
    return sections


def tuned_settings(tree):
    # type: (Tree) -> Tuple[List[Dict[str, Any]], bool, List[str]]
    """The [sysctl] options of the active tuned profiles, includes first (a profile's
    options override those it includes), whether tuned re-applies /run and /etc
    sysctl files after them (reapply_sysctl, default on), and the profile files."""
    active = (tree.read('/etc/tuned/active_profile') or '').split()
    if not active:
        return [], True, []
    loaded, processed = [], []  # type: List[Tuple[str, OrderedDict]], List[str]

    def load(names, depth):
        for name in names:
            if depth > 10 or not name:
                continue
            path = None
            for directory in TUNED_DIRS:
                candidate = posixpath.normpath('%s/%s/tuned.conf' % (directory, posixpath.basename(name)))
                if candidate not in processed and tree.kind(candidate) == 'file':
                    path = candidate
                    break
            if path is None:
                continue
            processed.append(path)
            config = parse_ini(tree.read(path) or '')
            include = config.get('main', {}).pop('include', None)
            if include:  # loaded first, so this profile's options override the included ones
                load(re.split(r'\s*[,;]\s*', include[0].strip()), depth + 1)
            loaded.append((path, config))

    load(active, 0)
    merged = OrderedDict()  # type: OrderedDict[str, Dict[str, Any]]
    for path, config in loaded:
        unit = config.get('sysctl')
        if unit is None:
            continue
        if unit.get('replace', ('',))[0].lower() in ('1', 'true', 'yes', 'on'):
            merged = OrderedDict()
        for option, (value, number) in unit.items():
            if option not in TUNED_UNIT_OPTIONS:
                merged[option] = {'option': option, 'value': value, 'path': path, 'line': number}
        for option in re.split(r'[\s,]+', unit.get('drop', ('',))[0]):
            merged.pop(option, None)
    main = tree.read('/etc/tuned/tuned-main.conf') or ''
    match = re.search(r'^\s*reapply_sysctl\s*=\s*(\S+)', main, re.MULTILINE)
    reapply = not match or match.group(1).lower() in ('1', 'true', 'yes', 'on')
    return list(merged.values()), reapply, [path for path, _config in loaded]


def tuned_writes(tree, proc, writes):
    # type: (Tree, ProcSys, Writes) -> Dict[str, Any]
    """Add tuned's writes after systemd-sysctl's: the profile's [sysctl] values (origin
    'tuned:<tuned.conf>'), then (reapply_sysctl) every key=value line of /run/sysctl.d,
    /etc/sysctl.d (first directory wins a name) and /etc/sysctl.conf, all written, no
    '-' or globs (origin: that file's line)."""
    settings, reapply, profiles = tuned_settings(tree)
    for setting in settings:
        value = re.sub(r'^"(.*)"$', r'\1', setting['value'])
        if value[:1] in ('<', '>'):
            continue  # written only when it beats the value of the moment
        origin = {'path': 'tuned:' + setting['path'], 'line': setting['line']}
        writes.named(setting['option'].replace('.', '/'), value, origin)
        writes.write(setting['option'].replace('.', '/'), value, origin, newline=False)
    if profiles and reapply:
        chosen = {}  # type: Dict[str, str]
        for directory in TUNED_REAPPLY_DIRS:
            for name in tree.names(directory) or []:
                if name.endswith('.conf'):
                    chosen.setdefault(name, _join(directory, name))
        for path in [chosen[name] for name in sorted(chosen)] + [SYSCTL_CONF]:
            text = tree.read(path)
            if text is None:
                continue
            text = text.encode('latin-1').decode('utf-8', 'replace')
            # Python's universal newlines: '\n', '\r\n' and '\r' end a line.
            for number, line in enumerate(text.replace('\r\n', '\n').replace('\r', '\n').split('\n'), start=1):
                line = line.strip()
                if not line or line[0] in '#;' or '=' not in line:
                    continue
                option, value = line.split('=', 1)
                origin = {'path': path, 'line': number}
                writes.write(option.strip().replace('.', '/'), value.strip().encode('utf-8').decode('latin-1'),
                             origin, newline=False)
    return {'profiles': profiles, 'reapply_sysctl': reapply} if profiles else {}


# ------------------------------------------------------------------ which tools


def systemd_version(root='/'):
    # type: (str) -> Optional[int]
    """systemd's version from its shared library's name (libsystemd-shared-252.so), None without systemd-sysctl."""
    tree = Tree(root)
    if not any(tree.kind(path) == 'file' for path in ('/usr/lib/systemd/systemd-sysctl', '/lib/systemd/systemd-sysctl')):
        return None
    directories = ['/usr/lib/systemd', '/lib/systemd', '/usr/lib64/systemd']
    directories += ['/usr/lib/%s/systemd' % arch for arch in tree.names('/usr/lib') or [] if '-linux-' in arch]
    for directory in directories:
        for name in tree.names(directory) or []:
            match = re.match(r'libsystemd-shared-(\d+)', name)
            if match:
                return int(match.group(1))
    return 0


def procps_version(root='/'):
    # type: (str) -> Tuple[Optional[str], Optional[str]]
    """(path, version) of procps' sysctl, read from the binary ('sysctl from procps-ng 4.0.2');
    version None when the binary is not procps."""
    for path in ('/usr/sbin/sysctl', '/sbin/sysctl', '/usr/bin/sysctl', '/bin/sysctl'):
        real = os.path.join(root, path.lstrip('/'))
        if not os.path.isfile(real):
            continue
        try:
            with open(real, 'rb') as handle:
                data = handle.read(4 * 1024 * 1024)
        except (IOError, OSError):
            continue
        match = re.search(br'procps-ng (\d+\.\d+(?:\.\d+)?)', data)
        return path, match.group(1).decode('ascii') if match else None
    return None, None


def detect_tools(root='/'):
    # type: (str) -> Dict[str, Any]
    """Which tool sets the keys at boot and which runs as ``sysctl --system`` here.

    systemd runs the boot when /run/systemd/system exists (sd_booted()); then
    systemd-sysctl applies the files. Otherwise the procps init script runs
    ``sysctl --system``. Versions come from the installed files, nothing is run.
    """
    binary, version = procps_version(root)
    system = None
    if binary is not None and version is not None:
        system = {'tool': 'sysctl --system', 'version': version, 'model': procps_model(version), 'binary': binary}
    booted = os.path.isdir(os.path.join(root, 'run/systemd/system'))
    systemd = systemd_version(root)
    if booted and systemd is not None:
        boot = {'tool': 'systemd-sysctl', 'version': str(systemd) if systemd else None,
                'model': systemd_model(systemd or None), 'reason': 'systemd runs the boot'}
    elif system is not None:
        boot = dict(system, reason='systemd does not run the boot here: the procps init script runs sysctl --system')
    else:
        boot = {'tool': None, 'version': None, 'model': None,
                'reason': 'neither systemd-sysctl nor procps sysctl applies sysctl files at boot here'}
    return {'boot': boot, 'system': system}


# ------------------------------------------------------------------ predictions


def _outcome(events, target):
    # type: (List[Dict[str, Any]], str) -> Optional[Dict[str, Any]]
    """The last write to a key that the kernel accepts."""
    accepted = [event for event in events if event['target'] == target and event['stored'] is not None]
    return accepted[-1] if accepted else None


def _source(event):
    # type: (Optional[Dict[str, Any]]) -> Optional[str]
    return '%s:%d' % (event['path'], event['line']) if event else None


def order_key(path):
    # type: (str) -> Tuple[int, bytes]
    """Where a file sits in the order the tools read: sysctl.d by name, /etc/sysctl.conf, tuned."""
    if path.startswith('tuned:'):
        return (2, to_bytes(path))
    if path == SYSCTL_CONF:
        return (1, b'')
    return (0, to_bytes(posixpath.basename(path)))


def predict(keys, tools, tree, proc, runtime=None):
    # type: (List[str], Dict[str, Any], Tree, ProcSys, Optional[Dict[str, Optional[str]]]) -> Dict[str, Any]
    """``boot`` and ``system`` of each key, the settings that name it, and the files each tool reads.

    ``tools`` is detect_tools()'s answer (plus ``tuned``: False to leave tuned out);
    ``runtime``: key path -> value now (what ``sysctl --system`` starts from).
    """
    wanted = set(key_path(key) for key in keys)
    runs = {}  # type: Dict[str, Writes]
    files = {'boot': [], 'system': []}  # type: Dict[str, List[str]]
    tuned = {}  # type: Dict[str, Any]
    now = dict((path, value) for path, value in (runtime or {}).items() if value is not None)
    if tools.get('system'):
        runs['system'], files['system'] = procps_writes(tree, proc, tools['system']['model'], wanted, now)
    boot = tools.get('boot') or {}
    if boot.get('tool') == 'systemd-sysctl':
        runs['boot'], files['boot'] = systemd_writes(tree, proc, boot['model'], wanted, KERNEL_DEFAULTS)
    elif boot.get('tool'):
        runs['boot'], files['boot'] = procps_writes(tree, proc, boot['model'], wanted, KERNEL_DEFAULTS, 'boot')
    if 'boot' in runs and tools.get('tuned', True) is not False:
        tuned = tuned_writes(tree, proc, runs['boot'])
    result = {'keys': {}, 'files': files, 'tuned': tuned}
    for key in keys:
        target = key_path(key)
        entry = {}  # type: Dict[str, Any]
        for tool in ('boot', 'system'):
            winner = _outcome(runs[tool].events, target) if tool in runs else None
            entry[tool] = winner['stored'] if winner else None
            entry[tool + '_source'] = _source(winner)
        # A '-key' line after the last assignment: systemd-sysctl never writes the key.
        entry['boot_cancelled_by'] = runs['boot'].cancels.get(target) if 'boot' in runs and entry['boot'] is None else None
        settings = _settings(runs, target, proc)
        stored = set(s['stored'] for s in settings if s['stored'] is not None)
        entry['conflicting'] = len(stored) > 1
        entry['rejected'] = [dict((k, s[k]) for k in ('path', 'line', 'value', 'reason', 'boot', 'system'))
                             for s in settings if s['stored'] is None and (s['boot'] or s['system'])][-MAX_SETTINGS:]
        entry['settings'] = settings[-MAX_SETTINGS:]
        entry['settings_omitted'] = len(settings) - len(entry['settings'])
        result['keys'][key] = entry
    return result


def _settings(runs, target, proc):
    # type: (Dict[str, Writes], str, ProcSys) -> List[Dict[str, Any]]
    """Every line that sets a key (written by a tool, or naming it), in reading order:
    ``{path, line, value, stored, reason, boot, system}``; ``stored`` is what the kernel
    keeps (None: it refuses the value, ``reason`` says why)."""
    found = OrderedDict()  # type: OrderedDict[Tuple[str, int], Dict[str, Any]]
    for tool in ('boot', 'system'):
        if tool not in runs:
            continue
        for item in runs[tool].lines + runs[tool].events:
            if item['target'] != target:
                continue
            origin = (item['path'], item['line'])
            if origin not in found:
                stored, reason = proc.store(target, item['value'], newline=not item['path'].startswith('tuned:'))
                found[origin] = {'path': item['path'], 'line': item['line'], 'value': fold(display(item['value'])),
                                 'stored': stored, 'reason': reason, 'boot': False, 'system': False}
            if 'stored' in item:
                found[origin][tool] = True
    return sorted(found.values(), key=lambda s: (order_key(s['path']), s['line']))


# ------------------------------------------------------------------ the profile drop-in


def strip_numeric_prefix(name):
    # type: (str) -> str
    return re.sub(r'^\d+-', '', name)


def is_own_file(path, profile_file):
    # type: (str, str) -> bool
    """True for the profile drop-in and the renamed drop-in that --fix-conflicts makes
    (``zz…-<name without numeric prefix>`` in the same directory)."""
    if os.path.dirname(path) != os.path.dirname(profile_file):
        return False
    name, profile_name = os.path.basename(path), os.path.basename(profile_file)
    if name == profile_name:
        return True
    return re.match(r'^z{2,}-' + re.escape(strip_numeric_prefix(profile_name)) + r'$', name) is not None


def candidate_names(profile_file, count=6):
    # type: (str, int) -> List[str]
    """The configured path, then zz-<name>, zzz-<name>... in the same directory."""
    base = strip_numeric_prefix(os.path.basename(profile_file))
    directory = os.path.dirname(profile_file)
    return [profile_file] + [os.path.join(directory, 'z' * n + '-' + base) for n in range(2, 2 + count)]


def plan_drop_in(profile_file, values, tools, tree, proc):
    # type: (str, Dict[str, str], Dict[str, Any], Tree, ProcSys) -> Dict[str, Any]
    """Where the drop-in must live so that its values win under both tools.

    Each candidate name is tried on the host's files, the role's own drop-ins
    replaced by ``values`` at that name, with the audit's model. Returns
    ``{winning_file, own_files, rivals, overridden_by, unbeaten}``: winning_file wins
    under both tools, else at boot, else None; rivals (paths) and overridden_by
    (per key) are what beats the configured path; unbeaten, per tool, the
    'path:line' settings that still beat winning_file (the configured path when None).
    """
    directory = os.path.dirname(profile_file)
    own = [_join(directory, name) for name in tree.names(directory) or []
           if is_own_file(_join(directory, name), profile_file)]
    content = ''.join('%s = %s\n' % (key, value) for key, value in sorted(values.items())).encode('ascii')
    used = [tool for tool in ('boot', 'system') if (tools.get(tool) or {}).get('tool')]

    def beaten_at(candidate):
        overlay = dict((path, None) for path in own)
        overlay[candidate] = content
        model = predict(sorted(values), tools, tree.with_overlay(overlay), proc)['keys']
        beaten = dict((tool, []) for tool in used)  # type: Dict[str, List[Dict[str, Any]]]
        for key in sorted(values):
            want = proc.store(key_path(key), values[key])[0]
            for tool in used:
                source = model[key][tool + '_source']
                if model[key][tool] != want or not source or source.rsplit(':', 1)[0] != candidate:
                    beaten[tool].append(dict(_blocker(model[key], tool, candidate), key=key))
        return beaten

    trials = OrderedDict((candidate, beaten_at(candidate)) for candidate in candidate_names(profile_file))
    winners = [c for c, beaten in trials.items() if not any(beaten.values())]
    winners += [c for c, beaten in trials.items() if 'boot' in used and not beaten['boot']]
    winning = winners[0] if winners else None
    overridden = {}  # type: Dict[str, List[Dict[str, Any]]]
    for tool in used:
        for blocker in trials[profile_file][tool]:
            if blocker['path'] is None:
                continue
            same = [o for o in overridden.setdefault(blocker['key'], []) if (o['path'], o['line']) == (blocker['path'], blocker['line'])]
            if same:
                same[0]['tools'].append(tool)
            else:
                overridden[blocker['key']].append({'path': blocker['path'], 'line': blocker['line'],
                                                   'value': blocker['value'], 'tools': [tool]})
    return {'winning_file': winning, 'own_files': sorted(own), 'overridden_by': overridden,
            'rivals': sorted(set(o['path'] for items in overridden.values() for o in items), key=order_key),
            'unbeaten': dict((tool, sorted(set('%s:%s' % (b['path'], b['line']) if b['path'] else
                                               '%s: not written (no setting left for it)' % b['key']
                                               for b in trials[winning or profile_file][tool])))
                             for tool in used)}


def _blocker(entry, tool, candidate):
    # type: (Dict[str, Any], str, str) -> Dict[str, Any]
    """The setting that keeps the drop-in's value from winning under one tool: the one
    that wins instead, the '-key' line that cancels it, or the refused value that replaced it."""
    source = entry[tool + '_source'] or (entry.get('boot_cancelled_by') if tool == 'boot' else None)
    if source:
        path, line = source.rsplit(':', 1)
        value = [s['value'] for s in entry['settings'] if s['path'] == path and str(s['line']) == line]
        return {'path': path, 'line': int(line), 'value': value[0] if value else None}
    later = [s for s in entry['settings'] if s[tool] and s['path'] != candidate]
    if later:
        return dict((k, later[-1][k]) for k in ('path', 'line', 'value'))
    return {'path': None, 'line': None, 'value': None}


# ---------------------------------------------------------------- host side


def parse_kernel_version(release):
    # type: (str) -> Optional[str]
    """'6.1.0-26-amd64' -> '6.1.0'; '4.9.0' -> '4.9.0'; '5.10' -> '5.10.0'. For display only."""
    match = re.match(r'^(\d+)\.(\d+)(?:\.(\d+))?', release or '')
    if not match:
        return None
    return '%s.%s.%s' % (match.group(1), match.group(2), match.group(3) or '0')


def parse_meminfo_mb(text):
    # type: (str) -> Optional[int]
    """MemTotal from /proc/meminfo text, in MiB (rounded down)."""
    match = re.search(r'^MemTotal:\s+(\d+)\s*kB', text, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else None


def auto_max_tw_buckets(memtotal_mb, per_mib=AUTO_PER_MIB, minimum=AUTO_MIN, maximum=AUTO_MAX):
    # type: (int, int, int, int) -> int
    """The `auto` size of net.ipv4.tcp_max_tw_buckets: clamp(MemTotal_MiB * per_mib, minimum, maximum).

    A TIME_WAIT socket costs about 256 bytes (the tw_sock_TCP slab), so 16 per MiB
    caps the table at 4 KiB per MiB of RAM (0.4 %), four times the kernel's default
    (ehash slots / 2, one slot per 128 KiB), with a floor for small hosts and a
    ceiling (1 Mi sockets, ~256 MiB) past which the fix is connection reuse.
    """
    if memtotal_mb is None or memtotal_mb <= 0:
        raise ValueError('MemTotal is unknown; set tcp_profile_max_tw_buckets to an integer')
    return int(min(max(int(memtotal_mb) * int(per_mib), int(minimum)), int(maximum)))


def read_text(path):
    # type: (str) -> Optional[str]
    try:
        with open(path, 'r', errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def file_state(path):
    # type: (str) -> Dict[str, Any]
    """{state: absent|file|other, sha256, mode, uid, gid} of a path (not followed)."""
    try:
        info = os.lstat(path)
    except OSError:
        return {'state': 'absent'}
    if not stat.S_ISREG(info.st_mode):
        return {'state': 'other'}
    digest = hashlib.sha256()
    try:
        with open(path, 'rb') as handle:
            digest.update(handle.read(1 << 20))
    except (IOError, OSError):
        return {'state': 'other'}
    return {'state': 'file', 'sha256': digest.hexdigest(), 'mode': '%04o' % stat.S_IMODE(info.st_mode),
            'uid': info.st_uid, 'gid': info.st_gid}


def proc_sys_readonly(proc_sys='/proc/sys'):
    # type: (str) -> bool
    try:
        return bool(os.statvfs(proc_sys).f_flag & ST_RDONLY)
    except OSError:
        return True


def proc_sys_path(key, proc_sys='/proc/sys'):
    # type: (str, str) -> str
    """Return the file under proc_sys of a key, dotted or slashed.

    Dots separate path components; a slash left inside a component by
    normalize_key stands for a dot in a name (net.ipv4.conf.eth0/100.rp_filter
    is net/ipv4/conf/eth0.100/rp_filter).
    """
    return os.path.join(proc_sys, *[part.replace('/', '.') for part in normalize_key(key).split('.')])


def read_runtime(key, proc_sys='/proc/sys'):
    # type: (str, str) -> Dict[str, Any]
    """{present, runtime, writable} of one key."""
    path = proc_sys_path(key, proc_sys)
    value = read_text(path) if os.path.isfile(path) else None
    if value is None:
        return {'present': False, 'runtime': None, 'writable': False}
    writable = (os.access(path, os.W_OK) and not proc_sys_readonly(proc_sys)
                and bool(os.stat(path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)))
    return {'present': True, 'runtime': fold(value), 'writable': writable}


def detect_container(root='/'):
    # type: (str) -> Optional[str]
    """Name of the container runtime, or None on a host (best effort, for the record)."""
    if os.path.exists(os.path.join(root, '.dockerenv')):
        return 'docker'
    if os.path.exists(os.path.join(root, 'run/.containerenv')):
        return 'podman'
    env = read_text('/proc/1/environ') or ''
    match = re.search(r'(?:^|\x00)container=([^\x00]+)', env)
    return match.group(1) if match else None


def resolve_expected(expected, auto_size):
    # type: (Optional[Dict[str, Any]], Optional[int]) -> Dict[str, Optional[str]]
    """Dotted keys, folded string values; 'auto' becomes the computed bucket count
    (or stays None - not judged - when it could not be computed)."""
    resolved = {}
    for key, value in (expected or {}).items():
        if value is not None and str(value).strip() == 'auto':
            value = auto_size
        resolved[normalize_key(key)] = fold(value) if value is not None else None
    return resolved


def gather(keys, expected=None, profile_file=None, proc_sys='/proc/sys', root='/', auto=None, release=None,
           meminfo='/proc/meminfo', tools=None):
    # type: (List[str], Optional[Dict[str, Any]], Optional[str], str, str, Optional[Dict[str, int]], Optional[str], str, Optional[Dict]) -> Dict[str, Any]
    """Everything the audit and the profile need about the host's sysctl state, in one pass.

    ``tools`` overrides detect_tools() (tests, the differential test).
    """
    memtotal_mb = parse_meminfo_mb(read_text(meminfo) or '')
    auto_size = auto_max_tw_buckets(memtotal_mb, **auto) if auto is not None and memtotal_mb else None
    expected = resolve_expected(expected, auto_size)
    if release is None:
        release = (read_text(os.path.join(proc_sys, 'kernel', 'osrelease')) or os.uname()[2]).strip()
    proc_version = read_text(os.path.join(os.path.dirname(proc_sys.rstrip('/')), 'version'))
    proc = ProcSys(proc_sys, kernel_handlers(release, proc_version))
    tools = detect_tools(root) if tools is None else tools
    tree = Tree(root)
    keys = [normalize_key(raw_key) for raw_key in keys]
    runtime = {}
    for key in keys:
        runtime[key] = read_runtime(key, proc_sys)
    model = predict(keys, tools, tree, proc, dict((key_path(k), v['runtime']) for k, v in runtime.items()))
    result = {'sysctl': {}, 'files': model['files']['boot'], 'system_files': model['files']['system'],
              'proc_sys_writable': not proc_sys_readonly(proc_sys)}  # type: Dict[str, Any]
    plan = None
    if profile_file:
        values = dict((key, '0' if key == 'net.ipv4.tcp_tw_recycle' else expected[key]) for key in keys
                      if runtime[key]['present'] and expected.get(key) is not None)
        plan = plan_drop_in(profile_file, values, tools, tree, proc)
    for key in keys:
        entry = dict(runtime[key])
        entry.update(model['keys'][key])
        entry['overridden_by'] = (plan or {}).get('overridden_by', {}).get(key, [])
        entry['expected'] = expected.get(key)
        result['sysctl'][key] = entry
    result['memtotal_mb'] = memtotal_mb
    result['kernel'] = {'release': release, 'version': parse_kernel_version(release)}
    result['container'] = detect_container(root)
    result['auto_max_tw_buckets'] = auto_size
    result['sysctl_tools'] = {'boot': dict((k, v) for k, v in tools['boot'].items() if k != 'model'),
                              'system': dict((k, v) for k, v in (tools.get('system') or {}).items() if k != 'model') or None,
                              'tuned': model['tuned'] or None}
    if plan is not None:
        result['profile'] = dict((k, plan[k]) for k in ('winning_file', 'own_files', 'rivals', 'unbeaten'))
        result['profile']['file'] = profile_file
        # What is at each path the profile may write or remove, so that a converged host needs no second
        # look (tcp_profile decides "nothing to change" from this read alone).
        paths = set(plan['own_files']) | set([profile_file]) | set([plan['winning_file']] if plan['winning_file'] else [])
        result['profile']['states'] = dict((path, file_state(tree.real(path))) for path in sorted(paths))
    return printable(result)


def printable(data):
    # type: (Any) -> Any
    """The result with file names that are not UTF-8 made printable (JSON cannot carry them)."""
    if isinstance(data, dict):
        return dict((printable(k), printable(v)) for k, v in data.items())
    if isinstance(data, list):
        return [printable(item) for item in data]
    if isinstance(data, str):
        return data.encode('utf-8', 'surrogateescape').decode('utf-8', 'replace')
    return data
