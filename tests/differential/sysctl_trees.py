# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sysctl configuration trees for the differential test: seeded random ones and the hand-made edge cases.

A tree is a dict ``{name, entries}``; each entry is ``{path, type, ...}``:
``{type: file, content}`` (content is latin-1 text: one character per byte),
``{type: symlink, target}`` or ``{type: dir}``. Paths are absolute inside the
container. Only these keys are ever written, all per network namespace
(net.ipv4): KEYS below, plus tcp_tw_reuse_delay that the glob tcp_tw_reu*
also matches on recent kernels.

The random trees cover: files in all four sysctl.d directories, the same name in
several (masking), links to /dev/null, dangling links, directories named *.conf,
links to files elsewhere, non-.conf and dot-files, file names with glob and brace
characters, /etc/sysctl.conf with and without Debian's 99-sysctl.conf link;
keys spelled with dots, slashes, '//', '..', '/./', a leading or trailing
separator, globs (with braces), '-key' exclusions, '-' and '- ' and '--'
prefixes; values valid, out of range, octal/hex, negative, quoted, with trailing
comments and junk; comments, junk lines, duplicate keys, CRLF, bare CR, NUL,
\\v/\\f, no newline at the end.
"""

from __future__ import annotations

import random
from typing import Dict, List

# The keys read back after each run, and the value each is set to before it
# ("not set by the tool" shows as the sentinel).
SENTINELS = {
    'net.ipv4.tcp_tw_reuse': '0',
    'net.ipv4.tcp_timestamps': '77',
    'net.ipv4.tcp_max_tw_buckets': '4242',
    'net.ipv4.tcp_fin_timeout': '42',
    'net.ipv4.tcp_syn_retries': '5',
    # The kernel's default: a single number keeps the upper bound it had, at boot too.
    'net.ipv4.ip_local_port_range': '32768 60999',
}
KEYS = list(SENTINELS)
DIRS = ['/etc/sysctl.d', '/run/sysctl.d', '/usr/local/lib/sysctl.d', '/usr/lib/sysctl.d']
DEBIAN_LINK = '/etc/sysctl.d/99-sysctl.conf'
SYSCTL_CONF = '/etc/sysctl.conf'
EXTRA_DIR = '/etc/sysctl-extra'  # link targets outside the sysctl.d directories
RELEASES = ('bullseye', 'bookworm', 'trixie')

# Values per key: accepted forms (none stores the sentinel) and refused ones.
VALUES = {
    'net.ipv4.tcp_tw_reuse': (['1', '2', '01', '0x2', '02', '1 # note', '2\t# x', '1 2', '0x1 junk',
                               '00000000000000000001'],
                              ['3', '7', '-1', '-0', '"1"', "'2'", '1#x', '0#off', '1;x', '1.0', '+1', '', '08', '0x',
                               '1,2', '=1', '000000000000000000001', '1\v', '\xa01', 'on']),
    'net.ipv4.tcp_timestamps': (['0', '1', '2', '7', '255', '0x10', '010', '3 # c', '0 0'],
                                ['256', '-1', '300', 'abc', '1e3', '2#', '"1"', '0x100']),
    'net.ipv4.tcp_max_tw_buckets': (['6000 # note', '180000', '-5', '0x1000', '0777', '2147483647', '-2147483648',
                                     '1 2', '5000', '05000', '-0', '262144\t# auto'],
                                    ['2147483648', '-2147483649', '6000#x', '1,000', '99999999999999999999', '6e3',
                                     '0x', '- 5']),
    'net.ipv4.tcp_fin_timeout': (['30', '60', '15 # s', '0x1e', '-3', '1', '0'],
                                 ['99999999', '30s', '3.5', '"30"']),
    'net.ipv4.tcp_syn_retries': (['1', '3', '6', '127', '0x7f', '2 # c'],
                                 ['0', '128', '-1', '4;x', 'x']),
    'net.ipv4.ip_local_port_range': (['1024 65000', '40000 50000', '10000\t65535', '50000', '2000 2000', '0x800 0xffff',
                                      '1024 65000 # wide', ' 30000  40000 '],
                                     ['65000 1024', '80 90', '1024,65000', '0 65535', '1024 65536', '60000-61000', '70000']),
}

# Globs that match only the keys above (and tcp_tw_reuse_delay): pattern -> keys it sets.
GLOBS = {
    'net.ipv4.tcp_tw_reus?': ['net.ipv4.tcp_tw_reuse'],
    'net.ipv4.tcp_tw_reus[e]': ['net.ipv4.tcp_tw_reuse'],
    'net.ipv4.tcp_tw_reu*': ['net.ipv4.tcp_tw_reuse'],
    'net/ipv4/tcp_tw_[r]euse': ['net.ipv4.tcp_tw_reuse'],
    'net.ipv*.tcp_tw_reuse': ['net.ipv4.tcp_tw_reuse'],
    'net.ipv4.tcp_timestamp?': ['net.ipv4.tcp_timestamps'],
    'net.ipv4.tcp_time*tamps': ['net.ipv4.tcp_timestamps'],
    'net//ipv4//tcp_timestamp[s]': ['net.ipv4.tcp_timestamps'],
    'net.ipv4.tcp_max_tw_bucket?': ['net.ipv4.tcp_max_tw_buckets'],
    'net.ipv4.tcp_max_tw_b*': ['net.ipv4.tcp_max_tw_buckets'],
    'net.ipv4.tcp_fin_timeou?': ['net.ipv4.tcp_fin_timeout'],
    'net.ipv*.tcp_fin_timeout': ['net.ipv4.tcp_fin_timeout'],
    'net/ipv4/../ipv4/tcp_fin_ti*': ['net.ipv4.tcp_fin_timeout'],
    'net.ipv4.tcp_syn_retrie[s]': ['net.ipv4.tcp_syn_retries'],
    'net.ipv4.tcp_syn_retri?s': ['net.ipv4.tcp_syn_retries'],
    'net.ipv4.tcp_{fin_timeou,syn_retrie}?': ['net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_syn_retries'],
    'net.ipv4.tcp_t[wi]*': ['net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_timestamps'],
    'net.ipv4.tcp_[!a-r]yn_retries': ['net.ipv4.tcp_syn_retries'],
    'net.ipv4.ip_local_port_rang?': ['net.ipv4.ip_local_port_range'],
}

NAMES = ['10-a.conf', '50-x.conf', '60-harden-tcp.conf', '9-x.conf', '10-x.conf', '99-sysctl.conf', '99-zzz.conf',
         'zz-late.conf', 'B.conf', 'a.conf', '_u.conf', 'Z.conf', '50.conf', '60.conf', 'x.conf', '70-a.conf',
         '.hidden.conf', '.conf', 'x.conf~', 'y.conf.bak', 'UP.CONF', 'x.Conf', 'noext', '5[0].conf', '{60,x}.conf',
         '7*.conf', '\xe9t\xe9.conf']


def spellings(key: str) -> List[str]:
    """Ways to write a key (dotted), most of which the tools resolve, some they do not."""
    dotted = key
    slashed = key.replace('.', '/')
    parts = key.split('.')
    return [
        dotted, dotted, dotted, slashed, slashed,
        '/' + slashed, '.' + dotted,
        '.'.join(parts[:2]) + '..' + parts[2], '//'.join(parts),
        'net/ipv4/../ipv4/' + parts[2], 'net/./ipv4/' + parts[2],
        dotted + '.', slashed + '/', '/../' + slashed, '..' + dotted,
        'net.ipv4/' + parts[2], dotted.upper(), 'net.ipv4. ' + parts[2],
    ]


def line_for(rng: random.Random, keys: List[str]) -> str:
    """One line of a sysctl file (without its line ending)."""
    roll = rng.random()
    key = rng.choice(keys)
    good, bad = VALUES[key]
    value = rng.choice(good) if rng.random() < 0.7 else rng.choice(bad)
    if roll < 0.08:
        return rng.choice(['# comment', '; comment', '   # indented', '#' + key + ' = 1', '', '   ', '\t'])
    if roll < 0.12:
        return rng.choice([key + ' 1', '=', '= 5', 'x', key, key + ' : 4', 'net.ipv4.tcp_tw_recycle = 1',
                           'net.ipv4.nonexistent_harden_tcp = 1', '==' + key + '=1'])
    if roll < 0.22:
        pattern = rng.choice(sorted(GLOBS))
        key = rng.choice(GLOBS[pattern])
        good, bad = VALUES[key]
        return '%s = %s' % (pattern, rng.choice(good) if rng.random() < 0.8 else rng.choice(bad))
    if roll < 0.30:
        target = rng.choice([rng.choice(spellings(key)), rng.choice(sorted(GLOBS))])
        return rng.choice(['-', '-', ' -', '- ']) + target
    spelled = rng.choice(spellings(key)) if rng.random() < 0.35 else key
    prefix = rng.choice([''] * 12 + ['-', '- ', '--', ' ', '\t', '\v', '\f'])
    left = rng.choice([' = ', '=', ' =', '= ', '\t=\t', ' = \v', '\f= '])
    suffix = rng.choice([''] * 10 + [' ', '\t', '\v', '\f', ' \r'])
    return prefix + spelled + left + value + suffix


def content_for(rng: random.Random, keys: List[str]) -> str:
    """A file's text: a few lines joined with mostly plain line ends."""
    lines = [line_for(rng, keys) for _line in range(rng.randint(1, 7))]
    text = ''
    for index, line in enumerate(lines):
        end = rng.choice(['\n'] * 14 + ['\r\n', '\r', '\x00', '\n\n'])
        if index == len(lines) - 1 and rng.random() < 0.15:
            end = ''
        text += line + end
    return text


def random_tree(seed: int, index: int, release: str) -> Dict:
    """Tree number ``index`` of a run (the same seed and index give the same tree)."""
    rng = random.Random('%d-%d-%s' % (seed, index, release))
    keys = rng.sample(KEYS, rng.randint(1, len(KEYS)))
    entries: List[Dict] = []
    used = set()
    for _entry in range(rng.randint(1, 9)):
        directory = rng.choice(DIRS)
        name = rng.choice(NAMES[:15] * 3 + NAMES[15:])
        path = directory + '/' + name
        if path in used or path == DEBIAN_LINK:
            continue
        used.add(path)
        kind = rng.random()
        if kind < 0.72:
            entries.append({'path': path, 'type': 'file', 'content': content_for(rng, keys)})
        elif kind < 0.78:
            entries.append({'path': path, 'type': 'symlink', 'target': '/dev/null'})
        elif kind < 0.83:
            entries.append({'path': path, 'type': 'symlink', 'target': '/nonexistent/%s' % name})
        elif kind < 0.87:
            entries.append({'path': path, 'type': 'dir'})
            entries.append({'path': path + '/inner.conf', 'type': 'file', 'content': 'net.ipv4.tcp_syn_retries = 9\n'})
        elif kind < 0.91:
            entries.append({'path': path, 'type': 'file', 'content': ''})
        else:
            extra = '%s/%d.conf' % (EXTRA_DIR, len(entries))
            entries.append({'path': extra, 'type': 'file', 'content': content_for(rng, keys)})
            entries.append({'path': path, 'type': 'symlink', 'target': extra})
    conf = rng.random()
    if conf < 0.45:
        entries.append({'path': SYSCTL_CONF, 'type': 'file', 'content': content_for(rng, keys)})
    elif conf < 0.5:
        entries.append({'path': SYSCTL_CONF, 'type': 'symlink', 'target': '/dev/null'})
    elif conf < 0.55:
        entries.append({'path': EXTRA_DIR + '/main.conf', 'type': 'file', 'content': content_for(rng, keys)})
        entries.append({'path': SYSCTL_CONF, 'type': 'symlink', 'target': EXTRA_DIR + '/main.conf'})
    # Debian 11 and 12 ship the link, 13 does not; either way it is sometimes the other way round.
    link = (release != 'trixie') != (rng.random() < 0.25)
    if link:
        entries.append({'path': DEBIAN_LINK, 'type': 'symlink', 'target': '../sysctl.conf'})
    return {'name': 'random-%d' % index, 'entries': entries}


def _file(path: str, content: str) -> Dict:
    return {'path': path, 'type': 'file', 'content': content}


def _link(path: str, target: str) -> Dict:
    return {'path': path, 'type': 'symlink', 'target': target}


R, T, B, F, S, P = KEYS
E, RUN, LOCAL, USR = DIRS


def edge_trees() -> List[Dict]:
    """Hand-made trees for each behaviour the issue and the research name."""
    cases = {
        # which files count, masking, order
        'mask-same-name-all-dirs': [_file(E + '/50-x.conf', '%s = 1\n' % R), _file(RUN + '/50-x.conf', '%s = 2\n' % R),
                                    _file(LOCAL + '/50-x.conf', '%s = 12\n' % T), _file(USR + '/50-x.conf', '%s = 13\n' % T),
                                    _file(RUN + '/60-run.conf', '%s = 1001\n' % B)],
        'mask-devnull': [_link(E + '/50-x.conf', '/dev/null'), _file(USR + '/50-x.conf', '%s = 1\n' % R)],
        'mask-empty-file': [_file(RUN + '/50-x.conf', ''), _file(USR + '/50-x.conf', '%s = 1\n' % R)],
        'mask-dangling-link': [_link(E + '/50-x.conf', '/nonexistent/file.conf'), _file(USR + '/50-x.conf', '%s = 1\n' % R),
                               _file(USR + '/60-y.conf', '%s = 21\n' % T)],
        'mask-directory': [{'path': E + '/50-x.conf', 'type': 'dir'}, _file(E + '/50-x.conf/inner.conf', '%s = 99\n' % T),
                           _file(USR + '/50-x.conf', '%s = 1\n' % R), _file(USR + '/60-y.conf', '%s = 21\n' % T)],
        'names-dotfiles-and-suffixes': [_file(E + '/.hidden.conf', '%s = 1\n' % R), _file(E + '/.conf', '%s = 31\n' % T),
                                        _file(E + '/UPPER.CONF', '%s = 2\n' % R), _file(E + '/x.Conf', '%s = 3\n' % S),
                                        _file(E + '/y.conf~', '%s = 4\n' % S), _file(E + '/noext', '%s = 6\n' % S),
                                        _file(E + '/w.conf.bak', '%s = 7\n' % S)],
        'sort-bytewise': [_file(E + '/9-x.conf', '%s = 2\n' % R), _file(RUN + '/10-x.conf', '%s = 1\n' % R),
                          _file(USR + '/B.conf', '%s = 20\n' % T), _file(E + '/a.conf', '%s = 21\n' % T),
                          _file(E + '/_u.conf', '%s = 100\n' % B), _file(LOCAL + '/Z.conf', '%s = 200\n' % B)],
        'link-to-file-elsewhere': [_file(EXTRA_DIR + '/r.conf', '%s = 1\n' % R), _link(E + '/50-r.conf', EXTRA_DIR + '/r.conf')],
        'debian-link-sysctl-conf-vs-later-name': [_file(SYSCTL_CONF, '%s = 1\n%s = 5\n' % (R, T)), _link(E + '/99-sysctl.conf', '../sysctl.conf'),
                                                  _file(E + '/50-early.conf', '%s = 6\n' % T), _file(E + '/99-zzz.conf', '%s = 2\n' % R)],
        'sysctl-conf-without-link': [_file(SYSCTL_CONF, '%s = 1\n' % R), _file(E + '/50-a.conf', '%s = 2\n%s = 7\n' % (R, T))],
        'sysctl-conf-is-link-to-file': [_file(EXTRA_DIR + '/main.conf', '%s = 1\n' % R), _link(SYSCTL_CONF, EXTRA_DIR + '/main.conf')],
        'sysctl-conf-is-devnull': [_link(SYSCTL_CONF, '/dev/null'), _link(E + '/99-sysctl.conf', '../sysctl.conf'),
                                   _file(E + '/50-a.conf', '%s = 1\n' % R)],
        'debian-link-dangling': [_link(E + '/99-sysctl.conf', '../sysctl.conf'), _file(E + '/50-a.conf', '%s = 2\n' % R)],
        'glob-file-name-bracket': [_file(E + '/5[0].conf', '%s = 1\n' % R), _file(E + '/50.conf', '%s = 2\n%s = 8\n' % (R, T))],
        'glob-file-name-brace': [_file(E + '/{60,x}.conf', '%s = 1\n' % R), _file(E + '/60.conf', '%s = 2\n%s = 9\n' % (R, T)),
                                 _file(E + '/70-{none,zero}.conf', '%s = 2100\n' % B)],
        'glob-file-name-star-masked': [_file(USR + '/7*.conf', '%s = 3\n' % S), _file(USR + '/70-a.conf', '%s = 6\n' % S),
                                       _file(E + '/70-a.conf', '%s = 1\n' % R)],
        'glob-file-name-stops-at-unopenable': [_link(E + '/Ax.conf', '/nonexistent/Ax.conf'), _file(E + '/Bx.conf', '%s = 1\n' % R),
                                               _file(E + '/C.conf', '%s = 2\n' % R), _file(E + '/[AB]x.conf', '%s = 3\n' % T)],
        # lines
        'comments': [_file(E + '/50-a.conf', '# %s = 1\n; %s = 2\n   # %s = 1\n\t; x\n%s = 3 # trailing\n' % (R, R, R, S))],
        'trailing-text-after-value': [_file(E + '/50-a.conf', '%s = 6000 # note\n%s = 1 # note\n%s = 0#off\n%s = 30;x\n%s = 4 ;x\n'
                                            % (B, R, T, F, S))],
        'separators-vt-ff-cr': [_file(E + '/50-a.conf', '\t%s\t=\t2\t \r\n%s = 9 \r\n%s=\v1234\v\n\f%s = 35\n%s = 4\f\n'
                                      % (R, T, B, F, S))],
        'bare-cr-inside-line': [_file(E + '/50-a.conf', '%s = 1\r%s = 3\n' % (R, T))],
        'nul-inside-line': [_file(E + '/50-a.conf', '%s = 1\x00%s = 3\n %s = 777\n' % (R, T, B))],
        'quoted-values': [_file(E + '/50-a.conf', '%s = "1"\n%s = \'4\'\n' % (R, S))],
        'not-assignments': [_file(E + '/50-a.conf', '%s 1\n=\n= 5\nx\n%s : 4\n' % (R, T))],
        'dash-prefixes': [_file(E + '/50-a.conf', '-%s = 1\n- %s = 3\n-   %s=1500\n - %s = 36\n--%s = 4\n' % (R, T, B, F, S))],
        'backslash-is-not-continuation': [_file(E + '/50-a.conf', '%s = 10 \\\n 20\n%s = \\\n1\n' % (B, R))],
        'empty-values': [_file(E + '/50-a.conf', '%s =\n%s =   \n' % (R, T))],
        'double-equals-and-two-numbers': [_file(E + '/50-a.conf', '%s = =1\n%s = 1 2\n%s = 3  4\n' % (R, B, T))],
        'long-line-stops-systemd': [_file(E + '/50-a.conf', '%s = 1\n#%s\n%s = 3\n' % (R, 'x' * (1024 * 1024 + 10), T)),
                                    _file(E + '/60-b.conf', '%s = 1600\n' % B)],
        'non-utf8-and-nbsp': [_file(E + '/50-a.conf', '%s = \xa01\n%s = 3\xa0\n# \xff\xfe\n%s = 1700\n' % (R, T, B))],
        'no-newline-at-end': [_file(E + '/50-a.conf', '%s = 2' % R), _file(E + '/60-b.conf', '\n  \n')],
        'bare-keys': [_file(E + '/50-a.conf', '%s\n-%s\n%s = 1900\n' % (R, T, B))],
        # keys as paths
        'path-forms-1': [_file(E + '/50-a.conf', 'net/ipv4/tcp_tw_reuse=1\nnet.ipv4..tcp_timestamps=3\nnet//ipv4//tcp_max_tw_buckets=1111\n'
                                                 'net/ipv4/../ipv4/tcp_fin_timeout=37\nnet.ipv4.tcp_syn_retries.=4\n')],
        'path-forms-2': [_file(E + '/50-a.conf', '.net.ipv4.tcp_tw_reuse=1\n/net/ipv4/tcp_timestamps=3\nnet/./ipv4/tcp_max_tw_buckets=1212\n'
                                                 'net.ipv4.tcp_fin_timeout/=38\n')],
        'path-forms-mixed': [_file(E + '/50-a.conf', 'net.ipv4/tcp_tw_reuse = 1\nnet/ipv4.tcp_timestamps = 3\n')],
        'path-forms-case-blank-recycle': [_file(E + '/50-a.conf', 'NET.IPV4.TCP_TW_REUSE = 1\nnet.ipv4. tcp_timestamps = 3\n'
                                                                  'net.ipv4.tcp_tw_recycle = 1\n%s = 1313\n' % B)],
        'dotdot-later-file': [_file(E + '/50-a.conf', '%s = 1\n' % R), _file(E + '/60-b.conf', 'net/ipv4/../ipv4/tcp_tw_reuse = 2\n')],
        'dotdot-leading': [_file(E + '/50-a.conf', '/../net/ipv4/tcp_tw_reuse = 1\n..net.ipv4.tcp_timestamps = 3\n')],
        'dotdot-alias-restated': [_file(E + '/10-a.conf', '%s = 1\n' % R), _file(E + '/20-b.conf', 'net/ipv4/../ipv4/tcp_tw_reuse = 2\n'),
                                  _file(E + '/30-c.conf', '%s = 1\n' % R)],
        # globs and exclusions
        'glob-basic': [_file(E + '/50-a.conf', 'net.ipv4.tcp_tw_reus[e] = 1\nnet.ipv4.tcp_fin_timeou? = 33\n')],
        'explicit-before-glob': [_file(E + '/10-a.conf', '%s = 1\n' % R), _file(E + '/90-b.conf', 'net.ipv4.tcp_tw_reu* = 2\n')],
        'explicit-after-glob': [_file(E + '/10-a.conf', 'net.ipv4.tcp_tw_reu* = 2\n'), _file(E + '/90-b.conf', '%s = 1\n' % R)],
        'glob-exclusion': [_file(E + '/50-a.conf', 'net.ipv4.tcp_t[wi]* = 1\n-%s\n' % T)],
        'glob-exclusion-slashed': [_file(E + '/50-a.conf', 'net.ipv4.tcp_t[wi]* = 2\n-net/ipv4/tcp_tw_reuse\n')],
        'exclusion-cancels-assignment': [_file(E + '/50-a.conf', '%s = 1\n-%s\n%s = 3\n' % (R, R, T)), _file(E + '/60-b.conf', '-%s\n' % T)],
        'exclusion-then-assignment': [_file(E + '/50-a.conf', '-%s\n%s = 1\n' % (R, R))],
        'globs-restated-same-value': [_file(E + '/10-a.conf', 'net.ipv4.tcp_t[wi]* = 1\n'), _file(E + '/20-b.conf', 'net.ipv4.tcp_tw_reus? = 2\n'),
                                      _file(E + '/30-c.conf', 'net.ipv4.tcp_t[wi]* = 1\n')],
        'globs-restated-other-value': [_file(E + '/10-a.conf', 'net.ipv4.tcp_t[wi]* = 1\n'), _file(E + '/20-b.conf', 'net.ipv4.tcp_tw_reus? = 2\n'),
                                       _file(E + '/30-c.conf', 'net.ipv4.tcp_t[wi]* = 0\n')],
        'explicit-doubled-separator-vs-glob': [_file(E + '/10-a.conf', 'net.ipv4..tcp_tw_reuse = 1\n'),
                                               _file(E + '/90-b.conf', 'net.ipv4.tcp_tw_reu* = 2\n')],
        'glob-rejected-value': [_file(E + '/50-a.conf', 'net.ipv4.tcp_tw_reus[e] = 7\nnet.ipv4.nonexist*_x = 1\n')],
        'glob-braces': [_file(E + '/50-a.conf', 'net.ipv4.tcp_{fin_timeou,syn_retrie}? = 3\n')],
        'glob-dir-component': [_file(E + '/50-a.conf', 'net.ipv*.tcp_fin_timeout = 44\n')],
        # duplicates and refused values
        'duplicates': [_file(E + '/50-a.conf', '%s = 1\n%s = 2\n%s = 1801\n' % (R, R, B)), _file(E + '/60-b.conf', '%s = 1802\n' % B)],
        'accepted-then-refused': [_file(E + '/50-a.conf', '%s = 1\n%s = 3\n' % (R, S)), _file(E + '/60-b.conf', '%s = 7\n%s = 0\n' % (R, S))],
        'refused-then-accepted': [_file(E + '/50-a.conf', '%s = 7\n' % R), _file(E + '/60-b.conf', '%s = 1\n' % R)],
        'out-of-range': [_file(E + '/50-a.conf', '%s = 7\n%s = -5\n' % (T, B)),
                         _file(E + '/60-b.conf', '%s = 256\n%s = 3\n%s = 2147483648\n' % (T, R, B))],
        'ignore-failure-refused': [_file(E + '/50-a.conf', '%s = 1\n-%s = 9\n' % (R, R))],
        'mixed-one-file': [_file(E + '/50-a.conf', '%s = 1\n%s = 7\n%s = 2\n%s = 1\n%s = 300\n' % (R, R, R, T, T))],
        'port-range-forms': [_file(E + '/50-a.conf', '%s = 40000\n' % P), _file(E + '/60-b.conf', '%s = 1024 65000 junk\n' % P)],
        'port-range-refused-then-single': [_file(E + '/50-a.conf', '%s = 50000 40000\n%s = 45000\n' % (P, P))],
        'numbers-octal-hex': [_file(E + '/50-a.conf', '%s = 010\n%s = 0x2\n%s = 0777\n%s = 08\n' % (T, R, B, S))],
    }
    return [{'name': 'edge-' + name, 'entries': entries} for name, entries in cases.items()]


def _name(entry: Dict) -> str:
    return entry['path'].rsplit('/', 1)[-1]


def _masked(tree: Dict) -> bool:
    names = [_name(e) for e in tree['entries'] if e['path'].rsplit('/', 1)[0] in DIRS]
    return len(names) != len(set(names))


def _text(tree: Dict, test) -> bool:
    return any(test(line) for e in tree['entries'] for line in e.get('content', '').replace('\r', '\n').split('\n'))


def _duplicates(tree: Dict) -> bool:
    keys = [line.split('=')[0].strip(' -\t') for e in tree['entries'] for line in e.get('content', '').split('\n') if '=' in line]
    return len(keys) != len(set(keys))


FEATURES = {
    'masking (a name in two directories)': _masked,
    'link to /dev/null': lambda t: any(e.get('target') == '/dev/null' for e in t['entries']),
    'dangling link': lambda t: any(e.get('target', '').startswith('/nonexistent') for e in t['entries']),
    'directory named *.conf': lambda t: any(e['type'] == 'dir' for e in t['entries']),
    'link to a file elsewhere': lambda t: any(e.get('target', '').startswith(EXTRA_DIR) for e in t['entries']),
    'dot-file or non-.conf name': lambda t: any(_name(e).startswith('.') or not _name(e).endswith('.conf')
                                                for e in t['entries'] if e['path'].startswith(tuple(DIRS))),
    'glob or brace in a file name': lambda t: any(c in _name(e) for e in t['entries'] for c in '[*{'),
    '/etc/sysctl.conf': lambda t: any(e['path'] == SYSCTL_CONF for e in t['entries']),
    'Debian 99-sysctl.conf link': lambda t: any(e['path'] == DEBIAN_LINK for e in t['entries']),
    'glob key': lambda t: _text(t, lambda line: any(c in line.split('=')[0] for c in '*?[') and '=' in line),
    '-key exclusion': lambda t: _text(t, lambda line: line.lstrip(' ').startswith('-') and '=' not in line),
    '- key / --key': lambda t: _text(t, lambda line: line.lstrip().startswith(('- ', '--'))),
    "'..', '//', '/./' or edge separators in a key": lambda t: _text(t, lambda line: any(
        m in line.split('=')[0] for m in ('..', '//', '/./')) or line.split('=')[0].strip().endswith(('.', '/'))),
    'slashed key': lambda t: _text(t, lambda line: line.strip().startswith('net/')),
    'comment': lambda t: _text(t, lambda line: line.strip().startswith(('#', ';'))),
    'trailing text after a value': lambda t: _text(t, lambda line: '#' in line.split('=', 1)[-1] and '=' in line),
    'refused value': lambda t: _text(t, lambda line: any(line.rstrip().endswith(' = ' + v) for v in ('7', '"1"', '0#off', '256'))),
    'duplicate key': _duplicates,
    'CR, NUL, \\v or \\f': lambda t: any(c in e.get('content', '') for e in t['entries'] for c in '\r\x00\v\f'),
}


def feature_counts(trees: List[Dict]) -> Dict[str, int]:
    """How many trees show each feature the issue lists."""
    return dict((name, sum(1 for tree in trees if test(tree))) for name, test in FEATURES.items())


def trees_for(seed: int, count: int, release: str) -> List[Dict]:
    """The edge cases, then ``count`` random trees."""
    return edge_trees() + [random_tree(seed, index, release) for index in range(count)]
