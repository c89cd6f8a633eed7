"""Expectations: what the kernel is expected to do, as data the verdict holds the observations
against. Each is a one-key mapping in a scenario's `expect:` (`- errno: {...}`), so an error
names the field; the checks themselves are in harness/verdict.py's CHECKS.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .schema import CALL_NAME, Host, Link, OneOf, Strict, When

Port = Annotated[int, Field(ge=0, le=65535)]


def bounded(low: float | None, high: float | None) -> None:
    """A range that some value falls outside of: at least one bound, and low <= high. An
    expectation that cannot fail is refused when the scenario is read (exit 2)."""
    if (low is None or low <= 0) and high is None:
        raise ValueError("no bound: give max (or a min above 0), or this cannot fail")
    if low is not None and high is not None and low > high:
        raise ValueError(f"min {low} is above max {high}: nothing can pass")


class Exit(Strict):
    """The exit status; null means the program was still blocked at its deadline: stopped by
    the harness while inside a system call its trace shows begun and never returned."""

    step: str
    code: int | None


class Blocked(Strict):
    """The step was still inside this system call when the harness stopped it at its deadline:
    seen in its trace (the call began and never returned), never inferred from its running."""

    step: str
    call: str = Field(pattern=CALL_NAME)


class Output(Strict):
    step: str
    stream: Literal["stdout", "stderr"] = "stdout"
    contains: str | None = None
    lacks: str | None = None
    count: int | None = Field(default=None, description="how many lines contain `contains`")

    @model_validator(mode="after")
    def something_to_look_for(self) -> Output:
        if not self.contains and not self.lacks:
            raise ValueError("nothing to look for: give contains or lacks (not empty)")
        if self.count is not None and not self.contains:
            raise ValueError("count counts the lines that hold `contains`: give it")
        return self


class Errno(Strict):
    """How the step's first such system call ended, from its strace record."""

    step: str
    call: str = Field(default="connect", pattern=CALL_NAME)
    name: str | None = Field(pattern=r"^E[A-Z0-9]+$", description="None: the call succeeded")


class Elapsed(Strict):
    """How long the step's first such system call took, from its strace record."""

    step: str
    call: str = Field(default="connect", pattern=CALL_NAME)
    min: float = 0.0
    max: float

    @model_validator(mode="after")
    def a_window(self) -> Elapsed:
        bounded(self.min, self.max)
        return self


class PacketPattern(Strict):
    proto: Literal["tcp", "udp", "icmp", "icmp6", "arp", "nd"] | None = Field(
        default=None, description="icmp: the run's family's (ICMPv6 too); nd: IPv6's ARP"
    )
    flags: str | None = Field(default=None, description="tcpdump style: S, S., R., F., P.")
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    sport: Port | str | None = Field(default=None, description="a number or {call...}")
    dport: Port | str | None = None
    icmp: str | None = Field(default=None, description="port-unreachable, host-unreachable ...")
    length: int | None = None
    link: Link | None = None
    host: Host | None = Field(
        default=None,
        description="whose capture saw it: needed with link: lo, which every host has",
    )


class Packets(Strict):
    """The patterns appear in this order (other packets may come between)."""

    sequence: list[PacketPattern] = Field(min_length=1)


class PacketCount(Strict):
    match: PacketPattern
    min: int = 0
    max: int | None = None

    @model_validator(mode="after")
    def a_bound(self) -> PacketCount:
        bounded(self.min, self.max)
        return self


class Timing(Strict):
    """Gaps in seconds between successive packets matching `match` (a retransmission schedule)."""

    match: PacketPattern
    gaps: list[float] = Field(min_length=1)
    tolerance: float = Field(default=0.25, gt=0)


class Counter(Strict):
    """How much a kernel counter moved between two snapshots, e.g. Udp.RcvbufErrors."""

    key: str = Field(pattern=r"^[A-Za-z]+\.[A-Za-z0-9]+$")
    before: str
    after: str
    min: int = 0
    max: int | None = None

    @model_validator(mode="after")
    def a_bound(self) -> Counter:
        bounded(self.min, self.max)
        return self


class Balance(Strict):
    """Terms that must add up exactly: `call:STEP.CALL.FIELD` or `counter:BEFORE:AFTER:KEY`."""

    terms: list[str] = Field(min_length=1)
    equals: str

    @model_validator(mode="after")
    def can_differ(self) -> Balance:
        if sorted(t.strip() for t in self.terms) == sorted(self.equals.split(" + ")):
            raise ValueError("equals: the same terms on both sides always balance: cannot fail")
        return self


class Echoed(Strict):
    """What came back from the server's port is, byte for byte, what was sent to it, on every
    conversation the capture of `link` saw (TCP: each connection's stream, a retransmission
    once; UDP: datagram by datagram, in order). An echo server that alters a byte, loses a line
    or adds one fails; so does a capture with no bytes sent, or bytes it did not keep whole."""

    link: Link
    port: Port = Field(description="the echo server's port")
    proto: Literal["tcp", "udp"] = "tcp"


class Same(Strict):
    """Several views of one value agree, e.g. the client's getsockname port, the port the
    server's accept() returned: `{call.STEP.CALL.port}`."""

    values: list[str] = Field(min_length=2)

    @model_validator(mode="after")
    def can_differ(self) -> Same:
        if len(set(self.values)) == 1:
            raise ValueError("values: the same text twice is always the same: this cannot fail")
        if not any("{" in value for value in self.values):
            raise ValueError("values: no {...} in any of them: constants, this cannot fail")
        return self


class Value(Strict):
    """A number the run produced (`call:STEP.CALL.FIELD`, `counter:A:B:KEY` for a change,
    `counter:SNAPSHOT:KEY` for a value) in a range.
    A bound may be a formula of terms, e.g. `2 * min(225280, sysctl:server:net.core.rmem_max)`:
    what the kernel's rule gives for the settings this run had."""

    of: str
    min: float | str | None = None
    max: float | str | None = None
    book: str | None = Field(
        default=None, description="what the book's table shows, for the report"
    )

    @model_validator(mode="after")
    def a_bound(self) -> Value:
        numbers = [b if isinstance(b, int | float) else None for b in (self.min, self.max)]
        if self.min is None and self.max is None:
            raise ValueError("no bound: give min or max, or this cannot fail")
        if None not in numbers and numbers[0] > numbers[1]:  # type: ignore[operator]
            raise ValueError(f"min {self.min} is above max {self.max}: nothing can pass")
        for name, bound in (("min", self.min), ("max", self.max)):
            if isinstance(bound, str) and bound.strip() == self.of.strip():
                raise ValueError(f"{name}: the value itself; bounded by itself it cannot fail")
        return self


class ProcessCount(Strict):
    snapshot: str
    min: int = 0
    max: int | None = None

    @model_validator(mode="after")
    def a_bound(self) -> ProcessCount:
        bounded(self.min, self.max)
        return self


class Expectation(OneOf):
    choices = (
        "exit",
        "blocked",
        "output",
        "errno",
        "elapsed",
        "packets",
        "packet_count",
        "timing",
        "counter",
        "balance",
        "processes",
        "same",
        "value",
        "echoed",
    )
    when: When | None = Field(
        default=None, description="judged only on kernels where this holds; else skipped"
    )
    exit: Exit | None = None
    blocked: Blocked | None = None
    output: Output | None = None
    errno: Errno | None = None
    elapsed: Elapsed | None = None
    packets: Packets | None = None
    packet_count: PacketCount | None = None
    timing: Timing | None = None
    counter: Counter | None = None
    balance: Balance | None = None
    processes: ProcessCount | None = None
    same: Same | None = None
    value: Value | None = None
    echoed: Echoed | None = None
