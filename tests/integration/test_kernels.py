"""Another kernel: Debian bookworm's stock 6.1 booted under QEMU (TCG), socklab's netns backend
inside. The path the design card names, pyroute2 putting a netem qdisc on a link, runs there
(this machine's kernel has no sch_netem, GitHub's runners have it)."""

from __future__ import annotations

import pytest

from harness import vm
from harness.errors import BackendUnavailable
from tests.conftest import ROOT, socklab

DATA = ROOT / "tests" / "integration" / "data"


def stock_kernel_or_skip() -> None:
    if vm.missing_tools():
        pytest.skip(f"--kernel needs {', '.join(sorted(set(vm.missing_tools())))}")
    try:
        vm.package_of("debian-6.1")
    except BackendUnavailable as err:
        pytest.skip(f"no Debian bookworm kernel package here: {err}")


# A TCG guest keeps both cores busy: alone, or the timing scenarios beside it would measure the
# emulator.
@pytest.mark.serial
def test_a_link_delay_goes_through_netem_on_the_stock_kernel(clean_machine: None) -> None:
    stock_kernel_or_skip()
    result = socklab(
        "run", str(DATA / "netem.yaml"), "--kernel", "debian-6.1", "--json", timeout=900
    )
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = result.json()
    assert data["kernel"].startswith("6.1.") and data["guest"] == "qemu-tcg"
    (mechanism,) = data["mechanisms"]
    assert mechanism["mechanism"].startswith("netem"), mechanism
    assert any("netem" in note and "pyroute2" in note for note in data["faults"]), data["faults"]
    (connect,) = [c for c in data["steps"]["client"]["calls"] if c["call"] == "connect"]
    assert connect["duration"] >= 0.3  # the SYN-ACK waited 300 ms in the router's qdisc
