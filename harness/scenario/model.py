"""Scenario files: YAML validated by a schema before anything runs.

A scenario is data: faults to set, programs to run in which host, what to capture, and what
the kernel is expected to do (observed on a real kernel, never copied from the book). Steps and
expectations are one-key mappings (`- run: {...}`, `- errno: {...}`) so an error names the field.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import Field, ValidationError, model_validator

from .. import shipped
from ..errors import ScenarioError
from .consistency import problems
from .counterfactual import Counterfactual, apply
from .expectations import Expectation
from .schema import CALL_NAME, Host, Link, OneOf, Strict, When
from .terms import PLACEHOLDER
from .topology import ATTACHMENTS, HOSTS

SCENARIO_DIR = shipped.SCENARIOS


# ---- faults -------------------------------------------------------------------------------
class RouteFault(Strict):
    """A route of a special type in a host: the kernel answers from it (unreachable, prohibit)
    or drops silently (blackhole)."""

    type: Literal["unreachable", "prohibit", "blackhole"]
    to: str = Field(description="destination prefix, may use {placeholders}")

    @model_validator(mode="after")
    def a_prefix(self) -> RouteFault:
        return self if is_address(self.to) else error(f"to: {self.to!r} is no address or prefix")


class SysctlFault(Strict):
    """A per-namespace sysctl, under net. only (net.core.rmem_max and a few others are global:
    DESIGN.md); whether the kernel has it is checked before any host is up."""

    key: str = Field(pattern=r"^net\.[a-z0-9_]+(\.[a-z0-9_]+)+$", max_length=120)
    value: str | int = Field(union_mode="left_to_right")

    @model_validator(mode="after")
    def a_plain_value(self) -> SysctlFault:
        group, _, name = self.key.removeprefix("net.").partition(".")
        if group == "core" and name != "somaxconn" and not name.startswith("xfrm_"):
            return error(
                f"key: {self.key} is machine-wide (only net.core.somaxconn and xfrm_* are per "
                "namespace): a scenario changes nothing outside its hosts; read it with "
                f"sysctl:HOST:{self.key} and bound on it instead (udp-rcvbuf does)"
            )
        text = str(self.value)
        return (
            self
            if text and len(text) < 64 and text.isprintable()
            else error("value: not a plain value")
        )


class LinkFault(Strict):
    """Impairments on a host's interface towards `network` (netem, or a declared fallback)."""

    network: Literal["lan1", "lan2"]
    # Only egress: a host shapes what leaves it; shape the other direction on the router's
    # other interface (DESIGN.md).
    direction: Literal["egress"] = "egress"
    loss: float | None = Field(default=None, ge=0, le=100)
    loss_correlation: float | None = Field(default=None, ge=0, le=100)
    delay: float | None = Field(default=None, ge=0, le=10_000, description="ms")
    jitter: float | None = Field(default=None, ge=0, le=10_000, description="ms")
    rate: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{0,9}(bit|kbit|mbit|gbit)$",
        description="a rate above 0 (tc refuses 0bit when the run starts)",
    )
    reorder: float | None = Field(default=None, ge=0, le=100)
    duplicate: float | None = Field(default=None, ge=0, le=100)
    corrupt: float | None = Field(default=None, ge=0, le=100)


class DropFault(Strict):
    """Silently drop matching packets in a host (nftables), e.g. the SYNs of a connect()."""

    what: Literal["tcp-syn", "udp", "icmp", "all"]
    to: str
    port: int | None = Field(default=None, ge=1, le=65535)

    @model_validator(mode="after")
    def an_address(self) -> DropFault:
        return self if is_address(self.to) else error(f"to: {self.to!r} is no address or prefix")


def error(message: str) -> NoReturn:
    raise ValueError(message)


def is_address(text: str) -> bool:
    """A {placeholder} (checked against the names elsewhere) or a literal IPv4 prefix."""
    if text.startswith("{") and text.endswith("}") and text.count("{") == 1:
        return True
    try:
        ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        return False
    return True


class Fault(OneOf):
    host: Host
    route: RouteFault | None = None
    no_default_route: bool | None = None
    sysctl: SysctlFault | None = None
    link: LinkFault | None = None
    drop: DropFault | None = None

    choices = ("route", "no_default_route", "sysctl", "link", "drop")

    @model_validator(mode="after")
    def on_its_network(self) -> Fault:
        if self.link is not None and self.link.network not in ATTACHMENTS[self.host]:
            nets = ", ".join(ATTACHMENTS[self.host])
            return error(f"link: {self.host} is not on {self.link.network} (it is on {nets})")
        return self


# ---- steps --------------------------------------------------------------------------------
class Line(Strict):
    line: str
    after: float = Field(default=0.0, ge=0, le=60)
    after_ready: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9_-]*$",
        description="count `after` from when this other step got ready (its `ready:` held, or "
        "it started): a pause that holds however slowly a machine starts programs",
    )


class Ready(OneOf):
    choices = ("tcp", "udp", "call", "calling")
    tcp: int | None = Field(default=None, ge=1, le=65535, description="until this TCP port listens")
    udp: int | None = Field(
        default=None, ge=1, le=65535, description="until this UDP port is bound"
    )
    call: str | None = Field(
        default=None, pattern=CALL_NAME, description="until the program returns from this call"
    )
    calling: str | None = Field(
        default=None, pattern=CALL_NAME, description="until the program is in this call"
    )


# One word of a program's command line: the kernel refuses one of over 128 KiB (E2BIG) when
# the step starts; a scenario's are short.
Word = Annotated[str, Field(max_length=4096)]


class Run(Strict):
    """A program in a host: a built-in (`program:`, a file in harness/programs) or any
    executable (`command:`, an argv list, never a shell string). Either way it runs under
    strace, and its calls are judged from the outside."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    host: Host
    program: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9_]*$", description="a file in harness/programs"
    )
    command: list[Word] | None = Field(default=None, min_length=1, max_length=64)
    role: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]*$",
        description="the part this program plays (client, server): --client CMD replaces it",
    )
    keeps: str | None = Field(
        default=None,
        min_length=10,
        description="why a replacement cannot play this step (an option the book's program "
        "lacks): the built-in keeps it, and the report says the step was skipped",
    )
    args: list[Word] = Field(default=[], max_length=64)
    stdin: list[Line | str] = []
    keep_stdin_open: bool = False
    background: bool = False
    timeout: float = Field(default=10.0, gt=0, le=300)
    user: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="run as this user of the host (never root), with no capability at all",
    )
    caps: list[Literal["net_bind_service", "net_raw"]] = Field(
        default=[],
        description="the capabilities the program keeps (as root); it has no other: "
        "net_bind_service for a port below 1024, net_raw for a raw socket",
    )
    ready: Ready | None = None
    untraced: str | None = Field(
        default=None,
        min_length=10,
        description="run without strace, and why: a load generator whose speed the kernel's "
        "behaviour depends on (ptrace stops cost ~50 us a call); its calls cannot be judged",
    )

    @model_validator(mode="after")
    def program_or_command(self) -> Run:
        if (self.program is None) == (self.command is None):
            raise ValueError("needs exactly one of: program (a built-in), command (an argv list)")
        if self.user and self.caps:
            raise ValueError("caps: a step with a user: runs with no capability (drop one)")
        if self.user == "root":
            raise ValueError(
                "user: root would keep root's capabilities; a step without user: already runs "
                "as root with only its caps: (drop user:)"
            )
        return self


class Signal(Strict):
    """A signal to a step's program (never to the strace in front of it). STOP and CONT make
    any program a slow receiver from the outside."""

    step: str
    signal: Literal["INT", "TERM", "KILL", "HUP", "USR1", "USR2", "STOP", "CONT"] = "INT"


class Wait(Strict):
    step: str
    timeout: float = Field(default=10.0, gt=0, le=300)


class Counters(Strict):
    """Snapshot a host's kernel counters (/proc/net/snmp and /proc/net/netstat) now."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    host: Host


class Processes(Strict):
    """Snapshot the processes a step is running now (the program and every child it forked)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    step: str
    at_least: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="take it once the step runs this many processes, or after `within` seconds "
        "with what there is (a slow machine forks late; a server that never forks is not waited "
        "for long)",
    )
    within: float = Field(default=5.0, gt=0, le=60)


class Step(OneOf):
    choices = ("run", "sleep", "signal", "wait", "fault", "counters", "processes")
    when: When | None = Field(
        default=None, description="taken only on kernels where this holds (else skipped)"
    )
    run: Run | None = None
    sleep: float | None = Field(default=None, ge=0, le=120)
    signal: Signal | None = None
    wait: Wait | None = None
    fault: Fault | None = Field(default=None, description="a fault set from here on")
    counters: Counters | None = None
    processes: Processes | None = None


# ---- the scenario -------------------------------------------------------------------------
class Book(Strict):
    section: str
    shows: str
    trace: str
    headline: str = Field(default="", description="the book's outcome in a few words, for `suite`")


class BookTable(Strict):
    """A table the book prints, with this kernel's column beside its own: cells may hold
    placeholders ({counter.SNAPSHOT.KEY}, {delta.BEFORE.AFTER.KEY}, {call...}) that the
    report fills from the run."""

    title: str = Field(max_length=200)
    columns: list[str] = Field(min_length=2, max_length=12)
    rows: list[list[str]] = Field(min_length=1, max_length=100)
    rows6: list[list[str]] | None = Field(
        default=None, max_length=100, description="the rows in an IPv6 run, where they differ"
    )

    @model_validator(mode="after")
    def rectangular(self) -> BookTable:
        for number, row in enumerate([*self.rows, *(self.rows6 or [])]):
            if len(row) != len(self.columns):
                return error(f"rows.{number} has {len(row)} cells for {len(self.columns)} columns")
        if not any(PLACEHOLDER.search(cell) for row in self.rows for cell in row):
            return error("no cell reads the run ({counter...}, {delta...}, {call...})")
        return self


class Capture(Strict):
    host: Host
    link: Link

    @model_validator(mode="after")
    def on_the_link(self) -> Capture:
        if self.link == "lo" or self.link in ATTACHMENTS[self.host]:
            return self
        return error(
            f"{self.host} is not on {self.link} (it is on {', '.join(ATTACHMENTS[self.host])})"
        )


class Scenario(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", max_length=64)
    title: str
    book: Book
    explain: str = Field(description="what this kernel does and why it differs from the book")
    not_over_ipv6: str | None = Field(
        default=None,
        description="why the scenario does not run with --family 6 (absent: it does)",
        max_length=1000,
    )
    table: BookTable | None = Field(
        default=None, description="the book's table, with this kernel's column beside it"
    )
    headline: str | None = Field(
        default=None, description="the run's main observation for `suite`, with {event...}"
    )
    mount: str | None = Field(
        default=None,
        pattern=r"^[^\x00-\x1f]+$",
        max_length=4096,
        description="a directory of the user's, relative to this file, visible read-only in "
        "every host at its own absolute path; relative commands run from there",
    )
    faults: list[Fault] = []
    capture: list[Capture] = [
        Capture(host="router", link="lan1"),
        Capture(host="router", link="lan2"),
    ]
    steps: list[Step] = Field(min_length=1)
    expect: list[Expectation] = Field(min_length=1)
    counterfactuals: list[Counterfactual] = Field(
        default=[], description="changes under which named expectations must fail"
    )

    @model_validator(mode="after")
    def steps_are_named_once(self) -> Scenario:
        seen = [(c.host, c.link) for c in self.capture]
        for index, pair in enumerate(seen):
            if pair in seen[:index]:
                raise ValueError(f"capture.{index}: {pair[0]} on {pair[1]} is captured twice")
        names = [step.run.name for step in self.steps if step.run]
        known: set[str] = set()
        for name in names:
            if name in known:
                raise ValueError(f"step name {name!r} is used twice")
            known.add(name)
        refs = [s.body().step for s in self.steps if s.signal or s.wait or s.processes]
        refs += [e.body().step for e in self.expect if hasattr(e.body(), "step")]
        for ref in refs:
            if ref not in known:
                more = f" ... ({len(names)} in all)" if len(names) > 12 else ""
                shown = ", ".join(names[:12]) + more
                raise ValueError(f"refers to step {ref!r}, but the steps are: {shown}")
        snapshots = {s.counters.name for s in self.steps if s.counters}
        snapshots |= {s.processes.name for s in self.steps if s.processes}
        found = problems(self.model_dump(by_alias=True), set(names), snapshots)
        if found:
            raise ValueError("; ".join(found))
        for index, counterfactual in enumerate(self.counterfactuals):
            for field in ("fails", "may_change"):
                wrong = [n for n in getattr(counterfactual, field) if not 0 <= n < len(self.expect)]
                if wrong:
                    raise ValueError(
                        f"counterfactuals.{index}.{field}: no expectation {wrong[0]} "
                        f"(expect has 0..{len(self.expect) - 1})"
                    )
            try:
                self.variant(index)
            except ValidationError as err:
                raise ValueError(
                    f"counterfactuals.{index} ({counterfactual.name}) makes an invalid "
                    f"scenario: {describe(err)}"
                ) from err
            except ValueError as err:
                raise ValueError(f"counterfactuals.{index} ({counterfactual.name}): {err}") from err
        return self

    def variant(self, index: int) -> Scenario:
        """This scenario with its counterfactual `index` applied (and none of its own)."""
        changed = apply(self.model_dump(by_alias=True), self.counterfactuals[index].change)
        return Scenario.model_validate(changed)


def names() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.yaml"))


SCENARIO_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


def path_of(name: str) -> Path:
    """A shipped scenario's file; a name resolves only inside the scenarios folder (a path to
    one's own file ends in .yaml: load_named)."""
    if not SCENARIO_NAME.fullmatch(name) or len(name) > 64:
        raise ScenarioError(
            f"{name[:60]!r} is no scenario name (at most 64 lowercase letters, digits and -)",
            hint="socklab list shows the names; a file of your own is given by its .yaml path",
        )
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.exists():
        known = names()
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ScenarioError(
            f"no scenario named {name!r}",
            hint=f"{hint}known scenarios: {', '.join(known)} (socklab list)",
        )
    return path


# A scenario is a page or two (the largest shipped, backlog, is 11 KB); PyYAML reads ~150 KB a
# second, so a file at this size is refused or read within 2 s.
MAX_BYTES = 256 * 1024
MAX_ERRORS = 20  # a broken file reports its first problems, not megabytes of them


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys; a second `expect:` would silently replace the
    first, so a duplicate is an error naming the key and its line."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        # An alias (*name) can repeat a node exponentially: 693 bytes of "billion laughs" took
        # more than 4 GB. A scenario needs none, so none is read.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a scenario", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, "a key must be plain text", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read(path: Path) -> Any:
    """The YAML data of a scenario file, or a ScenarioError saying what is wrong with it."""
    try:
        # Non-blocking: a FIFO named .yaml must not hang the reader; then only a regular file
        # is read, and never more than the cap (a link to /dev/zero has size 0 and no end).
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ScenarioError(f"{path}: not a regular file", hint="give a scenario's .yaml")
            raw = os.read(fd, MAX_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read: {err.strerror}") from err
    if len(raw) > MAX_BYTES:
        raise ScenarioError(
            f"{path}: over {MAX_BYTES} bytes; a scenario file is at most that",
            hint="is this the right file?",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ScenarioError(
            f"{path}: not UTF-8 text (byte {err.start}: {raw[err.start]:#x})"
        ) from err
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)
        unwritable(data, path)
        return data
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}: not valid YAML: {err}") from err
    except RecursionError as err:
        raise ScenarioError(f"{path}: nested too deeply to be a scenario") from err
    except ValueError as err:  # a number of over 4,300 digits, and the like
        raise ScenarioError(f"{path}: a value YAML cannot read: {str(err)[:160]}") from err


def unwritable(data: Any, path: Path) -> None:
    """A text YAML can hold but no file or terminal can (a lone surrogate, "\\ud800"): a
    scenario error now, not a UnicodeEncodeError when the report is written."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as err:
                raise ScenarioError(
                    f"{path}: a text holds {item[err.start : err.end]!r}, which is no character"
                ) from err
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item


def load(path: Path) -> Scenario:
    data = read(path)
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{path}: invalid scenario",
            hint="(top level): a mapping with name, title, ... is expected",
        )
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(f"{path}: invalid scenario", hint=describe(err)) from err
    except RecursionError as err:
        raise ScenarioError(f"{path}: nested too deeply to be a scenario") from err


def describe(err: ValidationError) -> str:
    lines = []
    problems = err.errors()
    for problem in problems[:MAX_ERRORS]:
        field = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"{field}: {problem['msg']}")
    if len(problems) > MAX_ERRORS:
        lines.append(f"... and {len(problems) - MAX_ERRORS} more problems")
    return "\n".join(lines)


def load_named(name: str) -> Scenario:
    """A shipped scenario by name, or the user's own file by path (anything ending .yaml)."""
    if name.endswith((".yaml", ".yml")):
        return load(Path(name))
    return load(path_of(name))


__all__ = ["HOSTS", "Scenario", "load", "load_named", "names"]
