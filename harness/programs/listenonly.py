"""listenonly: listen with a given backlog and never call accept (the book's backlog table).

    listenonly.py --backlog B [--port 9877] [--accept-on-usr1]

Each SIGUSR1 accepts one connection when --accept-on-usr1 is set (the queue-full scenario).
On SIGTERM it reports how many connections the kernel completed and queued for it: the
listening socket's receive queue in /proc/net/tcp, which for a listener is the length of the
completed-connection (accept) queue.
"""

from __future__ import annotations

import argparse
import signal
import sys

import unp


def accept_queue(port: int) -> int | None:
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            cols = line.split()
            if int(cols[1].split(":")[1], 16) == port and cols[3] == "0A":
                return int(cols[4].split(":")[1], 16)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(usage="listenonly.py --backlog B [--port 9877]")
    parser.add_argument("--backlog", type=int, required=True)
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--accept-on-usr1", action="store_true")
    args = parser.parse_args()
    unp.started()
    listenfd = unp.Socket(host=unp.wildcard())
    unp.Bind(listenfd, unp.wildcard(), args.port)
    unp.Listen(listenfd, args.backlog)
    print(f"listening on port {args.port} with backlog {args.backlog}", flush=True)
    accepted = []

    def accept_one(signum: int, frame: object) -> None:
        conn, peer = unp.Accept(listenfd)
        accepted.append(conn)
        print(f"accepted {peer[0]}, port {peer[1]}", flush=True)

    def report(signum: int, frame: object) -> None:
        queued = accept_queue(args.port)
        print(f"backlog {args.backlog}: {queued} connections queued", flush=True)
        unp.event("queued", backlog=args.backlog, count=queued)
        sys.exit(0)

    if args.accept_on_usr1:
        signal.signal(signal.SIGUSR1, accept_one)
    signal.signal(signal.SIGTERM, report)
    signal.signal(signal.SIGINT, report)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
