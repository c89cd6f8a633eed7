"""One run of a scenario: hosts up, faults, captures, the steps, then everything undone.

Teardown is structural: an ExitStack owns every resource the run makes, so a failed step,
Ctrl-C or SIGTERM still takes down the processes, captures, faults and hosts in reverse order.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import capture, counters, faults
from harness.backends.base import Backend, Feed, Process
from harness.errors import RunError, ScenarioError
from harness.nsenter import read_proc_net
from harness.ownership import tagged_pids
from harness.pcap import Packet, merge, read_pcap
from harness.scenario import Fault, Line, Run, Scenario, Step

Progress = Callable[[str], None]
LINGER = 0.3  # seconds to keep capturing after the last step, for trailing FINs and ICMP
SIGNALS = {
    "INT": signal.SIGINT,
    "TERM": signal.SIGTERM,
    "KILL": signal.SIGKILL,
    "HUP": signal.SIGHUP,
    "USR1": signal.SIGUSR1,
    "USR2": signal.SIGUSR2,
}


@dataclass
class StepResult:
    name: str
    host: str
    argv: list[str]
    started: float
    events_path: Path
    ended: float | None = None
    exit_code: int | None = None
    stopped_by_harness: bool = False
    stdout: str = ""
    stderr: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "argv": self.argv,
            "started": self.started,
            "seconds": None if self.ended is None else round(self.ended - self.started, 6),
            "exit_code": self.exit_code,
            "stopped_by_harness": self.stopped_by_harness,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "events": self.events,
        }


@dataclass
class Observations:
    started: float
    steps: dict[str, StepResult]
    packets: list[Packet]
    notes: list[str]
    addresses: dict[str, str]
    mechanisms: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    processes: dict[str, list[str]] = field(default_factory=dict)


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by SIGKILL
    return events


def listening_port(step: StepResult) -> str:
    for event in read_events(step.events_path):
        local = event.get("local") if event.get("event") == "listen" else None
        local = local or (event.get("addr") if event.get("event") == "bind" else None)
        if local:
            return str(local[1])
    raise ScenarioError(f"{{step.{step.name}.port}}: step {step.name!r} reported no port")


def expander(names: dict[str, str], results: dict[str, StepResult]) -> Callable[[str], str]:
    """Fill {server}, {lan1.unassigned} ... and {step.NAME.port}, the port a step listens on."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "step" and parts[2] == "port":
            if parts[1] not in results:
                raise ScenarioError(f"{{{key}}}: step {parts[1]!r} has not started yet")
            return listening_port(results[parts[1]])
        if key not in names:
            raise ScenarioError(f"unknown placeholder {{{key}}}", hint=f"known: {sorted(names)}")
        return names[key]

    return lambda text: re.sub(r"\{([a-z0-9_.-]+)\}", one, text)


def listening(netns: str, proto: str, port: int) -> bool:
    """Is a socket bound (UDP) or listening (TCP, state 0A) on `port`, per /proc/net?"""
    for line in read_proc_net(netns, proto).splitlines()[1:]:
        cols = line.split()
        local_port = int(cols[1].rsplit(":", 1)[1], 16)
        if local_port == port and (proto == "udp" or cols[3] == "0A"):
            return True
    return False


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} " + raw.replace(b"\0", b" ").decode(errors="replace").strip()


class Execution:
    def __init__(self, scenario: Scenario, backend: Backend, rundir: Path, progress: Progress):
        self.scenario = scenario
        self.backend = backend
        self.rundir = rundir
        self.progress = progress
        self.processes: dict[str, Process] = {}
        self.results: dict[str, StepResult] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.snapshots: dict[str, list[str]] = {}
        self.stack = ExitStack()
        self.expand = expander(backend.topology.names(), self.results)
        self.ctx: faults.FaultContext | None = None

    def run(self) -> Observations:
        started = time.time()
        with self.stack:
            self.progress(f"bringing up client, router, server ({self.backend.name})")
            self.stack.callback(self._teardown_hosts)
            self.backend.up()
            names = self.backend.topology.names()  # compose picks its slot during up()
            self.expand = expander(names, self.results)
            self.ctx = faults.FaultContext.of(self.backend, self.rundir, self.expand)
            for fault in self.scenario.faults:
                self._fault(fault)
            caps = []
            for spec in self.scenario.capture:
                caps.append(capture.start(self.backend, spec.host, spec.link, self.rundir))
                self.stack.callback(caps[-1].stop)
            self.stack.callback(self._stop_all)
            for step in self.scenario.steps:
                self._step(step)
            time.sleep(LINGER)
            self._stop_all()
            for cap in caps:
                cap.stop()
            packets = merge(read_pcap(c.pcap, c.host, c.link) for c in caps)
        return Observations(
            started=started,
            steps=self.results,
            packets=packets,
            notes=self.ctx.notes,
            addresses=names,
            mechanisms=self.ctx.mechanisms,
            counters=self.counters,
            processes=self.snapshots,
        )

    def _teardown_hosts(self) -> None:
        self.progress("tearing down")
        self.backend.down()

    def _fault(self, fault: Fault) -> None:
        assert self.ctx is not None
        self.progress(f"fault on {fault.host}: {fault.kind()}")
        self.stack.callback(faults.apply(fault, self.ctx))

    def _step(self, step: Step) -> None:
        if step.run is not None:
            self._run(step.run)
        elif step.sleep is not None:
            time.sleep(step.sleep)
        elif step.signal is not None:
            self.progress(f"SIG{step.signal.signal} to {step.signal.step}")
            self._process(step.signal.step).signal(SIGNALS[step.signal.signal])
        elif step.wait is not None:
            self._finish(step.wait.step, step.wait.timeout)
        elif step.fault is not None:
            self._fault(step.fault)
        elif step.counters is not None:
            netns = self.backend.netns(step.counters.host)
            self.counters[step.counters.name] = counters.snapshot(netns)
        elif step.processes is not None:
            tag = self._process(step.processes.step).tag
            self.snapshots[step.processes.name] = [cmdline(pid) for pid in tagged_pids(tag)]

    def _process(self, name: str) -> Process:
        if name not in self.processes:
            raise RunError(f"step {name!r} is not running")
        return self.processes[name]

    def _run(self, run: Run) -> None:
        argv = ["python3", f"{self.backend.programs_dir}/{run.program}.py"]
        argv += [self.expand(arg) for arg in run.args]
        events = self.rundir / f"{run.name}.events.jsonl"
        events.touch()
        events.chmod(0o666)  # a step may run as an unprivileged user
        self.progress(f"{run.host}: {' '.join(argv[1:])}")
        process = self.backend.spawn(
            run.host,
            argv,
            stdout=self.rundir / f"{run.name}.stdout",
            stderr=self.rundir / f"{run.name}.stderr",
            env={"SOCKLAB_EVENTS": str(events), "PYTHONUNBUFFERED": "1"},
            user=run.user,
        )
        self.processes[run.name] = process
        self.results[run.name] = StepResult(run.name, run.host, argv, process.started, events)
        lines = [item if isinstance(item, Line) else Line(line=item) for item in run.stdin]
        feed = [Feed(self.expand(line.line) + "\n", line.after) for line in lines]
        process.feed(feed, close=not run.keep_stdin_open)
        if run.ready is not None:
            self._await_ready(run)
        if not run.background:
            self._finish(run.name, run.timeout)

    def _await_ready(self, run: Run) -> None:
        assert run.ready is not None
        ready = run.ready
        proto, port = ("tcp", ready.tcp) if ready.tcp else ("udp", ready.udp)
        deadline = time.monotonic() + run.timeout
        netns = self.backend.netns(run.host)
        path = self.results[run.name].events_path

        def is_ready() -> bool:
            if ready.event is not None:
                return any(e.get("event") == ready.event for e in read_events(path))
            assert port is not None
            return listening(netns, proto, port)

        while not is_ready():
            if self.processes[run.name].popen.poll() is not None or time.monotonic() > deadline:
                self._finish(run.name, 0.5)
                raise RunError(
                    f"step {run.name!r} never got ready ({ready.model_dump(exclude_none=True)})",
                    hint=f"its stderr: {self.results[run.name].stderr.strip()[-300:]}",
                )
            time.sleep(0.01)

    def _finish(self, name: str, timeout: float) -> None:
        """Wait for a step to end within its deadline; past it the harness stops it."""
        process = self._process(name)
        result = self.results[name]
        code = process.wait(timeout)
        if code is None:
            code = process.stop()
            result.stopped_by_harness = True
        result.exit_code = code
        result.ended = time.time()
        result.stdout = (self.rundir / f"{name}.stdout").read_text(errors="replace")
        result.stderr = (self.rundir / f"{name}.stderr").read_text(errors="replace")
        result.events = read_events(result.events_path)
        del self.processes[name]

    def _stop_all(self) -> None:
        for name in list(self.processes):
            self._finish(name, 0.0)
