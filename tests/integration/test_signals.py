"""A `signal:` that reaches no process is an error of the run, never a silent pass."""

from __future__ import annotations

import pytest

from tests.conftest import BACKENDS, ROOT, leftovers, socklab

LATE = ROOT / "tests" / "integration" / "data" / "late-signal.yaml"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signal_that_reaches_no_process_fails_the_run(backend: str) -> None:
    done = socklab("run", str(LATE), "--backend", backend)
    assert done.code == 3, done.stdout[-1500:] + done.stderr[-1500:]
    assert "SIGTERM to server: none of its processes runs" in done.stderr
    assert "PASSED" not in done.stdout
    assert leftovers() == []
