"""The book's comparison of implementations, redone across kernels: the same scenarios on each
kernel (the machine's, or a stock one in a QEMU guest), one table, a row per scenario and a
column per kernel, each cell the scenario's headline (errno and time, SYN schedule, queued
connections) as that kernel produced it.

A guest boots once per kernel and runs the whole list there (`socklab suite -j 1`, the netns
backend), so five scenarios cost one boot, not five.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table
from rich.text import Text

from ..errors import BackendUnavailable, ScenarioError
from ..testbed import vm
from ..testbed.ownership import RUNS_DIR
from . import suite
from .execute import Progress
from .suite import Result

GUEST_SECONDS_PER_SCENARIO = 150.0  # TCG: 11-14x slower Python; timeout alone takes ~45 s


@dataclass
class Column:
    kernel: str  # as asked: host, debian-6.1, a path
    release: str  # uname -r
    emulated: bool  # TCG: timings are the emulator's as much as the kernel's
    results: list[Result]
    family: int = 4


def parse_families(text: str) -> list[int]:
    try:
        families = [int(f) for f in text.split(",") if f.strip()]
    except ValueError as err:
        raise ScenarioError(f"--families {text}: not numbers", hint="e.g. --families 4,6") from err
    if not families or any(f not in (4, 6) for f in families) or len(set(families)) < len(families):
        raise ScenarioError(f"--families {text}: 4, 6 or both, once each", hint="--families 4,6")
    return families


def parse_kernels(text: str) -> list[str]:
    kernels = [k.strip() for k in text.split(",") if k.strip()]
    if not kernels:
        raise ScenarioError("--kernels is empty", hint="e.g. --kernels host,debian-6.1")
    if len(set(kernels)) != len(kernels):
        raise ScenarioError(f"--kernels {text}: a kernel is named twice")
    return kernels


def on_host(names: Sequence[str], say: Progress, jobs: int, family: int = 4) -> Column:
    """The names that run over the family (the others get a cell that says why not)."""
    if family == 6:
        names = [n for n in names if not suite.read_only(n).not_over_ipv6]
    results = suite.run_all(names, "netns", say, jobs=jobs, family=family)
    return Column("host", os.uname().release, False, results, family)


def in_guest(
    names: Sequence[str], spec: str, say: Progress, deadline: float | None, family: int = 4
) -> Column:
    """One boot of the kernel; `socklab suite` inside; the run folders come back under runs/."""
    if family == 6:
        names = [n for n in names if not suite.read_only(n).not_over_ipv6]
    vm.check_tools()
    kernel = vm.fetch(spec, say)
    share = RUNS_DIR / f"guest-{kernel.release}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    share.mkdir(mode=0o755, parents=True)
    argv = [sys.executable, "-m", "socklab.cli", "suite", *names]
    argv += ["--backend", "netns", "-j", "1", "--json", "--family", str(family)]
    limit = deadline or 60 + GUEST_SECONDS_PER_SCENARIO * len(names)
    how = vm.accel(kernel, say)
    say(f"booting {kernel.release} under QEMU {how}: {len(names)} scenario(s), {limit:.0f} s max")
    line = vm.shell_line(argv, {"SOCKLAB_RUNS": "/out-share"})
    guest = vm.run(kernel, line, share, limit, accel=how)
    try:
        data = json.loads((share / "guest.stdout").read_text())
    except (OSError, ValueError) as err:
        what = {124: f"did not finish in {limit:.0f} s"}.get(guest.exit_code, "gave no results")
        raise BackendUnavailable(
            f"the {kernel.release} guest {what} ({err})",
            hint=f"its console log: {share / 'console.log'}",
        ) from err
    results = []
    for item in data:
        inside = Path(item.get("rundir") or "")
        here = share / inside.relative_to("/out-share") if inside.is_absolute() else inside
        results.append(Result(**{**item, "rundir": str(here) if item.get("rundir") else ""}))
    return Column(spec, kernel.release, how == "tcg", results, family)


def table(names: Sequence[str], columns: Sequence[Column]) -> Table:
    title = "The same scenarios, kernel beside kernel and family beside family"
    shown = Table(title=f"{title} (cells: the run's headline)")
    shown.add_column("scenario")
    for column in columns:
        where = " (QEMU TCG)" if column.emulated else ""
        shown.add_column(f"{column.kernel}: Linux {column.release}{where}, IPv{column.family}")
    styles = {"pass": "green", "FAIL": "bold red", "ERROR": "bold red", "skipped": "yellow"}
    for name in names:
        cells: list[Text | str] = [name]
        found = [next((r for r in column.results if r.name == name), None) for column in columns]
        for column, result in zip(columns, found, strict=True):
            if result is None:
                why = "not over IPv6" if column.family == 6 else "not run"
                cells.append(Text(why, "yellow"))
                continue
            cell = Text(result.verdict, style=styles.get(result.verdict, ""))
            cell.append(f"  {result.headline}")
            cells.append(cell)
        shown.add_row(*cells)
        # the book's backlog table: a row per backlog value, the queued connections per kernel
        per_kernel = [queued(result) for result in found]
        for backlog in sorted({b for counts in per_kernel for b in counts}):
            shown.add_row(
                f"  backlog {backlog}",
                *(str(counts.get(backlog, "-")) + " queued" for counts in per_kernel),
            )
    return shown


def queued(result: Result | None) -> dict[int, int]:
    """backlog -> connections queued, from a backlog run's observations: snapshot qN holds
    the accept queue of the listener with backlog N (listen.PORT.queued, read by the harness)."""
    if result is None or not result.rundir:
        return {}
    try:
        snapshots = json.loads((Path(result.rundir) / "observations.json").read_text())["counters"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    counts = {}
    for name, values in snapshots.items():
        if name[:1] != "q" or not name[1:].isdigit() or not isinstance(values, dict):
            continue
        found = [v for k, v in values.items() if k.startswith("listen.") and k.endswith(".queued")]
        if len(found) == 1 and isinstance(found[0], int):
            counts[int(name[1:])] = found[0]
    return counts


def to_json(columns: Sequence[Column]) -> list[dict[str, object]]:
    return [
        {
            "kernel": c.kernel,
            "release": c.release,
            "emulated": c.emulated,
            "family": c.family,
            "results": [r.__dict__ for r in c.results],
        }
        for c in columns
    ]
