"""Cases for the nginx judge: real nginx, real traffic, one port per case (stdlib only, Python 3.9+).

generate SEED COUNT DIR   write DIR/sites/case-NNN.conf (and snippets) for the fixed HTTP
                          classes of issue 10 plus COUNT seeded random cases, and DIR/cases.json
run CASES OUT REQUESTS    listen on every case's backend port, send REQUESTS requests through
                          nginx to each case (a new client connection each, "Connection: close"),
                          and write per case the new TCP connections the backend accepted

Each case is an upstream and a server on their own ports, so one nginx reload
serves them all and the backend counts new connections per case. The backend
answers like Go's net/http: in the request's HTTP version, closing after an
HTTP/1.0 request and after an HTTP/1.1 request whose Connection header has the
token "close". Pooled: a handful of connections per REQUESTS; not pooled: one
per request. The audit's verdicts are compared with these counts by
tests/test_nginx_judge.py.
"""
import http.client
import json
import os
import random
import socketserver
import sys
import threading

BACKEND_BASE = 21000
NGINX_BASE = 31000


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
        }


def build(case, spec):
    """Write one case from a spec dict (see fixed_specs and random_spec for the keys)."""
    name = spec.get('upstream_name', 'up%03d' % case.number)
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
        case.add('keepalive_requests %d;' % spec['keepalive_requests'], 1)
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
    url = spec.get('url', 'http://%s' % spec.get('pass_name', name))
    if spec.get('set_upstream'):
        case.add('set $up%03d %s;' % (case.number, name), depth)
        case.variable_host = True
    if spec.get('in_if'):
        case.add('if ($request_method = GET) {', depth)
        case.pass_line = case.add('proxy_pass %s;' % url, depth + 1)
        case.add('}', depth)
    else:
        case.pass_line = case.add('proxy_pass %s;' % url, depth)
    while depth > 1:
        depth -= 1
        case.add('}', depth)
    case.add('}')


GOOD = ['proxy_http_version 1.1;', 'proxy_set_header Connection "";']


def fixed_specs():
    """The HTTP classes the issue names, and the traps around them; case N is the Nth entry."""
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
        ('literal-address', dict(keepalive=4, location=GOOD, url='http://127.0.0.1:%d' % (BACKEND_BASE + n(13)))),
        ('http10-keep-alive', dict(keepalive=4, location=['proxy_http_version 1.0;',
                                                          'proxy_set_header Connection keep-alive;'])),
        ('set-close', dict(keepalive=4, server=['set $c%03d close;' % n(15)],
                           location=['proxy_http_version 1.1;', 'proxy_set_header Connection $c%03d;' % n(15)])),
        ('location-header-drops-inherited', dict(keepalive=4, server=GOOD,
                                                 location=['proxy_set_header X-Case %d;' % n(16)])),
        ('variable-host', dict(keepalive=4, location=GOOD, set_upstream=True, url='http://$up%03d' % n(17))),
        ('keepalive-requests-10', dict(keepalive=4, keepalive_requests=10, location=GOOD)),
        ('no-keepalive', dict(location=GOOD)),
    ]


# Weighted toward values that keep the connection, so both outcomes come out in numbers.
CONNECTION_VALUES = ['""', '""', '""', 'close', 'Close', 'keep-alive', '"Keep-Alive"', 'upgrade', 'Upgrade',
                     '"upgrade, close"', '"keep-alive, Upgrade"', '$http_connection']
MAP_BODIES = [["    default upgrade;", "    '' '';"], ["    default upgrade;", "    '' '';"],
              ["    default upgrade;", "    '' close;"], ['    default close;'], ["    ~^$ close;", '    default "";'],
              ["    '' keep-alive;", '    default close;'], ['    hostnames;', '    default "";']]


def random_spec(rng, number):
    """A random case: every choice is one nginx accepts; which ones pool is for real nginx to say."""
    spec = {'maps': [], 'server': [], 'location': [], 'nested': []}
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
    if roll < 0.08:
        spec['url'] = 'http://127.0.0.1:%d' % (BACKEND_BASE + number)
    elif roll < 0.2:
        spec['url'] = 'http://%s$request_uri' % pass_name
    elif roll < 0.28:
        spec['url'] = '$scheme://%s' % pass_name
    elif roll < 0.34:
        spec['url'] = 'http://$up%03d' % number
        spec['set_upstream'] = True
    return spec


def generate(seed, count, directory):
    rng = random.Random(seed)
    cases = []
    fixed = fixed_specs()
    for index, (description, spec) in enumerate(fixed):
        case = Case(index, 'fixed', description)
        build(case, spec)
        cases.append(case)
    for number in range(len(fixed), len(fixed) + count):
        case = Case(number, 'random', 'seed %d case %d' % (seed, number))
        build(case, random_spec(rng, number))
        cases.append(case)
    os.makedirs(os.path.join(directory, 'sites'), exist_ok=True)
    os.makedirs(os.path.join(directory, 'snippets'), exist_ok=True)
    for case in cases:
        with open(os.path.join(directory, 'sites', case.name + '.conf'), 'w') as handle:
            handle.write('\n'.join(case.lines) + '\n')
        for relative, lines in case.snippets.items():
            with open(os.path.join(directory, relative), 'w') as handle:
                handle.write('\n'.join(lines) + '\n')
    with open(os.path.join(directory, 'cases.json'), 'w') as handle:
        json.dump({'seed': seed, 'cases': [case.record(directory) for case in cases]}, handle, indent=1)
    print(json.dumps({'seed': seed, 'cases': len(cases)}))


class Backend(socketserver.ThreadingTCPServer):
    """One listening port; counts the TCP connections it accepts."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port):
        socketserver.ThreadingTCPServer.__init__(self, ('127.0.0.1', port), Handler)
        self.accepted = 0
        self.seen = set()
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.accepted += 1
        socketserver.ThreadingTCPServer.process_request(self, request, client_address)


class Handler(socketserver.StreamRequestHandler):
    """HTTP/1.x with Content-Length, answering in the request's version (as Go's net/http does)."""

    def handle(self):
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
            with self.server.lock:
                self.server.seen.add('%s %s' % (version, connection or '-'))
            body = b'ok\n'
            head = '%s 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n' % (
                version if version in ('HTTP/1.0', 'HTTP/1.1') else 'HTTP/1.1', len(body),
                'Connection: close\r\n' if close else '')
            self.wfile.write(head.encode('latin-1') + body)
            self.wfile.flush()
            if close:
                return


def run(cases_file, out_file, requests):
    with open(cases_file) as handle:
        cases = json.load(handle)['cases']
    servers = {}
    for case in cases:
        server = Backend(case['backend_port'])
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[case['number']] = server
    results = {}
    for case in cases:
        ok = failed = 0
        errors = []
        for _attempt in range(requests):
            conn = http.client.HTTPConnection('127.0.0.1', case['nginx_port'], timeout=10)
            try:
                conn.request('GET', case['path'], headers={'Connection': 'close'})
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    ok += 1
                else:
                    failed += 1
                    errors.append('status %d' % response.status)
            except Exception as exc:  # every failure counts, whatever its kind
                failed += 1
                errors.append('%s: %s' % (type(exc).__name__, exc))
            finally:
                conn.close()
        server = servers[case['number']]
        with server.lock:
            results[str(case['number'])] = {'requests': requests, 'ok': ok, 'failed': failed, 'errors': errors[:3],
                                            'new_connections': server.accepted, 'seen': sorted(server.seen)}
    with open(out_file, 'w') as handle:
        json.dump(results, handle, indent=1)
    pooled = sum(1 for item in results.values() if item['new_connections'] <= requests // 2)
    print(json.dumps({'cases': len(results), 'pooled': pooled, 'not_pooled': len(results) - pooled,
                      'failed_requests': sum(item['failed'] for item in results.values())}))


def main(argv):
    if argv[1] == 'generate':
        generate(int(argv[2]), int(argv[3]), argv[4])
    elif argv[1] == 'run':
        run(argv[2], argv[3], int(argv[4]))
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
