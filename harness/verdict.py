"""Hold the observations against the scenario's expectations: one outcome per expectation."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.pcap import Packet
from harness.runner import Observations, StepResult
from harness.scenario import (
    Balance,
    Counter,
    Elapsed,
    Errno,
    Exit,
    Expectation,
    Output,
    PacketCount,
    PacketPattern,
    Packets,
    ProcessCount,
    Same,
    Timing,
    Value,
)

ICMP_NAMES = {
    (3, 0): "net-unreachable",
    (3, 1): "host-unreachable",
    (3, 3): "port-unreachable",
    (3, 9): "net-prohibited",
    (3, 10): "host-prohibited",
    (3, 13): "admin-prohibited",
    (0, 0): "echo-reply",
    (8, 0): "echo-request",
    (11, 0): "ttl-exceeded",
}


@dataclass(frozen=True)
class Outcome:
    kind: str
    expected: str
    observed: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "expected": self.expected,
            "observed": self.observed,
            "passed": self.passed,
        }


def call_event(step: StepResult, event: str) -> dict[str, Any] | None:
    """The first event of this kind the program emitted (connect, bind, ...)."""
    return next((e for e in step.events if e.get("event") == event), None)


def check_exit(spec: Exit, obs: Observations) -> Outcome:
    step = obs.steps[spec.step]
    blocked = "still blocked at its deadline, stopped by the harness"
    seen = blocked if step.stopped_by_harness else str(step.exit_code)
    if spec.code is None:
        want = f"{spec.step} is still blocked at its deadline"
        return Outcome("exit", want, seen, step.stopped_by_harness)
    ok = step.exit_code == spec.code and not step.stopped_by_harness
    return Outcome("exit", f"{spec.step} exits {spec.code}", seen, ok)


def check_output(spec: Output, obs: Observations) -> Outcome:
    text = getattr(obs.steps[spec.step], spec.stream)
    if spec.contains is not None:
        spec = spec.model_copy(update={"contains": resolve(spec.contains, obs)})
    shown = text.strip().splitlines()[-1][:120] if text.strip() else "(nothing)"
    if spec.contains is not None:
        hits = sum(spec.contains in line for line in text.splitlines())
        want = f"{spec.step} {spec.stream} has {spec.contains!r}"
        if spec.count is not None:
            return Outcome(
                "output", f"{want} on {spec.count} lines", f"{hits} lines", hits == spec.count
            )
        return Outcome("output", want, shown, hits > 0)
    lacks = spec.lacks or ""
    return Outcome("output", f"{spec.step} {spec.stream} lacks {lacks!r}", shown, lacks not in text)


def check_errno(spec: Errno, obs: Observations) -> Outcome:
    step = obs.steps[spec.step]
    event = call_event(step, spec.call)
    want = (
        f"{spec.call}() in {spec.step} fails with {spec.name}"
        if spec.name
        else f"{spec.call}() succeeds"
    )
    if event is None:
        return Outcome("errno", want, f"no {spec.call} event from the program", False)
    got = event.get("errno")
    return Outcome("errno", want, str(got or "success"), got == spec.name)


def check_elapsed(spec: Elapsed, obs: Observations) -> Outcome:
    event = call_event(obs.steps[spec.step], spec.event)
    want = f"{spec.event}() in {spec.step} takes {spec.min:g}..{spec.max:g} s"
    if event is None or not isinstance(event.get("elapsed"), int | float):
        return Outcome("elapsed", want, f"no timed {spec.event} event", False)
    took = float(event["elapsed"])
    return Outcome("elapsed", want, f"{took:.6f} s", spec.min <= took <= spec.max)


def event_field(obs: Observations, path: str) -> str | None:
    """`STEP.EVENT.key.key...` -> the value in the first such event, as text."""
    step, event, *keys = path.split(".")
    if step not in obs.steps:
        return None
    found = call_event(obs.steps[step], event)
    value: Any = found
    for key in keys:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    if isinstance(value, float):
        return f"{value:.4g}"
    return None if value is None else str(value)


def resolve(text: str, obs: Observations) -> str:
    """Fill {event.STEP.EVENT.field...} and address names ({client}) in an expectation."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key.startswith("event."):
            return event_field(obs, key[len("event.") :]) or f"<no {key}>"
        return obs.addresses.get(key, match.group(0))

    return re.sub(r"\{([a-z0-9_.-]+)\}", one, text)


def port_of(value: int | str | None, obs: Observations) -> int | None:
    if value is None or isinstance(value, int):
        return value
    text = resolve(value, obs)
    return int(text) if text.isdigit() else -1


def matcher(pattern: PacketPattern, obs: Observations) -> Callable[[Packet], bool]:
    addresses = obs.addresses
    sport, dport = port_of(pattern.sport, obs), port_of(pattern.dport, obs)

    def address(name: str | None) -> set[str] | None:
        if name is None:
            return None
        found = {
            addr for key, addr in addresses.items() if key == name or key.startswith(name + ".")
        }
        return found or {name}

    src, dst = address(pattern.from_), address(pattern.to)

    def match(packet: Packet) -> bool:
        checks = [
            pattern.proto is None or packet.proto == pattern.proto,
            pattern.flags is None or packet.flags == pattern.flags,
            src is None or packet.src in src,
            dst is None or packet.dst in dst,
            sport is None or packet.sport == sport,
            dport is None or packet.dport == dport,
            pattern.length is None or packet.length == pattern.length,
            pattern.link is None or packet.link == pattern.link,
            pattern.icmp is None or icmp_name(packet) == pattern.icmp,
        ]
        return all(checks)

    return match


def icmp_name(packet: Packet) -> str | None:
    if packet.proto != "icmp" or packet.icmp_type is None:
        return None
    return ICMP_NAMES.get((packet.icmp_type, packet.icmp_code or 0), f"type-{packet.icmp_type}")


def describe(pattern: PacketPattern) -> str:
    fields = pattern.model_dump(by_alias=True, exclude_none=True)
    return " ".join(f"{key}={value}" for key, value in fields.items())


def check_packets(spec: Packets, obs: Observations) -> Outcome:
    position = 0
    found: list[str] = []
    for pattern in spec.sequence:
        match = matcher(pattern, obs)
        index = next((i for i in range(position, len(obs.packets)) if match(obs.packets[i])), None)
        if index is None:
            seen = "; ".join(found) or "nothing before it"
            want = " then ".join(describe(p) for p in spec.sequence)
            return Outcome("packets", want, f"missing [{describe(pattern)}] after: {seen}", False)
        found.append(f"{obs.packets[index].link} {obs.packets[index].summary}")
        position = index + 1
    return Outcome(
        "packets", " then ".join(describe(p) for p in spec.sequence), "; ".join(found), True
    )


def check_count(spec: PacketCount, obs: Observations) -> Outcome:
    match = matcher(spec.match, obs)
    limit = float("inf")
    if spec.until is not None:
        step, _, event = spec.until.partition(".")
        found = call_event(obs.steps[step], event) if step in obs.steps else None
        if found is None:
            return Outcome("packet_count", f"packets before {spec.until}", "no such event", False)
        limit = float(found["t"])
    count = sum(1 for p in distinct(obs.packets) if match(p) and p.time < limit)
    top = "" if spec.max is None else f"..{spec.max}"
    ok = count >= spec.min and (spec.max is None or count <= spec.max)
    until = f" before {spec.until}" if spec.until else ""
    want = f"{spec.min}{top} of [{describe(spec.match)}]{until}"
    return Outcome("packet_count", want, str(count), ok)


def distinct(packets: Sequence[Packet]) -> list[Packet]:
    """One packet per link even when two hosts captured it there (router and leaf)."""
    seen: dict[tuple[Any, ...], float] = {}
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
        last = seen.get(key)
        seen[key] = packet.time
        if last is not None and packet.time - last < 0.001:
            continue
        unique.append(packet)
    return unique


def check_timing(spec: Timing, obs: Observations) -> Outcome:
    match = matcher(spec.match, obs)
    times = [packet.time for packet in distinct(obs.packets) if match(packet)]
    gaps = [round(later - earlier, 3) for earlier, later in itertools.pairwise(times)]
    want = f"gaps {spec.gaps} s (+-{spec.tolerance:g}) between [{describe(spec.match)}]"
    fits = len(gaps) == len(spec.gaps) and all(
        abs(seen - asked) <= spec.tolerance for seen, asked in zip(gaps, spec.gaps, strict=True)
    )
    return Outcome("timing", want, f"gaps {gaps} s", fits)


def counter_delta(obs: Observations, before: str, after: str, key: str) -> int | None:
    if before not in obs.counters or after not in obs.counters:
        return None
    if key not in obs.counters[after]:
        return None
    return obs.counters[after][key] - obs.counters[before].get(key, 0)


def check_counter(spec: Counter, obs: Observations) -> Outcome:
    delta = counter_delta(obs, spec.before, spec.after, spec.key)
    top = "" if spec.max is None else f"..{spec.max}"
    want = f"{spec.key} grows by {spec.min}{top} from {spec.before} to {spec.after}"
    if delta is None:
        return Outcome("counter", want, "counter or snapshot missing", False)
    ok = delta >= spec.min and (spec.max is None or delta <= spec.max)
    return Outcome("counter", want, f"+{delta}", ok)


def term_value(term: str, obs: Observations) -> int | None:
    """`event:STEP.EVENT.FIELD` (the last such event) or `counter:BEFORE:AFTER:KEY`; terms
    joined by ` + ` are added up."""
    if " + " in term:
        parts = [term_value(part, obs) for part in term.split(" + ")]
        return None if any(p is None for p in parts) else sum(p or 0 for p in parts)
    kind, _, rest = term.partition(":")
    if kind == "counter":
        before, after, key = rest.split(":", 2)
        return counter_delta(obs, before, after, key)
    if kind == "event":
        step, event, name = rest.split(".", 2)
        if step not in obs.steps:
            return None
        found = [e for e in obs.steps[step].events if e.get("event") == event and name in e]
        return int(found[-1][name]) if found else None
    return None


def check_balance(spec: Balance, obs: Observations) -> Outcome:
    values = {term: term_value(term, obs) for term in [*spec.terms, spec.equals]}
    want = f"{' + '.join(spec.terms)} == {spec.equals}"
    seen = ", ".join(f"{term.split(':', 1)[1]}={value}" for term, value in values.items())
    if any(value is None for value in values.values()):
        return Outcome("balance", want, f"missing: {seen}", False)
    total = sum(values[term] or 0 for term in spec.terms)
    return Outcome(
        "balance", want, f"{total} vs {values[spec.equals]} ({seen})", total == values[spec.equals]
    )


def check_same(spec: Same, obs: Observations) -> Outcome:
    seen = [resolve(value, obs) for value in spec.values]
    want = " == ".join(spec.values)
    return Outcome("same", want, " / ".join(seen), len(set(seen)) == 1 and "<no " not in seen[0])


def check_value(spec: Value, obs: Observations) -> Outcome:
    value = term_value(spec.of, obs)
    low = "" if spec.min is None else f"{spec.min:g} <= "
    high = "" if spec.max is None else f" <= {spec.max:g}"
    book = f" (the book: {spec.book})" if spec.book else ""
    want = f"{low}{spec.of.split(':', 1)[1]}{high}{book}"
    if value is None:
        return Outcome("value", want, "missing", False)
    ok = (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)
    return Outcome("value", want, str(value), ok)


def check_processes(spec: ProcessCount, obs: Observations) -> Outcome:
    listed = obs.processes.get(spec.snapshot)
    top = "" if spec.max is None else f"..{spec.max}"
    want = f"{spec.min}{top} processes in snapshot {spec.snapshot}"
    if listed is None:
        return Outcome("processes", want, "no such snapshot", False)
    ok = len(listed) >= spec.min and (spec.max is None or len(listed) <= spec.max)
    return Outcome("processes", want, f"{len(listed)}: " + "; ".join(listed), ok)


CHECKS: dict[str, Callable[[Any, Observations], Outcome]] = {
    "exit": check_exit,
    "output": check_output,
    "errno": check_errno,
    "elapsed": check_elapsed,
    "packets": check_packets,
    "packet_count": check_count,
    "timing": check_timing,
    "counter": check_counter,
    "balance": check_balance,
    "processes": check_processes,
    "same": check_same,
    "value": check_value,
}


def evaluate(expectations: Sequence[Expectation], obs: Observations) -> list[Outcome]:
    return [CHECKS[e.kind()](e.body(), obs) for e in expectations]
