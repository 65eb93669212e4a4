# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read sysctl keys at runtime and resolve which persisted setting wins at boot.

Core of the ``tcp_sysctl_info`` module. Runs on managed hosts: Python 3.8,
standard library only. The parsing and resolution functions take file
*contents* (not paths) so unit tests feed recorded text.

Boot-time order modelled here (``procps sysctl --system``; see
README.md, "Which file wins at boot"):

1. ``*.conf`` in /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d,
   /usr/lib/sysctl.d, /lib/sysctl.d. A file name found in an earlier directory
   masks the same name in later ones (a symlink to /dev/null masks and sets
   nothing). The surviving files are applied in lexical (byte) order of their
   base name, whatever directory they live in. systemd-sysctl does the same.
2. /etc/sysctl.conf, applied last. procps does this; systemd-sysctl does not
   read the file itself, but Debian up to 12 links it in as
   /etc/sysctl.d/99-sysctl.conf. Treating it as last is the conservative
   choice: a value there overrides ours under ``sysctl --system`` and is never
   silently ignored by the audit.

The last setting of a key wins. A tuned profile's [sysctl] section is applied
before the sysctl.d files when tuned's ``reapply_sysctl`` is on (its default),
after them otherwise.
"""

from __future__ import absolute_import, division, print_function

import fnmatch
import os
import re
import stat

try:
    from typing import Any, Dict, List, Optional, Tuple  # noqa: F401 (type comments only)
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


def fold(value):
    # type: (Optional[str]) -> Optional[str]
    """Fold whitespace the way the record shows values: '32768\\t60999' -> '32768 60999'."""
    if value is None:
        return None
    return ' '.join(str(value).split())


def parse_sysctl_text(text, path):
    # type: (str, str) -> List[Dict[str, Any]]
    """Return the settings of one sysctl.conf-format file, in file order.

    Each setting is ``{key, value, path, line, pattern}``; ``pattern`` is true for
    glob keys (systemd), which apply to every matching key. Comment lines start
    with '#' or ';'; a leading '-' (ignore failures) is dropped; a '-key' line
    without '=' only excludes the key from globs and sets nothing.
    """
    settings = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in '#;':
            continue
        if '=' not in line:
            continue
        key, value = line.split('=', 1)
        key = key.strip()
        if key.startswith('-'):
            key = key[1:].strip()
        if not key:
            continue
        key = normalize_key(key)
        settings.append({'key': key, 'value': fold(value), 'path': path, 'line': number,
                         'pattern': any(c in key for c in '*?[')})
    return settings


def parse_tuned_sysctl(text, path):
    # type: (str, str) -> List[Dict[str, Any]]
    """Return the settings of the [sysctl] section of a tuned.conf."""
    section, lines = None, []
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith('[') and stripped.endswith(']'):
            section = stripped[1:-1].strip()
            lines.append('')
            continue
        lines.append(raw if section == 'sysctl' else '')
    return parse_sysctl_text('\n'.join(lines), path)


def order_files(listing):
    # type: (List[Tuple[str, str, bool]]) -> List[Tuple[str, str]]
    """Return the (basename, path) pairs that apply, in the order they apply.

    ``listing`` holds ``(directory, basename, masked)`` for every ``*.conf`` found,
    directories in precedence order (SYSCTL_DIRS); ``masked`` is true for a link to
    /dev/null or an empty symlink. The first directory that has a base name wins it;
    a masked winner applies nothing.
    """
    chosen = {}  # type: Dict[str, Tuple[str, bool]]
    for directory, name, masked in listing:
        if name not in chosen:
            chosen[name] = (os.path.join(directory, name), masked)
    return [(name, chosen[name][0]) for name in sorted(chosen) if not chosen[name][1]]


def matches(setting, key):
    # type: (Dict[str, Any], str) -> bool
    if setting['pattern']:
        return fnmatch.fnmatchcase(key, setting['key'])
    return setting['key'] == key


def settings_for(key, ordered_settings):
    # type: (str, List[Dict[str, Any]]) -> List[Dict[str, Any]]
    """Every setting of ``key`` in application order (glob keys included)."""
    found = []
    for setting in ordered_settings:
        if matches(setting, key):
            found.append({'path': setting['path'], 'line': setting['line'], 'value': setting['value']})
    return found


def order_position(path):
    # type: (str) -> Tuple[int, str]
    """Sort key of a file in the boot order: sysctl.d files by base name, then /etc/sysctl.conf."""
    if path == SYSCTL_CONF:
        return (2, '')
    if path.startswith('tuned:'):
        return (-1, '')
    return (1, os.path.basename(path))


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


def winning_name(profile_file, rival_paths):
    # type: (str, List[str]) -> Optional[str]
    """Return the path the profile drop-in must take to sort after every rival, or
    None when a rival cannot be beaten by renaming (/etc/sysctl.conf, or a name that
    sorts after any 'zz…' name). No rival: the configured path."""
    names = [os.path.basename(p) for p in rival_paths if order_position(p)[0] == 1]
    if any(order_position(p)[0] == 2 for p in rival_paths):
        return None
    if not names:
        return profile_file
    base = strip_numeric_prefix(os.path.basename(profile_file))
    leading = max(len(n) - len(n.lstrip('z')) for n in names)
    candidate = 'z' * max(2, leading + 1) + '-' + base
    if not all(candidate > n for n in names):
        return None
    return os.path.join(os.path.dirname(profile_file), candidate)


def resolve_key(key, ordered_settings, profile_file=None, expected=None):
    # type: (str, List[Dict[str, Any]], Optional[str], Optional[str]) -> Dict[str, Any]
    """Resolve one key: every setting, the boot winner, conflicts and, relative to
    the profile drop-in, the settings that would override the expected value."""
    found = settings_for(key, ordered_settings)
    winner = found[-1] if found else None
    values = sorted(set(s['value'] for s in found))
    result = {
        'boot': winner['value'] if winner else None,
        'boot_source': '%s:%d' % (winner['path'], winner['line']) if winner else None,
        'settings': found,
        'conflicting': len(values) > 1,
        'overridden_by': [],
    }
    if profile_file and expected is not None:
        own = order_position(profile_file)
        result['overridden_by'] = [
            s for s in found
            if not is_own_file(s['path'], profile_file) and order_position(s['path']) > own
            and fold(s['value']) != fold(expected)]
    return result


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


# ---------------------------------------------------------------- host side


def read_text(path):
    # type: (str) -> Optional[str]
    try:
        with open(path, 'r', errors='replace') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def list_sysctl_dirs(root='/'):
    # type: (str) -> List[Tuple[str, str, bool]]
    """(directory, basename, masked) for every *.conf, directories in precedence
    order; a directory that is a symlink to one already listed (/lib -> /usr/lib)
    is skipped so its files are not seen twice."""
    listing, seen = [], set()
    for directory in SYSCTL_DIRS:
        real_dir = os.path.join(root, directory.lstrip('/'))
        if not os.path.isdir(real_dir):
            continue
        resolved = os.path.realpath(real_dir)
        if resolved in seen:
            continue
        seen.add(resolved)
        for name in sorted(os.listdir(real_dir)):
            if not name.endswith('.conf'):
                continue
            full = os.path.join(real_dir, name)
            masked = os.path.islink(full) and os.path.realpath(full) == '/dev/null'
            if not masked and not os.path.isfile(full):
                continue
            listing.append((directory, name, masked))
    return listing


def tuned_settings(root='/'):
    # type: (str) -> Tuple[List[Dict[str, Any]], bool]
    """Settings of the active tuned profile, and whether tuned reapplies sysctl.d after them."""
    active = read_text(os.path.join(root, 'etc/tuned/active_profile'))
    if not active or not active.strip():
        return [], True
    settings = []
    for profile in active.split():
        for base in ('etc/tuned', 'usr/lib/tuned'):
            path = os.path.join(root, base, profile, 'tuned.conf')
            text = read_text(path)
            if text is not None:
                settings.extend(parse_tuned_sysctl(text, 'tuned:/' + os.path.join(base, profile, 'tuned.conf')))
                break
    main = read_text(os.path.join(root, 'etc/tuned/tuned-main.conf')) or ''
    match = re.search(r'^\s*reapply_sysctl\s*=\s*(\S+)', main, re.MULTILINE)
    reapply = not match or match.group(1).lower() in ('1', 'true', 'yes', 'on')
    return settings, reapply


def gather_settings(root='/'):
    # type: (str) -> Tuple[List[Dict[str, Any]], List[str]]
    """Every setting from every file that applies at boot, in application order,
    and the list of those files."""
    ordered, files = [], []
    for _name, path in order_files(list_sysctl_dirs(root)):
        text = read_text(os.path.join(root, path.lstrip('/')))
        if text is None:
            continue
        files.append(path)
        ordered.extend(parse_sysctl_text(text, path))
    conf = read_text(os.path.join(root, SYSCTL_CONF.lstrip('/')))
    if conf is not None:
        files.append(SYSCTL_CONF)
        ordered.extend(parse_sysctl_text(conf, SYSCTL_CONF))
    tuned, reapply = tuned_settings(root)
    if tuned:
        ordered = tuned + ordered if reapply else ordered + tuned
    return ordered, files


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
           meminfo='/proc/meminfo'):
    # type: (List[str], Optional[Dict[str, Any]], Optional[str], str, str, Optional[Dict[str, int]], Optional[str], str) -> Dict[str, Any]
    """Everything the audit and the profile need about the host's sysctl state, in one pass."""
    memtotal_mb = parse_meminfo_mb(read_text(meminfo) or '')
    auto_size = auto_max_tw_buckets(memtotal_mb, **auto) if auto is not None and memtotal_mb else None
    expected = resolve_expected(expected, auto_size)
    ordered, files = gather_settings(root)
    result = {'sysctl': {}, 'files': files, 'proc_sys_writable': not proc_sys_readonly(proc_sys)}
    rivals = set()
    for raw_key in keys:
        key = normalize_key(raw_key)
        entry = read_runtime(key, proc_sys)
        entry.update(resolve_key(key, ordered, profile_file, expected.get(key)))
        entry['expected'] = expected.get(key)
        rivals.update(s['path'] for s in entry['overridden_by'])
        result['sysctl'][key] = entry
    result['memtotal_mb'] = memtotal_mb
    if release is None:
        release = (read_text(os.path.join(proc_sys, 'kernel', 'osrelease')) or os.uname()[2]).strip()
    result['kernel'] = {'release': release, 'version': parse_kernel_version(release)}
    result['container'] = detect_container(root)
    result['auto_max_tw_buckets'] = auto_size
    if profile_file:
        own_present = sorted(p for p in files if is_own_file(p, profile_file))
        result['profile'] = {
            'file': profile_file,
            'rivals': sorted(rivals, key=order_position),
            'winning_file': winning_name(profile_file, sorted(rivals)),
            'own_files': own_present,
        }
    return result
