"""socklab in a box: `docker run ... socklab:latest run NAME` runs the netns backend inside
one container and leaves the runs folder, owned by the owner of the working directory, in
it. Built by `make box`; without the image this skips and says so (make test does not build it:
about a minute, apt included)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

# --privileged on Docker Desktop; here the engine cannot grant CAP_SYS_RESOURCE, so the
# capabilities the netns backend needs, one by one
BOX = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
    "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined",
    "--security-opt", "apparmor=unconfined", "--security-opt", "systempaths=unconfined",
]  # fmt: skip


def box(
    *args: str, work: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    mount = ["-v", f"{work}:/work"] if work else []
    return subprocess.run(
        ["docker", "run", "--rm", *BOX, *mount, "socklab:latest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# serial: the suite inside takes both cores for half a minute, which would skew the timing of
# the parallel tests; the serial lane has the time (the QEMU lane beside it is longer)
pytestmark = [
    pytest.mark.serial,
    pytest.mark.skipif(
        subprocess.run(
            ["docker", "image", "inspect", "socklab:latest"], capture_output=True, check=False
        ).returncode
        != 0,
        reason="no socklab:latest image here: make box builds it",
    ),
]


def test_the_whole_suite_passes_in_the_box_and_the_runs_are_yours(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    import os

    os.chown(work, 1234, 1234)
    done = box("suite", "-j", "2", "--json", work=work, timeout=600)  # beside the QEMU lane
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(done.stdout)
    assert len(results) == 23 and {r["verdict"] for r in results} == {"pass"}, results
    runs = work / "runs"
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in [runs, *runs.rglob("*")]}
    assert owners == {(1234, 1234)}, owners


def test_what_the_box_cannot_do_it_says() -> None:
    compose = box("run", "refused", "--backend", "compose")
    assert compose.returncode == 2 and "netns backend only" in compose.stderr, compose.stderr
    plain = subprocess.run(
        ["docker", "run", "--rm", "socklab:latest", "run", "refused"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert plain.returncode == 3 and "--privileged" in plain.stderr, plain.stderr
