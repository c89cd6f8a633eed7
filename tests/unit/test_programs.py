"""The book's programs, run for real on loopback (no root): what they print and the events.

Ports come from binding port 0 first; every process is bounded and killed in the end.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PROGRAMS = Path(__file__).resolve().parents[2] / "harness" / "programs"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run(
    name: str, *args: str, stdin: str = "", events_file: Path | None = None, timeout: float = 10
) -> subprocess.CompletedProcess[str]:
    env = {"SOCKLAB_EVENTS": str(events_file)} if events_file else {}
    return subprocess.run(
        [sys.executable, str(PROGRAMS / f"{name}.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def listening(port: int) -> bool:
    """From /proc/net/tcp, so the check itself is not a client the server would count."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return any(int(r.split()[1].split(":")[1], 16) == port and r.split()[3] == "0A" for r in rows)


@contextmanager
def server(
    name: str, *args: str, ready_port: int, udp: bool = False, events_file: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    env = {"SOCKLAB_EVENTS": str(events_file)} if events_file else {}
    proc = subprocess.Popen(
        [sys.executable, str(PROGRAMS / f"{name}.py"), *args],
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 10
        while not udp and not listening(ready_port):
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.05)
        if udp:
            time.sleep(0.5)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_daytime_client_to_a_closed_port_is_refused_at_once(tmp_path: Path) -> None:
    log = tmp_path / "ev"
    done = run("daytimetcpcli", "127.0.0.1", "--port", str(free_port()), events_file=log)
    assert done.returncode == 1
    assert done.stderr.strip() == "connect error: Connection refused"
    connect = next(e for e in events(log) if e["event"] == "connect")
    assert connect["errno"] == "ECONNREFUSED" and connect["elapsed"] < 1.0


def test_echo_round_trip_prints_what_the_books_programs_print(tmp_path: Path) -> None:
    """The book's str_cli prints each echo as it came and nothing else; its tcpserv01 prints
    nothing at all."""
    port = free_port()
    with server("tcpserv01", "--port", str(port), ready_port=port) as srv:
        done = run("tcpcli01", "127.0.0.1", "--port", str(port), stdin="hello\nworld\n")
        assert done.returncode == 0, done.stderr
        assert done.stdout == "hello\nworld\n"
        time.sleep(0.2)
    out = srv.stdout.read() if srv.stdout else ""
    assert out == ""


def test_daytime_server_reports_each_client_address(tmp_path: Path) -> None:
    port = free_port()
    with server("daytimetcpsrv1", "--port", str(port), ready_port=port) as srv:
        done = run("daytimetcpcli", "127.0.0.1", "--port", str(port), "--report-sockname")
        assert done.returncode == 0
        local_port = done.stdout.split("port ")[1].split()[0]
    out = srv.stdout.read() if srv.stdout else ""
    assert f"connection from 127.0.0.1, port {local_port}" in out


def test_connected_udp_socket_gets_the_asynchronous_error(tmp_path: Path) -> None:
    log = tmp_path / "ev"
    port = free_port(socket.SOCK_DGRAM)
    done = run(
        "udpcli01", "127.0.0.1", "--port", str(port), "--connect", stdin="hi\n", events_file=log
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "read error: Connection refused"
    assert any(e.get("errno") == "ECONNREFUSED" for e in events(log) if e["event"] == "recvfrom")


def test_udp_client_with_a_timeout_moves_on(tmp_path: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:  # bound, never answers
        sink.bind(("127.0.0.1", port))
        done = run("udpcli01", "127.0.0.1", "--port", str(port), "--timeout", "0.2", stdin="a\n")
    assert done.returncode == 0
    assert done.stderr.strip() == "socket timeout"


def test_udp_counts_add_up_on_loopback(tmp_path: Path) -> None:
    log = tmp_path / "ev"
    port = free_port(socket.SOCK_DGRAM)
    with server(
        "dgecholoop2",
        "--port",
        str(port),
        "--idle",
        "1",
        ready_port=port,
        udp=True,
        events_file=log,
    ) as srv:
        sent = run("dgcliloop1", "127.0.0.1", "--port", str(port), "--count", "200")
        assert sent.returncode == 0
        srv.wait(timeout=10)
    received = next(e for e in events(log) if e["event"] == "received")["count"]
    rcvbuf = next(e for e in events(log) if e["event"] == "rcvbuf")
    assert 0 < received <= 200
    assert rcvbuf["requested"] == 220 * 1024 and rcvbuf["granted"] >= rcvbuf["requested"]


def test_synflood_refuses_targets_outside_the_testbed() -> None:
    for args in (
        ["8.8.8.8", "--port", "80"],
        ["10.77.2.10", "--port", "80", "--source-prefix", "192.168.0.0/24"],
        ["10.77.2.10", "--port", "80", "--count", "1000000"],
        # a bridge's address is the machine's (issue #9): not a target, not a spoofed source
        ["10.77.1.254", "--port", "80"],
        ["10.77.2.10", "--port", "80", "--source-prefix", "10.77.1.254/32"],
    ):
        done = run("synflood", *args)
        assert done.returncode == 1
        assert "refused" in done.stderr or "count" in done.stderr
