"""Cgroups: a step's processes in a group of their own, whatever they do with their environment,
so the harness can stop every one of them at the deadline; and a netns host's limits (memory,
pids, CPU), the ones its container has.

A process that clears its environment drops socklab's ownership tag, and the tag-based stop
(base.Process.stop) no longer sees it: on compose such a child of an untraced step outlived its
deadline and acted after the run's last permission reset. Its cgroup it cannot leave (that needs
write access to cgroup files outside its box). The harness moves a step's first process into
the step's group while it is stopped, before it executes the program: every process it ever
forks is in that group, and `kill()` ends them all (cgroup.kill on v2; freeze, kill, thaw on v1).

Both layouts are handled: the unified hierarchy (cgroup v2: GitHub's runners, current Debian
and Ubuntu) and the legacy one (v1 controllers, as on hosts like this one). Where neither can
be written, `available()` says why and steps run without (doctor shows it).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
TOP = "socklab"  # netns runs' groups: <hierarchy>/socklab/<run>/<host>/<step>
V1_LIMITS = ("memory", "pids", "cpu")  # a netns host's limits, as compose.yaml gives containers
# What compose.yaml gives each container: mem_limit 512m, pids_limit 256, cpus 1.
MEMORY = 512 * 1024 * 1024
PIDS = 256
CPU_PERIOD_US = 100_000


def unified() -> bool:
    return (ROOT / "cgroup.controllers").exists()


@functools.cache
def available() -> str | None:
    """None when step groups can be made here (a probe group made and removed); else why
    not. Asked once per process."""
    if unified():
        top = ROOT
    elif (ROOT / "freezer" / "cgroup.procs").exists():
        top = ROOT / "freezer"
    else:
        return "neither a cgroup v2 hierarchy nor the v1 freezer is mounted at /sys/fs/cgroup"
    probe = top / TOP / f"probe-{os.getpid()}"
    try:
        probe.mkdir(parents=True, exist_ok=True)
        probe.rmdir()
    except OSError as err:
        return f"cannot make a group in {top}: {err.strerror}"
    return None


@dataclass
class Group:
    """One group, as a folder in each hierarchy that holds it: on v2 one folder; on v1 the
    freezer's (to stop and kill) and, for a netns host, memory's, pids' and cpu's."""

    dirs: list[Path] = field(default_factory=list)

    @property
    def v2(self) -> bool:
        return bool(self.dirs) and "freezer" not in self.dirs[0].parts

    def make(self) -> Group:
        for folder in self.dirs:
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def child(self, name: str) -> Group:
        return Group([folder / name for folder in self.dirs]).make()

    def add(self, pid: int) -> None:
        """Move a process here (the step's first, while it is stopped)."""
        for folder in self.dirs:
            (folder / "cgroup.procs").write_text(str(pid))

    def pids(self) -> list[int]:
        """Every process in the group and in the groups below it."""
        found: list[int] = []
        if not self.dirs:
            return found
        for folder, _, _ in os.walk(self.dirs[0]):
            with contextlib.suppress(OSError, ValueError):
                found += [int(line) for line in Path(folder, "cgroup.procs").read_text().split()]
        return found

    def stop(self, program: int, grace: float = 2.0) -> None:
        """At a step's deadline: SIGTERM to the program (the step's first process), as to a
        program at its deadline, and SIGKILL to it after `grace` seconds; SIGKILL at once to
        every other process of the group, whatever it did with its environment or its
        signals (a child that ignored SIGTERM acted for 2 s after the deadline before)."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if pid == program else signal.SIGKILL)
        deadline = time.monotonic() + grace
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.kill()

    def kill(self, within: float = 5.0) -> None:
        """SIGKILL to every process in the group, forking or not; returns once none is left
        (or after `within` seconds)."""
        if not self.dirs or not self.dirs[0].exists():
            return
        if self.v2:
            with contextlib.suppress(OSError):  # cgroup.kill: Linux 5.14 and later
                (self.dirs[0] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + within
        while (left := self.pids()) and time.monotonic() < deadline:
            self._freeze(True)
            for pid in self.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._freeze(False)  # a frozen process dies of SIGKILL only once thawed
            if left:
                time.sleep(0.01)

    def _freeze(self, frozen: bool) -> None:
        folder = self.dirs[0]
        with contextlib.suppress(OSError):
            if self.v2:
                (folder / "cgroup.freeze").write_text("1" if frozen else "0")
            else:
                (folder / "freezer.state").write_text("FROZEN" if frozen else "THAWED")

    def remove(self) -> None:
        """Kill what is left and remove the folders, deepest first."""
        self.kill()
        for top in self.dirs:
            if not top.exists():
                continue
            for folder, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                with contextlib.suppress(OSError):
                    Path(folder).rmdir()


def run_group(run_id: str) -> Group:
    """The folders of a netns run's groups (not made)."""
    if unified():
        return Group([ROOT / TOP / run_id])
    return Group([ROOT / name / TOP / run_id for name in ("freezer", *V1_LIMITS)])


def host_group(run_id: str, host: str) -> Group:
    """A netns host's group, made, with a container's limits: 512 MiB of memory, 256 processes,
    one CPU. Its steps' groups go below it."""
    if unified():
        _enable(ROOT, ROOT / TOP, ROOT / TOP / run_id)
        group = run_group(run_id).child(host)
        folder = group.dirs[0]
        limits = {
            folder / "memory.max": str(MEMORY),
            folder / "memory.swap.max": "0",
            folder / "pids.max": str(PIDS),
            folder / "cpu.max": f"{CPU_PERIOD_US} {CPU_PERIOD_US}",
        }
    else:
        group = run_group(run_id).child(host)
        by = {folder.parts[len(ROOT.parts)]: folder for folder in group.dirs}
        limits = {
            by["memory"] / "memory.limit_in_bytes": str(MEMORY),
            by["pids"] / "pids.max": str(PIDS),
            by["cpu"] / "cpu.cfs_period_us": str(CPU_PERIOD_US),
            by["cpu"] / "cpu.cfs_quota_us": str(CPU_PERIOD_US),
        }
    for path, value in limits.items():
        with contextlib.suppress(OSError):  # what this kernel lacks (swap accounting)
            path.write_text(value)
    return group


def _enable(*folders: Path) -> None:
    """memory, pids and cpu for the groups below each folder (v2's subtree_control)."""
    for folder in folders:
        folder.mkdir(exist_ok=True)
        for controller in ("memory", "pids", "cpu"):
            with contextlib.suppress(OSError):
                (folder / "cgroup.subtree_control").write_text(f"+{controller}")


def of_process(pid: int) -> Group | None:
    """The group a process is in (a container's first process: the container's group), as
    the folder to hang a step's group from: v2's, or v1's freezer's."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if unified() and number == "0":
            return Group([ROOT / path.lstrip("/")])
        if not unified() and "freezer" in controllers.split(","):
            return Group([ROOT / "freezer" / path.lstrip("/")])
    return None


def stale_runs() -> list[str]:
    """Run ids that have a netns group folder."""
    tops = [ROOT / TOP] if unified() else [ROOT / name / TOP for name in ("freezer", *V1_LIMITS)]
    found: set[str] = set()
    for top in tops:
        with contextlib.suppress(OSError):
            found |= {p.name for p in top.iterdir() if p.is_dir()}
    return sorted(found)
