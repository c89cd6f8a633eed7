"""socklab compare's table: a row per scenario, a column per kernel, the headline in each cell."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from socklab.errors import ScenarioError
from socklab.run import compare
from socklab.run.suite import Result


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


def test_backlog_gets_a_row_per_backlog_value(tmp_path: Path) -> None:
    """The book's table: rows are the backlog values, cells the connections queued."""
    folders = []
    for kernel, extra in (("a", 1), ("b", 3)):
        folder = tmp_path / kernel
        folder.mkdir()
        snapshots = {f"q{b}": {f"listen.{9100 + b}.queued": b + extra} for b in range(3)}
        (folder / "observations.json").write_text(json.dumps({"counters": snapshots}))
        folders.append(folder)
    columns = [
        compare.Column(k, "6.x", False, [Result("backlog", "pass", 1.0, "h", "b", [], str(f))])
        for k, f in zip(("a", "b"), folders, strict=True)
    ]
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(compare.table(["backlog"], columns))
    rows = [line for line in out.getvalue().splitlines() if "  backlog " in line]
    assert len(rows) == 3
    assert "1 queued" in rows[0] and "3 queued" in rows[0]  # B + 1 against B + 3
    assert "3 queued" in rows[2] and "5 queued" in rows[2]
