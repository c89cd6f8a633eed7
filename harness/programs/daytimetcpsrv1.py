"""daytimetcpsrv1: the daytime server that prints each client's address (Stevens figure 4.11).

    daytimetcpsrv1.py [--port 13] [--reuseaddr] [--report-sockname] [--count N]

It binds the reserved port 13, so it needs privilege: as a user it fails with
`bind error: Permission denied`. Without --reuseaddr, a restart while an old connection is in
TIME_WAIT fails with `bind error: Address already in use`, as the book's server does.
"""

from __future__ import annotations

import argparse
import socket
import time

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="daytimetcpsrv1.py [--port 13]")
    parser.add_argument("--port", type=int, default=13)
    parser.add_argument("--reuseaddr", action="store_true", help="set SO_REUSEADDR before bind")
    parser.add_argument(
        "--report-sockname",
        action="store_true",
        help="print the address and port bound (getsockname), for --port 0",
    )
    parser.add_argument("--count", type=int, default=0, help="exit after N clients (0: never)")
    args = parser.parse_args()
    unp.started()
    listenfd = unp.Socket(host=unp.wildcard())
    if args.reuseaddr:
        listenfd.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    unp.Bind(listenfd, unp.wildcard(), args.port)
    unp.Listen(listenfd, unp.LISTENQ)
    if args.report_sockname:
        host, port = listenfd.getsockname()[:2]
        print(f"listening on {host}, port {port}", flush=True)
    served = 0
    while not args.count or served < args.count:
        connfd, peer_address = unp.Accept(listenfd)
        host, port = peer_address[:2]
        print(f"connection from {host}, port {port}", flush=True)
        peer, local = connfd.getpeername(), connfd.getsockname()
        unp.event("peername", peer=list(peer), local=list(local))
        connfd.sendall(f"{time.ctime():.24}\r\n".encode())  # the book: "%.24s\r\n"
        connfd.close()
        served += 1
    unp.finished(0)


if __name__ == "__main__":
    main()
