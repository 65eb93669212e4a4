"""Keep TIME_WAIT sockets towards one loopback destination, for the fleet scenario.

A listener on 127.0.0.1:PORT; the client side connects and closes first, so
each connection leaves one TIME_WAIT socket on the client's ephemeral port.
TIME_WAIT lasts 60 s, so a burst is repeated every few seconds until the
process is stopped (the container is destroyed with it): the audit sees the
same pressure whenever it runs. Usage: timewait_load.py PORT BURST INTERVAL
"""

import socket
import sys
import threading
import time


def serve(listener):
    while True:
        conn, _peer = listener.accept()
        # Read until the client's FIN, then close: the client closed first.
        while conn.recv(64):
            pass
        conn.close()


def burst(port, count):
    for _attempt in range(count):
        try:
            client = socket.create_connection(('127.0.0.1', port), timeout=2)
        except OSError:
            # Range exhausted: the pressure is there already.
            return
        client.close()


def main():
    port, count, interval = (int(arg) for arg in sys.argv[1:4])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(256)
    threading.Thread(target=serve, args=(listener,), daemon=True).start()
    while True:
        burst(port, count)
        time.sleep(interval)


if __name__ == '__main__':
    main()
