"""A stdin line held back until another step is ready (`after_ready`): the gate, then `after`."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from socklab.testbed.backends.base import Feed, Process


def test_a_gated_line_waits_for_its_gate(tmp_path: Path) -> None:
    got = tmp_path / "out"
    with got.open("wb") as out:
        popen = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=out)
    gate = threading.Event()
    Process("client", ["cat"], "t-1", popen).feed([Feed("first\n"), Feed("second\n", 0.1, gate)])
    try:
        time.sleep(0.4)
        assert got.read_text() == "first\n"
        gate.set()
        assert popen.wait(5) == 0  # the second line, then stdin closed
        assert got.read_text() == "first\nsecond\n"
    finally:
        popen.kill()
