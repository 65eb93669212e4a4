"""plugins/module_utils/tcp_sysctl.py and plugins/modules/tcp_sysctl_info.py on recorded and hand-made inputs.

fixtures/sysctl/old_kernel is a recorded Debian 9-like host (kernel 4.9, systemd
232 runs the boot, procps 3.3.12): tcp_tw_recycle still exists and is on, an old
blog-post drop-in masks a vendor file of the same name, a later file and a /run
file fight the profile, /etc/sysctl.conf sets the port range, and an active tuned
profile turns timestamps off.

The hand cases under "the tools on hand-made trees" are the cases of the sysctl
research (its experiment log ran the six real binaries: procps 3.3.17, 4.0.2,
4.0.4, systemd 247, 252, 257); the expected values are what those binaries did.
The differential test (tests/differential/) checks the same model against the
real tools on random trees.
"""

import os

import pytest

from ansible_collections.harden_tcp.tcp.plugins.module_utils import tcp_sysctl as ts
from ansible_collections.harden_tcp.tcp.plugins.modules import tcp_sysctl_info

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'sysctl', 'old_kernel')
PROC = os.path.join(FIXTURE, 'proc', 'sys')
ROOT = os.path.join(FIXTURE, 'root')
PROFILE = '/etc/sysctl.d/60-harden-tcp.conf'
EXPECTED = {'net.ipv4.tcp_tw_reuse': '1', 'net.ipv4.tcp_timestamps': '1', 'net.ipv4.tcp_tw_recycle': '0',
            'net.ipv4.tcp_max_tw_buckets': 'auto'}
R, T, B, F, S = ('net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_timestamps', 'net.ipv4.tcp_max_tw_buckets',
                 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_syn_retries')
RP = 'net.ipv4.conf.%s.rp_filter'
U8_REUSE, U8_STAMPS, INT = ts.KERNEL_KEYS['net/ipv4/tcp_tw_reuse'], ts.KERNEL_KEYS['net/ipv4/tcp_timestamps'], ('int', None, None)


@pytest.fixture(scope='module')
def gathered():
    return ts.gather(list(ts.PROFILE_KEYS), expected=EXPECTED, profile_file=PROFILE, proc_sys=PROC, root=ROOT,
                     auto={'per_mib': 16, 'minimum': 32768, 'maximum': 1048576},
                     meminfo=os.path.join(FIXTURE, 'proc', 'meminfo'))


# ------------------------------------------------------------------ key forms


@pytest.mark.parametrize('raw,dotted', [
    ('net.ipv4.tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('net/ipv4/tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('/net/ipv4/tcp_tw_reuse', 'net.ipv4.tcp_tw_reuse'),
    ('net/ipv4/conf/eth0.100/rp_filter', 'net.ipv4.conf.eth0/100.rp_filter'),
])
def test_normalize_key_accepts_dots_and_slashes(raw, dotted):
    assert ts.normalize_key(raw) == dotted


def test_proc_sys_path_maps_dots_in_names_back():
    assert ts.proc_sys_path('net.ipv4.tcp_tw_reuse', '/p') == '/p/net/ipv4/tcp_tw_reuse'
    assert ts.proc_sys_path('net/ipv4/tcp_tw_reuse', '/p') == '/p/net/ipv4/tcp_tw_reuse'
    # A VLAN interface name keeps its dot in the path, whichever spelling the key uses.
    assert ts.proc_sys_path('net/ipv4/conf/eth0.100/rp_filter', '/p') == '/p/net/ipv4/conf/eth0.100/rp_filter'
    assert ts.proc_sys_path('net.ipv4.conf.eth0/100.rp_filter', '/p') == '/p/net/ipv4/conf/eth0.100/rp_filter'
    assert ts.key_path('net.ipv4.conf.eth0/100.rp_filter') == 'net/ipv4/conf/eth0.100/rp_filter'


@pytest.mark.parametrize('key,m247,m252,m257', [
    ('net.ipv4..tcp_timestamps', 'net/ipv4/tcp_timestamps', 'net/ipv4/tcp_timestamps', 'net/ipv4/tcp_timestamps'),
    ('net//ipv4//tcp_max_tw_buckets', 'net/ipv4/tcp_max_tw_buckets', 'net/ipv4/tcp_max_tw_buckets', 'net/ipv4/tcp_max_tw_buckets'),
    ('net/ipv4/../ipv4/x', 'net/ipv4/../ipv4/x', 'net/ipv4/../ipv4/x', 'net/ipv4/../ipv4/x'),
    ('net.ipv4.tcp_syn_retries.', 'net/ipv4/tcp_syn_retries', 'net/ipv4/tcp_syn_retries', 'net/ipv4/tcp_syn_retries'),
    ('.net.ipv4.x', 'net/ipv4/x', 'net/ipv4/x', 'net/ipv4/x'),
    ('net/./ipv4/x', 'net/ipv4/x', 'net/ipv4/x', 'net/ipv4/x'),
    ('net.ipv4.tcp_fin_timeout/', 'net/ipv4/tcp_fin_timeout.', 'net/ipv4/tcp_fin_timeout.', 'net/ipv4/tcp_fin_timeout.'),
    ('net.ipv4/tcp_tw_reuse', 'net/ipv4.tcp_tw_reuse', 'net/ipv4.tcp_tw_reuse', 'net/ipv4.tcp_tw_reuse'),
    ('/../net/ipv4/x', '../net/ipv4/x', '../net/ipv4/x', 'net/ipv4/x'),
    ('..net.ipv4.x', 'net/ipv4/x', 'net/ipv4/x', 'net/ipv4/x'),
])
def test_systemd_normalize_per_version(key, m247, m252, m257):
    """sysctl_normalize(): the first separator decides the swap; '..' stays (257 drops a leading '/..')."""
    assert [ts.systemd_normalize(key, model) for model in (247, 252, 257)] == [m247, m252, m257]


@pytest.mark.parametrize('version,model', [(232, 247), (247, 247), (249, 247), (252, 252), (254, 252), (257, 257),
                                           (None, 257)])
def test_systemd_model_by_version(version, model):
    assert ts.systemd_model(version) == model


# ------------------------------------------------------------------ the kernel


@pytest.mark.parametrize('text,reuse,stamps,buckets', [
    ('1', '1', '1', '1'), (' 1', '1', '1', '1'), ('\v1', '1', '1', '1'), ('\xa01', '1', '1', '1'),
    ('1\r', None, None, None), ('1\v', None, None, None), ('1\xa0', None, None, None),
    ('+1', None, None, None), ('-0', None, None, '0'), ('-1', None, None, '-1'),
    ('0x1', '1', '1', '1'), ('0X2', '2', '2', '2'), ('01', '1', '1', '1'), ('010', None, '8', '8'),
    ('08', None, None, None), ('0x', None, None, None), ('1 2', '1', '1', '1'), ('1\t2', '1', '1', '1'),
    ('2 # note', '2', '2', '2'), ('6000 # note', None, None, '6000'), ('2# note', None, None, None),
    ('0#off', None, None, None), ('2;x', None, None, None), ('1,2', None, None, None), ('"1"', None, None, None),
    ("'1'", None, None, None), ('1.5', None, None, None), ('1e3', None, None, None), ('', None, None, None),
    ('   ', None, None, None), ('3', None, '3', '3'), ('7', None, '7', '7'), ('255', None, '255', '255'),
    ('256', None, None, '256'), ('2147483647', None, None, '2147483647'), ('2147483648', None, None, None),
    ('-2147483648', None, None, '-2147483648'), ('-2147483649', None, None, None),
    ('00000000000000000001', '1', '1', '1'), ('000000000000000000001', None, None, None),
])
def test_kernel_store_matches_the_measured_kernel(text, reuse, stamps, buckets):
    """The research's kernel-probe table (one write of text + newline, Linux 5.10.223/6.1.176/6.12.38 parsing)."""
    assert ts.kernel_store(U8_REUSE, text)[0] == reuse
    assert ts.kernel_store(U8_STAMPS, text)[0] == stamps
    assert ts.kernel_store(INT, text)[0] == buckets


def test_kernel_store_says_why_and_keeps_unknown_keys_as_written():
    assert ts.kernel_store(U8_REUSE, '7') == (None, 'outside 0..2')
    assert ts.kernel_store(None, '32768\t60999 ') == ('32768 60999', None)
    assert ts.kernel_store(('jiffies', None, None), '60')[0] == '60'
    assert ts.kernel_store(('jiffies', None, None), '2147483647')[0] is None


@pytest.mark.parametrize('text,previous,floor,stored', [
    ('1024 65000', None, 1024, '1024 65000'), ('50000', None, 1024, '50000 60999'), ('50000', '10000 55000', 1024, '50000 55000'),
    ('65000 1024', None, 1024, None), ('80 90', None, 1024, None), ('80 90', None, 0, '80 90'), ('1024,65000', None, 1024, None),
    ('1024 65536', None, 1024, None), ('1024 65000 junk', None, 1024, '1024 65000'),
])
def test_kernel_store_port_range(text, previous, floor, stored):
    """ipv4_local_port_range(): one number keeps the upper bound; the start may not be below ip_unprivileged_port_start."""
    handler = ts.KERNEL_KEYS['net/ipv4/ip_local_port_range']
    assert ts.kernel_store(handler, text, previous, port_floor=floor)[0] == stored


def test_kernel_handlers_before_the_u8_conversion():
    assert ts.kernel_handlers('6.1.0-26-amd64')['net/ipv4/tcp_timestamps'] == ('u8', 0, 255)
    assert ts.kernel_handlers('5.10.0-21-amd64', 'Linux ... Debian 5.10.179-1 (2023-05-12)')['net/ipv4/tcp_timestamps'][0] == 'u8'
    old = ts.kernel_handlers('5.10.0-20-amd64', 'Linux ... Debian 5.10.158-2 (2022-12-13)')
    assert old['net/ipv4/tcp_timestamps'] == ('int', None, None) and 'net/ipv4/tcp_sack' not in old
    assert ts.kernel_store(old['net/ipv4/tcp_tw_reuse'], '-0')[0] == '0'
    assert ts.kernel_store(old['net/ipv4/tcp_timestamps'], '256')[0] == '256'


# ------------------------------------------------------------------ lines


def test_systemd_splits_lines_at_cr_lf_and_nul():
    assert ts.split_lines_systemd('a\nb\r\nc\n\rd\re\x00f\r\n\x00g\x00\nh') == (
        ['a', 'b', 'c', 'd', 'e', 'f', 'g', '', 'h'], False)
    assert ts.split_lines_systemd('a\n\nb\n') == (['a', '', 'b'], False)
    long_line = 'a = 1\n#' + 'x' * ts.LONG_LINE_MAX + '\nb = 2\n'
    assert ts.split_lines_systemd(long_line) == (['a = 1'], True)


def test_systemd_parse_dash_negative_and_junk():
    text = ('- %s = 3\n-%s = 1\n--%s = 4\n-%s\nnot an assignment\n# c\n; c\n  \t\n%s =\n= 5\n\f%s = 1\n' % (T, R, S, B, F, R))
    parsed = [(o['key'], o['value'], o['ignore'], o['line']) for o in ts.parse_systemd(text, 'f', 252)[0]]
    assert parsed == [('net/ipv4/tcp_timestamps', '3', True, 1), ('net/ipv4/tcp_tw_reuse', '1', True, 2),
                      ('-net/ipv4/tcp_syn_retries', '4', True, 3), ('net/ipv4/tcp_max_tw_buckets', None, False, 4),
                      ('net/ipv4/tcp_fin_timeout', '', False, 9), ('', '5', False, 10),
                      ('\fnet/ipv4/tcp_tw_reuse', '1', False, 11)]


def test_procps4_parse():
    text = ('- %s = 3\n-%s = 1\n--%s = 4\n-%s\nno equals\n#c\n\v%s = \v1234\v\n%s = 1\x00rest\nx\n' % (T, R, S, B, F, R))
    parsed = [(s['rel'], s['value'], s['exclude'], s['line']) for s in ts.parse_procps(text, 'f', 4)]
    assert parsed == [(' net/ipv4/tcp_timestamps', '3', False, 1), ('net/ipv4/tcp_tw_reuse', '1', False, 2),
                      ('net/ipv4/tcp_syn_retries', '4', False, 3), ('net/ipv4/tcp_max_tw_buckets', None, True, 4),
                      ('net/ipv4/tcp_fin_timeout', '1234', False, 7), ('net/ipv4/tcp_tw_reuse', '1', False, 8)]


def test_procps3_parse():
    text = ('-%s = 1\n--%s = 4\n%s\n%s =\n%s = =1\n%s = 1\r%s = 3\n%s=\v5\v\n' % (R, S, B, F, R, R, T, S))
    parsed = [(s['rel'], s['value'], s['line']) for s in ts.parse_procps(text, 'f', 3)]
    assert parsed == [('net/ipv4/tcp_tw_reuse', '1', 1), ('-net/ipv4/tcp_syn_retries', '4', 2),
                      ('net/ipv4/tcp_tw_reuse', '=1', 5), ('net/ipv4/tcp_tw_reuse', '1', 6),
                      ('net/ipv4/tcp_syn_retries', '\v5\v', 7)]


# ------------------------------------------------------------------ glob(3)


@pytest.mark.parametrize('pattern,name,matches', [
    ('tcp_tw_reus?', 'tcp_tw_reuse', True), ('tcp_tw_reu*', 'tcp_tw_reuse_delay', True),
    ('tcp_[!a-r]yn_retries', 'tcp_syn_retries', True), ('tcp_[^s]yn_retries', 'tcp_syn_retries', False),
    ('tcp_t[wi]*', 'tcp_timestamps', True), ('[[:alpha:]]cp*', 'tcp_sack', True), ('*', '.hidden', None),
    ('tcp_\\*', 'tcp_*', True), ('tcp_[]', 'tcp_[]', True), ('[z-a]', 'm', False),
])
def test_fnmatch_regex(pattern, name, matches):
    if matches is None:  # FNM_PERIOD is applied by the globber, not the component regex
        return
    assert bool(ts.fnmatch_regex(pattern).match(name)) is matches


def test_brace_alternatives():
    assert ts.brace_alternatives('a{b,c}d') == ['abd', 'acd']
    assert ts.brace_alternatives('a{b,{c,d}}e') == ['abe', 'a{c,d}e']
    assert ts.brace_alternatives('{x}') == ['x']
    assert ts.brace_alternatives('a{b') is None and ts.brace_alternatives('abc') is None


def test_glob_paths_on_a_tree(tmp_path):
    for name in ('50.conf', '60.conf', '{60,x}.conf', '5[0].conf', '.hidden.conf'):
        (tmp_path / name).write_text('')
    fs, base = ts.LocalFS(), str(tmp_path)
    assert ts.glob_paths(base + '/5[0].conf', fs) == [base + '/50.conf']
    assert ts.glob_paths(base + '/{60,x}.conf', fs, brace=True, nocheck=True) == [base + '/60.conf']
    assert ts.glob_paths(base + '/{70,y}.conf', fs, brace=True, nocheck=True) == [base + '/{70,y}.conf']
    assert ts.glob_paths(base + '/*.conf', fs) == [base + '/' + n for n in ('50.conf', '5[0].conf', '60.conf', '{60,x}.conf')]
    assert ts.glob_paths(base + '/nothing*', fs) == [] and ts.glob_paths(base + '/nothing*', fs, nocheck=True) == [base + '/nothing*']


# ------------------------------------------------------------------ the tools on hand-made trees

KEYS = [R, T, B, F, S]
TOOLS = {
    'P3': {'system': {'tool': 'sysctl --system', 'version': '3.3.17', 'model': 3}},
    'P4': {'system': {'tool': 'sysctl --system', 'version': '4.0.2', 'model': 4}},
    'S247': {'boot': {'tool': 'systemd-sysctl', 'version': '247', 'model': 247}},
    'S252': {'boot': {'tool': 'systemd-sysctl', 'version': '252', 'model': 252}},
    'S257': {'boot': {'tool': 'systemd-sysctl', 'version': '257', 'model': 257}},
}
E, RUN, LOCAL, USR = 'etc/sysctl.d/', 'run/sysctl.d/', 'usr/local/lib/sysctl.d/', 'usr/lib/sysctl.d/'
LINK = ('link', '../sysctl.conf')


def make_root(tmp_path, files):
    root = tmp_path / 'root'
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple) and content[0] == 'link':
            os.symlink(content[1], str(full))
        elif isinstance(content, tuple) and content[0] == 'dir':
            full.mkdir()
        else:
            full.write_bytes(content.encode('latin-1'))
    for directory in (E, RUN, LOCAL, USR):
        (root / directory).mkdir(parents=True, exist_ok=True)
    return str(root)


def make_proc(tmp_path):
    """A /proc/sys with the keys of the research, the conf/*/rp_filter keys and an ipv6 directory."""
    proc = tmp_path / 'proc' / 'sys'
    for key in KEYS:
        path = proc / ts.key_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('0\n')
    for device in ('all', 'default', 'lo', 'p0'):
        (proc / 'net' / 'ipv4' / 'conf' / device).mkdir(parents=True)
        (proc / 'net' / 'ipv4' / 'conf' / device / 'rp_filter').write_text('0\n')
    (proc / 'net' / 'ipv6').mkdir()
    return str(proc)


def run_tools(tmp_path, files, keys=None):
    """{model name: {key: value}} for the keys each tool sets."""
    root, proc = make_root(tmp_path, files), make_proc(tmp_path)
    keys = keys or KEYS
    found = {}
    for name, tools in TOOLS.items():
        tool = 'boot' if 'boot' in tools else 'system'
        model = ts.predict(keys, dict(tools, tuned=False), ts.Tree(root), ts.ProcSys(proc))['keys']
        found[name] = dict((key, model[key][tool]) for key in keys if model[key][tool] is not None)
    return found


def short(values):
    names = {R: 'R', T: 'T', B: 'B', F: 'F', S: 'S'}
    return dict((names.get(key, key), value) for key, value in values.items())


# case: (files, P3, P4, S247, S252, S257) as the research measured them; '=' repeats the previous column.
CASES = {
    'A1 same name in all four directories': (
        {E + '50-x.conf': '%s = 1\n' % R, RUN + '50-x.conf': '%s = 2\n%s = 11\n' % (R, T), LOCAL + '50-x.conf': '%s = 12\n' % T,
         USR + '50-x.conf': '%s = 13\n' % T, RUN + '60-run.conf': '%s = 1001\n' % B, LOCAL + '60-loc.conf': '%s = 31\n' % F,
         USR + '60-usr.conf': '%s = 3\n' % S},
        {'R': '1', 'B': '1001', 'F': '31', 'S': '3'}, '=', '=', '=', '='),
    'A2 a link to /dev/null masks': ({E + '50-x.conf': ('link', '/dev/null'), USR + '50-x.conf': '%s = 1\n' % R}, {}, '=', '=', '=', '='),
    'A4 a dangling link masks': (
        {E + '50-x.conf': ('link', '/nonexistent/file.conf'), USR + '50-x.conf': '%s = 1\n' % R, USR + '60-y.conf': '%s = 21\n' % T},
        {'T': '21'}, '=', '=', '=', '='),
    'A5 a directory masks': (
        {E + '50-x.conf': ('dir',), USR + '50-x.conf': '%s = 1\n' % R, USR + '60-y.conf': '%s = 21\n' % T},
        {'T': '21'}, '=', '=', '=', '='),
    'A6 dot-files count for procps only': (
        {E + '.hidden.conf': '%s = 1\n' % R, E + '.conf': '%s = 31\n' % T, E + 'UPPER.CONF': '%s = 2\n' % R,
         E + 'x.Conf': '%s = 3\n' % S, E + 'y.conf~': '%s = 4\n' % S, E + 'noext': '%s = 6\n' % S},
        {'R': '1', 'T': '31'}, '=', {}, '=', '='),
    'A7 bytewise order': (
        {E + '9-x.conf': '%s = 2\n' % R, RUN + '10-x.conf': '%s = 1\n' % R, USR + 'B.conf': '%s = 20\n' % T, E + 'a.conf': '%s = 21\n' % T,
         E + '_u.conf': '%s = 100\n' % B, LOCAL + 'Z.conf': '%s = 200\n' % B, E + 'z.conf': '%s = 50\n' % F, RUN + 'zz.conf': '%s = 51\n' % F},
        {'R': '2', 'T': '21', 'B': '100', 'F': '51'}, '=', '=', '=', '='),
    'A9 /etc/sysctl.conf through the Debian link vs a later name': (
        {'etc/sysctl.conf': '%s = 1\n%s = 5\n' % (R, T), E + '99-sysctl.conf': LINK, E + '50-early.conf': '%s = 6\n' % T,
         E + '99-zzz.conf': '%s = 2\n' % R},
        {'R': '1', 'T': '5'}, '=', {'R': '2', 'T': '5'}, '=', '='),
    'A10 /etc/sysctl.conf without the link (Debian 13)': (
        {'etc/sysctl.conf': '%s = 1\n' % R, E + '50-a.conf': '%s = 2\n%s = 7\n' % (R, T)},
        {'R': '1', 'T': '7'}, '=', {'R': '2', 'T': '7'}, '=', '='),
    'A11b /etc/sysctl.conf linked to /dev/null': (
        {'etc/sysctl.conf': ('link', '/dev/null'), E + '99-sysctl.conf': LINK, E + '50-a.conf': '%s = 1\n' % R},
        {'R': '1'}, '=', '=', '=', '='),
    'A12 a glob in a file name': (
        {E + '5[0].conf': '%s = 1\n' % R, E + '50.conf': '%s = 2\n%s = 8\n' % (R, T)},
        {'R': '2', 'T': '8'}, '=', {'R': '1', 'T': '8'}, '=', '='),
    'A13 dangling Debian link': ({E + '99-sysctl.conf': LINK, E + '50-a.conf': '%s = 2\n' % R}, {'R': '2'}, '=', '=', '=', '='),
    'A14 braces in a file name': (
        {E + '{60,x}.conf': '%s = 1\n' % R, E + '60.conf': '%s = 2\n%s = 9\n' % (R, T), E + '70-{none,zero}.conf': '%s = 2100\n' % B},
        {'R': '2', 'T': '9', 'B': '2100'}, '=', {'R': '1', 'T': '9', 'B': '2100'}, '=', '='),
    'A15 a name glob stops at a file procps cannot open': (
        {E + 'Ax.conf': ('link', '/nonexistent'), E + 'Bx.conf': '%s = 1\n' % R, E + 'C.conf': '%s = 2\n' % R,
         E + '[AB]x.conf': '%s = 3\n' % T},
        {'R': '2'}, '=', {'R': '2', 'T': '3'}, '=', '='),
    'B2 text after the value': (
        {E + '50-a.conf': '%s = 6000 # note\n%s = 1 # note\n%s = 0#off\n%s = 30;x\n%s = 4 ;x\n' % (B, R, T, F, S)},
        {'R': '1', 'B': '6000', 'S': '4'}, '=', '=', '=', '='),
    'B3 \\v, \\f and \\r around keys and values': (
        {E + '50-a.conf': '\t%s\t=\t2\t \r\n%s = 9 \r\n%s=\v1234\v\n\f%s = 35\n%s = 4\f\n' % (R, T, B, F, S)},
        {'R': '2', 'T': '9'}, {'R': '2', 'T': '9', 'B': '1234', 'F': '35', 'S': '4'}, {'R': '2', 'T': '9'}, '=', '='),
    'B4 a bare CR': ({E + '50-a.conf': '%s = 1\r%s = 3\n' % (R, T)}, {'R': '1'}, {}, {'R': '1', 'T': '3'}, '=', '='),
    'B5 a NUL': ({E + '50-a.conf': '%s = 1\x00%s = 3\n %s = 777\n' % (R, T, B)},
                 {'R': '1', 'B': '777'}, '=', {'R': '1', 'T': '3', 'B': '777'}, '=', '='),
    'B8 dash prefixes': (
        {E + '50-a.conf': '-%s = 1\n- %s = 3\n-   %s=1500\n - %s = 36\n--%s = 4\n' % (R, T, B, F, S)},
        {'R': '1'}, {'R': '1', 'S': '4'}, {'R': '1', 'T': '3', 'B': '1500', 'F': '36'}, '=', '='),
    'B11 "= =1" and two numbers': ({E + '50-a.conf': '%s = =1\n%s = 1 2\n%s = 3  4\n' % (R, B, T)},
                                   {'T': '3', 'B': '1'}, '=', '=', '=', '='),
    'B12 a line over 1 MiB': (
        {E + '50-a.conf': '%s = 1\n#%s\n%s = 3\n' % (R, 'x' * (ts.LONG_LINE_MAX + 10), T), E + '60-b.conf': '%s = 1600\n' % B},
        {'R': '1', 'T': '3', 'B': '1600'}, '=', {'R': '1', 'B': '1600'}, '=', '='),
    'B15 bare keys': ({E + '50-a.conf': '%s\n-%s\n%s = 1900\n' % (R, T, B)}, {'B': '1900'}, '=', '=', '=', '='),
    'C1 path forms': (
        {E + '50-a.conf': 'net/ipv4/tcp_tw_reuse=1\nnet.ipv4..tcp_timestamps=3\nnet//ipv4//tcp_max_tw_buckets=1111\n'
                          'net/ipv4/../ipv4/tcp_fin_timeout=37\nnet.ipv4.tcp_syn_retries.=4\n'},
        {'R': '1', 'T': '3', 'B': '1111', 'F': '37'}, '=', {'R': '1', 'T': '3', 'B': '1111', 'F': '37', 'S': '4'},
        {'R': '1', 'T': '3', 'B': '1111', 'S': '4'}, '='),
    'C3 mixed separators': ({E + '50-a.conf': 'net.ipv4/tcp_tw_reuse = 1\nnet/ipv4.tcp_timestamps = 3\n'}, {}, '=', '=', '=', '='),
    'C6 ".." in a later file': ({E + '50-a.conf': '%s = 1\n' % R, E + '60-b.conf': 'net/ipv4/../ipv4/tcp_tw_reuse = 2\n'},
                                {'R': '2'}, '=', '=', {'R': '1'}, '='),
    'C7 a leading "/.."': ({E + '50-a.conf': '/../net/ipv4/tcp_tw_reuse = 1\n..net.ipv4.tcp_timestamps = 3\n'},
                           {'T': '3'}, '=', '=', '=', {'R': '1', 'T': '3'}),
    'C8 a ".." alias re-stated': (
        {E + '10-a.conf': '%s = 1\n' % R, E + '20-b.conf': 'net/ipv4/../ipv4/tcp_tw_reuse = 2\n', E + '30-c.conf': '%s = 1\n' % R},
        {'R': '1'}, '=', {'R': '2'}, {'R': '1'}, '='),
    'D1 globs (not procps 3.3)': ({E + '50-a.conf': 'net.ipv4.tcp_tw_reus[e] = 1\n'}, {}, {'R': '1'}, '=', '=', '='),
    'D5 -key cancels an assignment in systemd only': (
        {E + '50-a.conf': '%s = 1\n-%s\n%s = 3\n' % (R, R, T), E + '60-b.conf': '-%s\n' % T},
        {'R': '1', 'T': '3'}, '=', {}, '=', '='),
    'D6 -key then key': ({E + '50-a.conf': '-%s\n%s = 1\n' % (R, R)}, {'R': '1'}, '=', '=', '=', '='),
    'E1 duplicates': ({E + '50-a.conf': '%s = 1\n%s = 2\n%s = 1801\n' % (R, R, B), E + '60-b.conf': '%s = 1802\n' % B},
                      {'R': '2', 'B': '1802'}, '=', '=', '=', '='),
    'E2 accepted then refused': ({E + '50-a.conf': '%s = 1\n%s = 3\n' % (R, S), E + '60-b.conf': '%s = 7\n%s = 0\n' % (R, S)},
                                 {'R': '1', 'S': '3'}, '=', {}, '=', '='),
    'E3 refused then accepted': ({E + '50-a.conf': '%s = 7\n' % R, E + '60-b.conf': '%s = 1\n' % R}, {'R': '1'}, '=', '=', '=', '='),
    'E5 -key = refused value': ({E + '50-a.conf': '%s = 1\n-%s = 9\n' % (R, R)}, {'R': '1'}, '=', {}, '=', '='),
    'E6 one file, mixed': ({E + '50-a.conf': '%s = 1\n%s = 7\n%s = 2\n%s = 1\n%s = 300\n' % (R, R, R, T, T)},
                           {'R': '2', 'T': '1'}, '=', {'R': '2'}, '=', '='),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_the_tools_on_hand_made_trees(tmp_path, case):
    files, *columns = CASES[case]
    expected = {}
    for name, column in zip(TOOLS, columns):
        expected[name] = expected[list(TOOLS)[list(TOOLS).index(name) - 1]] if column == '=' else column
    found = dict((name, short(values)) for name, values in run_tools(tmp_path, files).items())
    assert found == expected


def test_globs_and_exclusions_on_rp_filter(tmp_path):
    """D2/D3/D4/D7/D9/D11: an explicit key beats a glob whatever the order, but for procps only when its path is
    the glob's match spelled the same way; -key keeps a key out of globs; re-stating a glob keeps its place in systemd."""
    keys = [RP % device for device in ('all', 'default', 'lo', 'p0')]
    cases = [
        ({E + '10-a.conf': '%s = 1\n' % (RP % 'lo'), E + '90-b.conf': 'net.ipv4.conf.*.rp_filter = 2\n'}, '2212', '2212'),
        ({E + '10-a.conf': 'net.ipv4.conf.*.rp_filter = 2\n', E + '90-b.conf': '%s = 1\n' % (RP % 'lo')}, '2212', '2212'),
        ({E + '50-a.conf': 'net.ipv4.conf.*.rp_filter = 2\n-%s\n' % (RP % 'lo')}, '22-2', '22-2'),
        ({E + '50-a.conf': 'net.ipv4.conf.*.rp_filter = 2\n-net/ipv4/conf/lo/rp_filter\n'}, '22-2', '22-2'),
        ({E + '10-a.conf': 'net.ipv4.conf.*.rp_filter = 1\n', E + '20-b.conf': 'net.ipv4.conf.l?.rp_filter = 2\n',
          E + '30-c.conf': 'net.ipv4.conf.*.rp_filter = 1\n'}, '1111', '1121'),
        ({E + '10-a.conf': 'net.ipv4.conf..lo.rp_filter = 1\n', E + '90-b.conf': 'net.ipv4.conf.*.rp_filter = 2\n'}, '2222', '2212'),
    ]
    for index, (files, procps, systemd) in enumerate(cases):
        found = run_tools(tmp_path / str(index), files, keys)
        for name, want in (('P4', procps), ('S252', systemd), ('S247', systemd)):
            assert ''.join(found[name].get(key, '-') for key in keys) == want, (index, name)
        assert found['P3'] == ({RP % 'lo': '1'} if index < 2 or index == 5 else {}), index


def test_settings_list_every_line_with_what_the_kernel_keeps(tmp_path):
    root = make_root(tmp_path, {E + '50-a.conf': '%s = 6000 # note\n%s = 7\n' % (B, R),
                                E + '60-b.conf': '%s = 1\n-%s\n' % (R, R), 'etc/sysctl.conf': '%s = 2\n' % R})
    tools = dict(TOOLS['S252'], **TOOLS['P4'])
    model = ts.predict([R, B], tools, ts.Tree(root), ts.ProcSys(make_proc(tmp_path)))['keys']
    assert model[B]['boot'] == model[B]['system'] == '6000' and not model[B]['conflicting']
    reuse = model[R]
    assert (reuse['boot'], reuse['system'], reuse['system_source']) == (None, '2', '/etc/sysctl.conf:1')
    assert [(s['path'], s['line'], s['stored'], s['boot'], s['system']) for s in reuse['settings']] == [
        ('/etc/sysctl.d/50-a.conf', 2, None, False, True), ('/etc/sysctl.d/60-b.conf', 1, '1', False, True),
        ('/etc/sysctl.conf', 1, '2', False, True)]
    assert reuse['rejected'] == [{'path': '/etc/sysctl.d/50-a.conf', 'line': 2, 'value': '7', 'reason': 'outside 0..2',
                                  'boot': False, 'system': True}]
    assert reuse['conflicting']


def test_a_host_cannot_make_the_result_unbounded_or_unprintable(tmp_path):
    files = {E + '50-a.conf': ''.join('%s = %d\n' % (R, 3 + n % 2) for n in range(150)),
             E + os.fsdecode(b'\xe9t\xe9.conf'): '%s = 1\n' % T}  # a name that is not UTF-8
    root = make_root(tmp_path, files)
    found = ts.gather([R, T], proc_sys=make_proc(tmp_path), root=root, tools=dict(TOOLS['S252'], **TOOLS['P4']))
    reuse = found['sysctl'][R]
    assert (len(reuse['settings']), reuse['settings_omitted'], len(reuse['rejected'])) == (100, 50, 100)
    assert reuse['settings'][-1]['line'] == 150
    assert found['sysctl'][T]['boot_source'] == '/etc/sysctl.d/\ufffdt\ufffd.conf:1'
    with pytest.raises(ValueError):
        ts.Tree(root, cache={'bytes': ts.MAX_TOTAL_BYTES}).read('/' + E + '50-a.conf')


# ------------------------------------------------------------------ tuned


def test_tuned_includes_load_first_and_are_overridden(tmp_path):
    root = make_root(tmp_path, {
        'etc/tuned/active_profile': 'site\n',
        'etc/tuned/site/tuned.conf': '[main]\ninclude=throughput-performance\n[sysctl]\n%s = 1 # site wants it\n' % T,
        'usr/lib/tuned/throughput-performance/tuned.conf': '[main]\ninclude = base\n[sysctl]\n%s = 0\n%s = 5000\n' % (T, B),
        'usr/lib/tuned/base/tuned.conf': '[sysctl]\n%s = 2\n' % R,
        'etc/tuned/tuned-main.conf': 'reapply_sysctl = 0\n',
    })
    settings, reapply, profiles = ts.tuned_settings(ts.Tree(root))
    assert not reapply
    assert profiles == ['/usr/lib/tuned/base/tuned.conf', '/usr/lib/tuned/throughput-performance/tuned.conf',
                        '/etc/tuned/site/tuned.conf']
    assert [(s['option'], s['value'], s['path']) for s in settings] == [
        (R, '2', '/usr/lib/tuned/base/tuned.conf'), (T, '1', '/etc/tuned/site/tuned.conf'),
        (B, '5000', '/usr/lib/tuned/throughput-performance/tuned.conf')]


def test_tuned_reapplies_etc_and_run_after_its_profile(tmp_path):
    root = make_root(tmp_path, {
        'etc/tuned/active_profile': 'p\n', 'usr/lib/tuned/p/tuned.conf': '[sysctl]\n%s = 0\n%s = 9000\n' % (T, B),
        USR + '50-vendor.conf': '%s = 1\n' % T, E + '60-site.conf': '%s = 7000\n' % B,
    })
    tools = dict(TOOLS['S252'], **TOOLS['P4'])
    model = ts.predict([T, B], tools, ts.Tree(root), ts.ProcSys(make_proc(tmp_path)))
    assert model['keys'][T]['boot'] == '0'  # /usr/lib is not re-applied
    assert model['keys'][T]['boot_source'] == 'tuned:/usr/lib/tuned/p/tuned.conf:2'
    assert (model['keys'][B]['boot'], model['keys'][B]['boot_source']) == ('7000', '/etc/sysctl.d/60-site.conf:1')
    assert model['keys'][T]['system'] == '1'
    assert model['tuned'] == {'profiles': ['/usr/lib/tuned/p/tuned.conf'], 'reapply_sysctl': True}


# ------------------------------------------------------------------ which tools run here


def test_detect_tools(tmp_path):
    root = tmp_path / 'root'
    (root / 'usr' / 'lib' / 'systemd').mkdir(parents=True)
    (root / 'usr' / 'lib' / 'systemd' / 'systemd-sysctl').write_text('')
    (root / 'usr' / 'lib' / 'x86_64-linux-gnu' / 'systemd').mkdir(parents=True)
    (root / 'usr' / 'lib' / 'x86_64-linux-gnu' / 'systemd' / 'libsystemd-shared-257.so').write_text('')
    (root / 'usr' / 'sbin').mkdir(parents=True)
    (root / 'usr' / 'sbin' / 'sysctl').write_bytes(b'\x7fELF\x00sysctl from procps-ng 4.0.4\x00')
    tools = ts.detect_tools(str(root))
    assert tools['system'] == {'tool': 'sysctl --system', 'version': '4.0.4', 'model': 4, 'binary': '/usr/sbin/sysctl'}
    assert tools['boot']['tool'] == 'sysctl --system' and 'does not run the boot' in tools['boot']['reason']
    (root / 'run' / 'systemd' / 'system').mkdir(parents=True)
    assert ts.detect_tools(str(root))['boot'] == {'tool': 'systemd-sysctl', 'version': '257', 'model': 257,
                                                  'reason': 'systemd runs the boot'}
    (root / 'usr' / 'sbin' / 'sysctl').write_bytes(b'BusyBox sysctl')
    assert ts.detect_tools(str(tmp_path / 'nothing'))['boot']['tool'] is None
    assert ts.detect_tools(str(root))['system'] is None


# ------------------------------------------------------------------ the profile drop-in


def plan(tmp_path, files, tools=None, values=None):
    root = make_root(tmp_path, files)
    tools = tools or dict(TOOLS['S252'], **TOOLS['P4'])
    return ts.plan_drop_in(PROFILE, values or {R: '1', T: '1'}, tools, ts.Tree(root), ts.ProcSys(make_proc(tmp_path)))


def test_drop_in_without_rivals_stays(tmp_path):
    assert plan(tmp_path, {E + '10-a.conf': '%s = 0\n' % R}) == {
        'winning_file': PROFILE, 'own_files': [], 'rivals': [], 'overridden_by': {}, 'unbeaten': {'boot': [], 'system': []}}


def test_drop_in_renamed_after_a_later_file(tmp_path):
    found = plan(tmp_path, {E + '99-zz-other.conf': '%s = 0\n' % R, E + '60-harden-tcp.conf': '%s=1\n' % R})
    assert found['winning_file'] == '/etc/sysctl.d/zz-harden-tcp.conf'
    assert found['rivals'] == ['/etc/sysctl.d/99-zz-other.conf'] and found['own_files'] == [PROFILE]
    assert found['overridden_by'][R] == [{'path': '/etc/sysctl.d/99-zz-other.conf', 'line': 1, 'value': '0',
                                          'tools': ['boot', 'system']}]


def test_drop_in_beats_systemd_but_not_procps_sysctl_conf(tmp_path):
    """/etc/sysctl.conf comes after every sysctl.d file for procps only; the Debian link puts it at 99-sysctl.conf
    for systemd, which zz-harden-tcp.conf beats."""
    found = plan(tmp_path, {'etc/sysctl.conf': '%s = 0\n' % R, E + '99-sysctl.conf': LINK})
    assert found['winning_file'] == '/etc/sysctl.d/zz-harden-tcp.conf'
    assert found['unbeaten'] == {'boot': [], 'system': ['/etc/sysctl.conf:1']}


def test_drop_in_exclusion_line_later_is_beaten_by_renaming(tmp_path):
    """A later '-key' line cancels the drop-in's assignment in systemd-sysctl (procps ignores it)."""
    found = plan(tmp_path, {E + '90-x.conf': '-%s\n' % R})
    assert found['winning_file'] == '/etc/sysctl.d/zz-harden-tcp.conf'
    assert found['overridden_by'] == {R: [{'path': '/etc/sysctl.d/90-x.conf', 'line': 1, 'value': None, 'tools': ['boot']}]}
    assert found['unbeaten'] == {'boot': [], 'system': []}


def test_cancelled_key_names_the_line(tmp_path):
    root = make_root(tmp_path, {E + '50-a.conf': '%s = 1\n' % R, E + '60-b.conf': '-%s\n' % R})
    model = ts.predict([R], dict(TOOLS['S257'], tuned=False), ts.Tree(root), ts.ProcSys(make_proc(tmp_path)))['keys'][R]
    assert (model['boot'], model['boot_cancelled_by']) == (None, '/etc/sysctl.d/60-b.conf:1')


def test_drop_in_cannot_beat_a_name_after_zs(tmp_path):
    found = plan(tmp_path, {E + '~late.conf': '%s = 0\n' % R})
    assert found['winning_file'] is None
    assert found['unbeaten'] == {'boot': ['/etc/sysctl.d/~late.conf:1'], 'system': ['/etc/sysctl.d/~late.conf:1']}


def test_own_files_are_never_rivals():
    assert ts.is_own_file('/etc/sysctl.d/zz-harden-tcp.conf', PROFILE)
    assert ts.is_own_file(PROFILE, PROFILE)
    assert not ts.is_own_file('/etc/sysctl.d/99-zz-other.conf', PROFILE)
    assert not ts.is_own_file('/run/sysctl.d/zz-harden-tcp.conf', PROFILE)


# ------------------------------------------------------------------ host side


@pytest.mark.parametrize('mib,size', [(512, 32768), (1024, 32768), (4096, 65536), (16384, 262144),
                                      (65536, 1048576), (262144, 1048576)])
def test_auto_max_tw_buckets_formula(mib, size):
    assert ts.auto_max_tw_buckets(mib) == size


def test_auto_max_tw_buckets_needs_memory():
    with pytest.raises(ValueError):
        ts.auto_max_tw_buckets(None)


def test_kernel_and_meminfo_parsing():
    assert ts.parse_kernel_version('6.1.0-26-amd64') == '6.1.0'
    assert ts.parse_kernel_version('5.10') == '5.10.0'
    assert ts.parse_kernel_version('weird') is None
    assert ts.parse_meminfo_mb('MemTotal:        8167848 kB\n') == 7976


def test_absent_key_is_reported_not_guessed(tmp_path):
    (tmp_path / 'net' / 'ipv4').mkdir(parents=True)
    (tmp_path / 'net' / 'ipv4' / 'tcp_tw_reuse').write_text('2\n')
    entry = ts.read_runtime('net.ipv4.tcp_tw_recycle', str(tmp_path))
    assert entry == {'present': False, 'runtime': None, 'writable': False}
    assert ts.read_runtime('net.ipv4.tcp_tw_reuse', str(tmp_path))['runtime'] == '2'


# ------------------------------------------------------------------ the recorded host


def test_recorded_host_tools(gathered):
    assert gathered['sysctl_tools']['boot'] == {'tool': 'systemd-sysctl', 'version': '232', 'reason': 'systemd runs the boot'}
    assert gathered['sysctl_tools']['system'] == {'tool': 'sysctl --system', 'version': '3.3.12', 'binary': '/sbin/sysctl'}
    assert gathered['sysctl_tools']['tuned'] == {'profiles': ['/usr/lib/tuned/throughput-performance/tuned.conf'],
                                                 'reapply_sysctl': True}
    assert gathered['kernel'] == {'release': '4.9.0-19-amd64', 'version': '4.9.0'}


def test_recorded_old_kernel_has_tw_recycle(gathered):
    recycle = gathered['sysctl']['net.ipv4.tcp_tw_recycle']
    assert recycle['present'] and recycle['runtime'] == '1'
    # systemd-sysctl writes it, then tuned re-applies /etc/sysctl.d: the same line wins.
    assert recycle['boot'] == recycle['system'] == '1'
    assert recycle['boot_source'] == recycle['system_source'] == '/etc/sysctl.d/10-old-tuning.conf:2'


def test_recorded_precedence_masking_and_rivals(gathered):
    reuse = gathered['sysctl']['net.ipv4.tcp_tw_reuse']
    # /usr/lib/sysctl.d/10-old-tuning.conf is masked by the /etc file of the same name.
    assert [s['path'] for s in reuse['settings']] == ['/etc/sysctl.d/10-old-tuning.conf', '/etc/sysctl.d/99-zz-other.conf']
    assert reuse['boot'] == reuse['system'] == '0' and reuse['conflicting']
    buckets = gathered['sysctl']['net.ipv4.tcp_max_tw_buckets']
    # systemd: the -key = 5000 line is replaced by the /run file's value; procps writes both, the last wins.
    assert buckets['boot_source'] == buckets['system_source'] == '/run/sysctl.d/70-runtime.conf:1'
    assert [(s['line'], s['boot'], s['system']) for s in buckets['settings']] == [(5, False, True), (1, True, True)]
    assert buckets['expected'] == str(7976 * 16)
    assert gathered['auto_max_tw_buckets'] == 7976 * 16
    assert gathered['profile']['rivals'] == ['/run/sysctl.d/70-runtime.conf', '/etc/sysctl.d/99-zz-other.conf']
    assert gathered['profile']['winning_file'] == '/etc/sysctl.d/zz-harden-tcp.conf'
    assert gathered['profile']['unbeaten'] == {'boot': [], 'system': []}
    ports = gathered['sysctl']['net.ipv4.ip_local_port_range']
    # Only procps reads /etc/sysctl.conf itself; tuned re-applies it after the boot.
    assert ports['boot'] == ports['system'] == '10000 65000' and ports['runtime'] == '32768 60999'
    assert gathered['system_files'][-1] == '/etc/sysctl.conf' and '/etc/sysctl.conf' not in gathered['files']


def test_recorded_tuned_profile_sets_timestamps_at_boot(gathered):
    """tuned re-applies /etc and /run sysctl files after its profile, not /usr/lib: its 0 stays at boot,
    while sysctl --system keeps the vendor file's 1."""
    stamps = gathered['sysctl']['net.ipv4.tcp_timestamps']
    assert stamps['boot'] == '0' and stamps['boot_source'] == 'tuned:/usr/lib/tuned/throughput-performance/tuned.conf:5'
    assert stamps['system'] == '1' and stamps['system_source'] == '/usr/lib/sysctl.d/50-default.conf:1'
    assert stamps['conflicting']


def test_module_entry_point(run_module):
    module = tcp_sysctl_info
    kind, result = run_module(module.main, {'proc_sys': PROC, 'root': ROOT, 'expected': EXPECTED,
                                            'profile_file': PROFILE, 'auto_max_tw_buckets': {}})
    assert kind == 'exit' and result['changed'] is False
    assert result['sysctl']['net.ipv4.tcp_tw_recycle']['present'] is True
    assert set(result['sysctl']) == set(ts.PROFILE_KEYS)
    assert result['sysctl_tools']['boot']['tool'] == 'systemd-sysctl'
