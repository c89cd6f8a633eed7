"""report.html: one self-contained page per run (no network, no script), and a suite's index.

The packet ladder is an SVG drawn to a time axis: a gap of a second is visibly longer than one
of a millisecond, and a gap longer than BREAK_S is drawn as a scale break labelled with its
length, so a 64 s SYN backoff does not make a page kilometres tall.
"""

from __future__ import annotations

import bisect
import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2

from ..observe.pcap import Packet
from .figure import Figure, Hop, Journey, figure, label
from .ladder import note
from .model import Report, book_table, call_text, counter_rows, errnos, paragraphs, visible

ROW = 20  # pixels between two moments, at least
PX_PER_S = 80  # pixels per second of a gap, up to BREAK_S
BREAK_S = 3.0  # a longer gap is drawn as a break
BREAK_PX = 40  # what a break adds to BREAK_S's height
SPAN = 260  # pixels between two host columns
FIRST = 430  # the first column's x: the time axis and the client's calls are left of it
AFTER = 280  # room right of the last column for the server's calls
TOP = 50
UNFOLD = 300  # packets listed when a fold is opened; report.json has them all
MAX_ROWS = 600  # rows of the figure drawn, at most

COLOURS = {
    "SYN": "#1f6feb",
    "RST": "#d1242f",
    "FIN": "#8250df",
    "ICMP": "#bc4c00",
    "ICMP6": "#bc4c00",
    "UDP": "#1a7f37",
    "ARP": "#6e7781",
    "ND": "#6e7781",
}
DEFAULT_COLOUR = "#0969da"


def colour(packet: Packet) -> str:
    if packet.proto == "tcp":
        for flag, name in (("R", "RST"), ("S", "SYN"), ("F", "FIN")):
            if flag in packet.flags:
                return COLOURS[name]
        return DEFAULT_COLOUR
    return COLOURS.get(packet.proto.upper(), DEFAULT_COLOUR)


@dataclass
class Arrow:
    x1: float
    y1: float
    x2: float
    y2: float
    t: float
    label: str
    note: str
    colour: str
    link: str
    dropped: bool = False
    broadcast: bool = False
    loop: bool = False  # on a host's loopback: drawn as a loop back into its own column
    fold: int = 0  # the fold it stands for (its anchor), 0 for none


@dataclass
class Band:
    """A fold: its first and last journeys are drawn, the band spans the time between."""

    x1: float
    x2: float
    y1: float
    y2: float
    text: str
    number: int
    colour: str


@dataclass
class CallMark:
    x: float
    y1: float
    y2: float
    called: str
    returned: str
    anchor: str  # "end": text left of the column (the client), "start": right of it
    blocked: bool
    t: float
    host: str
    together: bool  # call and return on one line


@dataclass
class Break:
    y: float  # the middle of the break
    seconds: float


@dataclass
class Ladder:
    columns: list[tuple[str, float]]  # name, x
    arrows: list[Arrow]
    bands: list[Band]
    calls: list[CallMark]
    breaks: list[Break]
    times: list[tuple[float, float]]  # y, seconds since the run began
    unfolds: list[tuple[int, str, list[str], int]]  # number, text, lines, not listed
    width: float
    height: float
    omitted: str = ""  # what is not drawn, when the figure has more than MAX_ROWS rows


class Scale:
    """y for a moment: each moment of the figure at least ROW below the one before, a gap's
    pixels growing with its seconds up to BREAK_S, then a break; a moment between two of
    them (an arrival) at its true distance, so a transit slants only where it shows."""

    def __init__(self, times: Sequence[float]) -> None:
        self.times = list(times)
        self.ys: list[float] = []
        self.breaks: list[Break] = []
        y = float(TOP)
        for index, when in enumerate(self.times):
            if index:
                gap = when - self.times[index - 1]
                if gap > BREAK_S:
                    self.breaks.append(Break(y + ROW / 2 + BREAK_S * PX_PER_S / 2, gap))
                    y += ROW + BREAK_S * PX_PER_S + BREAK_PX
                else:
                    y += max(ROW, gap * PX_PER_S)
            self.ys.append(round(y, 1))
        self.bottom = round(y + ROW * 2, 1)

    def y(self, when: float) -> float:
        return round(self.exact(when), 1)

    def exact(self, when: float) -> float:
        if not self.times:
            return float(TOP)
        index = max(0, bisect.bisect_right(self.times, when) - 1)
        base = self.ys[index]
        if index + 1 < len(self.ys):
            room = self.ys[index + 1] - base
            return base + min(max(0.0, when - self.times[index]) * PX_PER_S, room)
        return base + max(0.0, when - self.times[index]) * PX_PER_S


def hop_arrow(hop: Hop, text: str, xs: dict[str, float], scale: Scale, origin: float) -> Arrow:
    packet = hop.packet
    return Arrow(
        xs[hop.sender],
        scale.y(hop.time),
        xs[hop.receiver],
        scale.y(hop.arrival),
        hop.time - origin,
        text,
        note(packet),
        colour(packet),
        packet.link,
        hop.dropped,
        hop.broadcast,
        hop.sender == hop.receiver,
    )


def journey_arrows(
    journey: Journey, xs: dict[str, float], scale: Scale, origin: float, fold: int = 0
) -> list[Arrow]:
    arrows = []
    for index, hop in enumerate(journey.hops):
        text = journey.text if index == 0 else label(hop.packet)
        arrow = hop_arrow(hop, text, xs, scale, origin)
        arrow.fold = fold
        arrows.append(arrow)
    return arrows


def capped(fig: Figure) -> tuple[Figure, str]:
    """At most MAX_ROWS rows drawn (the first and last halves; what falls between is
    left out and said so): whatever a program sends, the page stays small."""
    if len(fig.rows) <= MAX_ROWS:
        return fig, ""
    head, tail = fig.rows[: MAX_ROWS // 2], fig.rows[-MAX_ROWS // 2 :]
    start, end = head[-1].time, tail[0].time
    marks = [m for m in fig.marks if m.start <= start or m.start >= end]
    left = len(fig.rows) - MAX_ROWS
    note = (
        f"{left} rows of packets between {start - fig.origin:.6f} and "
        f"{end - fig.origin:.6f} s are not drawn (report.json has every packet)"
    )
    return replace(fig, rows=[*head, *tail], marks=marks), note


def ladder(fig: Figure) -> Ladder:
    """Where everything goes: packets' arrows, folds' bands, calls on the hosts' lines."""
    fig, omitted = capped(fig)
    xs = {name: float(FIRST + index * SPAN) for index, name in enumerate(fig.columns)}
    scale = Scale(fig.times())
    arrows: list[Arrow] = []
    bands: list[Band] = []
    unfolds: list[tuple[int, str, list[str], int]] = []
    for row in fig.rows:
        if isinstance(row, Journey):
            arrows += journey_arrows(row, xs, scale, fig.origin)
            continue
        drawn = []
        for journey in [*row.first, *row.last]:
            drawn += journey_arrows(journey, xs, scale, fig.origin, row.number)
        for arrow in drawn:
            arrow.label = ""
        arrows += drawn
        left = min(min(a.x1, a.x2) for a in drawn)
        right = max(max(a.x1, a.x2) for a in drawn)
        top, bottom = scale.y(row.time), scale.y(row.journeys[-1].hops[-1].time)
        head = row.journeys[0].hops[0].packet
        bands.append(Band(left, right, top, bottom, row.text, row.number, colour(head)))
        hops = [hop for journey in row.journeys for hop in journey.hops]
        lines = [
            f"{hop.time - fig.origin:10.6f}  {hop.packet.link:<4} {hop.packet.summary}"
            + ("  (dropped in the router)" if hop.dropped else "")
            for hop in hops[:UNFOLD]
        ]
        unfolds.append((row.number, row.text, lines, max(0, len(hops) - UNFOLD)))
    calls = []
    for mark in fig.marks:
        if mark.host not in xs:
            continue
        end = scale.bottom - ROW if mark.end is None else scale.y(mark.end)
        calls.append(
            CallMark(
                xs[mark.host],
                scale.y(mark.start),
                end,
                mark.called + (f" x{mark.count}" if mark.count > 1 else ""),
                mark.returned,
                "end" if mark.host == fig.columns[0] else "start",
                mark.end is None,
                mark.start - fig.origin,
                mark.host,
                mark.together,
            )
        )
    width = FIRST + SPAN * (len(fig.columns) - 1) + AFTER
    times = [(y, when - fig.origin) for y, when in zip(scale.ys, scale.times, strict=True)]
    return Ladder(
        list(xs.items()),
        arrows,
        bands,
        calls,
        scale.breaks,
        times,
        unfolds,
        width,
        scale.bottom,
        omitted,
    )


@functools.cache
def environment() -> jinja2.Environment:
    """One per process, so each template is compiled once (~50 ms); a parallel suite loads them
    before it forks its runs (suite.warm)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("socklab.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # every value a template prints, escaped as the terminal does (autoescape does HTML's
        # characters, not ESC or NUL from a program's output)
        finalize=lambda value: visible(value) if isinstance(value, str) else value,
    )


def report_page(report: Report) -> str:
    obs = report.observations
    steps: list[dict[str, Any]] = []
    for name, step in obs.steps.items():
        steps.append(
            {
                "name": name,
                "host": step.host,
                "argv": " ".join(step.argv),
                "exit": "stopped by the harness"
                if step.stopped_by_harness
                else str(step.exit_code),
                "errnos": ", ".join(errnos(step)) if step.traced else "no strace record",
                "stdout": step.stdout,
                "stderr": step.stderr,
                "calls": [call_text(call) for call in step.calls],
            }
        )
    counters = [
        (key, snapshots, "-" if old is None else old, new, delta)
        for key, snapshots, old, new, delta in counter_rows(report)
    ]
    scen = report.scenario

    return (
        environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            scen=scen,
            ladder=ladder(figure(obs, report.host_of)),
            steps=steps,
            shows=paragraphs(scen.book.shows),
            explain=paragraphs(scen.explain),
            captures=obs.captures,
            problems=obs.capture_problems(),
            headline=report.headline(),
            table=book_table(report),
            counters=counters,
            colours=[*COLOURS.values(), DEFAULT_COLOUR],
            px_per_s=PX_PER_S,
            break_s=f"{BREAK_S:g}",
        )
    )


def write_report(report: Report) -> Path:
    path = report.rundir / "report.html"
    path.write_text(report_page(report))
    return path


def write_index(
    results: Sequence[Any],
    backend: str,
    wall: float,
    folder: Path,
    graded: dict[str, str] | None = None,
) -> Path:
    """index.html for a suite: which programs were graded, how many scenarios passed, failed
    and were skipped, and one row per scenario linking to its report.html."""
    rows = []
    for result in results:
        page = Path(result.rundir) / "report.html" if result.rundir else None
        link = os.path.relpath(page, folder) if page is not None and page.exists() else None
        rows.append({"r": result, "link": link})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "index.html"
    text = (
        environment()
        .get_template("index.html.j2")
        .render(
            rows=rows,
            backend=backend,
            wall=wall,
            kernel=os.uname().release,
            graded=graded or {},
            counts={
                name: sum(r.verdict in kinds for r in results)
                for name, kinds in (
                    ("passed", ("pass",)),
                    ("failed", ("FAIL", "ERROR")),
                    ("skipped", ("skipped",)),
                )
            },
        )
    )
    path.write_text(text)
    return path
