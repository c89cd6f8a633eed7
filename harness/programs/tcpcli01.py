"""tcpcli01: the TCP echo client (Stevens figures 5.4 and 5.5).

Reads lines from standard input, sends each, prints the echo as it came back, as the book's
str_cli does (and nothing else). At end of input it closes the socket (the FIN of the book's
timeline).

    tcpcli01.py SERVER [--port 9877] [--wait-eof [--deadline S]]
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time

import unp


def wait_for_eof(sock: socket.socket, deadline: float | None) -> None:
    """After our own half-close, wait for the server's FIN (read() returning 0)."""
    sock.shutdown(socket.SHUT_WR)
    end = None if deadline is None else time.monotonic() + deadline
    while True:
        left = None if end is None else max(0.0, end - time.monotonic())
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            print("no end-of-file from the server before the deadline", flush=True)
            unp.event("deadline", seconds=deadline)
            return
        if not sock.recv(unp.MAXLINE):
            print("end-of-file from the server", flush=True)
            unp.event("eof")
            return


def main() -> None:
    parser = argparse.ArgumentParser(usage="tcpcli01.py <IPaddress> [--port 9877]")
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument(
        "--wait-eof",
        action="store_true",
        help="after input ends, half-close and wait for the server's FIN",
    )
    parser.add_argument("--deadline", type=float, default=None)
    args = parser.parse_args()
    unp.started()
    sock = unp.Socket(host=args.server)
    unp.Connect(sock, args.server, args.port)
    connected = time.monotonic()
    reader = sock.makefile("rb")
    for line in sys.stdin:
        sent = time.monotonic()
        sock.sendall(line.encode())
        reply = reader.readline()
        if not reply:
            unp.err_quit("str_cli: server terminated prematurely")
        # Fputs(recvline, stdout): the echo as it came, as the book's str_cli prints it
        print(reply.decode(errors="replace"), end="", flush=True)
        # elapsed: how long this line waited for its echo; since_connect: when it came.
        now = time.monotonic()
        unp.event("echo", bytes=len(reply), elapsed=now - sent, since_connect=now - connected)
    if args.wait_eof:
        wait_for_eof(sock, args.deadline)
    sock.close()
    unp.finished(0)


if __name__ == "__main__":
    main()
