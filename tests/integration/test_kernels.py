"""Another kernel: Debian bookworm's stock 6.1 booted under QEMU (TCG), socklab's netns backend
inside. The path the design card names, pyroute2 putting a netem qdisc on a link, runs there
(this machine's kernel has no sch_netem, GitHub's runners have it)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from socklab.errors import BackendUnavailable
from socklab.testbed import vm

from tests.conftest import ROOT, socklab

DATA = ROOT / "tests" / "integration" / "data"


def stock_kernel_or_skip() -> None:
    if vm.missing_tools():
        pytest.skip(f"--kernel needs {', '.join(sorted(set(vm.missing_tools())))}")
    try:
        vm.package_of("debian-6.1")
    except BackendUnavailable as err:
        pytest.skip(f"no Debian bookworm kernel package here: {err}")


# A TCG guest takes up to both cores: never beside the parallel tests, whose timing scenarios
# would measure the emulator; beside the other serial tests (make test runs `-m "serial and
# guest"` in a second pytest), whose few timing checks are of sub-second kernel answers. The
# guest makes nothing on the machine but a locked run (no namespace, link, rule or container),
# so these tests do not ask for a clean machine: the other lane leaves leftovers on purpose
# for a moment (kill -9, then `socklab clean`). One boot runs three scenarios.
@pytest.mark.serial
@pytest.mark.guest
def test_the_netem_path_on_the_stock_kernel() -> None:
    stock_kernel_or_skip()
    # three scenarios, each a netem path (refused, which has none, ran here too: 20 s of TCG)
    names = ["wan", str(DATA / "netem.yaml"), str(DATA / "duplicate.yaml")]
    result = socklab("suite", *names, "--kernel", "debian-6.1", "--json", timeout=900)
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = result.json()
    assert [r["verdict"] for r in results] == ["pass"] * 3, results
    wan, netem, duplicate = (
        json.loads((Path(r["rundir"]) / "report.json").read_text()) for r in results
    )
    for data in (wan, netem, duplicate):
        assert data["kernel"].startswith("6.1.") and data["guest"] == "qemu-tcg"
        assert data["passed"]

    # wan: loss and delay both through one netem qdisc per link, set with pyroute2
    assert len(wan["mechanisms"]) == 2
    for mechanism in wan["mechanisms"]:
        assert mechanism["mechanism"] == "netem via pyroute2 (loss, delay)", mechanism

    # a delay: the SYN-ACK waited 300 ms in the router's qdisc
    (mechanism,) = netem["mechanisms"]
    assert mechanism["mechanism"].startswith("netem via pyroute2"), mechanism
    (connect,) = [c for c in netem["steps"]["client"]["calls"] if c["call"] == "connect"]
    assert connect["duration"] >= 0.3

    # duplicate, which only netem has: 20 datagrams sent, 40 in the pcap on each link
    (mechanism,) = duplicate["mechanisms"]
    assert mechanism["mechanism"] == "netem via pyroute2 (duplicate)", mechanism
    sent = [c for c in duplicate["steps"]["client"]["calls"] if c["call"] == "sendto"]
    assert len(sent) == 20
    for link in ("lan1", "lan2"):
        seen = [
            p
            for p in duplicate["packets"]
            if p["link"] == link and p["proto"] == "udp" and p["dport"] == 9877 and p["evidence"]
        ]
        assert len(seen) == 40, (link, len(seen))


@pytest.mark.serial
@pytest.mark.guest
def test_a_kill_9_of_socklab_leaves_no_qemu() -> None:
    """QEMU dies with socklab, even by SIGKILL: nothing of the guest outlives the run."""
    stock_kernel_or_skip()
    vm.fetch("debian-6.1", lambda text: None)  # the download is not what this times
    run = subprocess.Popen(
        [sys.executable, "-m", "socklab.cli", "run", "refused", "--kernel", "debian-6.1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not qemu_of(run.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        (qemu,) = qemu_of(run.pid)
    finally:
        run.kill()
        run.wait(30)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{qemu}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{qemu}").exists(), f"QEMU {qemu} outlived socklab"


def qemu_of(parent: int) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", "qemu-system"], capture_output=True, text=True
    )
    return [int(pid) for pid in found.stdout.split()]
