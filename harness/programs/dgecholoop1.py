"""dgecholoop1: dg_echo that only counts what it receives (Stevens figure 8.20).

    dgecholoop1.py [--port 9877] [--slow-ms N] [--idle S] [--rcvbuf BYTES]

Made slow on purpose: --slow-ms sleeps that long after each datagram, standing in for the
book's slow SPARCstation. Prints `received N datagrams` on SIGINT/SIGTERM (the book) or after
--idle seconds with nothing to read after the first datagram. dgecholoop2 is this with
SO_RCVBUF raised (figure 8.22).

Beyond the book's calls (tests/integration/test_fidelity.py compares them with the C version):
one getsockopt(SO_RCVBUF), which reports the buffer the kernel granted; udp-rcvbuf reads it.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import time

import unp


def run(default_rcvbuf: int | None) -> None:
    parser = argparse.ArgumentParser(usage="dgecholoop1.py [--port 9877] [--slow-ms N]")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--slow-ms", type=float, default=0.0)
    parser.add_argument("--idle", type=float, default=None)
    parser.add_argument("--rcvbuf", type=int, default=default_rcvbuf)
    args = parser.parse_args()
    unp.started()
    sock = unp.Socket(socket.SOCK_DGRAM, host=unp.wildcard())
    if args.rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        print(f"SO_RCVBUF asked {args.rcvbuf}, granted {granted}", flush=True)
        unp.event("rcvbuf", requested=args.rcvbuf, granted=granted)
    else:
        unp.event(
            "rcvbuf", requested=None, granted=sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        )
    unp.Bind(sock, unp.wildcard(), args.port)
    count = 0

    def recvfrom_int(signum: int, frame: object) -> None:
        print(f"\nreceived {count} datagrams", flush=True)
        unp.event("received", count=count)
        sys.exit(0)

    signal.signal(signal.SIGINT, recvfrom_int)
    signal.signal(signal.SIGTERM, recvfrom_int)
    # --idle counts from the first datagram: before it, the sender may still be starting (on a
    # loaded machine the sender of another step took longer than the idle time, and this server
    # gave up having received nothing).
    while True:
        try:
            sock.recvfrom(unp.MAXLINE)
        except TimeoutError:
            recvfrom_int(0, None)
        count += 1
        if count == 1:
            sock.settimeout(args.idle)
        if args.slow_ms:
            time.sleep(args.slow_ms / 1000)


if __name__ == "__main__":
    run(default_rcvbuf=None)
