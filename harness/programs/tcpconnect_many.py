"""tcpconnect_many: start N connects at once and count how many complete (the backlog table).

    tcpconnect_many.py SERVER [--port 9877] --count N [--timeout S]

Non-blocking connects; after S seconds the completed ones are counted and all are closed.
A connect that completes on the client may still be absent from the server's queue (Linux
drops the final ACK when the accept queue is full), so the server side is measured too.
"""

from __future__ import annotations

import argparse
import errno
import selectors
import socket
import time

import unp


def main() -> None:
    parser = argparse.ArgumentParser(usage="tcpconnect_many.py SERVER --count N")
    parser.add_argument("server")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    if not 0 < args.count <= 256:
        unp.err_quit("tcpconnect_many: --count must be 1..256")
    unp.started()
    pending = selectors.DefaultSelector()
    for _ in range(args.count):
        sock = socket.socket(socket.AF_INET6 if ":" in args.server else socket.AF_INET)
        sock.setblocking(False)
        code = sock.connect_ex((args.server, args.port))
        if code not in (0, errno.EINPROGRESS):
            unp.err_sys("connect", OSError(code, ""))
        pending.register(sock, selectors.EVENT_WRITE)
    done, end = [], time.monotonic() + args.timeout
    while pending.get_map() and time.monotonic() < end:
        for key, _ in pending.select(max(0.0, end - time.monotonic())):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            pending.unregister(sock)
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                done.append(sock)
    print(f"{len(done)} of {args.count} connections completed in {args.timeout:g} s", flush=True)
    unp.event("connected", count=len(done), attempted=args.count)
    unp.finished(0)


if __name__ == "__main__":
    main()
