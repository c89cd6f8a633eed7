"""An echo server that changes the bytes it sends back fails the echo scenarios, judged from
the captured bytes. The wrong UDP server (last byte of each datagram changed) passed every
other expectation of udp-echo: the printed lines still contain what they look for."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, ROOT, socklab

WRONG = ROOT / "tests" / "integration" / "data" / "wrong-echo"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_udp_echo_server_that_changes_a_byte_fails(backend: str) -> None:
    done = socklab(
        "run", "udp-echo", "--backend", backend, "--server", str(WRONG / "udpserv"), "--json"
    )
    assert done.code == 1, done.stderr[-2000:]
    failed = [o for o in done.json()["expectations"] if not o["passed"]]
    assert [o["kind"] for o in failed] == ["echoed"], failed
    # the first conversation judged may be either client's: its last byte came back as '?'
    seen = failed[0]["observed"]
    assert "came back; they differ from byte" in seen and "got b'?'" in seen, seen


def test_a_tcp_echo_server_that_adds_a_byte_fails() -> None:
    done = socklab(
        "run", "tcp-echo", "--backend", "netns", "--server", str(WRONG / "tcpserv"), "--json"
    )
    assert done.code == 1, done.stderr[-2000:]
    (echoed,) = [o for o in done.json()["expectations"] if o["kind"] == "echoed"]
    assert not echoed["passed"] and "29 bytes sent, 31 came back" in echoed["observed"], echoed
