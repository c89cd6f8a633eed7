"""Hold the observations against the scenario's expectations: one outcome per expectation."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..observe.observations import Observations, counter_delta, lookup, missing, number, resolve
from ..observe.pcap import Packet
from ..observe.strace import Call
from ..scenario.consistency import loopback
from ..scenario.expectations import (
    Balance,
    Blocked,
    Counter,
    Echoed,
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
from ..scenario.terms import call_names
from ..scenario.terms import evaluate as formula

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

# ICMPv6's codes (RFC 4443), named alike where they mean the same thing as ICMP's.
ICMP6_NAMES = {
    (1, 0): "no-route",
    (1, 1): "admin-prohibited",
    (1, 2): "beyond-scope",
    (1, 3): "address-unreachable",
    (1, 4): "port-unreachable",
    (1, 5): "policy-failed",
    (1, 6): "reject-route",
    (128, 0): "echo-request",
    (129, 0): "echo-reply",
    (3, 0): "ttl-exceeded",
}


@dataclass(frozen=True)
class Outcome:
    kind: str
    expected: str
    observed: str
    passed: bool
    skipped: bool = False  # its `when:` does not hold on this kernel

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "expected": self.expected,
            "observed": self.observed,
            "passed": self.passed,
            "skipped": self.skipped,
        }


def occurs(needle: str, line: str) -> bool:
    """`needle` in `line`, where a number is a whole number: "port 4338" is not in
    "port 43388"."""
    pattern = re.escape(needle)
    if needle[:1].isdigit():
        pattern = r"(?<![0-9])" + pattern
    if needle[-1:].isdigit():
        pattern += r"(?![0-9])"
    return re.search(pattern, line) is not None


def stopped_inside(obs: Observations, name: str) -> tuple[str, list[Call]]:
    """What the step was doing when the harness stopped it, as its trace shows: the calls it
    was inside (begun, never returned), and the words for the report."""
    step = obs.steps[name]
    if not step.stopped_by_harness:
        return f"exited {step.exit_code} by itself", []
    if not step.traced:
        return "stopped by the harness; no strace record says it was blocked", []
    inside = obs.unfinished(name)
    if not inside:
        return "stopped by the harness inside no traced call (running, not blocked)", []
    calls = ", ".join(sorted({f"{c.name}()" for c in inside}))
    return f"stopped by the harness at its deadline, inside {calls}", inside


def check_exit(spec: Exit, obs: Observations) -> Outcome:
    step = obs.steps[spec.step]
    if spec.code is None:
        want = f"{spec.step} is still blocked at its deadline"
        seen, inside = stopped_inside(obs, spec.step)
        return Outcome("exit", want, seen, bool(inside))
    seen = (
        "stopped by the harness at its deadline" if step.stopped_by_harness else str(step.exit_code)
    )
    ok = step.exit_code == spec.code and not step.stopped_by_harness
    return Outcome("exit", f"{spec.step} exits {spec.code}", seen, ok)


def check_blocked(spec: Blocked, obs: Observations) -> Outcome:
    """Blocked in that call, on the socket the step used with its target (the one it sent to
    or connected to): blocked on another socket (a second one, a socketpair) it would never
    hear from the target."""
    want = f"{spec.step} is still blocked in {spec.call}() at its deadline"
    seen, inside = stopped_inside(obs, spec.step)
    names = call_names(spec.call)
    inside = [c for c in inside if c.name in names]
    if not inside:
        return Outcome("blocked", want, seen, False)
    targets = step_targets(obs.steps[spec.step].argv)
    used = {
        (c.pid, c.fd, c.socket)
        for c in obs.windowed(spec.step)
        if c.name in TARGETED and c.address is not None and c.address[0] in targets
    }
    if targets and not any((c.pid, c.fd, c.socket) in used for c in inside):
        where = " or ".join(sorted(targets))
        seen += f", but not on the socket it used with {where}"
        return Outcome("blocked", want, seen, False)
    return Outcome("blocked", want, seen, True)


def check_output(spec: Output, obs: Observations) -> Outcome:
    text = getattr(obs.steps[spec.step], spec.stream)
    lines = text.splitlines()
    shown = text.strip().splitlines()[-1][:120] if text.strip() else "(nothing)"
    wants, ok = [], True
    if spec.contains is not None:
        needle = resolve(spec.contains, obs)
        hits = 0 if missing(needle) else sum(occurs(needle, line) for line in lines)
        if spec.count is not None:
            wants.append(f"{needle!r} on {spec.count} lines")
            ok = hits == spec.count
            shown = f"{hits} lines"
        else:
            wants.append(f"has {needle!r}")
            ok = hits > 0
            if ok:  # the line that matched, not whatever the program printed last
                shown = next(line for line in lines if occurs(needle, line)).strip()[:120]
    if spec.lacks is not None:
        needle = resolve(spec.lacks, obs)
        wants.append(f"lacks {needle!r}")
        found = [line for line in lines if occurs(needle, line)]
        if found or missing(needle):
            ok = False
            shown = found[0][:120] if found else f"cannot tell: {needle}"
    return Outcome("output", f"{spec.step} {spec.stream} " + " and ".join(wants), shown, ok)


# Calls that name a peer: judged only when made to the step's target.
TARGETED = {"connect", "sendto", "sendmsg"}


def step_targets(argv: list[str]) -> set[str]:
    """The addresses a step's program was given on its command line: its targets."""
    found = set()
    for word in argv:
        with contextlib.suppress(ValueError):
            found.add(str(ipaddress.ip_address(word)))
    return found


def the_call(kind: str, want: str, step: str, name: str, obs: Observations) -> Call | Outcome:
    """The step's first such call, or the failed outcome that says why there is none to judge:
    no strace record, never called, or still blocked in it when stopped."""
    if not obs.steps[step].traced:
        return Outcome(
            kind, want, f"no strace record for {step}: its calls cannot be judged", False
        )
    calls = obs.calls(step, name)
    targets = step_targets(obs.steps[step].argv)
    if name in TARGETED and targets:
        # The call made to the step's target (the address it was given), wherever else the
        # program connected first: a client that ignores its argument is judged on that.
        calls = [c for c in calls if c.address is not None and c.address[0] in targets]
        if not calls:
            where = " or ".join(sorted(targets))
            return Outcome(kind, want, f"{step} never called {name}() to {where}", False)
    if not calls:
        return Outcome(kind, want, f"{step} never called {name}()", False)
    call = calls[0]
    if call.blocked:
        return Outcome(kind, want, "still blocked in it when stopped", False)
    return call


def check_errno(spec: Errno, obs: Observations) -> Outcome:
    want = (
        f"{spec.call}() in {spec.step} fails with {spec.name}"
        if spec.name
        else f"{spec.call}() in {spec.step} succeeds"
    )
    call = the_call("errno", want, spec.step, spec.call, obs)
    if isinstance(call, Outcome):
        return call
    return Outcome("errno", want, call.errno or "success", call.errno == spec.name)


def check_elapsed(spec: Elapsed, obs: Observations) -> Outcome:
    want = f"{spec.call}() in {spec.step} takes {spec.min:g}..{spec.max:g} s"
    call = the_call("elapsed", want, spec.step, spec.call, obs)
    if isinstance(call, Outcome):
        return call
    took = call.duration or 0.0
    ok = spec.min <= took <= spec.max
    return Outcome("elapsed", want, f"{took:.6f} s ({call.errno or 'success'})", ok)


def port_of(value: int | str | None, obs: Observations) -> int | None:
    """A port in a pattern: a number, or a term resolved now; -1 when it resolves to nothing,
    which no packet carries."""
    if value is None or isinstance(value, int):
        return value
    text = resolve(value, obs)
    return int(text) if text.isdigit() else -1


def matcher(pattern: PacketPattern, obs: Observations) -> Callable[[Packet], bool]:
    addresses = obs.addresses
    sport, dport = port_of(pattern.sport, obs), port_of(pattern.dport, obs)

    def address(name: str | None) -> Callable[[str], bool]:
        """A host's addresses (`router`: both of its own), one address, or a subnet
        (`lan1.subnet`) matched as a prefix: every name matches what it names."""
        if name is None:
            return lambda _: True
        found = {
            addr for key, addr in addresses.items() if key == name or key.startswith(name + ".")
        }
        # Validation let through only known names and loopback literals; nothing else may
        # become a literal that silently matches nothing.
        found = found or ({name} if loopback(name) else set())
        nets = [ipaddress.ip_network(a) for a in found if "/" in a]
        hosts = {a for a in found if "/" not in a}

        def has(addr: str) -> bool:
            if addr in hosts:
                return True
            with contextlib.suppress(ValueError):
                return any(ipaddress.ip_address(addr) in net for net in nets)
            return False

        return has

    src, dst = address(pattern.from_), address(pattern.to)

    def match(packet: Packet) -> bool:
        checks = [
            # `icmp` is the run's family's ICMP: ICMPv6 in an IPv6 run
            pattern.proto is None
            or packet.proto == pattern.proto
            or (pattern.proto == "icmp" and packet.proto == "icmp6"),
            pattern.flags is None or packet.flags == pattern.flags,
            src(packet.src),
            dst(packet.dst),
            pattern.host is None or packet.host == pattern.host,
            sport is None or packet.sport == sport,
            dport is None or packet.dport == dport,
            pattern.length is None or packet.length == pattern.length,
            pattern.link is None or packet.link == pattern.link,
            pattern.icmp is None or icmp_name(packet) == pattern.icmp,
        ]
        return all(checks)

    return match


def icmp_name(packet: Packet) -> str | None:
    if packet.proto not in ("icmp", "icmp6") or packet.icmp_type is None:
        return None
    names = ICMP6_NAMES if packet.proto == "icmp6" else ICMP_NAMES
    return names.get((packet.icmp_type, packet.icmp_code or 0), f"type-{packet.icmp_type}")


def describe(pattern: PacketPattern) -> str:
    fields = pattern.model_dump(by_alias=True, exclude_none=True)
    return " ".join(f"{key}={value}" for key, value in fields.items())


def no_evidence(kind: str, want: str, obs: Observations) -> Outcome | None:
    """A capture that is missing, unreadable or lost packets fails every packet check."""
    problems = obs.capture_problems()
    if problems:
        return Outcome(kind, want, "no trustworthy capture: " + "; ".join(problems), False)
    return None


def stream(packets: Sequence[Packet], proto: str) -> list[bytes] | None:
    """The bytes of one direction of a conversation: TCP segments in sequence order, each
    sequence number once (a retransmission is the same bytes); UDP datagrams as they came.
    None when a packet's bytes were not kept (longer than pcap.PAYLOAD_KEPT)."""
    if any(p.payload is None for p in packets):
        return None
    if proto == "udp":
        return [bytes.fromhex(str(p.payload)) for p in packets]
    first = packets[0].seq or 0 if packets else 0
    by_offset: dict[int, bytes] = {}
    for p in packets:
        by_offset.setdefault(((p.seq or 0) - first) % 2**32, bytes.fromhex(str(p.payload)))
    return [b"".join(by_offset[k] for k in sorted(by_offset))]


def difference(sent: list[bytes], back: list[bytes]) -> str | None:
    """Where what came back first differs from what was sent, in words; None if it does not."""
    if sent == back:
        return None
    if len(sent) != len(back):
        return f"{len(sent)} datagrams sent, {len(back)} came back"
    for index, (one, other) in enumerate(zip(sent, back, strict=True)):
        if one == other:
            continue
        at = next(
            (i for i, (a, b) in enumerate(zip(one, other, strict=False)) if a != b),
            min(len(one), len(other)),
        )
        where = f"datagram {index}, " if len(sent) > 1 else ""
        return (
            f"{where}{len(one)} bytes sent, {len(other)} came back; they differ from byte {at}: "
            f"sent {one[at : at + 12]!r}, got {other[at : at + 12]!r}"
        )
    return None


def check_echoed(spec: Echoed, obs: Observations) -> Outcome:
    want = f"every {spec.proto} byte sent to port {spec.port} on {spec.link} comes back unchanged"
    failed = no_evidence("echoed", want, obs)
    if failed:
        return failed
    sent: dict[tuple[str, int | None], list[Packet]] = {}
    back: dict[tuple[str, int | None], list[Packet]] = {}
    for p in obs.evidence():
        if p.link != spec.link or p.proto != spec.proto or not p.length:
            continue
        if p.dport == spec.port:
            sent.setdefault((p.src, p.sport), []).append(p)
        elif p.sport == spec.port:
            back.setdefault((p.dst, p.dport), []).append(p)
    if not sent:
        return Outcome("echoed", want, f"no {spec.proto} bytes to port {spec.port}", False)
    total = 0
    for (addr, port), packets in sent.items():
        there, returned = (
            stream(packets, spec.proto),
            stream(back.get((addr, port), []), spec.proto),
        )
        if there is None or returned is None:
            return Outcome(
                "echoed", want, f"{addr}.{port}: a packet's bytes were not kept whole", False
            )
        wrong = difference(there, returned)
        if wrong:
            return Outcome("echoed", want, f"{addr}.{port}: {wrong}", False)
        total += sum(len(b) for b in there)
    return Outcome(
        "echoed", want, f"{total} bytes on {len(sent)} conversations, each came back the same", True
    )


def check_packets(spec: Packets, obs: Observations) -> Outcome:
    want = " then ".join(describe(p) for p in spec.sequence)
    failed = no_evidence("packets", want, obs)
    if failed:
        return failed
    packets = obs.evidence()
    position = 0
    found: list[str] = []
    for pattern in spec.sequence:
        match = matcher(pattern, obs)
        index = next((i for i in range(position, len(packets)) if match(packets[i])), None)
        if index is None:
            seen = "; ".join(found) or "nothing before it"
            late = [p for p in obs.packets if obs.harness_caused(p) and match(p)]
            after = " (seen only after the harness began stopping programs)" if late else ""
            return Outcome(
                "packets", want, f"missing [{describe(pattern)}]{after} after: {seen}", False
            )
        found.append(f"{packets[index].link} {packets[index].summary}")
        position = index + 1
    return Outcome("packets", want, "; ".join(found), True)


def check_count(spec: PacketCount, obs: Observations) -> Outcome:
    top = "" if spec.max is None else f"..{spec.max}"
    want = f"{spec.min}{top} of [{describe(spec.match)}]"
    failed = no_evidence("packet_count", want, obs)
    if failed:
        return failed
    match = matcher(spec.match, obs)
    count = sum(1 for p in obs.evidence() if match(p))
    ok = count >= spec.min and (spec.max is None or count <= spec.max)
    return Outcome("packet_count", want, str(count), ok)


def check_timing(spec: Timing, obs: Observations) -> Outcome:
    want = f"gaps {spec.gaps} s (+-{spec.tolerance:g}) between [{describe(spec.match)}]"
    failed = no_evidence("timing", want, obs)
    if failed:
        return failed
    match = matcher(spec.match, obs)
    times = [packet.time for packet in obs.evidence() if match(packet)]
    gaps = [round(later - earlier, 3) for earlier, later in itertools.pairwise(times)]
    fits = len(gaps) == len(spec.gaps) and all(
        abs(seen - asked) <= spec.tolerance for seen, asked in zip(gaps, spec.gaps, strict=True)
    )
    return Outcome("timing", want, f"gaps {gaps} s", fits)


def check_counter(spec: Counter, obs: Observations) -> Outcome:
    delta = counter_delta(obs, spec.before, spec.after, spec.key)
    top = "" if spec.max is None else f"..{spec.max}"
    want = f"{spec.key} grows by {spec.min}{top} from {spec.before} to {spec.after}"
    if delta is None:
        return Outcome("counter", want, "counter or snapshot missing", False)
    ok = delta >= spec.min and (spec.max is None or delta <= spec.max)
    return Outcome("counter", want, f"+{delta}", ok)


def check_balance(spec: Balance, obs: Observations) -> Outcome:
    values = {term: number(term, obs) for term in [*spec.terms, spec.equals]}
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
    ok = len(set(seen)) == 1 and not any(missing(value) for value in seen)
    return Outcome("same", want, " / ".join(seen), ok)


def bound(text: float | str | None, obs: Observations) -> tuple[float | None, str]:
    """A bound's value, and how the expectation shows it: a formula with what it came to."""
    if text is None or isinstance(text, float | int):
        return text, "" if text is None else f"{text:g}"
    value = formula(text, lambda term: number_or_none(lookup(term, obs)))
    return value, f"{text} = {'?' if value is None else f'{value:g}'}"


def number_or_none(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_value(spec: Value, obs: Observations) -> Outcome:
    value = number(spec.of, obs)
    (low, low_text), (high, high_text) = bound(spec.min, obs), bound(spec.max, obs)
    book = f" (the book: {spec.book})" if spec.book else ""
    name = spec.of.split(":", 1)[1]
    if isinstance(spec.min, str) and spec.min == spec.max:
        want = f"{name} == {low_text}{book}"
    else:
        low_part = f"{low_text} <= " if spec.min is not None else ""
        high_part = f" <= {high_text}" if spec.max is not None else ""
        want = f"{low_part}{name}{high_part}{book}"
    unknown = (spec.min is not None and low is None) or (spec.max is not None and high is None)
    if value is None or unknown:
        return Outcome("value", want, "missing" if value is None else f"{value:g}", False)
    ok = (low is None or value >= low) and (high is None or value <= high)
    return Outcome("value", want, f"{value:g}", ok)


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
    "blocked": check_blocked,
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
    "echoed": check_echoed,
}


def evaluate(expectations: Sequence[Expectation], obs: Observations) -> list[Outcome]:
    return [judge(e, obs) for e in expectations]


def judge(expectation: Expectation, obs: Observations) -> Outcome:
    outcome = CHECKS[expectation.kind()](expectation.body(), obs)
    when = expectation.when
    if when is None:
        return outcome
    # a run's family is always recorded (4 for runs from before --family)
    held = obs.facts.get(when.fact()) if when.family is None else obs.family == when.family
    if held is None:  # missing evidence is a failure
        return replace(outcome, observed=f"the run did not record {when.fact()}", passed=False)
    if held != when.wanted():
        return replace(
            outcome, observed=f"skipped: only on {when.describe()}", passed=True, skipped=True
        )
    return outcome
