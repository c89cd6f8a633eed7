"""The run beside the book in the terminal (rich), from the report's model."""

from __future__ import annotations

import shutil
import textwrap

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..observe.observations import StepResult, distinct
from .figure import figure
from .ladder import render_ladder
from .model import (
    FilledTable,
    Report,
    book_table,
    call_text,
    counter_rows,
    errnos,
    paragraphs,
    visible,
)

CALLS_PER_STEP = 12  # in the terminal; report.json and observations.json keep them all


def width() -> int:
    """The terminal's columns (COLUMNS when set), 80 when the output is not a terminal."""
    return shutil.get_terminal_size((80, 24)).columns


def wrapped(text: str, columns: int, indent: int = 0) -> list[str]:
    """`text` in lines of at most `columns`, cut at spaces, never inside a word; the lines
    after the first indented by `indent`. A word longer than a line (a path) is cut last."""
    return textwrap.wrap(
        text,
        max(columns, indent + 20),
        subsequent_indent=" " * indent,
        break_on_hyphens=False,
    ) or [""]


def shown(text: str = "", style: str = "") -> Text:
    return Text(visible(text), style=style)


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
        return shown("(no packets captured, no calls traced)")
    entries.sort(key=lambda entry: entry[0])
    first = obs.started  # the run's start: the clock every view of the run uses
    text = shown()
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
        text.append(f"{when - first:9.6f}  {visible(line)}\n", style="dim" if late else "")
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


STEPS = 6  # rows of the steps table, unless --full; then the first STEPS - 2 and a count
PRINTED = 3  # lines of what a step printed, in the table


def printed_text(step: StepResult, full: bool) -> str:
    lines = (step.stdout + step.stderr).strip().splitlines() or ["(nothing)"]
    if full or len(lines) <= PRINTED:
        return "\n".join(lines)
    return "\n".join([*lines[: PRINTED - 1], f"... ({len(lines)} lines)"])


def steps_table(report: Report, full: bool = False) -> Table:
    table = Table(title="What the programs did", expand=True)
    for column in ("step", "host", "printed", "errno (strace)", "calls (strace)", "exit"):
        table.add_column(column)
    steps = list(report.observations.steps.items())
    if not full and len(steps) > STEPS:
        left = len(steps) - (STEPS - 2)
        steps = steps[: STEPS - 2]
        table.caption = f"... and {left} more steps (report.json; --full shows all)"
    for name, step in steps:
        printed = printed_text(step, full)
        seen = ", ".join(errnos(step)) or "-"
        if not step.traced:
            seen = "no strace record"
        code = "stopped" if step.stopped_by_harness else str(step.exit_code)
        table.add_row(name, step.host, shown(printed), shown(seen), calls_summary(step), code)
    return table


def table_of(filled: FilledTable) -> Table:
    table = Table(title=shown(f"The book's table, with this kernel's column: {filled.title}"))
    for column in filled.columns:
        table.add_column(shown(column))
    for row in filled.rows:
        table.add_row(*(shown(cell) for cell in row))
    return table


def counters_table(report: Report) -> Table | None:
    """The book's `netstat -s` before and after, for the counters the run is judged on."""
    rows = counter_rows(report)
    if not rows:
        return None
    table = Table(title="Kernel counters (/proc/net/snmp, /proc/net/netstat), as netstat -s")
    for column in ("counter", "snapshot", "before", "after", "delta"):
        table.add_column(column)
    for key, snapshots, old, new, delta in rows:
        table.add_row(key, snapshots, "-" if old is None else str(old), str(new), delta)
    return table


EXPECTATIONS = 10  # rows of the expectations table, unless --full
PASSED_SHOWN = 6  # passed ones shown when there are more


def verdict_table(report: Report, full: bool = False) -> Table:
    table = Table(title="Expectations", expand=True)
    for column in ("", "expected", "observed"):
        table.add_column(column)
    outcomes = list(report.outcomes)
    if not full and len(outcomes) > EXPECTATIONS:
        # every failed or skipped one, and the first passed ones: the rest are alike
        passed = [o for o in outcomes if o.passed and not o.skipped]
        hidden = passed[PASSED_SHOWN:]
        outcomes = [o for o in outcomes if not any(o is h for h in hidden)]
        if hidden:
            table.caption = f"... and {len(hidden)} more passed (report.json; --full shows all)"
    for outcome in outcomes:
        mark = shown("PASS", style="green") if outcome.passed else shown("FAIL", style="bold red")
        if outcome.skipped:
            mark = shown("SKIP", style="yellow")
        table.add_row(mark, shown(outcome.expected), shown(outcome.observed))
    return table


def render(report: Report, console: Console, full: bool = False) -> None:
    scen = report.scenario
    family = "IPv6, " if report.observations.family == 6 else ""
    where = f"{family}{report.backend}, Linux {report.kernel}" + (
        f", {report.guest}" if report.guest else ""
    )
    console.rule(f"[bold]{scen.name}[/]  ({escape(where)})")
    # the title whole, cut between words (a rule would cut it mid-word to fit)
    console.print(shown("\n".join(wrapped(visible(scen.title), console.width)), style="bold"))
    if report.guest == "qemu-tcg":
        console.print(
            shown(
                "Emulated guest (QEMU TCG, about 10x slower than the machine): a timing that "
                "fails here may be the emulator's, not the kernel's.",
                style="yellow",
            )
        )
    if report.observations.notes:
        console.print(shown("Faults: " + "; ".join(report.observations.notes)))
    for role, argv in report.replacements.items():
        steps = ", ".join(report.played) or "none"
        console.print(shown(f"Your {role}: {' '.join(argv)} (steps: {steps})", style="bold"))
    for skipped in report.skipped:
        console.print(
            shown(f"Skipped for your {skipped.role}: step {skipped.step} ({skipped.why})", "yellow")
        )
    console.print(steps_table(report, full))
    fold = None if full else FOLD
    if full:  # the figure below carries the same calls and packets, folded
        title = "Calls (strace) and packets (tcpdump), one clock to within about a millisecond"
        console.print(Panel(timeline(report, fold), title=title))
    # Inside a panel: its border and padding take 4 columns; the ladder never wraps.
    ladder = render_ladder(figure(report.observations, report.host_of), console.width - 4, fold)
    book = Panel(shown(scen.book.trace.rstrip()), title=shown(f"The book: {scen.book.section}"))
    ours = Panel(shown("\n".join(ladder) or "(no packets)"), title="This kernel: calls and packets")
    console.print(ours)
    filled = book_table(report)
    if filled is not None and not full:  # the book's trace is this table: shown with ours
        console.print(table_of(filled))
    else:
        console.print(book)
        if filled is not None:
            console.print(table_of(filled))
    body = Group(
        shown("The book: " + paragraphs(scen.book.shows), style="italic"),
        shown(""),
        shown("This kernel: " + paragraphs(scen.explain)),
    )
    console.print(Panel(body, title="Book and kernel"))
    counters = counters_table(report)
    if counters is not None and (full or filled is None):  # the book's table has its values
        console.print(counters)
    console.print(verdict_table(report, full))
    verdict = "[green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    if not report.judged:
        verdict += " (every expectation was skipped on this kernel: nothing was judged)"
    console.print(f"{verdict}  artefacts: {report.rundir}")
