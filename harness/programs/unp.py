"""The book's library (unp.h, wrapsock.c, error.c), for the book's programs in Python.

Stdlib only; never imports the harness. Besides printing what the book prints, each wrapper
appends a JSON event to $SOCKLAB_EVENTS when that is set (errno names, elapsed times), so a
harness can read what happened without parsing the book's text. To fill those events the
wrappers ask the kernel with getsockname()/getpeername(), calls the book's C programs do not
make: the fidelity test (tests/integration/test_fidelity.py) leaves them out for that reason.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from typing import Any, NoReturn

SERV_PORT = 9877  # Stevens' echo port (unp.h)
LISTENQ = 1024
MAXLINE = 4096
PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0]


def event(name: str, **fields: Any) -> None:
    path = os.environ.get("SOCKLAB_EVENTS")
    if not path:
        return
    record = {"t": time.time(), "prog": PROG, "pid": os.getpid(), "event": name, **fields}
    # One write on an O_APPEND descriptor: lines from forked children never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def errno_name(number: int | None) -> str | None:
    return errno.errorcode.get(number or 0) if number else None


def err_sys(call: str, err: OSError) -> NoReturn:
    """error.c's err_sys: `<call> error: <strerror>` on stderr, exit 1."""
    message = f"{call} error: {os.strerror(err.errno or 0)}"
    event("error", call=call, errno=errno_name(err.errno), errno_num=err.errno, message=message)
    print(message, file=sys.stderr, flush=True)
    event("exit", status=1)
    sys.exit(1)


def err_quit(message: str) -> NoReturn:
    print(message, file=sys.stderr, flush=True)
    sys.exit(1)


def addr(pair: Any) -> list[Any] | None:
    return [pair[0], pair[1]] if pair else None  # an IPv6 address has flow info and scope too


def wildcard() -> str:
    """The address a server binds: IPv6's `::` in an IPv6 run (socklab --family 6 sets
    SOCKLAB_FAMILY=6 for every program; the book's servers are told with a host argument,
    tcp_listen's "::"), else IPv4's INADDR_ANY."""
    return "::" if os.environ.get("SOCKLAB_FAMILY") == "6" else "0.0.0.0"


def Socket(kind: int = socket.SOCK_STREAM, host: str = "") -> socket.socket:
    """A socket of the peer's family: AF_INET6 for an IPv6 address (the book's protocol-
    independent clients ask getaddrinfo; a literal address says it at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.socket(family, kind)
    except OSError as err:
        err_sys("socket", err)


def Connect(sock: socket.socket, host: str, port: int) -> None:
    started = time.monotonic()
    try:
        sock.connect((host, port))
    except OSError as err:
        elapsed = time.monotonic() - started
        event(
            "connect", peer=[host, port], local=None, elapsed=elapsed, errno=errno_name(err.errno)
        )
        err_sys("connect", err)
    elapsed = time.monotonic() - started
    event("connect", peer=[host, port], local=addr(sock.getsockname()), elapsed=elapsed, errno=None)


def Bind(sock: socket.socket, host: str, port: int) -> None:
    try:
        sock.bind((host, port))
    except OSError as err:
        event("bind", addr=[host, port], errno=errno_name(err.errno))
        err_sys("bind", err)
    event("bind", addr=addr(sock.getsockname()), errno=None)


def Listen(sock: socket.socket, backlog: int) -> None:
    try:
        sock.listen(backlog)
    except OSError as err:
        err_sys("listen", err)
    event("listen", backlog=backlog, local=addr(sock.getsockname()))


def Accept(sock: socket.socket) -> tuple[socket.socket, tuple[str, int]]:
    while True:
        try:
            conn, peer = sock.accept()
        except InterruptedError:
            continue  # EINTR from SIGCHLD: the book restarts accept (section 5.9)
        except OSError as err:
            err_sys("accept", err)
        event("accept", peer=addr(peer), local=addr(conn.getsockname()))
        return conn, peer


def Readline(stream: Any) -> str:
    return str(stream.readline())


def started() -> None:
    event("start", argv=sys.argv[1:])


def finished(status: int = 0) -> NoReturn:
    event("exit", status=status)
    sys.exit(status)
