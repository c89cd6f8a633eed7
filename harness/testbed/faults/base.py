"""What every fault shares: the context it may touch, the undo it returns, nftables as JSON.

A fault sees namespace paths and the host's spawn function, never the engine (containerlab's
netem package takes a namespace fd and never imports the runtime).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...errors import FaultUnsupported
from ...scenario.model import Fault
from ...scenario.topology import Topology
from ..backends.base import MACHINE_PROGRAMS, Backend, Process, spawn_on_machine
from ..nsenter import run_in

Undo = Callable[[], None]


@dataclass
class FaultContext:
    """What a fault may touch: namespaces, the address book, and a note for the report."""

    netns: Callable[[str], str]
    topology: Topology
    expand: Callable[[str], str]
    spawn: Callable[..., Process]
    programs_dir: str
    rundir: Path
    notes: list[str] = field(default_factory=list)
    mechanisms: list[dict[str, Any]] = field(default_factory=list)
    # pid -> what stops applying when that process is gone (a delay, by its NFQUEUE delayer)
    keepers: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, backend: Backend, rundir: Path, expand: Callable[[str], str] = str) -> FaultContext:
        """What a fault may use of a live backend: its namespaces and its spawn, nothing else."""
        return cls(
            netns=backend.netns,
            topology=backend.topology,
            expand=expand,
            # The fault's helpers (the NFQUEUE delayer) are the harness's: they run on the machine
            # in the host's network namespace, with the machine's programs, out of the host's reach.
            spawn=functools.partial(spawn_on_machine, backend),
            programs_dir=str(MACHINE_PROGRAMS),
            rundir=rundir,
        )


class Applier(Protocol):
    def __call__(self, host: str, fault: Fault, ctx: FaultContext) -> Undo: ...


def nft(netns_path: str, ruleset: dict[str, object]) -> None:
    done = run_in(netns_path, ["nft", "-j", "-f", "-"], json.dumps(ruleset))
    if done.returncode != 0:
        raise FaultUnsupported(
            f"nftables refused the rule: {done.stderr.strip()}",
            hint="needs nf_tables in the kernel (CONFIG_NF_TABLES) and `apt-get install nftables`",
        )
