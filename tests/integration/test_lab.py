"""A lab to step into, on both backends: `socklab up` keeps the hosts, `exec` and `shell` (a
real terminal, through tmux) reach them, `clean` spares a lab that is up and removes one whose
hosts are gone, `down` leaves nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, ROOT, leftovers, socklab

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


def lab_of(run: str) -> dict[str, Any]:
    labs = socklab("ps", "--json").json()
    mine: list[dict[str, Any]] = [lab for lab in labs if lab["id"] == run]
    assert mine, labs
    return mine[0]


def bring_up(backend: str, *scenario: str) -> str:
    done = socklab("up", *scenario, "--backend", backend)
    assert done.code == 0, done.stderr
    found = re.search(r"^lab ([0-9a-f]{6}) is up", done.stdout, re.M)
    assert found, done.stdout
    return found.group(1)


def mine(run: str) -> list[str]:
    return [item for item in leftovers() if run in item]


def test_up_exec_shell_clean_down(backend: str, tmp_path: Path) -> None:
    run = bring_up(backend, "refused")
    try:
        lab = lab_of(run)
        server = lab["addresses"]["server"]
        listing = socklab("exec", "client", "--lab", run, "--", "ss", "-tan")
        assert listing.code == 0 and "State" in listing.stdout, listing.stderr
        # refused's world: nothing listens on the server's port 13
        probe = socklab(
            "exec", "client", "--lab", run, "--", "bash", "-c", f"echo > /dev/tcp/{server}/13"
        )
        assert probe.code == 1 and "Connection refused" in probe.stderr, probe.stderr
        plain = socklab("exec", "client", "--lab", run, "ss", "-tan")  # no --: as people type
        assert plain.code == 0 and "State" in plain.stdout, plain.stderr
        capture_with_a_filter(run, server)
        piped = subprocess.run(
            [sys.executable, "-m", "socklab.cli", "shell", "server", "--lab", run],
            input="ip -4 -br addr\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # not interactive: the command's output alone, no prompt, no job-control warning
        assert piped.returncode == 0 and server in piped.stdout, piped.stderr
        assert "job control" not in piped.stderr and "socklab:server" not in piped.stdout

        assert socklab("clean").code == 0
        assert lab_of(run)["state"] == "up" and lab_of(run)["missing"] == []
        again = socklab("exec", "server", "--lab", run, "--", "ip", "-4", "-br", "addr")
        assert server in again.stdout, again.stderr

        shell_through_tmux(run, server)
    finally:
        down = socklab("down", run)
    assert down.code == 0, down.stderr
    assert f"lab {run} is down" in down.stdout
    assert mine(run) == []
    assert run not in [lab["id"] for lab in socklab("ps", "--json").json()]
    assert not list((ROOT / "runs").glob(f"lab.*-{run}"))


CLI = [sys.executable, "-m", "socklab.cli"]


def capture_with_a_filter(run: str, server: str) -> None:
    """`capture LINK FILTER`: tcpdump's expression, so ARP and the rest stay out."""
    capture = subprocess.Popen(
        [*CLI, "capture", "lan1", "--lab", run, "-c", "1", "tcp", "port", "13"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # tcpdump says when it listens
            time.sleep(0.5)
            socklab("exec", "client", "--lab", run, "bash", "-c", f"echo > /dev/tcp/{server}/13")
            if capture.poll() is not None:
                break
        out, err = capture.communicate(timeout=20)
    finally:
        capture.kill()
    assert capture.returncode == 0, err
    (line,) = out.splitlines()
    assert f"{server}.13: Flags [S]" in line, out


def shell_through_tmux(run: str, server: str) -> None:
    """A person's shell: a terminal (tmux) runs `socklab shell server`, keys are typed, the
    screen is read."""
    assert shutil.which("tmux"), "make setup installs tmux"
    session = f"socklab-test-{run}"
    command = f"{sys.executable} -m socklab.cli shell server --lab {run}"
    tmux = ["tmux", "-L", session]
    subprocess.run(
        [
            *tmux,
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "120",
            "-y",
            "30",
            "-c",
            str(ROOT),
            command,
        ],
        check=True,
        timeout=30,
    )
    try:
        keys = "ip -4 -br addr; echo READY-$((6*7))"
        subprocess.run([*tmux, "send-keys", "-t", session, keys, "Enter"], check=True, timeout=10)
        screen = ""
        deadline = time.monotonic() + 30
        while "READY-42" not in screen and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", session],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
        assert "READY-42" in screen, screen
        assert "socklab:server#" in screen, screen
        assert server in screen, screen
        subprocess.run([*tmux, "send-keys", "-t", session, "exit", "Enter"], timeout=10)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=10, check=False)


@pytest.mark.serial  # another test's `socklab run` or `clean` would reap it first
def test_clean_removes_a_lab_whose_hosts_are_gone(backend: str) -> None:
    run = bring_up(backend)
    lab = lab_of(run)
    assert lab["scenario"] == "" and lab["faults"] == []
    if backend == "netns":
        subprocess.run(["ip", "netns", "del", lab["netns"]["router"].split("/")[-1]], check=True)
    else:
        # a restarted container is not the one the lab set up: its faults and routes are gone
        subprocess.run(
            ["docker", "restart", "-t", "1", lab["containers"]["router"]],
            check=True,
            capture_output=True,
            timeout=60,
        )
    assert lab_of(run)["missing"] == ["router"]
    failed = socklab("exec", "client", "--lab", run, "--", "true")
    assert failed.code == 3 and "lost router" in failed.stderr, failed.stderr
    # capture enters the router's namespace: it must not make a missing one anew
    capture = socklab("capture", "lan1", "--lab", run, "-c", "1", timeout=60)
    assert capture.code == 3 and "lost router" in capture.stderr, capture.stderr
    assert lab_of(run)["missing"] == ["router"]
    done = socklab("clean")
    assert done.code == 0, done.stderr
    assert f"lab {run}: router gone" in done.stderr + done.stdout
    assert mine(run) == []
    assert run not in [lab["id"] for lab in socklab("ps", "--json").json()]


def test_lab_commands_say_what_is_wrong(backend: str) -> None:
    none = socklab("exec", "client", "--lab", "nosuch", "--", "true")
    assert none.code == 2 and "no lab 'nosuch'" in none.stderr
    run = bring_up(backend)
    try:
        host = socklab("exec", "dns", "--lab", run, "--", "true")
        assert host.code == 2 and "the hosts are client, router, server" in host.stderr
        link = socklab("capture", "lan3", "--lab", run)
        assert link.code == 2 and "the links are lan1, lan2" in link.stderr
        empty = socklab("exec", "client", "--lab", run, "--")
        assert empty.code == 2 and "no command given" in empty.stderr
        zero = socklab("capture", "lan1", "--lab", run, "-c", "0")
        assert zero.code == 2 and "needs 1 or more" in zero.stderr
        nowhere = socklab("capture", "lan1", "--lab", run, "-w", "/nonexistent/dir/x.pcap")
        assert nowhere.code == 2 and "no folder /nonexistent/dir" in nowhere.stderr
    finally:
        assert socklab("down", run).code == 0
    assert mine(run) == []


@pytest.mark.serial  # another test's `socklab run` or `clean` would reap it first
def test_ps_tells_a_lab_whose_delay_no_longer_applies(backend: str) -> None:
    """wan's delay, where the kernel has no sch_netem, is an NFQUEUE delayer process on the
    machine: once it dies packets pass undelayed (--queue-bypass), and ps says so (it showed
    the lab up, its delay listed, before)."""
    run = bring_up(backend, "wan")
    try:
        lab = lab_of(run)
        if not lab["keepers"]:
            pytest.skip("this kernel has sch_netem: wan's delay is a qdisc, with no process")
        assert lab["lapsed"] == []
        pid, what = next(iter(lab["keepers"].items()))
        subprocess.run(["kill", "-9", pid], check=True)
        deadline = time.monotonic() + 10
        while lab_of(run)["lapsed"] != [what] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lab_of(run)["lapsed"] == [what]
        shown = socklab("ps")
        assert "partly broken" in shown.stdout and "no longer" in shown.stdout, shown.stdout
    finally:
        assert socklab("down", run).code == 0
    assert mine(run) == []
