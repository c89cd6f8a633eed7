"""What a program did, seen from the outside: strace's record parsed into socket calls.

Every program a step starts runs under `strace -f -ttt -T -y`, attached from the machine,
whatever language it is written in; the harness never asks the program what it did. Each line
of the record becomes a `Call`: pid, name, start (epoch seconds, the clock the pcaps use),
duration, return value, errno name and the decoded address. A call strace saw begin but never
end (the program was stopped while blocked in it) has no duration and is marked `blocked`.

Only socket calls are kept: the network calls, and read/write/close/poll on a descriptor that
strace's `-y` shows to be a socket (Python reads its own modules with read(), too). `-y` names a
socket by its inode; the kind (TCP, UDP, RAW) comes from the socket() call that made it.
(`-yy` would add each socket's addresses, but its sock_diag lookup costs ~3.4 ms a call, which
a program feels: measured with bench/strace_overhead.py's method.)
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..testbed import files

# The calls socklab records. strace's %network class covers socket ... shutdown; the rest are
# the generic calls a program also uses on sockets (the book's Readline and Writen).
TRACED = (
    "%network",
    "read",
    "write",
    "readv",
    "writev",
    "close",
    "poll",
    "ppoll",
    "select",
    "pselect6",
)
# A call on one of these only counts when its first argument is a socket.
GENERIC = {"read", "write", "readv", "writev", "close", "poll", "ppoll", "select", "pselect6"}


# A traced step starts stopped: this shell stops itself before it executes the program, the
# harness attaches strace to it from the machine (attach()), then lets it go on.
STOPPED_START = ["sh", "-c", 'kill -STOP "$$" && exec "$@"', "socklab-step"]


# -f: follow fork (a concurrent server's children); -ttt: epoch timestamps, comparable with
# the pcaps; -T: time spent in each call; -y: descriptors decorated with what they are
# (socket:[inode]); -qq: no attach/detach chatter; -s 64: short data strings.
FLAGS = ["-f", "-ttt", "-T", "-y", "-qq", "-s", "64", "-e", "trace=" + ",".join(TRACED)]


def attach(pid: int, trace: Path) -> list[str]:
    """The strace argv, run by the machine, that follows `pid` and all it forks into `trace`.

    strace runs outside the host's box and writes to the run folder, which no program in a
    host can reach: nothing a program does can change its record (a strace inside the box,
    writing to the host's outbox, let a program append forged calls to it). strace's
    --seccomp-bpf (which spares a program's start-up the stops) works only for a program strace
    starts, not one it attaches to: a Python program's start costs ~0.1 s more."""
    return ["strace", *FLAGS, "-o", str(trace), "-p", str(pid)]


@dataclass(frozen=True)
class Call:
    pid: int
    name: str
    start: float
    duration: float | None
    result: int | None
    errno: str | None
    fd: int | None = None
    socket: str | None = None  # the descriptor: "TCP:[inode]" (-y, kind from socket())
    address: tuple[str, int] | None = None  # the sockaddr argument (connect, bind, sendto ...)
    level: str | None = None  # setsockopt/getsockopt level and option names
    option: str | None = None
    value: int | None = None  # the option's value, when strace shows an integer
    made: str | None = None  # the descriptor a call returned (socket, accept): "socket:[inode]"

    @property
    def blocked(self) -> bool:
        """strace saw the call begin and never return: the program was stopped inside it."""
        return self.duration is None

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "call": self.name,
            "start": self.start,
            "duration": self.duration,
            "result": self.result,
            "errno": self.errno,
            "fd": self.fd,
            "socket": self.socket,
            "address": list(self.address) if self.address else None,
            "level": self.level,
            "option": self.option,
            "value": self.value,
            "made": self.made,
            "blocked": self.blocked,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Call:
        address = data.get("address")
        return cls(
            pid=int(data["pid"]),
            name=str(data["call"]),
            start=float(data["start"]),
            duration=data.get("duration"),
            result=data.get("result"),
            errno=data.get("errno"),
            fd=data.get("fd"),
            socket=data.get("socket"),
            address=(str(address[0]), int(address[1])) if address else None,
            level=data.get("level"),
            option=data.get("option"),
            value=data.get("value"),
            made=data.get("made"),
        )


LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<time>\d+\.\d+)\s+(?P<rest>.*)$")
START = re.compile(r"^(?P<name>[a-z_0-9]+)\((?P<args>.*)$")
RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z_0-9]+) resumed>(?P<args>.*)$")
# The tail of a finished call: ") = RESULT [ERRNO (text)] <DURATION>".
RESULT = re.compile(
    r"\)\s+=\s+(?P<result>-?\d+|\?|0x[0-9a-f]+)(?P<deco><[A-Za-z0-9]+:\[[^\]]*\]>)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+)\s+\([^)]*\))?(?:\s+\([^)]*\))?\s*(?:<(?P<dur>\d+\.\d+)>)?$"
)
FD = re.compile(r"^(?P<fd>\d+)(?:<(?P<deco>[A-Za-z0-9]+:\[[^\]]*\]|[^>]*)>)?")
SIN = re.compile(r'sin_port=htons\((?P<port>\d+)\), sin_addr=inet_addr\("(?P<addr>[0-9.]+)"\)')
SIN6 = re.compile(
    r'sin6_port=htons\((?P<port>\d+)\),.*?inet_pton\(AF_INET6, "(?P<addr>[0-9a-fA-F:.]+)"'
)
SOCKOPT = re.compile(
    r"^\d+(?:<[A-Za-z0-9]+:\[[^\]]*\]>)?, "
    r"(?P<level>[A-Z_]+), (?P<option>[A-Z_0-9]+), \[(?P<v>-?\d+)"
)
KINDS = {"SOCK_STREAM": "TCP", "SOCK_DGRAM": "UDP", "SOCK_RAW": "RAW"}
INODE = re.compile(r"^socket:\[(\d+)\]$")
SOCKET_KINDS = ("TCP", "UDP", "RAW", "UNIX", "socket", "TCPv6", "UDPv6", "NETLINK", "PACKET")


def is_socket(decoration: str | None) -> bool:
    return bool(decoration) and str(decoration).split(":", 1)[0] in SOCKET_KINDS


def finish(pid: int, name: str, start: float, args: str, tail: str | None) -> Call | None:
    """One call from its arguments and, if it returned, the text after them."""
    fd_match = FD.match(args)
    fd = int(fd_match.group("fd")) if fd_match else None
    deco = fd_match.group("deco") if fd_match else None
    if name in GENERIC and not is_socket(deco):
        return None
    result = errno = duration = None
    if tail is not None:
        found = RESULT.search(tail)
        if found is None:
            # A line strace was killed while writing: the call began, its end is unknown.
            return finish(pid, name, start, args, None)
        text = found.group("result")
        # "?": the process died inside the call
        result = None if text == "?" else int(text, 0)
        errno = found.group("errno")
        if found.group("dur") is not None:
            duration = float(found.group("dur"))
    address = None
    sin = SIN.search(args) or SIN6.search(args)
    if sin is not None:
        address = (sin.group("addr"), int(sin.group("port")))
    level = option = value = None
    if name in ("setsockopt", "getsockopt"):
        opt = SOCKOPT.match(args)
        if opt is not None:
            level, option, value = opt.group("level"), opt.group("option"), int(opt.group("v"))
    made = None
    if result is not None and result >= 0 and tail:
        deco_match = RESULT.search(tail)
        if deco_match and deco_match.group("deco"):
            made = deco_match.group("deco").strip("<>")
    if name == "socket":
        deco = made
        inode = INODE.match(made or "")
        kind = next((k for n, k in KINDS.items() if n in args), None)
        if inode and kind:
            deco = f"{kind}:[{inode.group(1)}]"
    if tail is not None and result is None and errno is None:
        duration = None  # "= ?": still inside the call when the process was killed
    return Call(
        pid=pid,
        name=name,
        start=start,
        duration=duration,
        result=result,
        errno=errno,
        fd=fd if name != "socket" else result,
        socket=deco,
        address=address,
        level=level,
        option=option,
        value=value,
        made=made,
    )


def named(calls: list[Call]) -> list[Call]:
    """`socket:[inode]` (-y) as `TCP:[inode]`: the kind each socket() call made, inherited by
    the sockets accept() returns. -yy decorations (`TCP:[...]`) pass through unchanged."""
    kinds: dict[str, str] = {}
    for call in calls:
        if call.name == "socket" and call.socket and ":[" in call.socket:
            kind, _, rest = call.socket.partition(":[")
            kinds[rest.rstrip("]")] = kind
    result = []
    for call in calls:
        found = INODE.match(call.socket or "")
        if found and found.group(1) in kinds:
            call = replace(call, socket=f"{kinds[found.group(1)]}:[{found.group(1)}]")
        result.append(call)
        if call.name in ("accept", "accept4") and call.made and call.socket:
            made = INODE.match(call.made)
            if made:
                kinds[made.group(1)] = call.socket.split(":", 1)[0]
    return result


def parse(lines: Iterable[str]) -> list[Call]:
    """strace -f -ttt -T -y lines -> calls in the order they began."""
    calls: list[Call] = []
    pending: dict[int, tuple[str, float, str]] = {}  # pid -> (name, start, args so far)
    for raw in lines:
        line = LINE.match(raw.rstrip("\n"))
        if line is None:
            continue
        try:
            pid, when, rest = int(line.group("pid")), float(line.group("time")), line.group("rest")
        except ValueError:  # a line strace never wrote (a program can write its own record)
            continue
        if rest.startswith(("---", "+++")):
            continue  # signals and exits: the step's exit status tells those
        resumed = RESUMED.match(rest)
        if resumed is not None:
            if pid in pending:
                name, start, head = pending.pop(pid)
                call = finish(pid, name, start, head + resumed.group("args"), resumed.group("args"))
                if call is not None:
                    calls.append(call)
            continue
        started = START.match(rest)
        if started is None:
            continue
        name, args = started.group("name"), started.group("args")
        if args.endswith("<unfinished ...>"):
            pending[pid] = (name, when, args[: -len("<unfinished ...>")].rstrip())
            continue
        call = finish(pid, name, when, args, args)
        if call is not None:
            calls.append(call)
    for pid, (name, start, head) in pending.items():
        call = finish(pid, name, start, head, None)
        if call is not None:
            calls.append(call)
    # In time order, so that an accepted socket's kind is known before its first use.
    return named(sorted(calls, key=lambda c: c.start))


def read(path: Path) -> list[Call]:
    """The calls in a trace file of a host's outbox, read without trusting it (a symlink or a
    FIFO there is no calls); a missing file is no calls (the caller says it is missing)."""
    return parse(io.StringIO(files.read_text(path)))
