"""The labs that are up, as their state files say (/run/socklab/labs/ID.json): what `socklab
up` registers and `socklab clean` and `ps` read. Below lab.py and clean.py, which both need it."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..testbed import ownership

LAB_DIR = ownership.LAB_DIR


@dataclass
class Lab:
    id: str
    backend: str
    scenario: str  # "" for hosts with no faults
    rundir: str
    created: float
    state: str  # "up", or "down" while `socklab down` removes it
    netns: dict[str, str] = field(default_factory=dict)  # host -> /run/netns/... (netns)
    containers: dict[str, str] = field(default_factory=dict)  # host -> name (compose)
    # host -> its container's first process when the lab came up: another one means the
    # container was restarted, and its faults and routes with it are gone
    pids: dict[str, int] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, str] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    # pid of a process on the machine -> the fault that stops applying when it is gone
    keepers: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return LAB_DIR / f"{self.id}.json"

    def save(self) -> None:
        LAB_DIR.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.replace(self.path)

    def namespace(self, host: str) -> str:
        """The path of the host's network namespace, now."""
        if self.backend == "netns":
            return self.netns[host]
        return f"/proc/{container_pid(self.containers[host])}/ns/net"

    def lapsed(self) -> list[str]:
        """The faults that no longer apply because the process keeping them is gone (a delay
        whose NFQUEUE delayer died: packets then pass undelayed, --queue-bypass)."""
        return [what for pid, what in self.keepers.items() if not alive(int(pid))]

    def missing(self) -> list[str]:
        """The hosts that are not there any more (or, for a container, not the one the lab
        set up: restarted). A host socklab cannot ask about (Docker refuses this user, or
        does not answer) is not counted missing: nothing is removed on a guess."""
        if self.backend == "netns":
            return [host for host, path in self.netns.items() if not os.path.exists(path)]
        gone = []
        for host, name in self.containers.items():
            pid = container_pid(name)
            if pid == 0 or (pid is not None and self.pids.get(host, pid) != pid):
                gone.append(host)
        return gone


def alive(pid: int) -> bool:
    """The process runs (a zombie is gone: it applies nothing)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def container_pid(name: str) -> int | None:
    """The container's first process; 0 when it is not running or does not exist; None when
    Docker cannot say (no access, no answer)."""
    try:
        done = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Pid}}", name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode == 0:
        return int(done.stdout.strip() or 0)
    return 0 if "No such" in done.stderr else None


def labs() -> list[Lab]:
    found = []
    for path in sorted(LAB_DIR.glob("*.json")) if LAB_DIR.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, TypeError):
            found.append(Lab(**json.loads(path.read_text())))
    return found


def reap(say: Callable[[str], None]) -> None:
    """A lab whose hosts are gone is marked so: `socklab clean` then removes what is left."""
    for lab in labs():
        if lab.state == "up" and (gone := lab.missing()):
            say(f"lab {lab.id}: {', '.join(gone)} gone; removing the rest")
            lab.state = "gone"
            lab.save()
