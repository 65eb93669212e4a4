"""Hold a TCP listen address, as another program would: hold_port.py ADDRESS PORT."""
import socket
import sys
import time

server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[1], int(sys.argv[2])))
server.listen(8)
while True:
    time.sleep(60)
