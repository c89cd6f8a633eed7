"""tcpserv01: the concurrent TCP echo server, one child per client (Stevens figure 5.2). Like
the book's, it prints nothing.

    tcpserv01.py [--port 9877] [--no-close]

--no-close keeps the parent's copy of the connected socket open: the book's warning in
"Concurrent Servers" that the connection is then never terminated, because the child's close
only drops the reference count from 2 to 1 and no FIN is sent.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys

import unp


def str_echo(conn: socket.socket) -> None:
    while True:
        try:
            data = conn.recv(unp.MAXLINE)
        except OSError as err:
            unp.err_sys("read", err)
        if not data:
            return
        conn.sendall(data)


def reap(signum: int, frame: object) -> None:
    """sig_chld (section 5.10): waitpid in a loop, so no child stays a zombie."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> None:
    parser = argparse.ArgumentParser(usage="tcpserv01.py [--port 9877] [--no-close]")
    parser.add_argument("--port", type=int, default=unp.SERV_PORT)
    parser.add_argument("--no-close", action="store_true")
    args = parser.parse_args()
    unp.started()
    signal.signal(signal.SIGCHLD, reap)
    listenfd = unp.Socket(host=unp.wildcard())
    listenfd.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    unp.Bind(listenfd, unp.wildcard(), args.port)
    unp.Listen(listenfd, 8)  # the course's LISTENQ
    kept = []
    while True:
        connfd, _ = unp.Accept(listenfd)
        pid = os.fork()
        if pid == 0:
            listenfd.close()
            str_echo(connfd)
            connfd.close()
            unp.event("child_exit")
            os._exit(0)
        unp.event("fork", child=pid)
        if args.no_close:
            kept.append(connfd)  # the bug: the parent's reference keeps the connection open
        else:
            connfd.close()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
