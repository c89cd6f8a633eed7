"""`socklab suite -j N`: several scenarios at once, one table in the scenarios' order, and a
Ctrl-C that stops every run and leaves nothing."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, everything, leftovers, socklab

NAMES = ["udp-noserver", "refused", "nohost", "daytime"]
LONG = ["timeout", "backlog", "synflood"]


def test_a_parallel_suite_runs_them_together_and_prints_them_in_order(
    tmp_path: Path, clean_machine: None
) -> None:
    junit = tmp_path / "junit.xml"
    result = socklab(
        "suite", *NAMES, "-j", "4", "--backend", "netns", "--junit-xml", str(junit), timeout=300
    )
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-2000:]
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│ netns" in line]
    assert rows == NAMES, result.stdout
    # they ran together: the progress says so, from socklab's own count of live children
    running = [int(n) for n in re.findall(r"\((\d+) running", result.stderr)]
    assert max(running) >= 2, result.stderr
    assert re.search(r"4 scenarios in [\d.]+ s wall time, up to 4 at once", result.stdout)
    assert 'tests="4"' in junit.read_text() and 'failures="0"' in junit.read_text()
    # index.html: one row per scenario, each linking to a report.html that exists
    found = re.search(r"each one's report: (\S+index\.html)", result.stdout.replace("\n", ""))
    assert found, result.stdout
    index = Path(found.group(1))
    links = re.findall(r'<a href="([^"]+)">([a-z-]+)</a>', index.read_text())
    assert [name for _, name in links] == NAMES
    for href, name in links:
        page = (index.parent / href).resolve()
        assert page.name == "report.html" and page.parent.name.startswith(name + "-")
        assert page.is_file() and "PASSED" in page.read_text()


def test_a_scenario_named_twice_runs_twice_with_its_own_result() -> None:
    """Results were kept by name: the table showed one run twice, and could hide the other's
    ERROR behind two passes (hostile tester, 3 of 3)."""
    result = socklab(
        "suite",
        "refused",
        "udp-echo",
        "refused",
        "-j",
        "3",
        "--backend",
        "netns",
        "--json",
        timeout=300,
    )
    assert result.code == 0, result.stderr[-2000:]
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["refused", "udp-echo", "refused"]
    assert len({row["rundir"] for row in rows}) == 3, rows


def test_bad_jobs_is_a_usage_error() -> None:
    result = socklab("suite", "refused", "-j", "0", "--backend", "netns")
    assert result.code == 2 and "--jobs 0" in result.stderr


@pytest.mark.serial
def test_ctrl_c_stops_every_run_of_a_parallel_suite_and_leaves_nothing(
    clean_machine: None,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "socklab.cli", "suite", *LONG, "-j", "3", "--backend", "netns"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len({i.split("-")[1] for i in everything() if i.startswith("netns sl-")}) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # the impatient second Ctrl-C
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "stopping 3 running scenario(s)" in err
    assert leftovers() == [] and everything() == [], everything()
    # the runs are forked children: they carry this suite's command line (not another's, such
    # as the QEMU guest's test beside this one)
    pattern = f"socklab.cli suite {' '.join(LONG)} -j 3"
    children = subprocess.run(["pgrep", "-f", pattern], capture_output=True, check=False)
    assert children.returncode != 0, children.stdout


@pytest.mark.serial
def test_kill_9_of_a_parallel_suite_still_stops_its_runs(clean_machine: None) -> None:
    """Its runs are forked children: each gets SIGTERM when the suite dies and tears down by
    itself, with no `socklab clean` (they used to run on to their end, for ~15 s here)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "socklab.cli", "suite", *LONG, "-j", "3", "--backend", "netns"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len({i.split("-")[1] for i in everything() if i.startswith("netns sl-")}) < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "the runs never started"
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pattern = f"socklab.cli suite {' '.join(LONG)} -j 3"
    deadline = time.monotonic() + 8  # the shortest of the three runs on for 9 s more
    while everything() or subprocess.run(["pgrep", "-f", pattern], capture_output=True).stdout:
        assert time.monotonic() < deadline, f"still there 8 s after kill -9: {everything()}"
        time.sleep(0.2)
    assert leftovers() == []
