"""The book's programs in C, in place of the Python ones, judged by the same expectations from
the outside (strace and tcpdump): the proof that a scenario judges any program, not its own.

Each case is `socklab suite NAMES --client C [--server C]` as a user would type it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, ROOT, socklab

C = ROOT / "harness" / "programs" / "c" / "bin"
CASES = {
    "daytimetcpcli": (
        ["refused", "timeout", "nohost", "unreachable", "netunreach"],
        "daytimetcpcli",
        None,
    ),
    "tcp-echo": (["tcp-echo"], "tcpcli01", "tcpserv01"),
    "udpcli01": (["udp-connected", "udp-noserver"], "udpcli01", None),
    "udp-echo": (["udp-echo"], "udpcli01", "udpserv01"),
    "udp-overrun": (["udp-overrun"], "dgcliloop1", "dgecholoop1"),
}


# One test per scenario, so a parallel test run spreads them (five in one took 39 s).
PAIRS = [(case, name) for case in sorted(CASES) for name in CASES[case][0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "name"), PAIRS, ids=[f"{c}:{n}" for c, n in PAIRS])
def test_the_c_programs_pass_the_scenarios_written_for_the_python_ones(
    backend: str, case: str, name: str, clean_machine: None, tmp_path: Path
) -> None:
    _, client, server = CASES[case]
    names = [name]
    assert (C / client).exists(), "make c-programs builds them (make setup does)"
    args = ["suite", *names, "--backend", backend, "--client", str(C / client)]
    if server:
        args += ["--server", str(C / server)]
    junit = tmp_path / "junit.xml"
    result = socklab(*args, "--junit-xml", str(junit), timeout=400)
    assert result.code == 0, result.stdout[-4000:] + result.stderr[-2000:]
    text = junit.read_text()
    assert f'tests="{len(names)}"' in text and 'failures="0"' in text and "<skipped" not in text


def test_the_c_client_played_every_step_of_refused(clean_machine: None) -> None:
    result = socklab(
        "run", "refused", "--backend", "netns", "--client", str(C / "daytimetcpcli"), "--json"
    )
    assert result.code == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["played"] == ["client"] and report["skipped"] == []
    assert report["steps"]["client"]["argv"][0] == str(C / "daytimetcpcli")
    connect = next(c for c in report["steps"]["client"]["calls"] if c["call"] == "connect")
    assert connect["errno"] == "ECONNREFUSED"
