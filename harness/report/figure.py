"""The figure both views draw (the terminal's ladder, the page's SVG): the book's kind of
time-line figure, from the record alone.

- Packets are followed hop by hop: a datagram the client sent to the server is one *journey*,
  its copy on lan1 and its copy on lan2. A journey that should have crossed the router (its
  destination lies beyond it) and never appears on the far link, while that link was being
  captured, was dropped in the router: it ends in a drop mark there. Nothing is guessed where
  the far link was not captured.
- Each host's socket calls sit on its time line, call and return (errno on return), from the
  strace record.
- Long runs of like journeys fold ("SYN x6, 1 s apart"), and so do runs of like calls; a fold
  of datagrams into a host whose counters were read before and after says how many the kernel
  delivered and how many it counted as dropped.
- One clock origin for every view: the run's start (Observations.started).
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..observe.observations import Observations, distinct
from ..observe.pcap import Packet
from ..observe.strace import Call
from ..scenario.topology import HOSTS

LEAF = {"lan1": "client", "lan2": "server"}
FOLD_MIN = 4  # like journeys or calls in a row fold from this many on
PERIOD = 4  # the longest pattern of journeys that folds when it repeats
MIXED, MIXED_MIN = 3, 16  # up to 3 kinds in any order fold from 16 journeys on (a flood)
TRANSIT_S = 0.005  # copies of one frame on one link (both ends captured it)
TOGETHER_S = 0.002  # a call that returned within this is drawn as one line
MATCH_S = 11.0  # a forwarded copy appears on the far link within this (delays up to 10 s)
BURST_S = 0.01  # like packets closer than this are one burst, forwarded in order
FLAG_NAMES = {"S": "SYN", "F": "FIN", "R": "RST", "P": "PSH"}
# What an ICMP destination-unreachable code means to the socket that receives it: Linux's
# icmp_err_convert table (net/ipv4/icmp.c), which tcp_v4_err and udp_err use.
ICMP_ERRNO = {
    0: ("net unreachable", "ENETUNREACH"),
    1: ("host unreachable", "EHOSTUNREACH"),
    2: ("protocol unreachable", "ENOPROTOOPT"),
    3: ("port unreachable", "ECONNREFUSED"),
    4: ("fragmentation needed", "EMSGSIZE"),
    6: ("net unknown", "ENETUNREACH"),
    7: ("host unknown", "EHOSTDOWN"),
    5: ("source route failed", "EOPNOTSUPP"),
    8: ("source host isolated", "ENONET"),
    9: ("net prohibited", "ENETUNREACH"),
    10: ("host prohibited", "EHOSTUNREACH"),
    11: ("net unreachable for TOS", "ENETUNREACH"),
    12: ("host unreachable for TOS", "EHOSTUNREACH"),
    13: ("administratively prohibited", "EHOSTUNREACH"),
    14: ("host precedence violation", "EHOSTUNREACH"),
    15: ("precedence cut off", "EHOSTUNREACH"),
}
# The same for ICMPv6's (icmpv6_err_convert's tab_unreach, net/ipv6/icmp.c): the
# administrative ones mean EACCES over IPv6, where IPv4's admin-prohibited means EHOSTUNREACH.
ICMP6_ERRNO = {
    0: ("no route", "ENETUNREACH"),
    1: ("administratively prohibited", "EACCES"),
    2: ("beyond scope", "EHOSTUNREACH"),
    3: ("address unreachable", "EHOSTUNREACH"),
    4: ("port unreachable", "ECONNREFUSED"),
    5: ("source address failed policy", "EACCES"),
    6: ("reject route", "EACCES"),
}
# The calls drawn on a host's time line: the ones the book's figures show. The questions a
# program asks (getsockname, setsockopt) and its waits (poll) are in the calls table.
DRAWN = {
    "bind",
    "listen",
    "connect",
    "accept",
    "accept4",
    "read",
    "write",
    "readv",
    "writev",
    "recvfrom",
    "sendto",
    "recvmsg",
    "sendmsg",
    "shutdown",
    "close",
}


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
            meaning, errno = ICMP_ERRNO.get(packet.icmp_code or 0, (f"code {packet.icmp_code}", ""))
            return f"ICMP {meaning}" + (f" ({errno})" if errno else "")
        echoes = {8: "ICMP echo request", 0: "ICMP echo reply"}
        return echoes.get(packet.icmp_type, "ICMP") if packet.icmp_type is not None else "ICMP"
    if packet.proto == "icmp6":
        if packet.icmp_type == 1:
            meaning, errno = ICMP6_ERRNO.get(
                packet.icmp_code or 0, (f"code {packet.icmp_code}", "")
            )
            return f"ICMPv6 {meaning}" + (f" ({errno})" if errno else "")
        names6 = {128: "ICMPv6 echo request", 129: "ICMPv6 echo reply"}
        return names6.get(packet.icmp_type or 0, f"ICMPv6 type {packet.icmp_type}")
    if packet.proto == "arp":
        return f"ARP who-has {packet.dst}" if packet.flags == "request" else "ARP reply"
    if packet.proto == "nd":
        return f"NS who-has {packet.dst}" if packet.flags == "request" else "NA"
    if packet.summary.endswith("ip-proto-2"):
        return "IGMP"
    return packet.summary.rpartition(": ")[2] or packet.proto


def broadcast(packet: Packet) -> bool:
    """Sent to every host on its link: an ARP request (Ethernet broadcast) or an IPv4
    broadcast or multicast address."""
    if packet.proto in ("arp", "nd"):
        return packet.flags == "request"  # ND's to the target's solicited-node multicast
    try:
        address = ipaddress.ip_address(packet.dst)
    except ValueError:
        return False
    return address.is_multicast or packet.dst == "255.255.255.255" or packet.dst.endswith(".255")


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


@dataclass
class Hop:
    """One packet on one link (or on a host's loopback: sender == receiver)."""

    packet: Packet
    sender: str
    receiver: str
    arrival: float  # the latest capture of it on this link: later than sent by its transit
    dropped: bool = False  # it went into the receiver (the router) and never left
    broadcast: bool = False

    @property
    def time(self) -> float:
        return self.packet.time


@dataclass
class Journey:
    hops: list[Hop]
    text: str  # what the packet was ("SYN", "UDP len 1400 to 10.77.2.99 (lan2.unassigned)")
    kind: str = ""  # the same without an address no host owns: what like journeys share

    @property
    def time(self) -> float:
        return self.hops[0].time

    def shape(self) -> tuple[object, ...]:
        """What two journeys must share to fold: the path, what they were, the service port
        (the server's: SYNs to port 13 and to port 80 are two things, while a flood's random
        source ports are one), their fate."""
        packet = self.hops[0].packet
        service = packet.sport if self.hops[0].sender == "server" else packet.dport
        return (
            self.kind or self.text,
            service,
            tuple((h.packet.link, h.sender, h.receiver, h.dropped, h.broadcast) for h in self.hops),
        )


@dataclass
class Fold:
    journeys: list[Journey]
    text: str  # "SYN x6, 1 s apart"
    number: int  # its anchor on the page: #fold-N
    period: int = 1  # journeys in the pattern that repeats

    @property
    def first(self) -> list[Journey]:
        return self.journeys[: self.period]

    @property
    def last(self) -> list[Journey]:
        return self.journeys[-self.period :]

    @property
    def time(self) -> float:
        return self.journeys[0].time


@dataclass
class Mark:
    """A call (or a run of like calls) on its host's time line."""

    host: str
    step: str
    start: float
    end: float | None  # None: still blocked when the harness stopped it
    called: str  # "connect(10.77.2.10:13)"
    returned: str  # "= -1 ETIMEDOUT"; "still blocked"
    count: int = 1

    @property
    def together(self) -> bool:
        """Returned so soon that call and return are one line."""
        return self.end is not None and self.end - self.start < TOGETHER_S

    @property
    def name(self) -> str:
        return self.called.partition("(")[0]


@dataclass
class Figure:
    origin: float
    rows: list[Journey | Fold]
    marks: list[Mark]
    columns: list[str] = field(default_factory=lambda: list(HOSTS))

    def times(self) -> list[float]:
        """Every moment that gets a row of its own, in order."""
        found: set[float] = set()
        for row in self.rows:
            drawn = [*row.first, *row.last] if isinstance(row, Fold) else [row]
            for journey in drawn:
                found.update(hop.time for hop in journey.hops)
        for mark in self.marks:
            found.add(mark.start)
            if not mark.together:
                found.add(mark.end or mark.start)
        return sorted(found)


def varied(run: Sequence[Journey]) -> str:
    """What differs between like journeys: their lengths, the addresses no host owns."""
    packets = [journey.hops[0].packet for journey in run]
    parts = []
    lengths = {p.length for p in packets}
    if len(lengths) > 1:
        parts.append(f"len {min(lengths)}..{max(lengths)}")
    addresses = {p.src for p in packets} | {p.dst for p in packets}
    if len(addresses) > 2:
        parts.append(f"{len(addresses) - 1} addresses no host owns")
    return f" ({', '.join(parts)})" if parts else ""


def gaps_text(times: Sequence[float]) -> str:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if not gaps:
        return ""
    mean = sum(gaps) / len(gaps)
    if all(abs(gap - mean) <= max(0.1 * mean, 0.0005) for gap in gaps):
        return f"{seconds(mean)} apart"
    if len(gaps) <= 6:
        return "gaps " + ", ".join(seconds(gap, unit=False) for gap in gaps) + " s"
    return f"over {seconds(times[-1] - times[0])}"


def seconds(value: float, unit: bool = True) -> str:
    """A duration as people read one: 1.02 s, 0.6 ms, 5 us."""
    if not unit or value >= 1:
        return f"{value:.3g} s" if unit else f"{value:.3g}"
    if value >= 0.000995:
        return f"{value * 1000:.3g} ms"
    return f"{value * 1e6:.0f} us"


class Builder:
    def __init__(self, obs: Observations, host_of: Callable[[str], str | None]) -> None:
        self.obs = obs
        self.host_of = host_of
        self.names: dict[str, str] = {}  # address -> its name; a host's own name first
        for name, address in obs.addresses.items():
            if address not in self.names or name in HOSTS:
                self.names[address] = name
        self.captured = {c.link for c in obs.captures if not c.problem}
        self.shown: set[Packet] = set()  # the evidence, drawn (onward() fills it)

    def where(self, address: str) -> str:
        name = self.names.get(address)
        return f"{address} ({name})" if name and name not in HOSTS else address

    def hops(self, packets: Sequence[Packet] | None = None) -> list[Hop]:
        """Each distinct packet once (the evidence, unless `packets` are given), with the
        time the other end of its link captured it (the first copy another host saw within
        TRANSIT_S): its transit, where both ends were captured."""
        copies: dict[tuple[object, ...], list[tuple[float, str]]] = defaultdict(list)
        for packet in self.obs.packets:
            copies[key(packet)].append((packet.time, packet.host))
        for seen in copies.values():
            seen.sort()
        found = []
        for packet in self.obs.evidence() if packets is None else packets:
            ends = endpoints(packet, self.host_of)
            if ends is None:
                owner = self.host_of(packet.src) or self.host_of(packet.dst) or "client"
                ends = (owner, owner)
            seen = copies[key(packet)]
            arrival = packet.time
            index = bisect.bisect_left(seen, (packet.time, ""))
            while index < len(seen) and seen[index][0] - packet.time <= TRANSIT_S:
                if seen[index][1] != packet.host:
                    arrival = seen[index][0]
                    break
                index += 1
            found.append(Hop(packet, *ends, arrival, broadcast=broadcast(packet)))
        return found

    def forwarded(self, hop: Hop) -> bool:
        """Sent into the router to go on to the other link."""
        packet = hop.packet
        if hop.receiver != "router" or hop.sender == "router" or hop.broadcast:
            return False
        if packet.proto in ("arp", "nd") or self.host_of(packet.dst) == "router":
            return False
        other = "lan2" if packet.link == "lan1" else "lan1"
        subnet = self.obs.addresses.get(f"{other}.subnet")
        try:
            return subnet is not None and ipaddress.ip_address(packet.dst) in ipaddress.ip_network(
                subnet
            )
        except ValueError:
            return False

    def journeys(self) -> list[Journey]:
        hops = self.hops()
        onward = self.onward(hops)
        taken = {id(hop) for hop in onward.values()}
        journeys = []
        for hop in hops:
            if id(hop) in taken:
                continue
            chain = [hop]
            if self.forwarded(hop):
                other = "lan2" if hop.packet.link == "lan1" else "lan1"
                copy = onward.get(id(hop))
                if copy is not None and copy.packet in self.shown:
                    chain.append(copy)
                elif copy is None and other in self.captured:
                    hop.dropped = True
            kind = re.sub(r" len \d+", "", self.describe(hop, named=True))  # lengths vary
            journeys.append(Journey(chain, self.describe(hop), kind))
        return journeys

    def onward(self, hops: Sequence[Hop]) -> dict[int, Hop]:
        """Each forwarded hop's copy on the far link, in time order. A copy is matched to the
        earliest of the last burst of like packets still waiting (within BURST_S of each
        other): a burst the router queued leaves in order, and a retransmission, seconds after
        its lost original, is the one that crossed, not the original. Copies the harness's
        teardown caught count too (the packet crossed), though they are not drawn."""
        self.shown = {hop.packet for hop in hops}
        late = [p for p in distinct(self.obs.packets) if p not in self.shown]
        candidates = [*hops, *self.hops(late)] if late else list(hops)
        candidates.sort(key=lambda hop: hop.time)
        waiting: dict[tuple[object, ...], list[Hop]] = defaultdict(list)
        found: dict[int, Hop] = {}
        for hop in candidates:
            if hop.packet in self.shown and self.forwarded(hop):
                other = "lan2" if hop.packet.link == "lan1" else "lan1"
                waiting[(other, *key(hop.packet)[1:])].append(hop)
                continue
            if hop.sender != "router" or hop.receiver == "router":
                continue
            queue = waiting.get(key(hop.packet))
            while queue and hop.time - queue[0].time > MATCH_S:
                queue.pop(0)  # too long ago to be this one's original
            if not queue:
                continue
            first = len(queue) - 1
            while first > 0 and queue[first].time - queue[first - 1].time <= BURST_S:
                first -= 1
            found[id(queue.pop(first))] = hop
        return found

    def describe(self, hop: Hop, named: bool = False) -> str:
        """What the packet was; with `named`, without the addresses that have no name (a
        flood's spoofed sources, an ARP request's target): what like packets share."""
        packet = hop.packet
        text = label(packet)
        if named and packet.proto in ("arp", "nd") and packet.flags == "request":
            text = text.split(" who-has ")[0] + " who-has" if packet.dst not in self.names else text
        if hop.sender == hop.receiver:
            return f"lo: {text}"
        if packet.proto not in ("arp", "nd") and self.host_of(packet.src) is None:
            # no host's: spoofed, or the bridge's
            text += (
                f" from {self.where(packet.src)}" if not named or packet.src in self.names else ""
            )
        if hop.broadcast:
            multicast = packet.proto == "nd" or (
                packet.proto != "arp" and ipaddress.ip_address(packet.dst).is_multicast
            )
            return f"{text} ({'multicast' if multicast else 'broadcast'})"
        if packet.proto not in ("arp", "nd") and self.host_of(packet.dst) is None:
            text += f" to {self.where(packet.dst)}" if not named or packet.dst in self.names else ""
        return text

    def fold(self, journeys: list[Journey]) -> list[Journey | Fold]:
        """Runs of like journeys, and runs of a like pattern of up to PERIOD journeys (a
        handshake's SYN, SYN-ACK, ACK again and again), as folds."""
        shapes = [journey.shape() for journey in journeys]
        rows: list[Journey | Fold] = []
        index, number = 0, 0
        while index < len(journeys):
            best = (1, 1)  # period, repeats
            for period in range(1, PERIOD + 1):
                block = shapes[index : index + period]
                repeats = 1
                while shapes[index + repeats * period : index + (repeats + 1) * period] == block:
                    repeats += 1
                enough = repeats >= (FOLD_MIN if period > 1 else max(2, FOLD_MIN))
                if enough and repeats * period > best[0] * best[1]:
                    best = (period, repeats)
            period, repeats = best
            mixed = self.mixed(shapes, index)
            if mixed > period * repeats and mixed:
                number += 1
                run = journeys[index : index + mixed]
                rows.append(Fold(run, self.mixed_text(run), number))
                index += mixed
                continue
            if repeats == 1:
                rows.append(journeys[index])
                index += 1
                continue
            number += 1
            run = journeys[index : index + period * repeats]
            rows.append(Fold(run, self.fold_text(run, period), number, period))
            index += period * repeats
        return rows

    @staticmethod
    def mixed(shapes: Sequence[tuple[object, ...]], index: int) -> int:
        """How many journeys from `index` on are of at most MIXED kinds in any order (a
        flood's SYNs and the SYN-ACKs answering them): 0 when fewer than MIXED_MIN."""
        kinds: set[tuple[object, ...]] = set()
        end = index
        while end < len(shapes) and (shapes[end] in kinds or len(kinds) < MIXED):
            kinds.add(shapes[end])
            end += 1
        return end - index if end - index >= MIXED_MIN else 0

    def mixed_text(self, run: Sequence[Journey]) -> str:
        counts: dict[str, int] = {}
        for journey in run:
            name = f"{journey.hops[0].sender}: {journey.kind or journey.text}"
            counts[name] = counts.get(name, 0) + 1
        parts = ", ".join(f"{name} x{count:,}" for name, count in counts.items())
        dropped = sum(journey.hops[-1].dropped for journey in run)
        lost = f"; {dropped:,} dropped in the router" if dropped else ""
        text = f"{parts}, interleaved over {seconds(run[-1].time - run[0].time)}{lost}"
        udp = [journey for journey in run if journey.hops[0].packet.proto == "udp"]
        if udp:
            receiver = udp[0].hops[-1].receiver
            account = self.accounted(receiver, udp[0].time, udp[-1].time)
            text += f"; {account}" if account else ""
        return text

    def fold_text(self, run: Sequence[Journey], period: int = 1) -> str:
        head = run[0]
        times = [journey.time for journey in run[::period]]
        if period > 1:
            same = all(j.text == k.text for j, k in zip(run, run[period:], strict=False))
            pattern = " / ".join(
                f"{j.hops[0].sender}: {j.text if same else j.kind}" for j in run[:period]
            )
            return f"{pattern}, x{len(times):,}, {gaps_text(times)}"
        what = head.text
        if any(j.text != head.text for j in run):
            what = head.kind + varied(run)
        if head.hops[0].packet.proto == "udp":
            text = f"{len(run):,} datagrams ({what})"
        else:
            text = f"{what} x{len(run):,}"
        text += ", " + gaps_text(times)
        if head.hops[-1].dropped:
            text += f"; all {len(run):,} dropped in the router"
        account = self.accounted(head.hops[-1].receiver, times[0], times[-1])
        return text + (f"; {account}" if account and head.hops[0].packet.proto == "udp" else "")

    def accounted(self, host: str, first: float, last: float) -> str:
        """What the receiving host's UDP counters say of datagrams that arrived between two of
        its snapshots: delivered to a socket, or dropped for a full receive buffer."""
        taken = self.obs.counter_taken
        mine = sorted((info["time"], name) for name, info in taken.items() if info["host"] == host)
        before = [name for when, name in mine if when <= first]
        after = [name for when, name in mine if when >= last]
        if not before or not after:
            return ""
        old, new = self.obs.counters.get(before[-1], {}), self.obs.counters.get(after[0], {})
        parts = []
        group = "Udp6" if self.obs.family == 6 else "Udp"  # IPv6's own counters (snmp6)
        for counter, meaning in (
            (f"{group}.InDatagrams", "delivered"),
            (f"{group}.RcvbufErrors", "counted as RcvbufErrors"),
        ):
            if counter in old and counter in new:
                parts.append(f"{new[counter] - old[counter]:,} {meaning}")
        if not parts:
            return ""
        # the whole span between the two snapshots, which may hold more than this fold
        return f"{host}'s counters ({before[-1]} -> {after[0]}): " + ", ".join(parts)

    def marks(self) -> list[Mark]:
        marks: list[Mark] = []
        for name, step in self.obs.steps.items():
            drawn = [call for call in self.obs.windowed(name) if call.name in DRAWN]
            for _, run in itertools.groupby(drawn, key=lambda c: (c.name, c.pid, c.errno)):
                marks.extend(self.marked(step.host, name, list(run)))
        return marks

    def marked(self, host: str, step: str, run: list[Call]) -> list[Mark]:
        if len(run) < FOLD_MIN:
            return [self.mark(host, step, call) for call in run]
        first, last = run[0], run[-1]
        failed = sorted({call.errno for call in run if call.errno})
        returned = f"x{len(run)}, " + gaps_text([c.start for c in run])
        returned += f" ({', '.join(failed)})" if failed else ""
        mark = self.mark(host, step, first)
        return [Mark(host, step, first.start, last.end, mark.called, returned, len(run))]

    def mark(self, host: str, step: str, call: Call) -> Mark:
        where = f"{self.where(call.address[0])}:{call.address[1]}" if call.address else ""
        if call.blocked:
            returned = "still blocked"
        elif call.errno:
            returned = f"= -1 {call.errno}"
        else:
            returned = f"= {call.result}"
        return Mark(host, step, call.start, call.end, f"{call.name}({where})", returned)


def key(packet: Packet) -> tuple[object, ...]:
    return (
        packet.link,
        packet.proto,
        packet.src,
        packet.dst,
        packet.sport,
        packet.dport,
        packet.flags,
        packet.seq,
        packet.ack,
        packet.length,
        packet.icmp_type,
        packet.icmp_code,
    )


def figure(obs: Observations, host_of: Callable[[str], str | None]) -> Figure:
    builder = Builder(obs, host_of)
    return Figure(obs.started, builder.fold(builder.journeys()), builder.marks())
