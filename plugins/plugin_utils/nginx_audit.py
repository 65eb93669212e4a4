# -*- coding: utf-8 -*-
# Copyright: (c) harden-tcp contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Judge an nginx configuration for upstream keepalive mistakes.

Runs on the controller. Input is the text ``nginx -T`` printed on the host;
plugins/plugin_utils/nginx_dump.py splits it back into the files nginx read
(checking every header against the include graph) and tokenises them the way
nginx does. Nothing the host printed is ever used as a path on the controller.

Every verdict asks what nginx sends to the backend for an ordinary request
(no ``Upgrade`` header) and whether the pooled connection survives it:
``map`` and ``set`` are resolved for that request, every non-empty
``proxy_set_header Connection`` in the set in effect is sent, upstream names
match case-insensitively, and each ``*_pass`` directive pools by its own
protocol's rules. docs/nginx-audit-rules.md states the rules; the findings
(TW-NGINX-001..007) come from the one catalogue, plugins/plugin_utils/catalogue.py.

Work is bounded: each file is tokenised once, a level's includes are expanded
once per file and deduplicated, a block is walked once per distinct inherited
context, and a cap on expanded statements ends the walk with a TW-NGINX-006
that says so.
"""

from __future__ import absolute_import, division, print_function

import re

__metaclass__ = type

from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.catalogue import finding
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_dump import HAS_CROSSPLANE, MAX_NESTING, Dump
from ansible_collections.harden_tcp.tcp.plugins.plugin_utils.nginx_version import (
    DEFAULT_KEEPALIVE, default_keepalive_requests, parse_nginx_version, pools_by_default, version_tuple)

# directive -> the protocol whose pooling rules apply
PASS_DIRECTIVES = {'proxy_pass': 'proxy', 'fastcgi_pass': 'fastcgi', 'uwsgi_pass': 'uwsgi', 'scgi_pass': 'scgi',
                   'grpc_pass': 'grpc', 'memcached_pass': 'memcached'}
# nginx closes the connection after every uwsgi and scgi response: these never pool.
NEVER_POOL = frozenset(('uwsgi', 'scgi'))
# Load-balancing methods; before nginx 1.29.7 one written after "keepalive" replaces it (nginx warns
# "load balancing method redefined") and the upstream no longer pools.
BALANCERS = frozenset(('ip_hash', 'hash', 'least_conn', 'random'))
BALANCER_ORDER_FIXED = (1, 29, 7)
# Levels below "server" that inherit proxy settings.
LOCATION_LEVELS = ('location', 'if', 'limit_except')
# Variables that follow the host of a URL and never change it: they are empty or start with "/" or "?".
PATH_VARIABLES = frozenset(('request_uri', 'uri', 'document_uri', 'is_args'))
# Statements expanded or walked before the audit stops (far above any real configuration).
MAX_STATEMENTS = 100000
# Alternatives kept while resolving one header value, and the depth of map/set chains followed.
MAX_ALTERNATIVES = 32
MAX_DEPTH = 8
# Characters of a finding's detail: names and values come from the host and may be huge.
MAX_DETAIL = 1000

_SCHEME = re.compile(r'^[^/]*?://')
_VARIABLE = re.compile(r'\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]*))')


class _Stop(Exception):
    """The statement cap was reached."""


class _Expander(object):
    """Include expansion over the files of a dump, memoised per file, counted against MAX_STATEMENTS."""

    def __init__(self, dump):
        self.dump = dump
        self.flat = {}          # file name -> its statements with includes expanded
        self.busy = []          # files being expanded, outermost first
        self.work = 0
        self.problems = []      # (source, message): include loops, includes nested too deep

    def count(self, amount=1):
        self.work += amount
        if self.work > MAX_STATEMENTS:
            raise _Stop()

    def items(self, statements, path):
        """[(statement, path)] of one level: ``include`` replaced by what it includes, each statement once."""
        self.count(len(statements))
        if not any(statement[0] == 'include' for statement in statements):
            return [(statement, path) for statement in statements]
        result, seen = [], set()
        for statement in statements:
            if statement[0] != 'include' or statement[3] is not None:
                if id(statement) not in seen:
                    seen.add(id(statement))
                    result.append((statement, path))
                continue
            if len(statement[1]) != 1:
                continue
            for name in self.dump.resolve(statement[1][0]):
                included = self.file_items(name, '%s:%s' % (path, statement[2]))
                self.count(len(included))
                for item in included:
                    if id(item[0]) not in seen:
                        seen.add(id(item[0]))
                        result.append(item)
        return result

    def file_items(self, name, source):
        if name in self.flat:
            return self.flat[name]
        if name in self.busy:
            self.problems.append((source, 'include at %s leads back into %s, which includes it (nginx cannot load '
                                          'such a configuration); the loop was not followed' % (source, name)))
            return []
        if len(self.busy) >= MAX_NESTING:
            self.problems.append((source, 'includes nest more than %d deep at %s; the deeper files were not '
                                          'judged' % (MAX_NESTING, source)))
            return []
        self.busy.append(name)
        try:
            self.flat[name] = self.items(self.dump.tree(name), name)
        finally:
            self.busy.pop()
        return self.flat[name]


class _Level(object):
    """The settings in effect at one configuration level (http, server, location, if, limit_except).

    ``headers``: (proxy_set_header entries [(name, value, source)], source of
    the first) of the nearest level that has any, or None (nginx defaults);
    ``replaced``: the inherited headers this level's own replaced (for the
    detail); ``sets``: the ``set`` statements that run before a request reaches
    this level, in order, as (variable, value, source, conditional); ``key``:
    the same number for levels whose settings are equal.
    """

    __slots__ = ('http_version', 'headers', 'replaced', 'keep_conn', 'sets', 'key')
    OWN = frozenset(('proxy_http_version', 'proxy_set_header', 'fastcgi_keep_conn', 'set', 'if'))

    def __init__(self, parent=None):
        self.http_version = parent.http_version if parent else None
        self.headers = parent.headers if parent else None
        self.replaced = parent.replaced if parent else None
        self.keep_conn = parent.keep_conn if parent else None
        self.sets = parent.sets if parent else ()
        self.key = parent.key if parent else 0

    @classmethod
    def below(cls, parent, items, keys):
        """The level of a block with these items under ``parent`` (``parent`` itself when nothing changes)."""
        own = [item for item in items if item[0][0] in cls.OWN]
        if not own:
            return parent
        level = cls(parent)
        headers, sets = [], list(level.sets)
        version = keep_conn = None
        for statement, path in own:
            directive, args = statement[0], statement[1]
            if directive == 'proxy_http_version' and args and version is None:
                version = (args[0], _source(statement, path))
            elif directive == 'proxy_set_header' and len(args) >= 2:
                headers.append((args[0], args[1], _source(statement, path)))
            elif directive == 'fastcgi_keep_conn' and args and keep_conn is None:
                keep_conn = (args[0].lower(), _source(statement, path))
            elif directive == 'set' and len(args) >= 2 and statement[3] is None:
                sets.append((args[0][1:].lower(), args[1], _source(statement, path), False))
            elif directive == 'if' and statement[3] is not None:
                for inner in statement[3]:
                    if inner[0] == 'set' and len(inner[1]) >= 2 and inner[3] is None:
                        sets.append((inner[1][0][1:].lower(), inner[1][1], _source(inner, path), True))
        if version:
            level.http_version = version
        if keep_conn:
            level.keep_conn = keep_conn
        if headers:
            level.replaced = level.headers
            level.headers = (tuple(headers), headers[0][2])
        level.sets = tuple(sets)
        level.key = keys.setdefault((level.http_version, level.headers, level.keep_conn, level.sets), len(keys) + 1)
        return level


def _bounded(detail):
    """The detail, cut to MAX_DETAIL characters (control characters are kept: the report escapes them)."""
    return detail if len(detail) <= MAX_DETAIL else detail[:MAX_DETAIL] + ' [cut]'


def _source(statement, path):
    return '%s:%s' % (path, statement[2])


def _tokens(value):
    return [token.strip().lower() for token in value.split(',')]


class _Resolver(object):
    """What a header value is for an ordinary request: a list of alternatives (text or None, reason or None).

    ``text`` None means the value cannot be known (the client's own header, a
    variable not known before the request); ``reason`` says why an
    alternative is only possible, not certain.
    """

    def __init__(self, map_of, sets):
        self.map_of = map_of
        self.sets = sets

    def value(self, text, depth=0):
        alternatives = [('', None)]
        position = 0
        for match in _VARIABLE.finditer(text):
            literal = text[position:match.start()]
            position = match.end()
            name = (match.group(1) if match.group(1) is not None else match.group(2)).lower()
            parts = self.variable(name, depth)
            alternatives = _product(alternatives, [(literal, None)])
            alternatives = _product(alternatives, parts)
        return _product(alternatives, [(text[position:], None)])

    def variable(self, name, depth):
        if depth >= MAX_DEPTH:
            return [(None, '$%s is defined through too many maps or sets to follow' % name)]
        sets = [entry for entry in self.sets if entry[0] == name]
        if sets:
            values = [('', 'the variable may be unset')]
            for _name, value, source, conditional in sets:
                resolved = self.value(value, depth + 1)
                if conditional:
                    values.extend((text, reason or 'set conditionally at %s' % source) for text, reason in resolved)
                else:
                    values = list(resolved)
            return values
        entry = self.map_of(name)
        if entry is not None:
            return self.map(entry, depth)
        if name == 'http_upgrade':
            return [('', None)]     # an ordinary request has no Upgrade header
        if name.startswith('http_'):
            return [(None, "it passes the client's own %s header through" % name[5:].replace('_', '-').title())]
        return [(None, '$%s is only known when a request arrives' % name)]

    def map(self, entry, depth):
        results = []
        for text, reason in self.value(entry['source'], depth + 1):
            if text is None or reason is not None or (entry['hostnames'] and text):
                why = 'map %s at %s depends on %s' % (entry['name'], entry['source_line'], entry['source'])
                for value in [value for _key, value, _regex in entry['entries']] + [entry['default']]:
                    results.extend((alt, alt_reason or why) for alt, alt_reason in self.value(value, depth + 1))
            else:
                results.extend(self.value(_map_lookup(entry, text), depth + 1))
            if len(results) > MAX_ALTERNATIVES:
                return [(None, 'map %s has too many possible values' % entry['name'])]
        return results


def _product(left, right):
    combined = []
    for text, reason in left:
        for other, other_reason in right:
            if text is None or other is None:
                combined.append((None, reason or other_reason))
            else:
                combined.append((text + other, reason or other_reason))
    if len(combined) > MAX_ALTERNATIVES:
        return [(None, 'the value has too many possible forms')]
    return combined


def _map_lookup(entry, text):
    """The value nginx's map gives for the source value ``text`` (ngx_http_map_find)."""
    lowered = text.lower()
    for key, value, regex in entry['entries']:
        if regex is None and key.lower() == lowered:
            return value
    if text:    # nginx tries the regular expressions only on a non-empty value
        for key, value, regex in entry['entries']:
            if regex is not None and regex.search(text):
                return value
    return entry['default']


def _collect_map(block, items, path):
    """{name, source, source_line, hostnames, entries [(key, value, compiled regex or None)], default}."""
    args = block[1]
    entry = {'name': args[1], 'source': args[0], 'source_line': _source(block, path), 'hostnames': False,
             'entries': [], 'default': ''}
    for statement, _path in items:
        key, values = statement[0], statement[1]
        if key == 'hostnames' and not values:
            entry['hostnames'] = True
        elif key == 'default' and len(values) == 1:
            entry['default'] = values[0]
        elif len(values) == 1:
            regex = None
            if key.startswith('~'):
                pattern, flags = (key[2:], re.I) if key.startswith('~*') else (key[1:], 0)
                try:
                    regex = re.compile(pattern, flags)
                except (re.error, OverflowError, RecursionError):
                    regex = re.compile(r'(?!)')     # Python cannot read it: judged as never matching
            elif key.startswith('\\'):
                key = key[1:]
            entry['entries'].append((key, values[0], regex))
    return entry


def _pass_target(protocol, url):
    """(kind, host, port) of a *_pass argument: kind is 'variable', 'unix' or 'address'."""
    rest = url
    scheme = _SCHEME.match(url)
    if scheme:
        rest = url[scheme.end():]
    elif protocol == 'proxy' and '$' in url:
        return 'variable', url, None    # the whole URL comes from a variable
    if rest.lower().startswith('unix:'):
        return 'unix', rest, None
    host_part = re.split(r'[/?]', rest, maxsplit=1)[0]
    dollar = host_part.find('$')
    if dollar >= 0:
        before = host_part[:dollar]
        variable = _VARIABLE.match(host_part, dollar)
        name = (variable.group(1) if variable.group(1) is not None else variable.group(2)).lower()
        in_port = ':' in before[before.find(']') + 1:]
        # "app$request_uri" and "app:$port": the host is literal; "$host", "backend-$name": it is not.
        if not in_port and not (before and name in PATH_VARIABLES):
            return 'variable', host_part, None
        if in_port:
            return _split_port(host_part)
        host_part = before
    return _split_port(host_part)


def _split_port(host_part):
    """('address', host, port or None) of "host", "host:port" or "[v6]:port"."""
    if host_part.startswith('['):
        end = host_part.find(']')
        return 'address', host_part[:end + 1], host_part[end + 2:] or None
    host, _sep, port = host_part.partition(':')
    return 'address', host, port or None


class _Audit(object):
    """One audit of one dump."""

    def __init__(self, dump, version, min_requests):
        self.dump = dump
        self.expander = _Expander(dump)
        self.version = version
        self.new_defaults = pools_by_default(version)
        self.default_requests = default_keepalive_requests(version)
        self.balancer_order_matters = version_tuple(version) < BALANCER_ORDER_FIXED
        self.min_requests = min_requests
        self.findings = {}
        self.upstreams = {}
        self.maps = {}          # variable -> (map block, path), read when a header value needs it
        self.parsed_maps = {}
        self.visited = set()
        self.keys = {}          # settings of a level -> its number (see _Level.below)
        self.targets = {}       # (protocol, *_pass argument) -> _pass_target()
        self.faults = {}        # level number -> connection_fault()

    def add(self, finding_id, detail, source, protocols=None):
        key = (finding_id, source)
        if key not in self.findings:
            self.findings[key] = finding(finding_id, _bounded(detail), source, protocols)

    def run(self):
        main = next(iter(self.dump.files))
        try:
            top = self.expander.file_items(main, main)
            for statement, path in top:
                if statement[0] == 'http' and statement[3] is not None:
                    self.http(statement, path)
        except _Stop:
            self.add('TW-NGINX-006', 'the audit stopped after expanding %d statements (includes and blocks); '
                     'the rest of the configuration was not judged.' % MAX_STATEMENTS, None)
        for upstream in self.upstreams.values():
            self.judge_upstream(upstream)
        for source, message in self.expander.problems:
            self.add('TW-NGINX-006', message[0].upper() + message[1:] + '.', source)
        return list(self.findings.values())

    def map_of(self, name):
        """The parsed map that defines $name, or None."""
        if name not in self.maps:
            return None
        if name not in self.parsed_maps:
            block, path = self.maps[name]
            self.parsed_maps[name] = _collect_map(block, self.expander.items(block[3], path), path)
        return self.parsed_maps[name]

    def http(self, block, path):
        items = self.expander.items(block[3], path)
        for statement, statement_path in items:
            if statement[0] == 'upstream' and statement[1] and statement[3] is not None:
                self.collect_upstream(statement, statement_path)
            elif statement[0] == 'map' and len(statement[1]) == 2 and statement[3] is not None:
                self.maps.setdefault(statement[1][1].lstrip('$').lower(), (statement, statement_path))
        level = _Level.below(_Level(), items, self.keys)
        for statement, statement_path in items:
            if statement[0] == 'server' and statement[3] is not None:
                self.walk(statement, statement_path, level, 1)

    def collect_upstream(self, block, path):
        key = block[1][0].lower()
        if key in self.upstreams:
            return      # nginx refuses a duplicate upstream name
        upstream = {'name': block[1][0], 'source': _source(block, path), 'keepalive': None, 'requests': None,
                    'balancer_after': None, 'used_by': set()}
        for statement, inner_path in self.expander.items(block[3], path):
            directive, args = statement[0], statement[1]
            if directive == 'keepalive' and args and args[0].isdigit() and upstream['keepalive'] is None:
                upstream['keepalive'] = (int(args[0]), _source(statement, inner_path))
            elif directive == 'keepalive_requests' and args and args[0].isdigit():
                upstream['requests'] = (int(args[0]), _source(statement, inner_path))
            elif directive in BALANCERS and upstream['keepalive'] and self.balancer_order_matters:
                upstream['balancer_after'] = (directive, _source(statement, inner_path))
        self.upstreams[key] = upstream

    def pooled(self, upstream):
        """Connections nginx keeps per worker for this upstream (0: none)."""
        if upstream['balancer_after']:
            return 0
        if upstream['keepalive'] is None:
            return DEFAULT_KEEPALIVE if self.new_defaults else 0
        return upstream['keepalive'][0]

    def walk(self, block, path, parent, depth):
        """Walk a server/location/if/limit_except block, judging every *_pass against the settings in effect."""
        key = (id(block), parent.key)
        if key in self.visited:
            return      # the same block under equal settings: nothing new to find
        self.visited.add(key)
        if depth > MAX_NESTING:
            self.add('TW-NGINX-006', 'blocks nest more than %d deep at %s; the deeper ones were not judged.'
                     % (MAX_NESTING, _source(block, path)), _source(block, path))
            return
        items = self.expander.items(block[3], path)
        level = _Level.below(parent, items, self.keys)
        for statement, statement_path in items:
            directive = statement[0]
            if directive in LOCATION_LEVELS and statement[3] is not None:
                self.walk(statement, statement_path, level, depth + 1)
            elif directive in PASS_DIRECTIVES and statement[1] and statement[3] is None:
                self.judge_pass(statement, statement_path, level)

    # -- verdicts ---------------------------------------------------------------

    def judge_pass(self, statement, path, level):
        directive, url = statement[0], statement[1][0]
        protocol = PASS_DIRECTIVES[directive]
        source = _source(statement, path)
        target_key = (protocol, url)
        if target_key not in self.targets:
            self.targets[target_key] = _pass_target(protocol, url)
        kind, host, port = self.targets[target_key]
        if kind == 'variable':
            self.add('TW-NGINX-007', '%s %s: the host part is a variable (%s), so nginx picks the upstream when a '
                     'request arrives; this directive was not judged.' % (directive, url, host), source)
            return
        upstream = self.upstreams.get(host.lower()) if kind == 'address' and not port else None
        if upstream is None:
            if protocol == 'proxy':
                self.add('TW-NGINX-004', self.literal_detail(url, kind, host, port), source)
            return
        upstream['used_by'].add(protocol)
        if self.pooled(upstream) <= 0 or protocol in NEVER_POOL:
            return      # 001 is reported once, on the upstream
        name = upstream['name']
        if protocol == 'fastcgi':
            keep_conn = level.keep_conn
            if not keep_conn or keep_conn[0] != 'on':
                origin = 'at %s' % keep_conn[1] if keep_conn else 'the default, off'
                self.add('TW-NGINX-002', 'fastcgi_pass to keepalive upstream "%s" without "fastcgi_keep_conn on" '
                         '(%s): nginx asks the FastCGI server to close the connection after every request.'
                         % (name, origin), source, ['fastcgi'])
        elif protocol == 'proxy':
            self.judge_proxy(url, name, level, source)

    def literal_detail(self, url, kind, host, port):
        if kind == 'unix':
            return ('proxy_pass %s goes to a unix socket with no upstream block, so nginx cannot keep connections '
                    'to it alive and opens one per request.' % url)
        if port and host.lower() in self.upstreams:
            return ('proxy_pass %s names "%s" with a port: nginx uses upstream "%s" only for a host without a port, '
                    'so it opens a connection per request to the host name instead.'
                    % (url, host, self.upstreams[host.lower()]['name']))
        return ('proxy_pass %s names no upstream block, so nginx cannot keep connections to it alive and opens '
                'one per request.' % url)

    def judge_proxy(self, url, name, level, source):
        if level.http_version is None:
            version, origin = ('1.1' if self.new_defaults else '1.0'), 'the nginx default'
        else:
            version, origin = level.http_version[0], 'set at %s' % level.http_version[1]
        if version == '1.0':
            self.add('TW-NGINX-002', 'proxy_pass to keepalive upstream "%s" uses proxy_http_version 1.0 (%s): '
                     'nginx does not keep HTTP/1.0 upstream connections alive.' % (name, origin), source, ['proxy'])
        if level.key not in self.faults:
            self.faults[level.key] = self.connection_fault(level)
        fault = self.faults[level.key]
        if fault:
            detail = 'proxy_pass %s to keepalive upstream "%s": %s' % (url, name, fault)
            replaced = level.replaced
            if level.headers is not None and replaced is not None and any(
                    header.lower() == 'connection' and value == '' for header, value, _src in replaced[0]):
                detail += (' The proxy_set_header directives from %s replace the inherited ones from %s, which had '
                           'Connection "".' % (level.headers[1], replaced[1]))
            self.add('TW-NGINX-003', detail, source, ['proxy'])

    def connection_fault(self, level):
        """Why the Connection header nginx sends on ordinary requests closes the pooled connection, or None."""
        entries = [entry for entry in (level.headers[0] if level.headers else ())
                   if entry[0].lower() == 'connection']
        if not entries:
            if self.new_defaults:
                return None
            if level.headers:
                return ('nginx sends its default "Connection: close": the proxy_set_header directives in effect, '
                        'from %s, do not set Connection.' % level.headers[1])
            return 'nginx sends its default "Connection: close" (no proxy_set_header Connection in effect).'
        resolver = _Resolver(self.map_of, level.sets)
        for _header, value, header_source in entries:
            for text, reason in resolver.value(value):
                if text is None:
                    return ('proxy_set_header Connection "%s" at %s cannot be resolved for an ordinary request: %s; '
                            'judged as if it could close the connection.' % (value, header_source, reason))
                if 'close' in _tokens(text):
                    sent = 'sends "Connection: %s"' % text
                    if value == text:
                        return '%s (proxy_set_header at %s).' % (sent, header_source)
                    if reason:
                        return ('may send "Connection: %s": proxy_set_header Connection "%s" at %s, where %s.'
                                % (text, value, header_source, reason))
                    return ('%s on ordinary requests: proxy_set_header Connection "%s" at %s resolves to "%s" when '
                            'the request has no Upgrade header.' % (sent, value, header_source, text))
        return None

    def judge_upstream(self, upstream):
        used_by = upstream['used_by']
        if used_by and used_by <= NEVER_POOL:
            return      # uwsgi and scgi never pool: keepalive settings do not matter
        protocols = sorted(used_by - NEVER_POOL) or None
        name = upstream['name']
        if self.pooled(upstream) <= 0:
            if upstream['balancer_after']:
                balancer, balancer_source = upstream['balancer_after']
                detail = ('upstream "%s": "%s" at %s comes after "keepalive" at %s and replaces it, so nginx opens a '
                          'new connection per request (nginx warns "load balancing method redefined"; put the method '
                          'before keepalive).' % (name, balancer, balancer_source, upstream['keepalive'][1]))
                source = upstream['source']
            elif upstream['keepalive'] is not None:
                detail = 'upstream "%s" sets "keepalive 0": every request opens a new connection.' % name
                source = upstream['keepalive'][1]
            else:
                detail = ('upstream "%s" has no "keepalive" directive: nginx opens a new connection per request and '
                          'leaves a TIME_WAIT socket behind for each.' % name)
                source = upstream['source']
            if not used_by:
                detail += ' No *_pass names it directly (it may be reached through a variable).'
            self.add('TW-NGINX-001', detail, source, protocols)
            return
        requests = upstream['requests'][0] if upstream['requests'] else self.default_requests
        if requests < self.min_requests:
            origin = '' if upstream['requests'] else ' (the nginx default for this version)'
            self.add('TW-NGINX-005', 'upstream "%s" keepalive_requests is %d%s, below the threshold %d: nginx closes '
                     'a pooled connection after %d requests.' % (name, requests, origin, self.min_requests, requests),
                     upstream['requests'][1] if upstream['requests'] else upstream['source'], protocols)


def audit_nginx(dump, version=None, min_keepalive_requests=1000):
    """Return the TW-NGINX-* findings for the ``nginx -T`` text ``dump``.

    ``version`` ("1.22.1") selects the defaults nginx applies when a directive
    is absent; None is treated as a version before 1.19.10.
    """
    if not HAS_CROSSPLANE:
        return [finding('TW-NGINX-006', 'the controller lacks the Python package crossplane, which reads nginx -T '
                                        'output (pip install -r requirements.txt; the execution environment has it).',
                        None)]
    parsed = Dump(dump)
    if not parsed.files:
        return [finding('TW-NGINX-006', 'nginx -T printed no configuration file.', None)]
    findings = _Audit(parsed, version, int(min_keepalive_requests)).run()
    for source, message in parsed.problems:
        findings.append(finding('TW-NGINX-006', _bounded('the nginx -T output is not what nginx prints for the '
                                                         'configuration it loads: %s.' % message), source))
    if parsed.more_problems:
        findings.append(finding('TW-NGINX-006', '%d more problems of the same kind in the nginx -T output were not '
                                                'listed one by one.' % parsed.more_problems, None))
    return findings


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
