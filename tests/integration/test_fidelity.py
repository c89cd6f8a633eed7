"""Fidelity of the C programs to the Python ones: the same socket calls in the same order.

Each pair runs the same exchange in a private network namespace (`unshare --net`, loopback
only), the program under test under strace, its partner untraced; the calls are reduced to
their shape (the call, the port it names, its errno) and compared. Differences that remain are
listed in FILTERED with their reason: runtime noise, not behaviour.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from socklab.observe import strace
from socklab.observe.strace import Call

from tests.conftest import ROOT

PY = ROOT / "harness" / "programs"
C = PY / "c" / "bin"
FAMILY = {
    "accept4": "accept",
    "sendto": "send",
    "write": "send",
    "writev": "send",
    "sendmsg": "send",
    "recvfrom": "recv",
    "read": "recv",
    "recvmsg": "recv",
}
# Calls left out of the comparison, and why.
FILTERED = {
    # unp.py reports addresses in its events (SOCKLAB_EVENTS) by asking the kernel: these calls
    # are the Python harness library's, not the book's program's.
    "getsockname",
    "getpeername",
    # Python sets sockets non-blocking and polls when a timeout is set, and its buffered
    # readline may poll; the C programs block in read(). Same wait, other mechanism.
    "poll",
    "select",
    "pselect6",
    "ppoll",
}


# The kernel's ephemeral port range (net.ipv4.ip_local_port_range's default).
EPHEMERAL = (32768, 60999)
# Calls one Python program makes beyond the book's, and why (each also in its docstring).
ALLOWED = {
    "dgecholoop1": {
        "getsockopt": "reports the SO_RCVBUF it was granted, which udp-rcvbuf holds to the "
        "kernel's default",
    },
}


def shape(calls: list[Call], program: str) -> list[tuple[str, int | None, str | None]]:
    """(call, port it names, errno), consecutive receives of one socket merged (a buffered
    reader may split one line over two reads or read two lines at once), closes after the last
    other call dropped (Python closes its sockets at interpreter exit, C leaves it to exit).
    Process by process, in the order they appeared: how a forking server's parent and child
    interleave is the scheduler's (under load the parent's close and the child's calls swapped),
    the sequence within each is the program's."""
    first: dict[int, int] = {}
    for call in calls:
        first.setdefault(call.pid, len(first))
    shaped: list[tuple[str, int | None, str | None]] = []
    for call in sorted(calls, key=lambda c: first[c.pid]):  # stable: each process in time order
        if call.name in FILTERED or call.blocked:
            continue
        name = FAMILY.get(call.name, call.name)
        # Python's recvfrom() always asks for the sender's address; the book's dg_cli passes
        # NULL. The address a datagram came from is the packets' business, not the shape's.
        port = call.address[1] if call.address and name != "recv" else None
        if port is not None and EPHEMERAL[0] <= port <= EPHEMERAL[1]:
            port = -1  # a port the kernel chose: different in every run
        if name in ALLOWED.get(program, {}):
            continue
        item = (name, port, call.errno)
        stream = (call.socket or "").startswith("TCP")
        if stream and name == "recv" and shaped[-1:] == [item] and call.result != 0:
            continue
        shaped.append(item)
    while shaped and shaped[-1][0] == "close":
        shaped.pop()
    return shaped


def python(name: str) -> list[str]:
    return [sys.executable, str(PY / f"{name}.py")]


def exchange(
    tmp: Path, traced: list[str], partner: list[str] | None, server_traced: bool, stdin: str = ""
) -> list[Call]:
    """Run `traced` under strace with its partner in a private netns; the traced program's
    calls."""
    trace = tmp / "trace"
    wrapped = shlex.join(["strace", *strace.FLAGS, "-o", str(trace), "--", *traced])
    stdin_file = tmp / "stdin"
    stdin_file.write_text(stdin)
    if partner is None:
        body = f"{wrapped} < {stdin_file}"
    elif server_traced:
        # setsid: strace and the server in a process group of their own, so that the book's
        # Ctrl-C (SIGINT) reaches the server itself (strace -o ignores it) and KILL ends both.
        body = (
            f"setsid {wrapped} & P=$!; sleep 0.5; {shlex.join(partner)} < {stdin_file}; "
            "sleep 0.3; kill -INT -$P; sleep 0.3; kill -KILL -$P 2>/dev/null; wait"
        )
    else:
        body = (
            f"{shlex.join(partner)} & P=$!; sleep 0.5; {wrapped} < {stdin_file}; sleep 0.2; "
            "kill -KILL $P; wait"
        )
    script = f"ip link set lo up; {body}"
    # A session of its own: on a timeout, the whole group (strace, programs) is killed.
    with subprocess.Popen(
        ["unshare", "--net", "--", "sh", "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp,
        start_new_session=True,
    ) as proc:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"the exchange did not end in 30 s: {script}")
    return strace.read(trace)


PAIRS = {
    # name: (partner (untraced) or None, the traced program is the server?, stdin, extra args)
    "daytimetcpcli": (python("daytimetcpsrv1"), False, "", ["127.0.0.1"]),
    "daytimetcpsrv1": ([*python("daytimetcpcli"), "127.0.0.1"], True, "", []),
    "tcpcli01": (python("tcpserv01"), False, "hello\nworld\n", ["127.0.0.1"]),
    "tcpserv01": ([*python("tcpcli01"), "127.0.0.1"], True, "hello\nworld\n", []),
    "udpcli01": (python("udpserv01"), False, "hello\nworld\n", ["127.0.0.1"]),
    "udpserv01": ([*python("udpcli01"), "127.0.0.1"], True, "hello\nworld\n", []),
    "dgcliloop1": (python("dgecholoop1"), False, "", ["127.0.0.1"]),
    "dgecholoop1": ([*python("dgcliloop1"), "127.0.0.1", "--count", "5"], True, "", []),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_the_c_program_makes_the_python_programs_socket_calls(name: str, tmp_path: Path) -> None:
    partner, is_server, stdin, args = PAIRS[name]
    shapes = []
    for kind, argv in (("python", python(name)), ("c", [str(C / name)])):
        work = tmp_path / kind
        work.mkdir()
        calls = exchange(work, argv + args, partner, is_server, stdin)
        assert calls, f"{kind} {name}: no calls traced"
        shapes.append(shape(calls, name))
    assert shapes[0] == shapes[1]
