"""dgcliloop1: dg_cli that writes a fixed number of datagrams (Stevens figure 8.19).

    dgcliloop1.py SERVER [--port 9877] [--count 2000] [--size 1400]

UDP has no flow control: the sender is never slowed down by a receiver that cannot keep up.
"""

from __future__ import annotations

import argparse
import socket

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="dgcliloop1.py <IPaddress> [--count 2000]")
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1400)
    args = parser.parse_args()
    if not 0 < args.count <= 100_000:
        unp.err_quit("dgcliloop1: --count must be 1..100000")
    unp.started()
    sock = unp.Socket(socket.SOCK_DGRAM, host=args.server)
    payload = bytes(args.size)
    sent = 0
    for _ in range(args.count):
        try:
            sock.sendto(payload, (args.server, args.port))
        except OSError as err:
            unp.err_sys("sendto", err)
        sent += 1
    print(f"sent {sent} datagrams of {args.size} bytes", flush=True)
    unp.event("sent", count=sent, size=args.size)
    unp.finished(0)


if __name__ == "__main__":
    main()
