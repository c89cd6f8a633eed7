"""The book's own published programs (unpv13e, built by tests/book/build-unpv13e) pass every
scenario whose role they can play, on both backends, as a user would run them: `socklab suite
NAMES --client BOOK/tcpcli01 --server BOOK/tcpserv01`. A step keeps socklab's built-in only
where its `keeps:` says why the book's program cannot serve it.

The book's code is not part of socklab: without the binaries (at $SOCKLAB_BOOK_BIN, or
/opt/unpv13e/bin) these tests skip and say how to build them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, socklab

BOOK = Path(os.environ.get("SOCKLAB_BOOK_BIN", "/opt/unpv13e/bin"))
# (scenarios, --client, --server): every scenario with a role the book's programs play.
CASES = {
    "daytime-client": (
        ["refused", "timeout", "nohost", "unreachable", "netunreach"],
        "daytimetcpcli",
        None,
    ),
    "daytime-pair": (["bind-in-use", "bind-privileged"], "daytimetcpcli", "daytimetcpsrv1"),
    "daytime-server": (["daytime"], None, "daytimetcpsrv1"),
    "tcp-echo-pair": (["tcp-echo", "echo-concurrent", "wan"], "tcpcli01", "tcpserv01"),
    "tcp-echo-client": (["echo-iterative", "queue-full", "synflood"], "tcpcli01", None),
    "tcp-echo-server": (["bind-in-use"], None, "tcpserv01"),
    "udp-echo-pair": (["udp-echo", "udp-lost"], "udpcli01", "udpserv01"),
    "udp-echo-client": (["udp-noserver", "udp-connected"], "udpcli01", None),
}
NEEDED = sorted({p for _, c, s in CASES.values() for p in (c, s) if p})

pytestmark = pytest.mark.skipif(
    not all((BOOK / name).exists() for name in NEEDED),
    reason=f"the book's programs are not built at {BOOK} (they are not part of socklab): "
    "tests/book/build-unpv13e https://github.com/unpbook/unpv13e, or set SOCKLAB_BOOK_BIN",
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_books_programs_pass_the_scenarios_of_their_roles(
    backend: str, case: str, tmp_path: Path
) -> None:
    names, client, server = CASES[case]
    args = ["suite", *names, "--backend", backend, "--json"]
    args += ["--client", str(BOOK / client)] if client else []
    args += ["--server", str(BOOK / server)] if server else []
    done = socklab(*args, timeout=600)
    assert done.code == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert sorted(r["name"] for r in results) == sorted(names), results
    assert all(r["verdict"] == "pass" for r in results), results


# The book's IPv6 programs (intro/daytimetcpcliv6.c, daytimetcpsrvv6.c) over --family 6.
CASES6 = {
    "daytime6-client": (
        ["refused", "timeout", "nohost", "unreachable", "netunreach"],
        "daytimetcpcliv6",
        None,
    ),
    "daytime6-pair": (["daytime", "bind-privileged"], "daytimetcpcliv6", "daytimetcpsrvv6"),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES6))
def test_the_books_ipv6_programs_pass_the_scenarios_of_their_roles_over_ipv6(
    backend: str, case: str
) -> None:
    names, client, server = CASES6[case]
    if not all((BOOK / p).exists() for p in (client, server) if p):
        pytest.skip(f"the book's IPv6 programs are not built at {BOOK}")
    args = ["suite", *names, "--family", "6", "--backend", backend, "--json"]
    args += ["--client", str(BOOK / client)] if client else []
    args += ["--server", str(BOOK / server)] if server else []
    done = socklab(*args, timeout=600)
    assert done.code == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert sorted(r["name"] for r in results) == sorted(names), results
    assert all(r["verdict"] == "pass" for r in results), results
