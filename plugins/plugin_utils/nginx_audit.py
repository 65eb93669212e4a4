# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge an nginx configuration for upstream keepalive mistakes.

Runs on the controller. Input is the text ``nginx -T`` printed on the host:
every configuration file nginx read, each after a line
``# configuration file /path:``. The text is split back into its files, each
file is written to a private temporary directory under a flat numbered name
(never under a path the host printed) and parsed there by ``crossplane``
(``single=True``: one file at a time), and the
``include`` directives are resolved against the files of the dump rather than
the controller's file system. Line numbers therefore are those of the
original files on the host, and every finding names ``path:line``.

The findings (TW-NGINX-001..006) come from the one catalogue,
plugins/plugin_utils/catalogue.py; docs/nginx-audit-rules.md states the rules.
"""

from __future__ import absolute_import, division, print_function

import fnmatch
import os
import re
import shutil
import tempfile

__metaclass__ = type

try:
    import crossplane
    HAS_CROSSPLANE = True
except ImportError:  # reported as a filter error when used
    HAS_CROSSPLANE = False

from ansible.errors import AnsibleFilterError
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import finding
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import (
    DEFAULT_KEEPALIVE, default_keepalive_requests, parse_nginx_version, pools_by_default)

FILE_HEADER = re.compile(r'^# configuration file (/.+):$')

# Blocks that form a configuration level below "server" for proxy_* inheritance.
LOCATION_LEVELS = ('location', 'if', 'limit_except')


def split_dump(text):
    """Split ``nginx -T`` output into an ordered dict {path: content}.

    The first file is the main configuration. nginx appends one newline after
    each file; it is kept, which only adds an empty last line.
    """
    files = {}
    current = None
    lines = []
    for line in (text or '').splitlines(True):
        match = FILE_HEADER.match(line.rstrip('\r\n'))
        if match:
            if current is not None:
                files[current] = ''.join(lines)
            current, lines = match.group(1), []
            continue
        if current is not None:
            lines.append(line)
    if current is not None:
        files[current] = ''.join(lines)
    return files


class _Config(object):
    """The files of one dump, parsed on demand with crossplane."""

    def __init__(self, files, workdir):
        self.files = files
        self.workdir = workdir
        self.errors = []
        self.parsed = {}

    def statements(self, path):
        """Return crossplane's statement list for ``path`` (parsed once)."""
        if path not in self.parsed:
            # A flat name per file: a path printed by the host never decides
            # where the controller writes.
            local = os.path.join(self.workdir, '%d.conf' % len(self.parsed))
            with open(local, 'w') as handle:
                handle.write(self.files[path])
            payload = crossplane.parse(local, single=True, check_ctx=False, check_args=False,
                                       comments=False, catch_errors=True)
            for error in payload.get('errors', []):
                self.errors.append('%s:%s: %s' % (path, error.get('line'),
                                                  str(error.get('error')).replace(local, path)))
            configs = payload.get('config') or [{}]
            self.parsed[path] = configs[0].get('parsed', [])
        return self.parsed[path]

    def resolve_include(self, pattern, main_dir):
        """Files of the dump an ``include`` pattern names, in nginx's (sorted) order."""
        if not os.path.isabs(pattern):
            pattern = os.path.normpath(os.path.join(main_dir, pattern))
        if not any(char in pattern for char in '*?['):
            return [pattern] if pattern in self.files else []
        # glob semantics: a wildcard never crosses "/".
        parts = pattern.split('/')
        matches = []
        for path in self.files:
            candidate = path.split('/')
            if len(candidate) == len(parts) and all(fnmatch.fnmatchcase(c, p) for c, p in zip(candidate, parts)):
                matches.append(path)
        return sorted(matches)

    def expand(self, statements, path, main_dir, seen=()):
        """Yield (statement, path) with include directives replaced by the included statements."""
        for stmt in statements:
            if stmt.get('directive') == 'include' and stmt.get('args'):
                for included in self.resolve_include(stmt['args'][0], main_dir):
                    if included in seen:
                        continue
                    yield from self.expand(self.statements(included), included, main_dir, seen + (included,))
                continue
            yield stmt, path


class _Level(object):
    """proxy_* settings in effect at one configuration level."""

    def __init__(self, parent=None):
        self.http_version = parent.http_version if parent else None   # (value, source)
        self.headers = parent.headers if parent else None             # (list of (name, value), source)
        self.replaced = parent.replaced if parent else None           # headers a level dropped

    def own(self, items, describe):
        """Apply this level's own directives (list of (stmt, path))."""
        headers = []
        for stmt, path in items:
            args = stmt.get('args', [])
            if stmt['directive'] == 'proxy_http_version' and args:
                self.http_version = (args[0], describe(stmt, path))
            elif stmt['directive'] == 'proxy_set_header' and len(args) >= 2:
                headers.append((args[0], args[1], describe(stmt, path)))
        if headers:
            self.replaced = self.headers
            self.headers = (headers, headers[0][2])


def _source(stmt, path):
    return '%s:%s' % (path, stmt.get('line'))


def _proxy_target(url):
    """Return (kind, host) for a proxy_pass argument: kind is upstream-candidate, unix, or variable."""
    match = re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*://(.*)$', url)
    rest = match.group(1) if match else url
    if rest.startswith('unix:'):
        return 'unix', rest
    host = re.split(r'[/?]', rest, maxsplit=1)[0]
    if '$' in host:
        return 'variable', host
    if host.startswith('['):
        return 'literal', host
    name, _sep, port = host.partition(':')
    return 'host', (name, port)


def _is_literal_address(name):
    """True for an IPv4 address; host names are literal too unless an upstream block has that name."""
    return bool(re.match(r'^\d+\.\d+\.\d+\.\d+$', name))


def audit_nginx(dump, version=None, min_keepalive_requests=1000):
    """Return the TW-NGINX-* findings for the ``nginx -T`` text ``dump``.

    ``version`` ("1.22.1") selects the defaults nginx applies when a directive
    is absent; None is treated as a version before 1.19.10.
    """
    if not HAS_CROSSPLANE:
        raise AnsibleFilterError('nginx_audit needs the Python package "crossplane" on the controller '
                                 '(pip install crossplane).')
    files = split_dump(dump)
    if not files:
        return [finding('TW-NGINX-006', 'nginx -T printed no configuration file.', None)]
    new_defaults = pools_by_default(version)
    default_requests = default_keepalive_requests(version)
    default_http = '1.1' if new_defaults else '1.0'

    main = next(iter(files))
    workdir = tempfile.mkdtemp(prefix='harden-tcp-nginx-audit-')
    try:
        config = _Config(files, workdir)
        findings = _judge(config, main, min_keepalive_requests, new_defaults, default_requests, default_http)
        for error in config.errors:
            findings.append(finding('TW-NGINX-006', 'crossplane could not parse the configuration: %s' % error,
                                    error.split(': ')[0]))
        return findings
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _judge(config, main, min_requests, new_defaults, default_requests, default_http):
    main_dir = os.path.dirname(main)
    top = list(config.expand(config.statements(main), main, main_dir, (main,)))
    findings = []
    for stmt, _path in top:
        if stmt['directive'] != 'http':
            continue
        http_items = list(config.expand(stmt.get('block', []), _path, main_dir, (main,)))
        upstreams = _collect_upstreams(config, http_items, main_dir, new_defaults, default_requests)
        for upstream in upstreams.values():
            findings.extend(_judge_upstream(upstream, min_requests, new_defaults, default_requests))
        http_level = _Level()
        http_level.own(http_items, _source)
        for block_stmt, block_path in http_items:
            if block_stmt['directive'] == 'server':
                _walk(config, block_stmt, block_path, http_level, upstreams, main_dir, findings, default_http,
                      new_defaults)
    return findings


def _collect_upstreams(config, http_items, main_dir, new_defaults, default_requests):
    upstreams = {}
    for stmt, path in http_items:
        if stmt['directive'] != 'upstream' or not stmt.get('args'):
            continue
        entry = {'name': stmt['args'][0], 'source': _source(stmt, path), 'keepalive': None,
                 'keepalive_source': None, 'requests': None, 'requests_source': None}
        for inner, inner_path in config.expand(stmt.get('block', []), path, main_dir):
            args = inner.get('args', [])
            if inner['directive'] == 'keepalive' and args and args[0].isdigit():
                entry['keepalive'] = int(args[0])
                entry['keepalive_source'] = _source(inner, inner_path)
            elif inner['directive'] == 'keepalive_requests' and args and args[0].isdigit():
                entry['requests'] = int(args[0])
                entry['requests_source'] = _source(inner, inner_path)
        if entry['keepalive'] is None:
            entry['effective_keepalive'] = DEFAULT_KEEPALIVE if new_defaults else 0
        else:
            entry['effective_keepalive'] = entry['keepalive']
        upstreams[entry['name']] = entry
    return upstreams


def _judge_upstream(upstream, min_requests, new_defaults, default_requests):
    findings = []
    name = upstream['name']
    if upstream['effective_keepalive'] <= 0:
        if upstream['keepalive'] == 0:
            detail = 'upstream "%s" sets "keepalive 0": every proxied request opens a new connection.' % name
            source = upstream['keepalive_source']
        else:
            detail = ('upstream "%s" has no "keepalive" directive: nginx opens a new connection per request '
                      'and leaves a TIME_WAIT socket behind for each.' % name)
            source = upstream['source']
        findings.append(finding('TW-NGINX-001', detail, source))
        return findings
    requests = upstream['requests'] if upstream['requests'] is not None else default_requests
    if requests < min_requests:
        origin = '' if upstream['requests'] is not None else ' (the nginx default for this version)'
        findings.append(finding(
            'TW-NGINX-005',
            'upstream "%s" keepalive_requests is %d%s, below the threshold %d: a pooled connection is closed '
            'after %d requests.' % (name, requests, origin, min_requests, requests),
            upstream['requests_source'] or upstream['source']))
    return findings


def _walk(config, block_stmt, path, parent, upstreams, main_dir, findings, default_http, new_defaults):
    """Walk a server/location/if block, judging every proxy_pass against the settings in effect."""
    items = list(config.expand(block_stmt.get('block', []), path, main_dir))
    level = _Level(parent)
    level.own(items, _source)
    for stmt, stmt_path in items:
        directive = stmt['directive']
        if directive in LOCATION_LEVELS and 'block' in stmt:
            _walk(config, stmt, stmt_path, level, upstreams, main_dir, findings, default_http, new_defaults)
        elif directive == 'proxy_pass' and stmt.get('args'):
            _judge_proxy_pass(stmt, stmt_path, level, upstreams, findings, default_http, new_defaults)


def _judge_proxy_pass(stmt, path, level, upstreams, findings, default_http, new_defaults):
    source = _source(stmt, path)
    url = stmt['args'][0]
    kind, target = _proxy_target(url)
    if kind == 'variable':
        return  # resolved at request time; nothing to judge statically
    if kind == 'host' and target[0] in upstreams:
        upstream = upstreams[target[0]]
    else:
        findings.append(finding(
            'TW-NGINX-004',
            'proxy_pass %s names no upstream block, so nginx cannot keep connections to it alive and opens '
            'one per request.' % url, source))
        return
    if upstream['effective_keepalive'] <= 0:
        return  # reported once on the upstream (TW-NGINX-001)
    name = upstream['name']
    if level.http_version is None:
        version, version_origin = default_http, 'the nginx default'
    else:
        version, version_origin = level.http_version[0], level.http_version[1]
    if version != '1.1':
        findings.append(finding(
            'TW-NGINX-002',
            'proxy_pass to keepalive upstream "%s" uses proxy_http_version %s (%s): nginx closes the upstream '
            'connection after each response.' % (name, version, version_origin), source))
    connection = _connection_header(level, new_defaults)
    if connection is not None and connection[0] != '':
        detail = ('proxy_pass to keepalive upstream "%s" sends "Connection: %s" (%s), so the upstream '
                  'connection is not reused.' % (name, connection[0], connection[1]))
        if level.headers is not None and level.replaced is not None and _has_empty_connection(level.replaced):
            detail += (' The proxy_set_header directives at %s replace the inherited ones from %s, '
                       'which had Connection "".' % (level.headers[1], level.replaced[1]))
        findings.append(finding('TW-NGINX-003', detail, source))


def _has_empty_connection(headers):
    return any(name.lower() == 'connection' and value == '' for name, value, _src in headers[0])


def _connection_header(level, new_defaults):
    """Return (value, origin) of the Connection header sent upstream, or None when nginx sends none."""
    if level.headers is not None:
        value = None
        for name, header_value, src in level.headers[0]:
            if name.lower() == 'connection':
                value = (header_value, src)
        if value is not None:
            return value
        if new_defaults:
            return None
        return ('close', 'the nginx default; the proxy_set_header directives in effect, from %s, do not set '
                'Connection' % level.headers[1])
    return None if new_defaults else ('close', 'the nginx default')


def nginx_observation(dump_result, min_keepalive_requests=1000):
    """{present, version, findings} of one host from its ``nginx -v -T -q`` command result.

    ``dump_result`` is the registered result of that command: skipped (the
    nginx audit is off) or failed to start (no nginx binary) means no nginx;
    nginx always prints its version on stderr first, then, when the
    configuration loads, dumps it on stdout.
    """
    dump_result = dump_result or {}
    stderr = dump_result.get('stderr') or ''
    version = parse_nginx_version(stderr)
    if dump_result.get('skipped') or 'nginx version:' not in stderr:
        return {'present': False, 'version': None, 'findings': []}
    if dump_result.get('rc') != 0:
        detail = 'nginx -T failed (rc %s): %s' % (dump_result.get('rc'), stderr.strip())
        return {'present': True, 'version': version, 'findings': [finding('TW-NGINX-006', detail, None)]}
    return {'present': True, 'version': version,
            'findings': audit_nginx(dump_result.get('stdout') or '', version, int(min_keepalive_requests))}
