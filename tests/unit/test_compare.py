"""socklab compare's table: a row per scenario, a column per kernel, the headline in each cell."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from harness import compare
from harness.errors import ScenarioError
from harness.suite import Result


def result(name: str, verdict: str, headline: str) -> Result:
    return Result(name, verdict, 1.0, headline, "the book", [])


def test_kernels_are_named_once_each() -> None:
    assert compare.parse_kernels("host, debian-6.1") == ["host", "debian-6.1"]
    for bad in ("", " , ", "host,host"):
        with pytest.raises(ScenarioError):
            compare.parse_kernels(bad)


def test_one_row_per_scenario_one_column_per_kernel() -> None:
    columns = [
        compare.Column(
            "host", "6.18.44", False, [result("timeout", "pass", "ETIMEDOUT after 7.1 s")]
        ),
        compare.Column(
            "debian-6.1",
            "6.1.0-56-amd64",
            True,
            [result("timeout", "FAIL", "ETIMEDOUT after 3.0 s"), result("refused", "pass", "x")],
        ),
    ]
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(
        compare.table(["refused", "timeout"], columns)
    )
    lines = out.getvalue().splitlines()
    header = next(line for line in lines if "host: Linux 6.18.44" in line)
    assert "debian-6.1: Linux 6.1.0-56-amd64 (QEMU TCG)" in header
    refused = next(line for line in lines if line.startswith("│ refused"))
    assert "not run" in refused and "pass  x" in refused
    timeout = next(line for line in lines if line.startswith("│ timeout"))
    assert "pass  ETIMEDOUT after 7.1 s" in timeout and "FAIL  ETIMEDOUT after 3.0 s" in timeout
