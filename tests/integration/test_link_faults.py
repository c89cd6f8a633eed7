"""Link faults on real namespaces: they act on the packets, say which mechanism, and undo.

The mechanism follows this kernel's capability probe: netem where sch_netem exists, else the
nftables and NFQUEUE fallbacks. Figures (medians, intervals) live in bench/faults.py.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from socklab.errors import FaultUnsupported
from socklab.scenario.model import Fault
from socklab.testbed.backends.netns import NetnsBackend
from socklab.testbed.faults import FaultContext, apply
from socklab.testbed.ownership import RunLock, new_run_id, tagged_pids
from socklab.testbed.probe import probe

CONNECT_TIME = """
import socket, time
s = socket.socket(); start = time.monotonic()
try:
    s.connect(("10.77.2.10", 9))
except OSError:
    pass
print(time.monotonic() - start)
"""
UDP_LOSS = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.05)
s.connect(("10.77.2.10", 9)); got = 0
for _ in range(20):
    s.send(b"x")
    try:
        s.recv(10)
    except ConnectionRefusedError:
        got += 1
    except TimeoutError:
        pass
print(got)
"""


@pytest.fixture
def testbed(tmp_path: Path) -> Iterator[tuple[NetnsBackend, FaultContext]]:
    run_id = new_run_id()
    lock = RunLock(run_id).acquire()
    backend = NetnsBackend(run_id, tmp_path)
    os.chmod(tmp_path, 0o777)
    try:
        backend.up()
        ctx = FaultContext.of(backend, tmp_path)
        yield backend, ctx
    finally:
        backend.down()
        lock.release()


def fault(**link: object) -> Fault:
    return Fault.model_validate({"host": "router", "link": link})


def mangle_rules(backend: NetnsBackend) -> str:
    done = subprocess.run(
        ["nsenter", f"--net={backend.netns('router')}", "--", "iptables", "-t", "mangle", "-S"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def test_delay_holds_each_handshake_and_is_undone(
    testbed: tuple[NetnsBackend, FaultContext],
) -> None:
    backend, ctx = testbed
    undo = apply(fault(network="lan2", delay=30), ctx)
    slow = float(backend.exec("client", ["python3", "-c", CONNECT_TIME]).stdout)
    assert 0.029 <= slow < 0.5, f"SYN to RST took {slow} s with 30 ms of delay on the path"
    expected = "netem" if probe().netem else "NFQUEUE delayer"
    assert expected in ctx.mechanisms[0]["mechanism"]
    undo()
    fast = float(backend.exec("client", ["python3", "-c", CONNECT_TIME]).stdout)
    assert fast < 0.01, "the delay outlived its undo"
    assert "NFQUEUE" not in mangle_rules(backend)
    assert not tagged_pids(f"{backend.run_id}-", prefix=True), "the delayer outlived its undo"


def test_total_loss_drops_everything_and_is_undone(
    testbed: tuple[NetnsBackend, FaultContext],
) -> None:
    backend, ctx = testbed
    undo = apply(fault(network="lan2", loss=100), ctx)
    assert backend.exec("client", ["python3", "-c", UDP_LOSS]).stdout.strip() == "0"
    undo()
    # The server's own ICMP rate limit (a burst of 6, then one a second) caps the answers.
    assert int(backend.exec("client", ["python3", "-c", UDP_LOSS]).stdout) >= 1


def test_reorder_needs_netem_and_says_so_where_it_is_missing(
    testbed: tuple[NetnsBackend, FaultContext],
) -> None:
    _, ctx = testbed
    if probe().netem:
        apply(fault(network="lan2", reorder=25, delay=10), ctx)()
        assert "netem" in ctx.mechanisms[0]["mechanism"]
    else:
        with pytest.raises(FaultUnsupported, match="CONFIG_NET_SCH_NETEM"):
            apply(fault(network="lan2", reorder=25), ctx)
