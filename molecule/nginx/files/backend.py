"""A tiny HTTP/1.1 backend on 127.0.0.1:8081 (stdlib only) for the proof.

HTTP/1.1 with Content-Length, so a client that asks for keepalive gets it.
Nagle's algorithm is off: the handler writes the headers and the body in two
sends, and on a kept-alive connection the second one would otherwise wait for
the peer's delayed ACK (40 ms a request).

X-Backend-Request echoes how the proxy asked: its HTTP version and its
Connection header ("-" when none). That shows which configuration the running
nginx master has loaded: the hand-written site sends "HTTP/1.0 close", the
role's keepalive upstream "HTTP/1.1 -".
"""
import http.server
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True

    def do_GET(self):  # noqa: N802 (stdlib name)
        body = b'ok\n'
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('X-Backend', 'harden-tcp-proof')
        self.send_header('X-Backend-Request', '%s %s' % (self.request_version, self.headers.get('Connection', '-')))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    server = http.server.ThreadingHTTPServer(('127.0.0.1', port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == '__main__':
    main()
