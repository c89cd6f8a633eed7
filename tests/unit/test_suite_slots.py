"""A parallel suite's child frees its place once it has observed all, before its teardown
ends; a child that dies first frees it too. Real forks; the run itself is faked."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from socklab.run import runner, suite


def until(check: object, deadline: float = 10.0) -> float:
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < deadline, "never happened"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_run_frees_its_place_when_observed_not_when_torn_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run() -> int:
        time.sleep(0.2)  # the scenario
        runner.OBSERVED()
        time.sleep(1.5)  # its teardown
        return 0

    child = suite.fork_run(run, tmp_path / "out", tmp_path / "err")
    assert not child.observed()
    until(child.observed)
    assert child.poll() is None, "the place was freed only when the child ended"
    assert child.wait(10) == 0


def test_a_child_that_dies_before_observing_frees_its_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash() -> int:
        raise RuntimeError("the run broke")

    child = suite.fork_run(crash, tmp_path / "out", tmp_path / "err")
    until(lambda: child.poll() is not None)
    assert child.returncode == 70 and child.observed()
