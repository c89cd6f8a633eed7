"""udpcli01: the UDP echo client (Stevens figures 8.7, 8.8: dg_cli), and its variants.

    udpcli01.py SERVER [--port 9877] [--connect] [--timeout S]

Plain, it blocks forever in recvfrom when a request or reply is lost ("Lost Datagrams"), and
never hears of an ICMP port unreachable, because the socket is unconnected. --connect is the
book's dg_cli with connect (figure 8.17): the asynchronous error comes back on the next read as
ECONNREFUSED. --timeout S puts a timeout on recvfrom, as the book suggests; it still cannot
tell a lost request from a lost reply.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="udpcli01.py <IPaddress> [--port 9877]")
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--connect", action="store_true")
    parser.add_argument("--timeout", type=float, default=None)
    args = parser.parse_args()
    unp.started()
    sock = unp.Socket(socket.SOCK_DGRAM, host=args.server)
    server = (args.server, args.port)
    if args.connect:
        unp.Connect(sock, *server)
    sock.settimeout(args.timeout)
    sent = received = timeouts = 0
    for line in sys.stdin:
        data = line.encode()
        sock.send(data) if args.connect else sock.sendto(data, server)
        unp.event("sendto", peer=list(server), bytes=len(data))
        sent += 1
        started = time.monotonic()
        try:
            reply = sock.recv(unp.MAXLINE) if args.connect else sock.recvfrom(unp.MAXLINE)[0]
        except TimeoutError:
            print("socket timeout", file=sys.stderr, flush=True)
            unp.event("recv_timeout", seconds=args.timeout)
            timeouts += 1
            continue
        except OSError as err:
            unp.event("recvfrom", errno=unp.errno_name(err.errno))
            unp.err_sys("read", err)
        unp.event("recvfrom", errno=None, bytes=len(reply), elapsed=time.monotonic() - started)
        received += 1
        sys.stdout.write(reply.decode(errors="replace"))
        sys.stdout.flush()
    unp.event("summary", sent=sent, received=received, timeouts=timeouts)
    unp.finished(0)


if __name__ == "__main__":
    main()
