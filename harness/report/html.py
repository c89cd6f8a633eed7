"""report.html: one self-contained page per run (no network, no script), and a suite's index.

The packet ladder is an SVG drawn to a time axis: a gap of a second is visibly longer than one
of a millisecond, and a gap longer than BREAK_S is drawn as a scale break labelled with its
length, so a 64 s SYN backoff does not make a page kilometres tall.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from ..observe.pcap import Packet
from ..scenario.topology import HOSTS
from .ladder import endpoints, label, note
from .model import Report, call_text, counter_rows, errnos, paragraphs

ROW = 20  # pixels between two packets, at least
PX_PER_S = 80  # pixels per second of a gap, up to BREAK_S
BREAK_S = 3.0  # a longer gap is drawn as a break
BREAK_PX = 40  # what a break adds to BREAK_S's height
LEFT = 110  # the time axis
SPAN = 220  # pixels between two host columns
TOP = 40

COLOURS = {
    "SYN": "#1f6feb",
    "RST": "#d1242f",
    "FIN": "#8250df",
    "ICMP": "#bc4c00",
    "UDP": "#1a7f37",
    "ARP": "#6e7781",
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
    y: float
    x1: float
    x2: float
    t: float
    label: str
    note: str
    colour: str
    link: str


@dataclass
class Break:
    y: float  # the middle of the break
    seconds: float


@dataclass
class Ladder:
    columns: list[tuple[str, float]]  # name, x
    arrows: list[Arrow]
    breaks: list[Break]
    width: float
    height: float


def ladder(
    packets: Sequence[Packet], columns: Sequence[str], host_of: Callable[[str], str | None]
) -> Ladder:
    """Where each packet's arrow goes: y from its time (a gap's pixels grow with its seconds
    up to BREAK_S, then a break), x from its link's two ends."""
    xs = {name: LEFT + 60 + index * SPAN for index, name in enumerate(columns)}
    arrows: list[Arrow] = []
    breaks: list[Break] = []
    y = float(TOP)
    previous: float | None = None
    start = packets[0].time if packets else 0.0
    for packet in packets:
        ends = endpoints(packet, host_of)
        if ends is None or ends[0] not in xs or ends[1] not in xs:
            continue  # loopback: no link to draw on
        if previous is not None:
            gap = packet.time - previous
            if gap > BREAK_S:
                breaks.append(Break(y + ROW / 2 + BREAK_S * PX_PER_S / 2, gap))
                y += ROW + BREAK_S * PX_PER_S + BREAK_PX
            else:
                y += max(ROW, gap * PX_PER_S)
        previous = packet.time
        arrows.append(
            Arrow(
                y,
                xs[ends[0]],
                xs[ends[1]],
                packet.time - start,
                label(packet),
                note(packet),
                colour(packet),
                packet.link,
            )
        )
    width = LEFT + 60 + SPAN * (len(columns) - 1) + 120
    return Ladder(list(xs.items()), arrows, breaks, width, y + ROW * 2)


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
            ladder=ladder(obs.evidence(), list(HOSTS), report.host_of),
            steps=steps,
            shows=paragraphs(scen.book.shows),
            explain=paragraphs(scen.explain),
            captures=obs.captures,
            problems=obs.capture_problems(),
            headline=report.headline(),
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


def write_index(results: Sequence[Any], backend: str, wall: float, folder: Path) -> Path:
    """index.html for a suite: one row per scenario, linking to its report.html."""
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
        .render(rows=rows, backend=backend, wall=wall, kernel=os.uname().release)
    )
    path.write_text(text)
    return path
