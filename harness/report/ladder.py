"""The figure in the terminal: one column per host, one row per packet, call or fold.

Captures sit on links, so a packet is drawn hop by hop: on lan1 between client and router, on
lan2 between router and server. A packet that went into the router and never came out on the
other link (both captured) ends in an X at the router's column. A host's calls are written on
its column at the moments they were made and returned.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..observe.pcap import Packet
from .figure import Figure, Fold, Hop, Journey, Mark, label

SPAN = 26  # characters between two adjacent columns, at most
MIN_SPAN = 14  # below this an arrow's label is unreadable
TIME = 11  # "  1.234567  "
NOTE = 15  # "  65535 > 65535"
PORTED_SPAN = 20  # the port note is dropped before the spans shrink below this


def note(packet: Packet) -> str:
    if packet.sport is not None:
        return f"{packet.sport} > {packet.dport}"
    return ""


def arrow(text: str, width: int, rightwards: bool, dropped: bool = False, line: str = "-") -> str:
    body = f" {text} " if len(text) + 4 <= width else f" {text[: width - 6]}~ "
    dashes = width - len(body) - 1
    left, right = dashes // 2, dashes - dashes // 2
    if rightwards:
        return line * left + body + line * right + ("X" if dropped else ">")
    return ("X" if dropped else "<") + line * left + body + line * right


class Canvas:
    def __init__(self, columns: Sequence[str], span: int, room: int) -> None:
        self.columns = list(columns)
        self.span = span
        self.room = room  # what a call's or a loopback note's text may use, rails and all

    def rails(self) -> list[str]:
        canvas = list(" " * ((self.span + 1) * (len(self.columns) - 1) + 1))
        for index in range(len(self.columns)):
            canvas[index * (self.span + 1)] = "|"
        return canvas

    def at(self, host: str) -> int:
        return (self.columns.index(host) if host in self.columns else 0) * (self.span + 1)

    def hop(self, hop: Hop, text: str) -> str:
        canvas = self.rails()
        if hop.sender == hop.receiver:  # loopback: a note beside the host's own column
            return self.call(hop.sender, text)
        first, second = self.at(hop.sender), self.at(hop.receiver)
        low, high = min(first, second), max(first, second)
        start = low + 1
        # `=`: a broadcast, to every host on the link
        drawn = arrow(
            text, high - low - 1, first < second, hop.dropped, "=" if hop.broadcast else "-"
        )
        canvas[start : start + len(drawn)] = drawn
        return "".join(canvas).rstrip()

    def call(self, host: str, text: str) -> str:
        """The text on the host's column: right of it, or left of the last one."""
        canvas = self.rails()
        canvas += [" "] * max(0, self.room - len(canvas))
        rail = self.at(host)
        room = len(canvas)
        if host == self.columns[-1]:  # left of its rail, so named: it is not the router's
            text = f"{host}: {text}"
            text = text[: rail - 1]
            start = rail - 1 - len(text)
        else:
            text = text[: room - rail - 2]
            start = rail + 2
        canvas[start : start + len(text)] = text
        return "".join(canvas).rstrip()


def layout(width: int, columns: int) -> tuple[int, bool]:
    """(span, ports shown) for a ladder that fits `width` characters, never wider: the spans
    shrink to PORTED_SPAN, then the port note goes, then they shrink to MIN_SPAN."""
    rails = columns - 1
    for ports in (True, False):
        room = width - TIME - (NOTE if ports else 0) - 1
        span = min(SPAN, room // rails - 1)
        if span >= (PORTED_SPAN if ports else MIN_SPAN):
            return span, ports
    return 0, False


def needed_width(columns: int) -> int:
    return TIME + (MIN_SPAN + 1) * (columns - 1) + 1


def rows_of(fig: Figure, canvas: Canvas, ports: bool) -> list[tuple[float, str]]:
    """(moment, line) for every hop, fold and call of the figure, unsorted."""

    def hop_line(hop: Hop, text: str) -> tuple[float, str]:
        line = canvas.hop(hop, text)
        if ports and hop.packet.sport is not None:
            line = line.ljust(len(canvas.rails())) + f"  {note(hop.packet)}"
        return hop.time, line

    found: list[tuple[float, str]] = []
    for row in fig.rows:
        if isinstance(row, Journey):
            for index, hop in enumerate(row.hops):
                found.append(hop_line(hop, short(row.text) if index == 0 else label(hop.packet)))
            continue
        for journey in row.first:
            for hop in journey.hops:
                found.append(
                    hop_line(hop, f"{label(hop.packet)} x{len(row.journeys) // row.period}")
                )
        found.append((row.first[-1].hops[-1].time, f"FOLD {row.number}: {row.text}"))
    for mark in fig.marks:
        found += mark_lines(mark, canvas)
    return found


def short(text: str) -> str:
    """An arrow's label in the terminal: the ARP request's address first (the arrow's `=`
    says it is a broadcast)."""
    return text.replace(" (broadcast)", "").replace("ARP who-has", "who-has")


LEGEND = "X: dropped in the router  ===: broadcast  FOLD: like rows folded"


def mark_lines(mark: Mark, canvas: Canvas) -> list[tuple[float, str]]:
    called = mark.called + (f" x{mark.count}" if mark.count > 1 else "")
    if mark.end is None:
        return [(mark.start, canvas.call(mark.host, f"{called} ... still blocked"))]
    if mark.together:
        return [(mark.start, canvas.call(mark.host, f"{called} {mark.returned}"))]
    return [
        (mark.start, canvas.call(mark.host, f"{called} ...")),
        (mark.end, canvas.call(mark.host, f"{mark.name} {mark.returned}")),
    ]


def render_ladder(fig: Figure, width: int = 200, fold: int | None = None) -> list[str]:
    """The figure in at most `width` characters a line (a note instead when even the
    narrowest ladder does not fit); with `fold`, the first and last rows of a longer figure
    around a line that says how many are left out."""
    if not fig.rows and not fig.marks:
        return []
    columns = fig.columns
    span, ports = layout(width, len(columns))
    if not span:
        return [f"(the ladder needs {needed_width(len(columns))} columns; this is {width})"]
    canvas = Canvas(columns, span, width - TIME)
    # Each name starts at its rail; the last one ends at its rail where the width has no room
    # after it (at 60 columns "server" used to wrap under the ladder).
    last_rail = (span + 1) * (len(columns) - 1)
    header = [" "] * (width - TIME)
    for index, name in enumerate(columns):
        name = name[:span]
        at = index * (span + 1)
        if index == len(columns) - 1 and at + len(name) > width - TIME:
            at = last_rail + 1 - len(name)
        header[at : at + len(name)] = name
    rows = sorted(rows_of(fig, canvas, ports), key=lambda row: row[0])
    shown: list[tuple[float, str] | None] = list(rows)
    if fold is not None and len(rows) > fold:
        head, tail = fold * 2 // 3, fold - fold * 2 // 3
        shown = [*rows[:head], None, *rows[-tail:]]
    lines = [" " * TIME + "".join(header).rstrip()]
    for entry in shown:
        if entry is None:
            left = len(rows) - fold  # type: ignore[operator]
            said = f"... {left} more rows (report.json; --full shows all)"
            lines.append(" " * TIME + said[: width - TIME])
            continue
        when, line = entry
        if line.startswith("FOLD "):
            lines += [" " * TIME + part for part in wrapped(line, width - TIME)]
            continue
        lines.append(f"{when - fig.origin:9.6f}  {line}")
    hops = [
        h
        for row in fig.rows
        for j in (row.journeys if isinstance(row, Fold) else [row])
        for h in j.hops
    ]
    if any(h.dropped or h.broadcast for h in hops) or any(isinstance(r, Fold) for r in fig.rows):
        lines.append(" " * TIME + LEGEND[: width - TIME])
    return [line.rstrip() for line in lines]


def wrapped(text: str, columns: int) -> list[str]:
    words, lines, line = [], [], ""
    for word in text.split(" "):  # a word longer than a line (an IPv6 address) is cut
        words += [word[i : i + columns - 2] for i in range(0, len(word), columns - 2)] or [""]
    for word in words:
        if line and len(line) + 1 + len(word) > columns:
            lines.append(line)
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines
