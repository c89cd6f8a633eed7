"""One run of a scenario: hosts up, faults, captures, the steps, then everything undone.

Teardown is structural: an ExitStack owns every resource the run makes, so a failed step,
Ctrl-C or SIGTERM still takes down the processes, captures, faults and hosts in reverse order.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RunError, ScenarioError
from ..observe import capture, counters, strace
from ..observe.observations import Observations, StepResult, read_events
from ..scenario.model import Fault, Line, Run, Scenario, Step
from ..scenario.schema import kernel_fact
from ..scenario.terms import FORMULA_TERM, call_names, parse_term
from ..testbed import cgroups, faults, files
from ..testbed.backends.base import OUTPUT_CAP, Backend, Feed, Process, spawn_on_machine
from ..testbed.nsenter import read_proc_net, read_sysctl, sysctl_path
from ..testbed.ownership import tagged_pids
from ..testbed.stopping import Teardown

Progress = Callable[[str], None]
LINGER = 0.3  # seconds to keep capturing after the last step, for trailing FINs and ICMP
# ...or less: once no capture has grown for QUIET, where no link holds packets back (delay,
# jitter, rate), nothing more is on its way (a FIN or an ICMP error follows in microseconds).
QUIET = 0.1
# A step's box (bwrap, or docker exec) must be up and stopped for strace within this, beyond
# the step's own deadline; strace ends within TRACER_GRACE of the last process it follows.
ATTACH_SECONDS = 30.0
TRACER_GRACE = 5.0


def observed() -> None:
    """Called once a run has observed all it will, before its teardown; a parallel suite's
    child replaces it to free the run's place for the next scenario (suite.fork_run)."""


OBSERVED: Callable[[], None] = observed
SIGNALS = {
    "INT": signal.SIGINT,
    "TERM": signal.SIGTERM,
    "KILL": signal.SIGKILL,
    "HUP": signal.SIGHUP,
    "USR1": signal.SIGUSR1,
    "USR2": signal.SIGUSR2,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
}


def listening_port(name: str, trace: Path) -> str:
    """The port a step's program bound, from its strace record: the port it asked bind() for,
    or, for bind(0), what getsockname() told it the kernel chose."""
    calls = strace.read(trace)
    bound = {c.socket for c in calls if c.name in ("bind", "listen") and c.errno is None}
    for call in calls:
        if call.name == "bind" and call.errno is None and call.address and call.address[1]:
            return str(call.address[1])
    for call in calls:
        asked = call.name == "getsockname" and call.socket in bound
        if asked and call.address and call.address[1]:
            return str(call.address[1])
    raise ScenarioError(
        f"{{step.{name}.port}}: step {name!r} has not bound a port (with bind(0), the port is "
        "known only once the program asks getsockname())"
    )


PLACEHOLDER = re.compile(r"\{([a-z0-9_.-]+)\}")


def expander(
    names: dict[str, str], results: dict[str, StepResult], traces: dict[str, Path]
) -> Callable[[str], str]:
    """Fill {server}, {lan1.unassigned} ... and {step.NAME.port}, the port a step listens on."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "step" and parts[2] == "port":
            if parts[1] not in results:
                raise ScenarioError(f"{{{key}}}: step {parts[1]!r} has not started yet")
            return listening_port(parts[1], traces[parts[1]])
        if key not in names:
            raise ScenarioError(f"unknown placeholder {{{key}}}", hint=f"known: {sorted(names)}")
        return names[key]

    return lambda text: PLACEHOLDER.sub(one, text)


def known_only(expand: Callable[[str], str], names: dict[str, str]) -> Callable[[str], str]:
    """For a `command:`'s words, often shell code (awk '{print}'): the testbed's names and
    step ports are filled as in `args:`, any other brace is left as it is."""

    def one(match: re.Match[str]) -> str:
        key = match.group(0)
        known = match.group(1) in names or re.fullmatch(r"step\.[a-z0-9_-]+\.port", match.group(1))
        return expand(key) if known else key

    return lambda text: PLACEHOLDER.sub(one, text)


def pcap_sizes(caps: list[capture.Capture]) -> list[int]:
    sizes = []
    for cap in caps:
        try:
            sizes.append(cap.pcap.stat().st_size)
        except FileNotFoundError:
            sizes.append(-1)
    return sizes


def read_settings(scenario: Scenario, backend: Backend) -> dict[str, int]:
    """Every `sysctl:HOST:KEY` the expectations read, from the host's network namespace once
    its faults are set: a machine-wide setting (net.core.rmem_max on most kernels) is used as
    this machine has it, never assumed."""
    wanted = {
        term.parts
        for expectation in scenario.expect
        for text in FORMULA_TERM.findall(expectation.model_dump_json())
        if (term := parse_term(text)).kind == "sysctl"
    }
    return {f"{host}:{key}": setting(backend.netns(host), key) for host, key in sorted(wanted)}


def setting(netns: str, key: str) -> int:
    """A sysctl as the namespace sees it, or the machine's where the kernel keeps it for the
    whole machine and shows it only there (6.1: net.core.rmem_default, rmem_max)."""
    try:
        text = read_sysctl(netns, key)
    except FileNotFoundError:
        text = Path(sysctl_path(key)).read_text()
    return int(text.split()[0])


def listening(netns: str, proto: str, port: int) -> bool:
    """Is a socket bound (UDP) or listening (TCP, state 0A) on `port`, per /proc/net (and
    /proc/net/tcp6 or udp6: an IPv6 server's)?"""
    for name in (proto, f"{proto}6"):
        try:
            table = read_proc_net(netns, name)
        except FileNotFoundError:  # a kernel without IPv6
            continue
        for line in table.splitlines()[1:]:
            cols = line.split()
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            if local_port == port and (proto == "udp" or cols[3] == "0A"):
                return True
    return False


def read_capped(path: Path, cap: int = 1024 * 1024) -> str:
    """A program's output as observed: its first MiB, and a note of what the file holds more."""
    with path.open("rb") as handle:
        head = handle.read(cap)
        more = path.stat().st_size - len(head)
    text = head.decode(errors="replace")
    return text + (f"\n[... {more} more bytes in {path.name}]\n" if more > 0 else "")


def stopped(pid: int) -> bool:
    """The process is in a stop (strace.STOPPED_START's), per /proc/PID/stat's state."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "T"


def tracer_of(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("TracerPid:")), 0
    )


def still_the_wrapper(pid: int) -> bool:
    """The step's first process has not yet executed its program (strace.STOPPED_START)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return raw.split(b"\0")[: len(strace.STOPPED_START)] == [
        word.encode() for word in strace.STOPPED_START
    ]


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"{pid} (gone)"
    return f"{pid} " + raw.replace(b"\0", b" ").decode(errors="replace").strip()


class Execution:
    def __init__(
        self,
        scenario: Scenario,
        backend: Backend,
        rundir: Path,
        progress: Progress,
        mount: Path | None = None,
    ):
        self.scenario = scenario
        self.mount = mount
        self.backend = backend
        self.rundir = rundir
        self.progress = progress
        # A line that changes in place while the run waits (a terminal's status line); the
        # CLI sets it only when stderr is a terminal.
        self.status: Progress = lambda text: None
        self.processes: dict[str, Process] = {}
        self.results: dict[str, StepResult] = {}
        self.counters: dict[str, dict[str, int]] = {}
        self.counter_taken: dict[str, dict[str, Any]] = {}
        self.snapshots: dict[str, list[str]] = {}
        self.stack = Teardown()
        self.traces: dict[str, Path] = {}  # step -> its strace record, in the run folder
        self.tracers: dict[str, Process] = {}  # step -> the strace following it
        self.groups: dict[str, cgroups.Group] = {}  # step -> the cgroup of its processes
        self.first_pids: dict[str, int] = {}  # step -> its program's process
        self.events: dict[str, Path] = {}
        self.expand = expander(backend.topology.names(), self.results, self.traces)
        self.ctx: faults.FaultContext | None = None
        self.sysctls: dict[str, int] = {}
        self.gates: dict[str, threading.Event] = {}  # step -> set once it is ready
        self.window_end = float("inf")
        self.started = 0.0
        self.names: dict[str, str] = {}
        self.caps: list[capture.Capture] = []
        # The kernel facts every `when:` of the scenario asks about, as this kernel answers.
        self.facts: dict[str, bool] = {
            when.fact(): kernel_fact(when.fact(), backend.topology.family)
            for when in [*(s.when for s in scenario.steps), *(e.when for e in scenario.expect)]
            if when is not None
        }

    def run(self) -> Observations:
        with self.stack:
            self.open()
            for step in self.scenario.steps:
                self._step(step)
            observed = self.close()
            OBSERVED()  # the teardown that follows is not the scenario's (suite.py)
            return observed

    def open(self) -> None:
        """Hosts up, the scenario's faults set, its captures running; every undo is on the
        stack, which the caller holds open."""
        self.started = time.time()
        self.progress(f"bringing up client, router, server ({self.backend.name})")
        self.stack.callback(self._teardown_hosts)
        self.backend.up()
        self.names = self.backend.topology.names()  # compose picks its slot during up()
        self.expand = expander(self.names, self.results, self.traces)
        self.ctx = faults.FaultContext.of(self.backend, self.rundir, self.expand)
        for fault in self.scenario.faults:
            self._fault(fault)
        self.sysctls = read_settings(self.scenario, self.backend)
        wanted = [(spec.host, spec.link) for spec in self.scenario.capture]
        self.caps = capture.start_all(self.backend, wanted, self.rundir)
        for cap in self.caps:
            self.stack.callback(cap.stop)
        self.stack.callback(self._stop_all)

    def observed_so_far(self) -> Observations:
        """What a live lab knows: its addresses and the results of its steps."""
        return Observations(self.started, self.results, [], [], self.names)

    def close(self) -> Observations:
        """Stop everything still running (from here on nothing is evidence) and write what
        was observed."""
        assert self.ctx is not None
        self._linger()
        self.window_end = time.time()
        self._stop_all()
        capture.stop_all(self.caps)
        records, packets = capture.collect(self.caps)
        obs = Observations(
            started=self.started,
            steps=self.results,
            packets=packets,
            notes=self.ctx.notes,
            addresses=self.names,
            window_end=self.window_end,
            captures=records,
            mechanisms=self.ctx.mechanisms,
            counters=self.counters,
            counter_taken=self.counter_taken,
            processes=self.snapshots,
            facts=self.facts,
            sysctls=self.sysctls,
            family=self.backend.topology.family,
        )
        obs.write(self.rundir / "observations.json")
        return obs

    def _linger(self) -> None:
        faults = [*self.scenario.faults, *(s.fault for s in self.scenario.steps if s.fault)]
        held = [f.link for f in faults if f.link and (f.link.delay or f.link.jitter or f.link.rate)]
        end = time.monotonic() + LINGER
        if held or not self.caps:
            time.sleep(LINGER)
            return
        sizes, since = pcap_sizes(self.caps), time.monotonic()
        while (now := time.monotonic()) < end and now - since < QUIET:
            time.sleep(0.02)
            if (grown := pcap_sizes(self.caps)) != sizes:
                sizes, since = grown, time.monotonic()

    def _teardown_hosts(self) -> None:
        self.progress("tearing down")
        self.backend.down()

    def _fault(self, fault: Fault) -> None:
        assert self.ctx is not None
        self.progress(f"fault on {fault.host}: {fault.kind()}")
        self.stack.callback(faults.apply(fault, self.ctx))

    def _step(self, step: Step) -> None:
        if step.when is not None and self.facts[step.when.fact()] != step.when.wanted():
            what = f"{step.kind()} step is only for {step.when.describe()}"
            self.progress(f"skipped on this kernel ({os.uname().release}): the {what}")
            return
        if step.run is not None:
            self._run(step.run)
        elif step.sleep is not None:
            end = time.monotonic() + step.sleep
            while (left := end - time.monotonic()) > 0:
                self.status(f"sleeping: {step.sleep - left:.1f} of {step.sleep:g} s")
                time.sleep(min(0.25, left))
        elif step.signal is not None:
            self.progress(f"SIG{step.signal.signal} to {step.signal.step}")
            # To the step's processes only: the strace following them has a tag of its own.
            tag = self._process(step.signal.step).tag
            reached = 0
            for pid in tagged_pids(tag):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, SIGNALS[step.signal.signal])
                    reached += 1
            if not reached:  # never a silent pass: the run did not do what the scenario says
                raise RunError(
                    f"SIG{step.signal.signal} to {step.signal.step}: none of its processes runs",
                    hint="signal a step that is still running (background: true)",
                )
        elif step.wait is not None:
            self._finish(step.wait.step, step.wait.timeout)
        elif step.fault is not None:
            self._fault(step.fault)
        elif step.counters is not None:
            netns = self.backend.netns(step.counters.host)
            self.counters[step.counters.name] = counters.snapshot(netns)
            self.counter_taken[step.counters.name] = {
                "host": step.counters.host,
                "time": time.time(),
            }
        elif step.processes is not None:
            spec = step.processes
            tag = self._process(spec.step).tag
            end = time.monotonic() + spec.within
            pids = tagged_pids(tag)
            while spec.at_least and len(pids) < spec.at_least and time.monotonic() < end:
                self.status(f"{spec.step}: {len(pids)} of {spec.at_least} processes")
                time.sleep(0.05)
                pids = tagged_pids(tag)
            self.snapshots[spec.name] = [cmdline(pid) for pid in pids]

    def _process(self, name: str) -> Process:
        if name not in self.processes:
            raise RunError(f"step {name!r} is not running")
        return self.processes[name]

    def _argv(self, run: Run) -> list[str]:
        if run.program is not None:
            head = [self.backend.python, f"{self.backend.programs_dir}/{run.program}.py"]
        else:
            fill = known_only(self.expand, self.names)
            head = [fill(word) for word in run.command or []]
        return head + [self.expand(arg) for arg in run.args]

    def _outbox_file(self, run: Run, name: str) -> Path:
        """A file the program (or strace) in the host writes, in the host's outbox, owned by
        the step's user if it has one."""
        owner = self.backend.owner(run.host, run.user) if run.user else None
        if owner is not None and owner[0] == 0:  # another name for root: its capabilities too
            raise RunError(
                f"step {run.name!r}: user {run.user!r} is uid 0 in {run.host}, and would keep "
                "root's capabilities",
                hint="name a user that is not root, or drop user: (then only its caps: apply)",
            )
        return files.create(self.backend.outbox(run.host) / name, owner)

    def run_step(self, run: Run) -> StepResult:
        """One program, now; its result once it ended (a background one: as started)."""
        self._run(run)
        return self.results[run.name]

    def _run(self, run: Run) -> None:
        argv = self._argv(run)
        events = self.events[run.name] = self._outbox_file(run, f"{run.name}.events.jsonl")
        self.traces[run.name] = self.rundir / f"{run.name}.strace"
        self.progress(f"{run.host}: {' '.join(argv)}")
        inside = self.backend.inside
        # Capped: a program that floods its output is stopped instead of filling the disk.
        limits = ["prlimit", f"--fsize={OUTPUT_CAP}", "--"]
        process = self.backend.spawn(
            run.host,
            strace.STOPPED_START + limits + argv,
            stdout=self.rundir / f"{run.name}.stdout",
            stderr=self.rundir / f"{run.name}.stderr",
            env={
                "SOCKLAB_EVENTS": inside(run.host, events),
                "PYTHONUNBUFFERED": "1",
                # an IPv6 run says so: a server then listens on IPv6 (socklab's: unp.wildcard)
                **({"SOCKLAB_FAMILY": "6"} if self.backend.topology.family == 6 else {}),
            },
            user=run.user,
            cwd=str(self.mount) if self.mount and run.command else None,
            caps=run.caps,
        )
        self._start(run, process)
        self.processes[run.name] = process
        self.results[run.name] = StepResult(run.name, run.host, argv, process.started)
        lines = [item if isinstance(item, Line) else Line(line=item) for item in run.stdin]
        feed = [
            Feed(self.expand(line.line) + "\n", line.after, self._gate(line.after_ready))
            for line in lines
        ]
        process.feed(feed, close=not run.keep_stdin_open)
        if run.ready is not None:
            self._await_ready(run)
        self.gates.setdefault(run.name, threading.Event()).set()  # lines waiting for it go now
        if not run.background:
            self._finish(run.name, run.timeout)

    def _start(self, run: Run, process: Process) -> None:
        """The step's first process, stopped before it executes the program, goes into the
        step's cgroup (all it ever forks stays there, whatever it does with its environment:
        stopped with it at its deadline), gets strace attached from the machine unless the step
        is untraced, and then goes on, traced from its first call."""
        deadline = time.monotonic() + run.timeout + ATTACH_SECONDS
        pid = None
        while pid is None:
            pid = next((p for p in tagged_pids(process.tag) if stopped(p)), None)
            if pid is None:
                if process.popen.poll() is not None or time.monotonic() > deadline:
                    process.stop()
                    said = read_capped(self.rundir / f"{run.name}.stderr").strip()[-300:]
                    raise RunError(f"step {run.name!r} did not start in {run.host}: {said}")
                time.sleep(0.002)
        name = run.name
        group = self.backend.step_group(run.host, name)
        self.first_pids[name] = pid
        if group is not None:
            self.groups[name] = group
            self.stack.callback(group.remove)
            group.add(pid)
        if not run.untraced:
            self._trace(run, process, pid, deadline)
        os.kill(pid, signal.SIGCONT)
        # Started means executing the program: a signal step right after this one reaches the
        # program itself, never the shell in front of it.
        while still_the_wrapper(pid) and time.monotonic() < deadline:
            time.sleep(0.001)

    def _trace(self, run: Run, process: Process, pid: int, deadline: float) -> None:
        name = run.name
        tracer = self.tracers[name] = spawn_on_machine(
            self.backend,
            run.host,
            strace.attach(pid, self.traces[name]),
            stdout=self.rundir / f"{name}.strace.out",
            stderr=self.rundir / f"{name}.strace.err",
        )
        self.stack.callback(tracer.stop)
        while tracer_of(pid) == 0:
            if tracer.popen.poll() is not None or time.monotonic() > deadline:
                process.stop()
                said = read_capped(self.rundir / f"{name}.strace.err").strip()[-300:]
                raise RunError(f"strace could not follow step {name!r}: {said}")
            time.sleep(0.002)

    def _gate(self, step: str | None) -> threading.Event | None:
        """The event a step sets once it is ready (or started, without `ready:`)."""
        if step is None:
            return None
        return self.gates.setdefault(step, threading.Event())

    def _await_ready(self, run: Run) -> None:
        assert run.ready is not None
        ready = run.ready
        proto, port = ("tcp", ready.tcp) if ready.tcp else ("udp", ready.udp)
        deadline = time.monotonic() + run.timeout
        netns = self.backend.netns(run.host)
        trace = self.traces[run.name]

        def is_ready() -> bool:
            if ready.call is not None or ready.calling is not None:
                names = call_names(ready.call or ready.calling or "")
                calls = [c for c in strace.read(trace) if c.name in names]
                return any(ready.calling or not c.blocked for c in calls)
            assert port is not None
            return listening(netns, proto, port)

        while not is_ready():
            if self.processes[run.name].popen.poll() is not None or time.monotonic() > deadline:
                if is_ready():  # it got there and ended between the two looks (its trace is whole)
                    break
                self._finish(run.name, 0.5)
                raise RunError(
                    f"step {run.name!r} never got ready ({ready.model_dump(exclude_none=True)})",
                    hint=f"its stderr: {self.results[run.name].stderr.strip()[-300:]}",
                )
            time.sleep(0.01)

    def _wait(self, name: str, process: Process, timeout: float) -> int | None:
        """process.wait(timeout), telling the status line how long it has been."""
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            code = process.wait(max(0.0, min(0.25, left)))
            if code is not None or left <= 0:
                return code
            spent = time.monotonic() - start
            self.status(f"{name} on {process.host}: {spent:.1f} s of its {timeout:g} s deadline")

    def _finish(self, name: str, timeout: float) -> None:
        """Wait for a step to end within its deadline; past it the harness stops it."""
        process = self._process(name)
        result = self.results[name]
        code = self._wait(name, process, timeout)
        if code is None:
            result.ended = time.time()  # the harness acts from here: see harness_caused()
            if name in self.groups:  # every process of the step, tagged or not
                self.groups[name].stop(self.first_pids[name])
            code = process.stop()
            result.stopped_by_harness = True
        else:
            result.ended = time.time()
        # Killed by signal N: 128 + N, as a shell (and docker exec) reports it, on both backends.
        result.exit_code = 128 - code if code < 0 else code
        result.stdout = read_capped(self.rundir / f"{name}.stdout")
        result.stderr = read_capped(self.rundir / f"{name}.stderr")
        result.events = read_events(self.events[name])
        outputs = [self.rundir / f"{name}.stdout", self.rundir / f"{name}.stderr"]
        files.sanitize([self.backend.outbox(process.host), *outputs])
        tracer = self.tracers.pop(name, None)
        if tracer is not None and tracer.wait(TRACER_GRACE) is None:
            tracer.stop()  # what the program left running was just stopped with it
        record = files.read_text(self.traces[name]) if self.traces[name].exists() else ""
        result.calls = strace.parse(io.StringIO(record))  # lazily: millions of tiny lines fit
        result.traced = bool(record) and not self.untraced(name)
        del self.processes[name]

    def untraced(self, name: str) -> bool:
        return any(s.run and s.run.name == name and s.run.untraced for s in self.scenario.steps)

    def _stop_all(self) -> None:
        for name in list(self.processes):
            self._finish(name, 0.0)
