"""A packet ladder: the book's time-line figures, one column per host, one row per packet.

Captures sit on links, so a packet is drawn hop by hop: on lan1 between client and router, on
lan2 between router and server. A SYN that crosses lan1 but never appears on lan2 ends at the
router column, which is how a drop in the router looks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.pcap import Packet

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
SPAN = 26  # characters between two adjacent columns


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


def row(packet: Packet, columns: Sequence[str], host_of: Callable[[str], str | None]) -> str:
    canvas = list(" " * ((SPAN + 1) * (len(columns) - 1) + 1))
    for index in range(len(columns)):
        canvas[index * (SPAN + 1)] = "|"
    ends = endpoints(packet, host_of)
    if ends is None:  # loopback: a note beside the host's own column
        where = host_of(packet.src) or host_of(packet.dst) or columns[0]
        start = (columns.index(where) if where in columns else 0) * (SPAN + 1) + 1
        text = f" lo: {label(packet)}"[:SPAN]
    else:
        first, second = columns.index(ends[0]), columns.index(ends[1])
        low, high = min(first, second), max(first, second)
        start = low * (SPAN + 1) + 1
        text = arrow(label(packet), (high - low) * (SPAN + 1) - 1, first < second)
    canvas[start : start + len(text)] = text
    return "".join(canvas)


def render_ladder(
    packets: Sequence[Packet], columns: Sequence[str], host_of: Callable[[str], str | None]
) -> list[str]:
    if not packets:
        return []
    start = packets[0].time
    header = " " * 11 + "".join(name.ljust(SPAN + 1) for name in columns)
    lines = [header.rstrip()]
    for packet in packets:
        lines.append(f"{packet.time - start:9.6f}  {row(packet, columns, host_of)}  {note(packet)}")
    return lines
