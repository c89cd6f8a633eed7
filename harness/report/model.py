"""The report's model: one run beside the book, as report.json holds it. The terminal view
(terminal.py) and the page (html.py) both read it; neither knows the other."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScenarioError
from ..judge.verdict import Outcome, evaluate
from ..observe.observations import Observations, StepResult, resolve
from ..observe.strace import Call
from ..scenario.model import Scenario
from ..scenario.roles import Skipped
from ..scenario.terms import TermError, terms_of
from ..scenario.topology import HOSTS

# What a program printed, or a scenario file says, may hold escape sequences (a window title,
# a clipboard write, an erased line replaced by a fake PASSED): shown escaped, never sent raw,
# in the terminal and in the page alike.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with every control character but newline and tab written as \\xNN."""
    return CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


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
        """Every expectation held, and at least one was judged: a run whose expectations were
        all skipped on this kernel (`when:`) showed nothing, and does not pass."""
        return self.judged and all(outcome.passed for outcome in self.outcomes)

    @property
    def judged(self) -> bool:
        return any(not outcome.skipped for outcome in self.outcomes)

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
            "family": self.observations.family,
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
                f"{key} ({snapshots})": {"before": old, "after": new}
                for key, snapshots, old, new, _ in counter_rows(self)
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
            "table": None if (filled := book_table(self)) is None else filled.__dict__,
            "explain": self.scenario.explain,
        }

    def write(self) -> Path:
        """report.json (report.html is html.write_report's)."""
        path = self.rundir / "report.json"
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
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


def call_text(call: Call) -> str:
    where = f"{call.address[0]}:{call.address[1]}" if call.address else ""
    if call.blocked:
        return f"{call.name}({where}) still blocked"
    result = f"-1 {call.errno}" if call.errno else str(call.result)
    return f"{call.name}({where}) = {result}  <{call.duration:.6f} s>"


def counter_terms(report: Report) -> list[tuple[str | None, str, str]]:
    """(before, after, key) for every counter an expectation reads; before is None for a
    value read at one snapshot (a listener's accept queue)."""
    found: list[tuple[str | None, str, str]] = []
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
                if term.kind != "counter":
                    continue
                *before, after, key = term.parts
                entry = (before[0] if before else None, after, key)
                if entry not in found:
                    found.append(entry)
    return found


def counter_rows(report: Report) -> list[tuple[str, str, int | None, int | None, str]]:
    """(key, snapshots, before, after, delta) for the counters table: netstat -s before and
    after, or a value at one snapshot (no before, no delta)."""
    snaps = report.observations.counters
    rows: list[tuple[str, str, int | None, int | None, str]] = []
    for before, after, key in counter_terms(report):
        new = snaps.get(after, {}).get(key)
        if before is None:
            rows.append((key, after, None, new, "-"))
            continue
        old = snaps.get(before, {}).get(key)
        delta = "-" if old is None or new is None else f"{new - old:+d}"
        rows.append((key, f"{before} -> {after}", old, new, delta))
    return rows


@dataclass
class FilledTable:
    title: str
    columns: list[str]
    rows: list[list[str]]


def book_table(report: Report) -> FilledTable | None:
    """The scenario's book table with this kernel's cells filled from the run; a value the
    run does not hold reads `<no ...>`, never a guess."""
    table = report.scenario.table
    if table is None:
        return None
    chosen = table.rows6 if report.observations.family == 6 and table.rows6 else table.rows
    rows = [[resolve(cell, report.observations) for cell in row] for row in chosen]
    return FilledTable(table.title, list(table.columns), rows)


def load(rundir: Path) -> Report:
    """A saved run again, from its folder alone: the scenario as it ran (report.json) and its
    observations (observations.json), judged again by today's judge."""
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
