"""udpserv01: the UDP echo server, one socket for every client (Stevens figures 8.3, 8.4).

udpserv01.py [--port 9877]
"""

from __future__ import annotations

import argparse
import socket

import unp


def dg_echo(sock: socket.socket) -> None:
    while True:
        data, client = sock.recvfrom(unp.MAXLINE)
        unp.event("recvfrom", peer=list(client), bytes=len(data))
        sock.sendto(data, client)


def main() -> None:
    parser = argparse.ArgumentParser(usage="udpserv01.py [--port 9877]")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    args = parser.parse_args()
    unp.started()
    sock = unp.Socket(socket.SOCK_DGRAM, host=unp.wildcard())
    unp.Bind(sock, unp.wildcard(), args.port)
    dg_echo(sock)


if __name__ == "__main__":
    main()
