"""The report: the run beside the book, as JSON (report.json) and as a terminal view (rich)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..errors import ScenarioError
from ..judge.verdict import Outcome
from ..observe.observations import Observations, StepResult, distinct, resolve
from ..observe.strace import Call
from ..scenario.model import Scenario
from ..scenario.roles import Skipped
from ..scenario.terms import TermError, terms_of
from ..scenario.topology import HOSTS
from .ladder import render_ladder


@dataclass
class Report:
    scenario: Scenario
    backend: str
    rundir: Path
    observations: Observations
    outcomes: list[Outcome]
    replacements: dict[str, list[str]] = field(default_factory=dict)
    played: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    kernel: str = field(default_factory=lambda: os.uname().release)
    # "qemu-tcg" when the run happened in an emulated guest (harness/vm.py): its timings are
    # the emulator's as much as the kernel's
    guest: str = field(default_factory=lambda: os.environ.get("SOCKLAB_GUEST", ""))

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    def host_of(self, address: str) -> str | None:
        for key, value in self.observations.addresses.items():
            if value == address and key in HOSTS:
                return key
        for key, value in self.observations.addresses.items():
            if value == address:
                return key.split(".")[0] if key.split(".")[0] in HOSTS else None
        return None

    def headline(self) -> str:
        """The run's main observation in a few words: the scenario's own headline, else the
        first errno, else the first check."""
        if self.scenario.headline:
            return resolve(self.scenario.headline, self.observations)
        chosen = next((o for o in self.outcomes if o.kind == "errno"), None) or self.outcomes[0]
        return chosen.observed

    def to_json(self) -> dict[str, Any]:
        obs = self.observations
        return {
            "scenario": self.scenario.name,
            "title": self.scenario.title,
            # the scenario as it ran (after --client/--server), so `socklab show` needs nothing
            # but the run folder
            "definition": self.scenario.model_dump(mode="json", by_alias=True, exclude_unset=True),
            "backend": self.backend,
            "kernel": self.kernel,
            "guest": self.guest,
            "passed": self.passed,
            "headline": self.headline(),
            "rundir": str(self.rundir),
            "expectations": [outcome.to_json() for outcome in self.outcomes],
            "steps": {name: step.to_json() for name, step in obs.steps.items()},
            "errnos": {name: errnos(step) for name, step in obs.steps.items()},
            "window_end": round(obs.window_end - obs.started, 6)
            if obs.window_end != float("inf")
            else None,
            "captures": [c.to_json() for c in obs.captures],
            "faults": obs.notes,
            "replacements": self.replacements,
            "played": self.played,
            "skipped": [s.to_json() for s in self.skipped],
            "mechanisms": obs.mechanisms,
            "counters": {
                f"{key} ({before} -> {after})": {
                    "before": obs.counters.get(before, {}).get(key),
                    "after": obs.counters.get(after, {}).get(key),
                }
                for before, after, key in counter_terms(self)
            },
            "addresses": obs.addresses,
            "packets": [
                {
                    **packet.to_json(),
                    "t": round(packet.time - obs.started, 6),
                    "evidence": not obs.harness_caused(packet),
                }
                for packet in obs.packets
            ],
            "book": self.scenario.book.model_dump(),
            "explain": self.scenario.explain,
        }

    def write(self) -> Path:
        """report.json, and report.html beside it."""
        from .html import write_report

        path = self.rundir / "report.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        write_report(self)
        return path


# Questions, not actions: Python asks them when it prints an unclosed socket at exit.
QUERIES = ("getsockname", "getpeername")


def errnos(step: StepResult) -> list[str]:
    """The errno names the step's socket calls returned, in order, each once."""
    failed = [c for c in step.calls if c.errno and c.name not in QUERIES]
    return list(dict.fromkeys(f"{c.name}: {c.errno}" for c in failed))


def paragraphs(text: str) -> str:
    """YAML block text to flowing paragraphs: single newlines join, blank lines stay."""
    return "\n\n".join(" ".join(part.split()) for part in text.strip().split("\n\n"))


CALLS_PER_STEP = 12  # in the terminal; report.json and observations.json keep them all


def call_text(call: Call) -> str:
    where = f"{call.address[0]}:{call.address[1]}" if call.address else ""
    if call.blocked:
        return f"{call.name}({where}) still blocked"
    result = f"-1 {call.errno}" if call.errno else str(call.result)
    return f"{call.name}({where}) = {result}  <{call.duration:.6f} s>"


FOLD = 40  # lines of a long timeline or ladder in the terminal, unless --full


def timeline(report: Report, fold: int | None = FOLD) -> Text:
    """The programs' calls (strace) and the packets (tcpdump) on one clock; what the harness
    caused is greyed: it is never evidence. Past `fold` lines, the first and last ones."""
    obs = report.observations
    entries: list[tuple[float, str, bool]] = []
    for packet in distinct(obs.packets):
        line = f"{packet.link:<4} {packet.summary}"
        entries.append((packet.time, line, obs.harness_caused(packet)))
    for name, step in obs.steps.items():
        calls = [c for c in step.calls if c.name not in ("poll", "ppoll", "select", "pselect6")]
        for call in calls[:CALLS_PER_STEP]:
            late = call.start >= obs.window_end
            entries.append((call.start, f"{name:<6} {call_text(call)}", late))
        if len(calls) > CALLS_PER_STEP:
            last = calls[CALLS_PER_STEP].start
            more = len(calls) - CALLS_PER_STEP
            entries.append((last, f"{name:<6} ... {more} more calls (observations.json)", False))
    if not entries:
        return Text("(no packets captured, no calls traced)")
    entries.sort(key=lambda entry: entry[0])
    first = entries[0][0]
    text = Text()
    marked = False
    if fold is not None and len(entries) > fold:
        head, tail = fold * 2 // 3, fold - fold * 2 // 3
        left = len(entries) - fold
        gap = (
            entries[head - 1][0],
            f"... {left} more lines (report.json; --full shows all)",
            False,
        )
        entries = [*entries[:head], gap, *entries[-tail:]]
    for when, line, late in entries:
        if late and not marked:
            text.append("--- after teardown began (not evidence) ---\n", style="dim")
            marked = True
        text.append(f"{when - first:9.6f}  {line}\n", style="dim" if late else "")
    return text


TIMED = ("connect", "accept", "accept4", "recvfrom", "read", "recvmsg")


def calls_summary(step: StepResult) -> str:
    """The calls that tell the story: the first of each kind that blocks or fails."""
    seen: dict[str, str] = {}
    for call in step.calls:
        if call.name not in TIMED or call.name in seen:
            continue
        if call.blocked:
            seen[call.name] = f"{call.name} blocked"
        else:
            seen[call.name] = f"{call.name} {call.duration:.4f} s"
    return ", ".join(seen.values()) or "-"


def steps_table(report: Report) -> Table:
    table = Table(title="What the programs did", expand=True)
    for column in ("step", "host", "printed", "errno (strace)", "calls (strace)", "exit"):
        table.add_column(column)
    for name, step in report.observations.steps.items():
        printed = (step.stdout + step.stderr).strip() or "(nothing)"
        seen = ", ".join(errnos(step)) or "-"
        if not step.traced:
            seen = "no strace record"
        code = "stopped" if step.stopped_by_harness else str(step.exit_code)
        table.add_row(name, step.host, Text(printed), Text(seen), calls_summary(step), code)
    return table


def counter_terms(report: Report) -> list[tuple[str, str, str]]:
    """(before, after, key) for every counter an expectation reads."""
    found: list[tuple[str, str, str]] = []
    for expectation in report.scenario.expect:
        body = expectation.body()
        texts = [getattr(body, name, None) for name in ("of", "equals")]
        texts += list(getattr(body, "terms", []) or [])
        if expectation.counter is not None:
            texts.append(f"counter:{body.before}:{body.after}:{body.key}")
        for text in filter(None, texts):
            try:
                terms = terms_of(str(text))
            except TermError:
                continue  # validation refused it already
            for term in terms:
                if term.kind == "counter" and term.parts not in found:
                    found.append((term.parts[0], term.parts[1], term.parts[2]))
    return found


def counters_table(report: Report) -> Table | None:
    """The book's `netstat -s` before and after, for the counters the run is judged on."""
    terms = counter_terms(report)
    if not terms:
        return None
    snaps = report.observations.counters
    table = Table(title="Kernel counters (/proc/net/snmp, /proc/net/netstat), as netstat -s")
    for column in ("counter", "snapshot", "before", "after", "delta"):
        table.add_column(column)
    for before, after, key in terms:
        old, new = snaps.get(before, {}).get(key), snaps.get(after, {}).get(key)
        delta = "-" if old is None or new is None else f"{new - old:+d}"
        table.add_row(key, f"{before} -> {after}", str(old), str(new), delta)
    return table


def verdict_table(report: Report) -> Table:
    table = Table(title="Expectations", expand=True)
    for column in ("", "expected", "observed"):
        table.add_column(column)
    for outcome in report.outcomes:
        mark = Text("PASS", style="green") if outcome.passed else Text("FAIL", style="bold red")
        if outcome.skipped:
            mark = Text("SKIP", style="yellow")
        table.add_row(mark, Text(outcome.expected), Text(outcome.observed))
    return table


def render(report: Report, console: Console, full: bool = False) -> None:
    scen = report.scenario
    where = f"{report.backend}, Linux {report.kernel}" + (
        f", {report.guest}" if report.guest else ""
    )
    console.rule(f"[bold]{scen.name}[/]: {scen.title}  ({where})")
    if report.guest == "qemu-tcg":
        console.print(
            Text(
                "Emulated guest (QEMU TCG, about 10x slower than the machine): a timing that "
                "fails here may be the emulator's, not the kernel's.",
                style="yellow",
            )
        )
    if report.observations.notes:
        console.print(Text("Faults: " + "; ".join(report.observations.notes)))
    for role, argv in report.replacements.items():
        steps = ", ".join(report.played) or "none"
        console.print(Text(f"Your {role}: {' '.join(argv)} (steps: {steps})", style="bold"))
    for skipped in report.skipped:
        console.print(
            Text(f"Skipped for your {skipped.role}: step {skipped.step} ({skipped.why})", "yellow")
        )
    console.print(steps_table(report))
    title = "Calls (strace) and packets (tcpdump), one clock to within about a millisecond"
    fold = None if full else FOLD
    console.print(Panel(timeline(report, fold), title=title))
    # Inside a panel: its border and padding take 4 columns; the ladder never wraps.
    ladder = render_ladder(
        report.observations.evidence(), list(HOSTS), report.host_of, console.width - 4, fold
    )
    book = Panel(Text(scen.book.trace.rstrip()), title=Text(f"The book: {scen.book.section}"))
    ours = Panel(Text("\n".join(ladder) or "(no packets)"), title="This kernel: packet ladder")
    console.print(ours)
    console.print(book)
    body = Group(
        Text("The book: " + paragraphs(scen.book.shows), style="italic"),
        Text(""),
        Text("This kernel: " + paragraphs(scen.explain)),
    )
    console.print(Panel(body, title="Book and kernel"))
    counters = counters_table(report)
    if counters is not None:
        console.print(counters)
    console.print(verdict_table(report))
    verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(f"{verdict}  artefacts: {report.rundir}")


def load(rundir: Path) -> Report:
    """A saved run again, from its folder alone: the scenario as it ran (report.json) and its
    observations (observations.json), judged again by today's judge."""
    from ..judge.verdict import evaluate

    try:
        saved = json.loads((rundir / "report.json").read_text())
        definition = saved["definition"]
        obs = Observations.load(rundir / "observations.json")
    except (OSError, ValueError, KeyError) as err:
        raise ScenarioError(
            f"{rundir} is not a run folder socklab can show: {err}",
            hint="give a folder under runs/ that has report.json and observations.json",
        ) from err
    scen = Scenario.model_validate(definition)
    skipped = [Skipped(**item) for item in saved.get("skipped", [])]
    return Report(
        scen,
        saved["backend"],
        rundir,
        obs,
        evaluate(scen.expect, obs),
        saved.get("replacements", {}),
        saved.get("played", []),
        skipped,
        saved.get("kernel", ""),
        saved.get("guest", ""),
    )
