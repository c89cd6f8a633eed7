"""What happened in a run, as plain data: the runner writes it, the verdict and report read it.

Each step's system calls (from strace, the same for any language), the packets of each capture,
counter and process snapshots, exit statuses, and the evidence window: the moment the harness
began stopping things. Packets and calls after that moment, or caused by the harness stopping a
program at its deadline, are kept for the report but are never evidence.

Expectations' terms (harness/terms.py) are read against it here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..scenario.terms import PLACEHOLDER, Term, call_names, placeholder_term, terms_of
from ..testbed import files
from .pcap import Packet
from .strace import Call


@dataclass
class StepResult:
    name: str
    host: str
    argv: list[str]
    started: float
    ended: float | None = None
    exit_code: int | None = None
    stopped_by_harness: bool = False
    stdout: str = ""
    stderr: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    traced: bool = True  # False: strace's record is missing, so no call can be judged

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "argv": self.argv,
            "started": self.started,
            "ended": self.ended,
            "seconds": None if self.ended is None else round(self.ended - self.started, 6),
            "exit_code": self.exit_code,
            "stopped_by_harness": self.stopped_by_harness,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "events": self.events,
            "calls": [call.to_json() for call in self.calls],
            "traced": self.traced,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepResult:
        return cls(
            name=data["name"],
            host=data["host"],
            argv=list(data["argv"]),
            started=float(data["started"]),
            ended=data.get("ended"),
            exit_code=data.get("exit_code"),
            stopped_by_harness=bool(data.get("stopped_by_harness")),
            stdout=data.get("stdout", ""),
            stderr=data.get("stderr", ""),
            events=list(data.get("events", [])),
            calls=[Call.from_json(c) for c in data.get("calls", [])],
            traced=bool(data.get("traced", True)),
        )

    def call(self, name: str) -> Call | None:
        """The first call of this name (accept, recv and send stand for their family)."""
        names = call_names(name)
        return next((c for c in self.calls if c.name in names), None)

    def endpoints(self) -> set[tuple[str, int]]:
        """The (address, port) pairs the step's sockets were seen with: the peers it connected
        or sent to, the peers it accepted, what it bound or asked getsockname() about."""
        found: set[tuple[str, int]] = set()
        for call in self.calls:
            if call.address and call.address[1]:
                found.add(call.address)  # a refused connect() talked to its peer too
        return found


@dataclass(frozen=True)
class CaptureRecord:
    host: str
    link: str
    pcap: str
    packets: int
    dropped: int | None  # tcpdump's "packets dropped by kernel"; None: it never said
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Observations:
    started: float
    steps: dict[str, StepResult]
    packets: list[Packet]
    notes: list[str]
    addresses: dict[str, str]
    window_end: float = float("inf")  # when the harness began stopping things
    captures: list[CaptureRecord] = field(default_factory=list)
    mechanisms: list[dict[str, Any]] = field(default_factory=list)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    # where and when each counters snapshot was read: name -> {"host": ..., "time": epoch}
    counter_taken: dict[str, dict[str, Any]] = field(default_factory=dict)
    processes: dict[str, list[str]] = field(default_factory=dict)
    # kernel facts the scenario's `when:` conditions asked about: "sysctl:KEY" -> present
    facts: dict[str, bool] = field(default_factory=dict)
    # settings the expectations read (`sysctl:HOST:KEY`), as the host's namespace had them
    # after the faults were set: "HOST:KEY" -> value
    sysctls: dict[str, int] = field(default_factory=dict)
    family: int = 4  # the protocol family the scenario's names stood for (--family)

    # ---- the evidence window ------------------------------------------------------------
    def harness_caused(self, packet: Packet) -> bool:
        """After teardown began, or from a socket of a step the harness stopped at its
        deadline, after it did: the harness's doing, not the program's."""
        if packet.time >= self.window_end:
            return True
        for step in self.steps.values():
            if step.stopped_by_harness and step.ended is not None and packet.time >= step.ended:
                ends = step.endpoints()
                if (packet.src, packet.sport) in ends or (packet.dst, packet.dport) in ends:
                    return True
        return False

    def evidence(self) -> list[Packet]:
        return [p for p in distinct(self.packets) if not self.harness_caused(p)]

    def capture_problems(self) -> list[str]:
        problems = [f"{c.host}/{c.link}: {c.problem}" for c in self.captures if c.problem]
        problems += [
            f"{c.host}/{c.link}: tcpdump dropped {c.dropped} packets"
            for c in self.captures
            if c.dropped
        ]
        return problems

    def calls(self, step: str, name: str) -> list[Call]:
        """The step's calls of this name that began inside the window; one that returned after
        the window closed is shown as still blocked then (its result was the harness's)."""
        names = call_names(name)
        return [call for call in self.windowed(step) if call.name in names]

    def windowed(self, step: str) -> list[Call]:
        found = []
        for call in self.steps[step].calls:
            if call.start >= self.window_end:
                continue
            if call.end is not None and call.end >= self.window_end:
                call = replace(call, duration=None, result=None, errno=None)
            found.append(call)
        return found

    def unfinished(self, step: str) -> list[Call]:
        """The calls the step was inside when the harness stopped it: begun and never returned
        (killed inside), or a process's last call, cut by the harness's signal (`= ?
        ERESTARTSYS`: the process died in its handler or by the signal, never back in the
        call's caller)."""
        calls = self.windowed(step)
        last = {call.pid: call for call in calls}
        return [
            call
            for call in calls
            if call.blocked
            or (
                call.result is None
                and (call.errno or "").startswith("ERESTART")
                and last[call.pid] is call
            )
        ]

    def first_call(self, step: str, name: str) -> Call | None:
        found = self.calls(step, name)
        return found[0] if found else None

    # ---- stored runs ----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "window_end": None if self.window_end == float("inf") else self.window_end,
            "steps": {name: step.to_json() for name, step in self.steps.items()},
            "packets": [packet.to_json() for packet in self.packets],
            "notes": self.notes,
            "addresses": self.addresses,
            "captures": [c.to_json() for c in self.captures],
            "mechanisms": self.mechanisms,
            "counters": self.counters,
            "counter_taken": self.counter_taken,
            "processes": self.processes,
            "facts": self.facts,
            "sysctls": self.sysctls,
            "family": self.family,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observations:
        end = data.get("window_end")
        return cls(
            started=float(data["started"]),
            steps={k: StepResult.from_json(v) for k, v in data["steps"].items()},
            packets=[packet_from_json(p) for p in data["packets"]],
            notes=list(data.get("notes", [])),
            addresses=dict(data["addresses"]),
            window_end=float("inf") if end is None else float(end),
            captures=[CaptureRecord(**c) for c in data.get("captures", [])],
            mechanisms=list(data.get("mechanisms", [])),
            counters=dict(data.get("counters", {})),
            counter_taken=dict(data.get("counter_taken", {})),
            processes=dict(data.get("processes", {})),
            facts=dict(data.get("facts", {})),
            sysctls={str(k): int(v) for k, v in data.get("sysctls", {}).items()},
            family=int(data.get("family", 4)),
        )

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Observations:
        return cls.from_json(json.loads(path.read_text()))


def packet_from_json(data: dict[str, Any]) -> Packet:
    inner = data.get("inner")
    return Packet(**{**data, "inner": tuple(inner) if inner else None})


# A program's own account is never evidence; a flood of it is cut here (64 MiB of `{}` lines
# once took the harness to 1.7 GB).
MAX_EVENTS, EVENTS_CAP = 10_000, 1024 * 1024


def read_events(path: Path) -> list[dict[str, Any]]:
    """A program's events file, from its host's outbox: read without trusting it."""
    events = []
    for line in files.read_text(path, cap=EVENTS_CAP).splitlines()[:MAX_EVENTS]:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line cut short by SIGKILL, or one a hostile program made unreadable
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    return events


def distinct(packets: Sequence[Packet]) -> list[Packet]:
    """One packet per link even when two hosts captured it there (router and leaf); but two
    copies one host saw are two packets on the wire (netem's duplicate sends them within
    microseconds). Within a burst of one packet's copies (each within 1 ms of the last), the
    k-th copy a host saw is the k-th copy any host saw: kept once."""
    bursts: dict[tuple[Any, ...], tuple[float, dict[str, int]]] = {}
    unique = []
    for packet in packets:
        key = (
            packet.link,
            packet.proto,
            packet.src,
            packet.dst,
            packet.sport,
            packet.dport,
            packet.flags,
            packet.seq,
            packet.ack,
            packet.length,
            packet.icmp_type,
        )
        last, seen = bursts.get(key, (None, {}))
        if last is None or packet.time - last >= 0.001:
            seen = {}
        most = max(seen.values(), default=0)
        seen[packet.host] = seen.get(packet.host, 0) + 1
        bursts[key] = (packet.time, seen)
        if seen[packet.host] <= most:
            continue  # another host's capture of a copy already kept
        unique.append(packet)
    return unique


# ---- reading terms ---------------------------------------------------------------------
def call_field(obs: Observations, step: str, name: str, *rest: str) -> Any:
    """`rest` is FIELD, or N and FIELD: the Nth such call's (the first's without N)."""
    *nth, key = rest
    if step not in obs.steps or not obs.steps[step].traced:
        return None
    if key == "count":
        return sum(1 for c in obs.calls(step, name) if not c.blocked and c.errno is None)
    if key == "pids":
        return len({c.pid for c in obs.calls(step, name) if not c.blocked and c.errno is None})
    calls = obs.calls(step, name)
    number = int(nth[0]) if nth else 1
    if len(calls) < number:
        return None
    call = calls[number - 1]
    if key == "errno":
        return "blocked" if call.blocked else (call.errno or "success")
    if key == "elapsed":
        return call.duration
    if key == "port":
        return call.address[1] if call.address else None
    if key == "addr":
        return call.address[0] if call.address else None
    if key == "value":
        return call.value
    return call.result


def counter_value(obs: Observations, snapshot: str, key: str) -> int | None:
    return obs.counters.get(snapshot, {}).get(key)


def counter_delta(obs: Observations, before: str, after: str, key: str) -> int | None:
    if before not in obs.counters or after not in obs.counters:
        return None
    if key not in obs.counters[after]:
        return None
    return obs.counters[after][key] - obs.counters[before].get(key, 0)


def lookup(term: Term, obs: Observations) -> Any:
    if term.kind == "counter":
        if len(term.parts) == 2:
            return counter_value(obs, *term.parts)
        return counter_delta(obs, *term.parts)
    if term.kind == "sysctl":
        return obs.sysctls.get(":".join(term.parts))
    return call_field(obs, *term.parts)


def number(text: str, obs: Observations) -> int | float | None:
    """A sum of terms, or None when any term is missing."""
    total: int | float = 0
    for term in terms_of(text):
        value = lookup(term, obs)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        total += value
    return total


def resolve(text: str, obs: Observations) -> str:
    """Fill address names and {call...}/{counter...} in an expectation's text; a missing value
    reads `<no ...>`."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        term = placeholder_term(key)
        if term is None:
            return obs.addresses.get(key, f"<no {key}>")
        value = lookup(term, obs)
        if value is None:
            return f"<no {key}>"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    return PLACEHOLDER.sub(one, text)


def missing(text: str) -> bool:
    return "<no " in text
