"""socklab for your own test suite: a pytest fixture (registered through the `pytest11` entry
point, so `pip install socklab` is all it takes).

    def test_my_client_reports_refused(socklab):
        with socklab.scenario("refused", backend="netns", mount="build") as lab:
            ran = lab.run("client", ["./mycli", lab.address("server")])
            assert ran.call("connect").errno == "ECONNREFUSED"
            assert lab.packets(link="lan1", flags="R.")

A lab brings up a scenario's hosts with its faults and captures but runs none of its steps;
`run` starts any command in a host under strace, as a scenario step would; `packets` reads
what the captures hold so far. Everything is torn down when the `with` block ends, also when
the test fails. Needs root (netns) or a Docker engine with the node image (compose).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .judge.verdict import matcher
from .observe.observations import StepResult
from .observe.pcap import Packet, read_pcap
from .run.clean import clean
from .run.execute import default_backend, make_backend, new_rundir
from .run.plan import mount_dir
from .run.runner import Execution
from .scenario import model as scenarios
from .scenario.expectations import PacketPattern
from .scenario.model import Line, Run
from .testbed.ownership import RunLock, new_run_id


class Lab:
    """A live testbed: a scenario's hosts, faults and captures, and nothing run yet."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution
        self._names = (f"cmd{n}" for n in itertools.count(1))

    @property
    def rundir(self) -> Path:
        return self._execution.rundir

    def address(self, name: str) -> str:
        """`server`, `router.lan2`, `lan1.unassigned` ...: the testbed's addresses."""
        return self._execution.names[name]

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        stdin: Sequence[str] = (),
        timeout: float = 10.0,
        background: bool = False,
        traced: bool = True,
        caps: Sequence[str] = (),
        ready: dict[str, Any] | None = None,
    ) -> StepResult:
        """Run a command in `client`, `router` or `server`, under strace; relative paths are
        looked up in the mounted directory. Past `timeout` the program is stopped (its result
        then says stopped_by_harness). It runs confined like a scenario's step, with only
        `caps` ("net_bind_service", "net_raw"). With `ready` (a step's `ready:` as a dict, e.g.
        {"tcp": 9877}), a background server is waited for as a scenario's step is."""
        run = Run.model_validate(
            {
                "name": next(self._names),
                "host": host,
                "command": list(argv),
                "stdin": [Line(line=text) for text in stdin],
                "timeout": timeout,
                "background": background,
                "untraced": None if traced else "asked for by the caller",
                "caps": list(caps),
                "ready": ready,
            }
        )
        return self._execution.run_step(run)

    def packets(self, harness_caused: bool = False, **pattern: Any) -> list[Packet]:
        """The packets captured so far that match a pattern (the scenario format's keys:
        link, proto, flags, from, to, sport, dport, icmp, length). What the harness caused (a
        stopped program's FIN or RST) is left out, as `socklab run` leaves it out of the
        evidence, unless `harness_caused=True`."""
        if "from_" in pattern:
            pattern["from"] = pattern.pop("from_")
        wanted = PacketPattern.model_validate(pattern)
        found: list[Packet] = []
        for cap in self._execution.caps:
            found += read_pcap(cap.pcap, cap.host, cap.link, partial=True)
        observed = self._execution.observed_so_far()
        match = matcher(wanted, observed)
        chosen = (
            p for p in found if match(p) and (harness_caused or not observed.harness_caused(p))
        )
        return sorted(chosen, key=lambda p: p.time)


class Socklab:
    """The `socklab` fixture."""

    @contextlib.contextmanager
    def scenario(
        self, name: str, backend: str | None = None, mount: str | Path | None = None
    ) -> Iterator[Lab]:
        scen = scenarios.load_named(name)
        chosen = backend or default_backend()
        run_id = new_run_id()
        rundir = new_rundir(scen.name, run_id)
        clean(lambda text: None, docker_too=chosen == "compose")
        lock = RunLock(run_id).acquire()
        folder = mount_dir(str(mount), Path.cwd()) if mount is not None else None
        try:
            execution = Execution(
                scen, make_backend(chosen, run_id, rundir, folder), rundir, lambda t: None, folder
            )
            with execution.stack:
                execution.open()
                yield Lab(execution)
        finally:
            lock.release()


@pytest.fixture
def socklab() -> Socklab:
    return Socklab()
