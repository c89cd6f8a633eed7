"""A run removes everything it made: on success, on SIGTERM, and after kill -9 (via clean).

Also: two runs at once do not collide, and bad input runs nothing and leaves nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import ROOT, everything, leftovers, socklab

LONG = """
name: long
title: a run that is still going when it is interrupted
book: {section: test, shows: test, trace: test}
explain: test
steps:
  - run: {name: server, host: server, program: tcpserv01, background: true, ready: {tcp: 9877}}
  - sleep: 60
expect:
  - exit: {step: server, code: 0}
"""


def start_long(tmp_path: Path, backend: str) -> subprocess.Popen[str]:
    path = tmp_path / "long.yaml"
    path.write_text(LONG)
    return subprocess.Popen(
        [sys.executable, "-m", "socklab.cli", "run", str(path), "--backend", backend],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_running(proc: subprocess.Popen[str], deadline: float = 60) -> None:
    """Until the server program of the run exists (its hosts, rules and processes too)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = subprocess.run(
            ["pgrep", "-f", "programs/tcpserv01.py"], capture_output=True, check=False
        )
        if found.returncode == 0 and everything():  # the run's own things: it is live
            time.sleep(0.3)
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the run never got its server going")


def no_programs_left() -> bool:
    found = subprocess.run(
        ["pgrep", "-f", "programs/tcpserv01.py"], capture_output=True, check=False
    )
    return found.returncode != 0


@pytest.mark.serial
@pytest.mark.parametrize("backend", ["netns", "compose"])
def test_sigterm_mid_run_tears_everything_down(
    backend: str, tmp_path: Path, clean_machine: None
) -> None:
    proc = start_long(tmp_path, backend)
    wait_until_running(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "everything the run made was removed" in err
    assert no_programs_left()


@pytest.mark.serial
@pytest.mark.parametrize("backend", ["netns", "compose"])
def test_after_kill_9_clean_removes_the_leftovers(
    backend: str, tmp_path: Path, clean_machine: None
) -> None:
    proc = start_long(tmp_path, backend)
    wait_until_running(proc)
    proc.kill()
    proc.communicate(timeout=30)
    assert leftovers(), "kill -9 should have left the hosts behind for clean to find"
    result = socklab("clean", timeout=120)
    assert result.code == 0, result.stderr
    assert "removed" in result.stdout
    assert no_programs_left()


# Serial: while dockerd creates or removes any network it takes the DOCKER-USER jump out of
# FORWARD for ~25 ms (measured), and a routed SYN then dies in Docker's isolation rules: a
# third run starting meanwhile costs refused a 1 s retransmission. It also caught a real bug:
# a retry after a taken slot used to lose the run's DOCKER-USER rules.
@pytest.mark.serial
def test_two_compose_runs_at_once_do_not_collide(clean_machine: None) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(
            pool.map(
                lambda _: socklab("run", "refused", "--backend", "compose", "--json"), range(2)
            )
        )
    for run in runs:
        assert run.code == 0, run.stderr[-2000:]
    subnets = {run.json()["addresses"]["lan1.subnet"] for run in runs}
    assert len(subnets) == 2, "each run needs its own subnets"


def test_unknown_scenario_exits_2_and_suggests(clean_machine: None) -> None:
    result = socklab("run", "refsued", "--backend", "netns")
    assert result.code == 2
    assert "did you mean 'refused'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.serial
def test_invalid_scenario_file_names_the_field_and_runs_nothing(
    tmp_path: Path, clean_machine: None
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(LONG.replace("host: server", "host: mainframe"))
    runs_before = set((ROOT / "runs").glob("*"))
    result = socklab("run", str(bad), "--backend", "netns")
    assert result.code == 2
    assert "steps.0.run.host" in result.stderr
    assert str(bad) in result.stderr
    assert set((ROOT / "runs").glob("*")) == runs_before, "a bad file must not start a run"


def test_unknown_backend_is_a_usage_error(clean_machine: None) -> None:
    result = socklab("run", "refused", "--backend", "vagrant")
    assert result.code == 2
    assert "invalid choice" in result.stderr


@pytest.mark.serial
def test_clean_removes_a_probe_namespace_left_by_an_interrupted_probe(
    clean_machine: None,
) -> None:
    """kill -9 during the capability probe leaves `sl-<id>-probe`: clean owns it too."""
    subprocess.run(["ip", "netns", "add", "sl-0dead0-probe"], check=True)
    try:
        assert "netns sl-0dead0-probe" in leftovers()
        result = socklab("clean", timeout=120)
        assert result.code == 0, result.stderr
        assert "sl-0dead0-probe" in result.stdout
        assert "netns sl-0dead0-probe" not in leftovers()
    finally:
        subprocess.run(["ip", "netns", "del", "sl-0dead0-probe"], check=False, capture_output=True)


@pytest.mark.serial
@pytest.mark.parametrize("backend", ["netns", "compose"])
def test_a_program_that_crashes_hangs_floods_or_forks_is_stopped_and_leaves_nothing(
    backend: str, clean_machine: None
) -> None:
    scenario = ROOT / "tests" / "integration" / "data" / "hostile.yaml"
    result = socklab("run", str(scenario), "--backend", backend, "--json", timeout=180)
    assert result.code == 0, result.stderr[-3000:]
    steps = result.json()["steps"]
    assert steps["crash"]["exit_code"] == 128 + 11 and not steps["crash"]["stopped_by_harness"]
    assert steps["hang"]["stopped_by_harness"]
    # forks: stopped at its deadline, or (in a host with a container's limit of 256 processes)
    # ended by the shell itself once fork failed
    forks = steps["forks"]
    assert forks["stopped_by_harness"] or forks["exit_code"] not in (0, None), forks
    # yes(1) writes until SIGXFSZ at the 64 MiB cap; the report keeps its first MiB
    rundir = Path(result.json()["rundir"])
    assert (rundir / "flood.stdout").stat().st_size <= 64 * 1024 * 1024
    assert len(steps["flood"]["stdout"]) < 2 * 1024 * 1024
    assert (rundir / "observations.json").stat().st_size < 16 * 1024 * 1024
    found = subprocess.run(["pgrep", "-f", "sleep 1000|s.recv"], capture_output=True, check=False)
    assert found.returncode != 0, f"left running: {found.stdout}"


@pytest.mark.serial
@pytest.mark.parametrize("backend", ["netns", "compose"])
def test_signals_at_random_points_and_during_teardown_leave_nothing(
    backend: str, tmp_path: Path, clean_machine: None
) -> None:
    """SIGINT, SIGTERM or SIGHUP at a random moment of a run, then more of them while it tears
    down (an impatient user's second and third Ctrl-C): nothing is left, every time.
    SOCKLAB_SOAK=20 runs 20 trials per backend instead of 4 (the soak in the closing notes)."""
    chooser = random.Random(9)
    signals = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    for trial in range(int(os.environ.get("SOCKLAB_SOAK", "4"))):
        proc = start_long(tmp_path, backend)
        if trial % 2:
            wait_until_running(proc)
        time.sleep(chooser.uniform(0.0, 1.5))
        proc.send_signal(chooser.choice(signals))
        for _ in range(3):
            time.sleep(chooser.uniform(0.05, 0.4))
            if proc.poll() is None:
                proc.send_signal(chooser.choice(signals))
        _, err = proc.communicate(timeout=90)
        # A signal that lands while Python starts (default action: death by the signal) or
        # imports socklab (128+N) ends it with nothing said and nothing made; after that,
        # socklab's own exit code.
        early = (proc.returncode in (129, 130, 143) or proc.returncode < 0) and not err
        assert proc.returncode in (130, 0, 1) or early, err[-2000:]
        assert leftovers() == [], f"trial {trial}: {leftovers()}\n{err[-2000:]}"
        assert no_programs_left(), f"trial {trial}"
