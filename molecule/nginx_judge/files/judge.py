"""Cases for the nginx judge: real nginx, real traffic, one port per case (stdlib only, Python 3.9+).

generate SEED COUNT DIR THRESHOLD
        write DIR/sites/case-NNN.conf (and snippets) for the fixed classes (the HTTP classes of
        issue 10, the other upstream protocols, keepalive_requests) plus COUNT seeded random
        cases, and DIR/cases.json; the keepalive_requests cases get THRESHOLD requests
        (tcp_audit_nginx_min_keepalive_requests); a protocol whose module this nginx lacks
        (nginx -V) is skipped, with the reason in cases.json
run CASES OUT REQUESTS
        listen on every case's backend port with a backend of the case's protocol, send
        REQUESTS requests (or the case's own number) through nginx to each case (a new client
        connection each, "Connection: close"), and write per case the new TCP connections the
        backend accepted

Each case is an upstream and a server on their own ports, so one nginx reload
serves them all and the backend counts new connections per case. Pooled: a
handful of connections per REQUESTS; not pooled: one per request. The
audit's verdicts are compared with these counts by tests/test_nginx_judge.py.

The backends speak just enough of each protocol for nginx to complete a
request, and keep a connection open whenever the protocol lets them, so that
nginx alone decides whether it is reused:
- HTTP answers like Go's net/http: in the request's HTTP version, closing
  after an HTTP/1.0 request and after one whose Connection header has the
  token "close".
- FastCGI answers FCGI_STDOUT (a CGI response) and FCGI_END_REQUEST, and
  closes the connection unless nginx set FCGI_KEEP_CONN (as PHP-FPM does).
- uwsgi and SCGI answer with a Content-Length and keep the connection open;
  one idle for IDLE_CLOSE seconds is closed, because nginx before 1.19.1 reads
  their responses until the connection closes.
- memcached answers "get KEY" with VALUE ... END and keeps the connection.
- gRPC: HTTP/2 with literal HPACK headers (:status 200, a one-message body,
  grpc-status 0 as trailers); the request headers are not decoded.
"""
import http.client
import json
import os
import random
import socket
import socketserver
import struct
import subprocess
import sys
import threading

BACKEND_BASE = 21000
NGINX_BASE = 31000
# uwsgi and SCGI backends close a connection idle this long (seconds); nginx 1.18 waits for that
# close to end each response, so their cases send only ONE_SHOT_REQUESTS requests.
IDLE_CLOSE = 0.2
ONE_SHOT = ('uwsgi', 'scgi')
ONE_SHOT_REQUESTS = 10
# protocol -> (directive, its argument for an upstream or address NAME)
PROTOCOLS = {
    'proxy': ('proxy_pass', 'http://%s'), 'fastcgi': ('fastcgi_pass', '%s'), 'uwsgi': ('uwsgi_pass', '%s'),
    'scgi': ('scgi_pass', '%s'), 'memcached': ('memcached_pass', '%s'), 'grpc': ('grpc_pass', 'grpc://%s'),
}


def missing_modules(configure):
    """{protocol: why} for the protocols this nginx cannot serve, from its ``nginx -V`` text."""
    missing = {}
    for protocol in PROTOCOLS:
        flag = '--without-http_%s_module' % protocol
        if flag in configure:
            missing[protocol] = 'nginx -V has %s' % flag
    if 'grpc' not in missing and '--with-http_v2_module' not in configure:
        missing['grpc'] = 'nginx -V lacks --with-http_v2_module, which ngx_http_grpc_module needs'
    return missing


class Case(object):
    """One upstream + server, written as a list of lines."""

    def __init__(self, number, kind, description):
        self.number = number
        self.kind = kind
        self.description = description
        self.lines = []
        self.snippets = {}
        self.pass_line = 0
        self.upstream_lines = []
        self.path = '/'
        self.variable_host = False
        self.keepalive_requests = None
        self.protocol = 'proxy'
        self.literal = False
        self.requests = None
        self.skipped = None
        self.name = 'case-%03d' % number

    @property
    def backend_port(self):
        return BACKEND_BASE + self.number

    @property
    def nginx_port(self):
        return NGINX_BASE + self.number

    def add(self, text, indent=0):
        self.lines.append('    ' * indent + text)
        return len(self.lines)

    def record(self, directory):
        return {
            'number': self.number, 'kind': self.kind, 'description': self.description,
            'backend_port': self.backend_port, 'nginx_port': self.nginx_port, 'path': self.path,
            'pass_source': '%s/sites/%s.conf:%d' % (directory, self.name, self.pass_line),
            'upstream_sources': ['%s/sites/%s.conf:%d' % (directory, self.name, line) for line in self.upstream_lines],
            'variable_host': self.variable_host, 'keepalive_requests': self.keepalive_requests,
            'protocol': self.protocol, 'literal': self.literal, 'requests': self.requests, 'skipped': self.skipped,
        }


def build(case, spec):
    """Write one case from a spec dict (see fixed_specs and random_spec for the keys)."""
    name = spec.get('upstream_name', 'up%03d' % case.number)
    case.protocol = spec.get('protocol', 'proxy')
    directive, argument = PROTOCOLS[case.protocol]
    case.requests = spec.get('requests') or (ONE_SHOT_REQUESTS if case.protocol in ONE_SHOT else None)
    if spec.get('maps'):
        for line in spec['maps']:
            case.add(line)
    first = case.add('upstream %s {' % name)
    case.upstream_lines.append(first)
    if spec.get('balancer') and spec.get('balancer_first'):
        case.add('%s;' % spec['balancer'], 1)
    case.add('server 127.0.0.1:%d;' % case.backend_port, 1)
    if spec.get('keepalive'):
        case.upstream_lines.append(case.add('keepalive %d;' % spec['keepalive'], 1))
    if spec.get('balancer') and not spec.get('balancer_first'):
        case.add('%s;' % spec['balancer'], 1)
    if spec.get('keepalive_requests'):
        case.upstream_lines.append(case.add('keepalive_requests %d;' % spec['keepalive_requests'], 1))
        case.keepalive_requests = spec['keepalive_requests']
    case.add('}')
    case.add('server {')
    case.add('listen 127.0.0.1:%d;' % case.nginx_port, 1)
    for line in spec.get('server', []):
        case.add(line, 1)
    case.add('location / {', 1)
    depth = 2
    for line in spec.get('location', []):
        case.add(line, depth)
    if spec.get('include'):
        style, lines = spec['include']
        snippet = 'snippets/%s.conf' % case.name
        case.snippets[snippet] = lines
        target = {'dotdot': '../nginx/judge/%s', 'dot': './judge/%s', 'plain': 'judge/%s',
                  'absolute': '/etc/nginx/judge/%s'}[style] % snippet
        case.add('include %s;' % target, depth)
    if spec.get('nested'):
        case.add('location /n/ {', depth)
        depth += 1
        case.path = '/n/x'
        for line in spec['nested']:
            case.add(line, depth)
    if spec.get('literal'):
        case.literal = True
        url = argument % ('127.0.0.1:%d' % case.backend_port)
    else:
        url = spec.get('url', argument % spec.get('pass_name', name))
    if spec.get('set_upstream'):
        case.add('set $up%03d %s;' % (case.number, name), depth)
        case.variable_host = True
    if case.protocol == 'memcached':
        case.add('set $memcached_key judge%03d;' % case.number, depth)
    if spec.get('in_if'):
        case.add('if ($request_method = GET) {', depth)
        case.pass_line = case.add('%s %s;' % (directive, url), depth + 1)
        case.add('}', depth)
    else:
        case.pass_line = case.add('%s %s;' % (directive, url), depth)
    while depth > 1:
        depth -= 1
        case.add('}', depth)
    case.add('}')


GOOD = ['proxy_http_version 1.1;', 'proxy_set_header Connection "";']


def fixed_specs(threshold):
    """The classes the issue names, and the traps around them; case N is the Nth entry."""
    def n(index):
        return index
    return [
        ('map-empty-to-empty', dict(maps=["map $http_upgrade $cu%03d {" % n(0), '    default upgrade;', "    '' '';", '}'],
                                    keepalive=4, location=['proxy_http_version 1.1;',
                                                           'proxy_set_header Connection $cu%03d;' % n(0)])),
        ('map-empty-to-close', dict(maps=["map $http_upgrade $cu%03d {" % n(1), '    default upgrade;', "    '' close;", '}'],
                                    keepalive=4, location=['proxy_http_version 1.1;',
                                                           'proxy_set_header Connection $cu%03d;' % n(1)])),
        ('literal-keep-alive', dict(keepalive=4, location=['proxy_http_version 1.1;',
                                                           'proxy_set_header Connection "Keep-Alive";'])),
        ('literal-upgrade', dict(keepalive=4, location=['proxy_http_version 1.1;', 'proxy_set_header Connection upgrade;'])),
        ('request-uri-after-upstream', dict(keepalive=4, location=GOOD, url='http://up%03d$request_uri' % n(4))),
        ('case-different-upstream-name', dict(keepalive=4, upstream_name='Judge_Up%03d' % n(5),
                                              pass_name='jUDGE_uP%03d' % n(5), location=GOOD)),
        ('dotdot-include', dict(keepalive=4, include=('dotdot', GOOD))),
        ('dot-include', dict(keepalive=4, include=('dot', GOOD))),
        ('jenkins-duplicate-connection', dict(maps=["map $http_upgrade $cu%03d {" % n(8), '    default upgrade;',
                                                    "    '' close;", '}'], keepalive=4,
                                              location=['proxy_http_version 1.1;',
                                                        'proxy_set_header Connection $cu%03d;' % n(8),
                                                        'proxy_set_header Connection "";'])),
        ('client-connection-passed', dict(keepalive=4, location=['proxy_http_version 1.1;',
                                                                 'proxy_set_header Connection $http_connection;'])),
        ('map-regex-never-tried-on-empty', dict(maps=["map $http_upgrade $cu%03d {" % n(10), '    ~^$ close;',
                                                      '    default "";', '}'], keepalive=4,
                                                location=['proxy_http_version 1.1;',
                                                          'proxy_set_header Connection $cu%03d;' % n(10)])),
        ('balancer-after-keepalive', dict(keepalive=4, balancer='least_conn', balancer_first=False, location=GOOD)),
        ('balancer-before-keepalive', dict(keepalive=4, balancer='least_conn', balancer_first=True, location=GOOD)),
        ('literal-address', dict(keepalive=4, location=GOOD, literal=True)),
        ('http10-keep-alive', dict(keepalive=4, location=['proxy_http_version 1.0;',
                                                          'proxy_set_header Connection keep-alive;'])),
        ('set-close', dict(keepalive=4, server=['set $c%03d close;' % n(15)],
                           location=['proxy_http_version 1.1;', 'proxy_set_header Connection $c%03d;' % n(15)])),
        ('location-header-drops-inherited', dict(keepalive=4, server=GOOD,
                                                 location=['proxy_set_header X-Case %d;' % n(16)])),
        ('variable-host', dict(keepalive=4, location=GOOD, set_upstream=True, url='http://$up%03d' % n(17))),
        ('keepalive-requests-10', dict(keepalive=4, keepalive_requests=10, location=GOOD)),
        ('no-keepalive', dict(location=GOOD)),
        # The other upstream protocols (docs/nginx-audit-rules.md, "Protocols").
        ('fastcgi-keep-conn', dict(protocol='fastcgi', keepalive=4, location=['fastcgi_keep_conn on;'])),
        ('fastcgi-keep-conn-from-server', dict(protocol='fastcgi', keepalive=4, server=['fastcgi_keep_conn on;'])),
        ('fastcgi-without-keep-conn', dict(protocol='fastcgi', keepalive=4)),
        ('fastcgi-keep-conn-off-over-server-on', dict(protocol='fastcgi', keepalive=4, server=['fastcgi_keep_conn on;'],
                                                      location=['fastcgi_keep_conn off;'])),
        ('fastcgi-literal-address', dict(protocol='fastcgi', keepalive=4, location=['fastcgi_keep_conn on;'],
                                         literal=True)),
        ('fastcgi-no-keepalive', dict(protocol='fastcgi', location=['fastcgi_keep_conn on;'])),
        ('uwsgi-keepalive-upstream', dict(protocol='uwsgi', keepalive=4)),
        ('scgi-keepalive-upstream', dict(protocol='scgi', keepalive=4, keepalive_requests=10)),
        ('memcached-keepalive-upstream', dict(protocol='memcached', keepalive=4)),
        ('memcached-no-keepalive', dict(protocol='memcached')),
        ('grpc-keepalive-upstream', dict(protocol='grpc', keepalive=4)),
        ('grpc-no-keepalive', dict(protocol='grpc')),
        # keepalive_requests against the threshold: as many requests as the threshold, so a pooled
        # connection survives them all exactly when keepalive_requests is at least the threshold.
        ('keepalive-requests-default', dict(keepalive=4, location=GOOD, requests=threshold)),
        ('keepalive-requests-100', dict(keepalive=4, keepalive_requests=100, location=GOOD, requests=threshold)),
        ('keepalive-requests-threshold', dict(keepalive=4, keepalive_requests=threshold, location=GOOD,
                                              requests=threshold)),
        # nginx counts the requests of a pooled connection whatever the protocol (the scgi case above
        # has keepalive_requests too, and no TW-NGINX-005: its connections are never pooled).
        ('fastcgi-keepalive-requests-100', dict(protocol='fastcgi', keepalive=4, keepalive_requests=100,
                                                location=['fastcgi_keep_conn on;'], requests=threshold)),
        ('memcached-keepalive-requests-100', dict(protocol='memcached', keepalive=4, keepalive_requests=100,
                                                  requests=threshold)),
        ('grpc-keepalive-requests-100', dict(protocol='grpc', keepalive=4, keepalive_requests=100, requests=threshold)),
    ]


# Weighted toward values that keep the connection, so both outcomes come out in numbers.
CONNECTION_VALUES = ['""', '""', '""', 'close', 'Close', 'keep-alive', '"Keep-Alive"', 'upgrade', 'Upgrade',
                     '"upgrade, close"', '"keep-alive, Upgrade"', '$http_connection']
MAP_BODIES = [["    default upgrade;", "    '' '';"], ["    default upgrade;", "    '' '';"],
              ["    default upgrade;", "    '' close;"], ['    default close;'], ["    ~^$ close;", '    default "";'],
              ["    '' keep-alive;", '    default close;'], ['    hostnames;', '    default "";']]


# Most random cases proxy; the rest use the other protocols, FastCGI (with its keep_conn) most.
RANDOM_PROTOCOLS = ['proxy'] * 7 + ['fastcgi'] * 3 + ['uwsgi', 'scgi', 'memcached', 'grpc']


def random_spec(rng, number, missing):
    """A random case: every choice is one nginx accepts; which ones pool is for real nginx to say.

    ``missing``: protocols this nginx cannot serve; a case that draws one proxies instead.
    """
    spec = {'maps': [], 'server': [], 'location': [], 'nested': []}
    protocol = rng.choice(RANDOM_PROTOCOLS)
    spec['protocol'] = 'proxy' if protocol in missing else protocol
    spec['keepalive'] = rng.choice([None, 1, 2, 8, 8, 8, 16])
    if rng.random() < 0.3:
        spec['balancer'] = rng.choice(['least_conn', 'ip_hash', 'hash $remote_addr', 'random'])
        spec['balancer_first'] = rng.random() < 0.5
    if rng.random() < 0.25:
        spec['keepalive_requests'] = rng.choice([10, 25, 1000])
    name = 'up%03d' % number
    if rng.random() < 0.3:
        spec['upstream_name'] = ''.join(c.upper() if rng.random() < 0.5 else c for c in name)
        spec['pass_name'] = ''.join(c.upper() if rng.random() < 0.5 else c for c in name)
    else:
        spec['pass_name'] = name
    variables = {}

    def connection_value():
        roll = rng.random()
        if roll < 0.55:
            return rng.choice(CONNECTION_VALUES)
        if roll < 0.8:
            variable = 'cm%03d_%d' % (number, len(variables))
            body = rng.choice(MAP_BODIES)
            spec['maps'].extend(['map $http_upgrade $%s {' % variable] + body + ['}'])
            variables[variable] = 'map'
            return '$' + variable
        variable = 'cs%03d_%d' % (number, len(variables))
        variables[variable] = rng.choice(['""', '""', 'close', 'keep-alive'])
        spec['server'].append('set $%s %s;' % (variable, variables[variable]))
        return '$' + variable

    def level_settings(target):
        # proxy settings in a location of another protocol are noise that must not change its verdict
        if spec['protocol'] == 'fastcgi' and rng.random() < 0.5:
            target.append('fastcgi_keep_conn %s;' % rng.choice(['on', 'on', 'off']))
        if rng.random() < 0.6:
            target.append('proxy_http_version %s;' % rng.choice(['1.0', '1.1', '1.1', '1.1']))
        if rng.random() < 0.6:
            headers = []
            if rng.random() < 0.3:
                headers.append('proxy_set_header X-Case-%d %d;' % (len(target), number))
            for _count in range(rng.choice([1, 1, 1, 2])):
                headers.append('proxy_set_header Connection %s;' % connection_value())
            rng.shuffle(headers)
            target.extend(headers)

    level_settings(spec['server'])
    location = []
    level_settings(location)
    if location and rng.random() < 0.3:
        spec['include'] = (rng.choice(['dotdot', 'dot', 'plain', 'absolute']), location)
    else:
        spec['location'] = location
    if rng.random() < 0.3:
        level_settings(spec['nested'])
        spec['nested'] = spec['nested'] or ['# nested, nothing of its own']
    spec['in_if'] = rng.random() < 0.2
    roll = rng.random()
    pass_name = spec['pass_name']
    proxy = spec['protocol'] == 'proxy'
    if roll < 0.08:
        spec['literal'] = True
    elif roll < 0.2 and proxy:
        spec['url'] = 'http://%s$request_uri' % pass_name
    elif roll < 0.28 and proxy:
        spec['url'] = '$scheme://%s' % pass_name
    elif 0.28 <= roll < 0.34 and spec['protocol'] != 'memcached':     # memcached_pass takes no variables
        spec['url'] = PROTOCOLS[spec['protocol']][1] % ('$up%03d' % number)
        spec['set_upstream'] = True
    return spec


def generate(seed, count, directory, threshold):
    configure = subprocess.run(['nginx', '-V'], check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True).stdout
    missing = missing_modules(configure)
    rng = random.Random(seed)
    cases = []
    fixed = fixed_specs(threshold)
    for index, (description, spec) in enumerate(fixed):
        case = Case(index, 'fixed', description)
        build(case, spec)
        case.skipped = missing.get(case.protocol)
        cases.append(case)
    for number in range(len(fixed), len(fixed) + count):
        case = Case(number, 'random', 'seed %d case %d' % (seed, number))
        build(case, random_spec(rng, number, missing))
        cases.append(case)
    os.makedirs(os.path.join(directory, 'sites'), exist_ok=True)
    os.makedirs(os.path.join(directory, 'snippets'), exist_ok=True)
    for case in cases:
        if case.skipped:
            print('case %d (%s) skipped: %s' % (case.number, case.description, case.skipped))
            continue
        with open(os.path.join(directory, 'sites', case.name + '.conf'), 'w') as handle:
            handle.write('\n'.join(case.lines) + '\n')
        for relative, lines in case.snippets.items():
            with open(os.path.join(directory, relative), 'w') as handle:
                handle.write('\n'.join(lines) + '\n')
    with open(os.path.join(directory, 'cases.json'), 'w') as handle:
        json.dump({'seed': seed, 'threshold': threshold, 'cases': [case.record(directory) for case in cases]},
                  handle, indent=1)
    print(json.dumps({'seed': seed, 'cases': len(cases), 'skipped': sorted(set(missing.values())),
                      'last_port': max(case.nginx_port for case in cases if not case.skipped)}))


class Backend(socketserver.ThreadingTCPServer):
    """One listening port; counts the TCP connections it accepts and notes what it saw."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, handler):
        socketserver.ThreadingTCPServer.__init__(self, ('127.0.0.1', port), handler)
        self.accepted = 0
        self.seen = set()
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.accepted += 1
        socketserver.ThreadingTCPServer.process_request(self, request, client_address)

    def note(self, text):
        with self.lock:
            self.seen.add(text)


class _Handler(socketserver.StreamRequestHandler):
    """Reads exactly; a connection that breaks or times out simply ends."""

    def read(self, size):
        data = self.rfile.read(size) if size else b''
        if len(data) != size:
            raise EOFError()
        return data

    def handle(self):
        try:
            self.serve()
        except (EOFError, OSError, ValueError, struct.error):
            return

    def serve(self):
        raise NotImplementedError


class HttpHandler(_Handler):
    """HTTP/1.x with Content-Length, answering in the request's version (as Go's net/http does)."""

    def serve(self):
        while True:
            request_line = self.rfile.readline(8192)
            if not request_line:
                return
            parts = request_line.decode('latin-1').split()
            if len(parts) != 3:
                return
            version = parts[2]
            connection = ''
            while True:
                line = self.rfile.readline(8192)
                if line in (b'\r\n', b'\n', b''):
                    break
                name, _sep, value = line.decode('latin-1').partition(':')
                if name.strip().lower() == 'connection':
                    connection = (connection + ',' + value.strip()) if connection else value.strip()
            tokens = [token.strip().lower() for token in connection.split(',') if token.strip()]
            close = version != 'HTTP/1.1' or 'close' in tokens
            self.server.note('%s %s' % (version, connection or '-'))
            body = b'ok\n'
            head = '%s 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n' % (
                version if version in ('HTTP/1.0', 'HTTP/1.1') else 'HTTP/1.1', len(body),
                'Connection: close\r\n' if close else '')
            self.wfile.write(head.encode('latin-1') + body)
            self.wfile.flush()
            if close:
                return


CGI_RESPONSE = b'Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n'
FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_STDIN, FCGI_STDOUT = 1, 3, 5, 6
FCGI_KEEP_CONN = 1


class FastCgiHandler(_Handler):
    """FastCGI responder: closes after each request unless nginx set FCGI_KEEP_CONN (as PHP-FPM does)."""

    def record(self, kind, request_id, content=b''):
        return struct.pack('>BBHHBB', 1, kind, request_id, len(content), 0, 0) + content

    def serve(self):
        while True:
            keep, request_id, stdin_done = False, 1, False
            while not stdin_done:
                header = self.rfile.read(8)
                if not header:
                    return
                _version, kind, record_id, length, padding, _reserved = struct.unpack('>BBHHBB', header)
                content = self.read(length)
                self.read(padding)
                if kind == FCGI_BEGIN_REQUEST:
                    keep, request_id = bool(content[2] & FCGI_KEEP_CONN), record_id
                elif kind == FCGI_STDIN and length == 0:
                    stdin_done = True
            self.server.note('FCGI_KEEP_CONN %s' % ('set' if keep else 'not set'))
            self.wfile.write(self.record(FCGI_STDOUT, request_id, CGI_RESPONSE) + self.record(FCGI_STDOUT, request_id)
                             + self.record(FCGI_END_REQUEST, request_id, struct.pack('>IB3x', 0, 0)))
            self.wfile.flush()
            if not keep:
                return


class _OneShotHandler(_Handler):
    """uwsgi and SCGI: answer with a Content-Length and leave the connection open for nginx to reuse or close."""

    timeout = IDLE_CLOSE

    def serve(self):
        while True:
            try:
                first = self.rfile.read(1)
            except socket.timeout:
                self.server.note('left open by nginx; closed after %.1f s idle' % IDLE_CLOSE)
                return
            if not first:
                self.server.note('closed by nginx after the response')
                return
            self.read_request(first)
            self.wfile.write(self.response)
            self.wfile.flush()

    response = b''

    def read_request(self, first):
        raise NotImplementedError


class UwsgiHandler(_OneShotHandler):
    """uwsgi: a 4-byte header (modifier1, little-endian size, modifier2), the variables, the body."""

    response = b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n'

    def read_request(self, first):
        size = struct.unpack('<H', self.read(2))[0]
        self.read(1)
        variables, position, length = self.read(size), 0, 0
        while position < len(variables):
            key_size = struct.unpack_from('<H', variables, position)[0]
            key = variables[position + 2:position + 2 + key_size]
            position += 2 + key_size
            value_size = struct.unpack_from('<H', variables, position)[0]
            value = variables[position + 2:position + 2 + value_size]
            position += 2 + value_size
            if key == b'CONTENT_LENGTH' and value.isdigit():
                length = int(value)
        self.read(length)
        self.server.note('uwsgi modifier1 %d' % first[0])


class ScgiHandler(_OneShotHandler):
    """SCGI: a netstring of NUL-separated headers ("LEN:...,"), then CONTENT_LENGTH bytes of body."""

    response = CGI_RESPONSE

    def read_request(self, first):
        digits = first
        while not digits.endswith(b':'):
            digits += self.read(1)
            if len(digits) > 10:
                raise ValueError('no SCGI netstring')
        headers = self.read(int(digits[:-1]))
        if self.read(1) != b',':
            raise ValueError('no SCGI netstring')
        fields = headers.split(b'\0')
        values = dict(zip(fields[0::2], fields[1::2]))
        self.read(int(values.get(b'CONTENT_LENGTH', b'0') or 0))
        self.server.note('SCGI request, CONTENT_LENGTH %s' % values.get(b'CONTENT_LENGTH', b'-').decode('latin-1'))


class MemcachedHandler(_Handler):
    """memcached text protocol, "get KEY" only; the connection stays open as memcached keeps it."""

    def serve(self):
        while True:
            line = self.rfile.readline(1024)
            if not line:
                return
            words = line.split()
            if len(words) != 2 or words[0] != b'get':
                self.wfile.write(b'ERROR\r\n')
            else:
                self.wfile.write(b'VALUE ' + words[1] + b' 0 3\r\nok\n\r\nEND\r\n')
                self.server.note('get')
            self.wfile.flush()


H2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
H2_DATA, H2_HEADERS, H2_SETTINGS, H2_PING, H2_GOAWAY = 0, 1, 4, 6, 7
H2_END_STREAM, H2_ACK, H2_END_HEADERS = 1, 1, 4


def hpack_literal(name, value):
    """A header field "literal without indexing, new name", no Huffman coding (RFC 7541 6.2.2)."""
    return b'\0' + bytes([len(name)]) + name + bytes([len(value)]) + value


class GrpcHandler(_Handler):
    """HTTP/2 as nginx's grpc_pass speaks it: every stream nginx ends gets :status 200, a message, grpc-status 0."""

    def frame(self, kind, flags, stream, payload=b''):
        return struct.pack('>I', len(payload))[1:] + struct.pack('>BBI', kind, flags, stream) + payload

    def serve(self):
        if self.read(len(H2_PREFACE)) != H2_PREFACE:
            return
        self.wfile.write(self.frame(H2_SETTINGS, 0, 0))
        self.wfile.flush()
        while True:
            header = self.rfile.read(9)
            if not header:
                return
            length = struct.unpack('>I', b'\0' + header[:3])[0]
            kind, flags, stream = struct.unpack('>BBI', header[3:])
            stream &= 0x7fffffff
            payload = self.read(length)
            reply = b''
            if kind == H2_SETTINGS and not flags & H2_ACK:
                reply = self.frame(H2_SETTINGS, H2_ACK, 0)
            elif kind == H2_PING and not flags & H2_ACK:
                reply = self.frame(H2_PING, H2_ACK, 0, payload)
            elif kind == H2_GOAWAY:
                return
            elif kind in (H2_HEADERS, H2_DATA) and flags & H2_END_STREAM:
                self.server.note('stream %s' % ('1' if stream == 1 else 'above 1 (a reused connection)'))
                reply = (self.frame(H2_HEADERS, H2_END_HEADERS, stream,
                                    b'\x88' + hpack_literal(b'content-type', b'application/grpc'))
                         + self.frame(H2_DATA, 0, stream, b'\0\0\0\0\3ok\n')
                         + self.frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, stream,
                                      hpack_literal(b'grpc-status', b'0')))
            if reply:
                self.wfile.write(reply)
                self.wfile.flush()


HANDLERS = {'proxy': HttpHandler, 'fastcgi': FastCgiHandler, 'uwsgi': UwsgiHandler, 'scgi': ScgiHandler,
            'memcached': MemcachedHandler, 'grpc': GrpcHandler}


def send(case, requests):
    """Send the requests of one case through nginx; (ok, failed, first errors)."""
    ok = failed = 0
    errors = []
    for _attempt in range(requests):
        conn = http.client.HTTPConnection('127.0.0.1', case['nginx_port'], timeout=10)
        try:
            conn.request('GET', case['path'], headers={'Connection': 'close'})
            response = conn.getresponse()
            body = response.read()
            if response.status == 200 and body.endswith(b'ok\n'):     # gRPC: a message prefix, then ok
                ok += 1
            else:
                failed += 1
                errors.append('status %d, body %r' % (response.status, body[:40]))
        except Exception as exc:  # every failure counts, whatever its kind
            failed += 1
            errors.append('%s: %s' % (type(exc).__name__, exc))
        finally:
            conn.close()
    return ok, failed, errors[:3]


def run(cases_file, out_file, requests):
    with open(cases_file) as handle:
        cases = [case for case in json.load(handle)['cases'] if not case['skipped']]
    servers = {}
    for case in cases:
        server = Backend(case['backend_port'], HANDLERS[case['protocol']])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[case['number']] = server
    results = {}
    for case in cases:
        count = case['requests'] or requests
        ok, failed, errors = send(case, count)
        server = servers[case['number']]
        with server.lock:
            results[str(case['number'])] = {'requests': count, 'ok': ok, 'failed': failed, 'errors': errors,
                                            'new_connections': server.accepted, 'seen': sorted(server.seen)}
    with open(out_file, 'w') as handle:
        json.dump(results, handle, indent=1)
    pooled = sum(1 for item in results.values() if item['new_connections'] <= item['requests'] // 2)
    print(json.dumps({'cases': len(results), 'pooled': pooled, 'not_pooled': len(results) - pooled,
                      'failed_requests': sum(item['failed'] for item in results.values())}))


def main(argv):
    if argv[1] == 'generate':
        generate(int(argv[2]), int(argv[3]), argv[4], int(argv[5]))
    elif argv[1] == 'run':
        run(argv[2], argv[3], int(argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
