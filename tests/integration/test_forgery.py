"""What the verdict reads is out of the judged program's reach: a program that forges its own
strace record (a connect() to the server that failed with ENETUNREACH, written into every file
it can reach) is judged on what it did, which was no connect() at all. On both backends."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, ROOT, socklab

FORGER = ROOT / "tests" / "integration" / "data" / "forger.yaml"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_forged_strace_line_is_not_evidence(backend: str) -> None:
    done = socklab("run", str(FORGER), "--backend", backend, "--json")
    assert done.code == 1, done.stderr[-2000:]
    data = done.json()
    step = data["steps"]["client"]
    assert step["exit_code"] == 1
    assert not [c for c in step["calls"] if c["name"] == "connect"], step["calls"]
    (errno,) = [o for o in data["expectations"] if o["kind"] == "errno"]
    assert not errno["passed"]
