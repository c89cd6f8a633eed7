"""A packet ladder: the book's time-line figures, one column per host, one row per packet.

Captures sit on links, so a packet is drawn hop by hop: on lan1 between client and router, on
lan2 between router and server. A SYN that crosses lan1 but never appears on lan2 ends at the
router column, which is how a drop in the router looks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..observe.pcap import Packet

LEAF = {"lan1": "client", "lan2": "server"}
FLAG_NAMES = {"S": "SYN", "F": "FIN", "R": "RST", "P": "PSH"}
ICMP_SHORT = {
    0: "net unreachable",
    1: "host unreachable",
    3: "port unreachable",
    9: "net prohibited",
    10: "host prohibited",
    13: "admin prohibited",
}
SPAN = 26  # characters between two adjacent columns, at most
MIN_SPAN = 14  # below this an arrow's label is unreadable
TIME = 11  # "  1.234567  "
NOTE = 15  # "  65535 > 65535"
PORTED_SPAN = 20  # the port note is dropped before the spans shrink below this


def label(packet: Packet) -> str:
    if packet.proto == "tcp":
        names = [FLAG_NAMES[c] for c in packet.flags if c in FLAG_NAMES]
        names += ["ACK"] if packet.flags.endswith(".") else []
        text = ",".join(names) or "-"
        return f"{text} len {packet.length}" if packet.length else text
    if packet.proto == "udp":
        return f"UDP len {packet.length}"
    if packet.proto == "icmp":
        if packet.icmp_type == 3:
            return "ICMP " + ICMP_SHORT.get(packet.icmp_code or 0, f"unreach {packet.icmp_code}")
        return {8: "ICMP echo request", 0: "ICMP echo reply"}.get(packet.icmp_type or -1, "ICMP")
    if packet.proto == "arp":
        return f"ARP who-has {packet.dst}" if packet.flags == "request" else "ARP reply"
    return packet.proto


def endpoints(packet: Packet, host_of: Callable[[str], str | None]) -> tuple[str, str] | None:
    """(sender, receiver) on the packet's link, or None for loopback."""
    leaf = LEAF.get(packet.link)
    if leaf is None:
        return None
    sender = host_of(packet.src)
    if sender == leaf:
        return leaf, "router"
    if sender is not None:
        return "router", leaf
    # A source no host owns (spoofed, or an ARP probe's): judge by where it is going.
    return ("router", leaf) if host_of(packet.dst) == leaf else (leaf, "router")


def note(packet: Packet) -> str:
    if packet.sport is not None:
        return f"{packet.sport} > {packet.dport}"
    return ""


def arrow(text: str, width: int, rightwards: bool) -> str:
    body = f" {text} " if len(text) + 4 <= width else f" {text[: width - 6]}~ "
    dashes = width - len(body) - 1
    left, right = dashes // 2, dashes - dashes // 2
    if rightwards:
        return "-" * left + body + "-" * right + ">"
    return "<" + "-" * left + body + "-" * right


def row(
    packet: Packet,
    columns: Sequence[str],
    host_of: Callable[[str], str | None],
    span: int = SPAN,
) -> str:
    canvas = list(" " * ((span + 1) * (len(columns) - 1) + 1))
    for index in range(len(columns)):
        canvas[index * (span + 1)] = "|"
    ends = endpoints(packet, host_of)
    if ends is None:  # loopback: a note beside the host's own column
        where = host_of(packet.src) or host_of(packet.dst) or columns[0]
        start = (columns.index(where) if where in columns else 0) * (span + 1) + 1
        text = f" lo: {label(packet)}"[:span]
    else:
        first, second = columns.index(ends[0]), columns.index(ends[1])
        low, high = min(first, second), max(first, second)
        start = low * (span + 1) + 1
        text = arrow(label(packet), (high - low) * (span + 1) - 1, first < second)
    canvas[start : start + len(text)] = text
    return "".join(canvas)


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


def render_ladder(
    packets: Sequence[Packet],
    columns: Sequence[str],
    host_of: Callable[[str], str | None],
    width: int = 200,
    fold: int | None = None,
) -> list[str]:
    """The ladder in at most `width` characters a line (a note instead when even the
    narrowest ladder does not fit); with `fold`, the first and last packets of a longer list
    around a line that says how many are left out."""
    if not packets:
        return []
    span, ports = layout(width, len(columns))
    if not span:
        return [f"(the packet ladder needs {needed_width(len(columns))} columns; this is {width})"]
    start = packets[0].time
    # Each name starts at its rail; the last one ends at its rail where the width has no room
    # after it (at 60 columns "server" used to wrap under the ladder).
    last_rail = (span + 1) * (len(columns) - 1)
    canvas = [" "] * (width - TIME)
    for index, name in enumerate(columns):
        name = name[:span]
        at = index * (span + 1)
        if index == len(columns) - 1 and at + len(name) > width - TIME:
            at = last_rail + 1 - len(name)
        canvas[at : at + len(name)] = name
    header = "".join(canvas)
    lines = [" " * TIME + header.rstrip()]
    shown: list[Packet | None] = list(packets)
    if fold is not None and len(packets) > fold:
        head, tail = fold * 2 // 3, fold - fold * 2 // 3
        shown = [*packets[:head], None, *packets[-tail:]]
    for packet in shown:
        if packet is None:
            left = len(packets) - fold  # type: ignore[operator]
            lines.append(" " * TIME + f"... {left} more packets (report.json; --full shows all)")
            continue
        drawn = row(packet, columns, host_of, span)
        lines.append(
            f"{packet.time - start:9.6f}  {drawn}" + (f"  {note(packet)}" if ports else "")
        )
    return [line.rstrip() for line in lines]
