"""What a program in a host cannot do to the machine, the same on both backends: write the
kernel's settings (machine-wide ones, or its own namespace's that the scenario's faults set),
or read the harness's environment anywhere in its box. Before the netns box covered /proc/sys
and started bwrap with a plain environment, the probe wrote vm.swappiness on the machine, undid
its tcp_syn_retries fault, and found the harness's variables in /proc/1/environ."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, ROOT, socklab

BOX = ROOT / "tests" / "integration" / "data" / "box.yaml"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_program_can_neither_write_sysctls_nor_read_the_harness_environment(
    backend: str,
) -> None:
    done = socklab(
        "run", str(BOX), "--backend", backend, "--json", env={"SOCKLAB_BOX_PROBE": "secret"}
    )
    assert done.code == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert done.json()["steps"]["probe"]["stdout"].split("\n")[:2] == [
        "syn_retries 2",
        "probe seen 0",
    ]
    # the outbox kept on disk holds each file once and never more than the quota
    outbox = Path(done.json()["rundir"]) / "hosts" / "client"
    kept = sum(p.stat().st_size for p in outbox.rglob("*") if p.is_file())
    assert kept <= 64 * 1024 * 1024, kept


ESCAPE = ROOT / "tests" / "integration" / "data" / "escape.yaml"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_child_that_dropped_the_tag_is_stopped_at_its_steps_deadline(backend: str) -> None:
    """On compose the child, its environment cleared, wrote into the outbox 2 s after its
    step's deadline (and could chmod it 0777): the tag-based stop did not see it. It is in its
    step's cgroup, and the deadline's stop reaches it."""
    done = socklab("run", str(ESCAPE), "--backend", backend, "--json")
    assert done.code == 0, done.stdout[-3000:] + done.stderr[-2000:]
    outbox = Path(done.json()["rundir"]) / "hosts" / "client"
    assert not (outbox / "late").exists()
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o755
