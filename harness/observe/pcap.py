"""Read the pcaps tcpdump wrote, with dpkt; never tcpdump's text output.

Each frame becomes a Packet: who sent what to whom on which link, with a one-line summary in
tcpdump's words so the report reads like the book's tcpdump figures.
"""

from __future__ import annotations

import functools
import heapq
import socket
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import dpkt

from ..errors import SocklabError

ICMP_TEXT = {
    0: "net {dst} unreachable",
    1: "host {dst} unreachable",
    3: "{dst} {proto} port {port} unreachable",
    9: "net {dst} unreachable - admin prohibited",
    10: "host {dst} unreachable - admin prohibited",
    13: "host {dst} unreachable - admin prohibited filter",
}
TCP_FLAGS = (
    (dpkt.tcp.TH_SYN, "S"),
    (dpkt.tcp.TH_FIN, "F"),
    (dpkt.tcp.TH_RST, "R"),
    (dpkt.tcp.TH_PUSH, "P"),
)
LINKTYPE_ETHERNET, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 113, 276


class PcapError(SocklabError):
    """A capture file that cannot be read."""


@dataclass(frozen=True)
class Packet:
    time: float
    host: str
    link: str
    proto: str
    src: str
    dst: str
    sport: int | None = None
    dport: int | None = None
    flags: str = ""
    seq: int | None = None
    ack: int | None = None
    length: int = 0
    icmp_type: int | None = None
    icmp_code: int | None = None
    summary: str = ""
    inner: tuple[str, str, str, int | None, int | None] | None = None
    payload: str | None = None  # hex, when the capture holds all of it and it is short

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["inner"] = list(self.inner) if self.inner else None
        return data


def ip(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def tcp_flags(segment: dpkt.tcp.TCP) -> str:
    text = "".join(char for bit, char in TCP_FLAGS if segment.flags & bit)
    return text + "." if segment.flags & dpkt.tcp.TH_ACK else text


def quoted(icmp: dpkt.icmp.ICMP) -> tuple[str, str, str, int | None, int | None] | None:
    """The datagram an ICMP error quotes: its header and the first 8 bytes of its payload."""
    try:
        inner = dpkt.ip.IP(bytes(icmp.data)[4:])
    except (dpkt.UnpackError, dpkt.NeedData):
        return None
    body = bytes(inner.data) if not isinstance(inner.data, bytes) else inner.data
    proto = {6: "tcp", 17: "udp"}.get(inner.p, str(inner.p))
    sport = dport = None
    if proto in ("tcp", "udp") and len(body) >= 4:
        sport, dport = int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big")
    return proto, ip(inner.src), ip(inner.dst), sport, dport


# A segment's or datagram's bytes are kept (as hex) up to this size, when captured whole: the
# echo scenarios' lines, compared byte for byte; a bulk transfer's are not kept.
PAYLOAD_KEPT = 256


def payload(data: object, size: int) -> str | None:
    captured = bytes(data) if isinstance(data, bytes | bytearray) else b""
    if size == 0 or len(captured) != size or size > PAYLOAD_KEPT:
        return None
    return captured.hex()


def from_ip(packet: dpkt.ip.IP, time: float, host: str, link: str) -> Packet:
    src, dst = ip(packet.src), ip(packet.dst)
    base = functools.partial(Packet, time=time, host=host, link=link, src=src, dst=dst)
    body = packet.data
    if isinstance(body, dpkt.tcp.TCP):
        # From the headers: tcpdump keeps only a frame's first 512 bytes (capture.py's -s).
        flags, size = tcp_flags(body), max(0, packet.len - 4 * packet.hl - 4 * body.off)
        text = (
            f"{src}.{body.sport} > {dst}.{body.dport}: Flags [{flags}], seq {body.seq}, "
            f"ack {body.ack}, length {size}"
        )
        return base(
            proto="tcp",
            sport=body.sport,
            dport=body.dport,
            flags=flags,
            seq=body.seq,
            ack=body.ack,
            length=size,
            summary=text,
            payload=payload(body.data, size),
        )
    if isinstance(body, dpkt.udp.UDP):
        size = max(0, packet.len - 4 * packet.hl - 8)  # the datagram's, not the captured share
        return base(
            proto="udp",
            sport=body.sport,
            dport=body.dport,
            length=size,
            summary=f"{src}.{body.sport} > {dst}.{body.dport}: UDP, length {size}",
            payload=payload(body.data, size),
        )
    if isinstance(body, dpkt.icmp.ICMP):
        return from_icmp(body, base, src, dst)
    return base(proto="other", summary=f"{src} > {dst}: ip-proto-{packet.p}")


def from_icmp(icmp: dpkt.icmp.ICMP, base: Callable[..., Packet], src: str, dst: str) -> Packet:
    inner = quoted(icmp) if icmp.type in (3, 11) else None
    if icmp.type == 3 and inner:
        template = ICMP_TEXT.get(icmp.code, "{dst} unreachable code " + str(icmp.code))
        what = template.format(dst=inner[2], proto=inner[0], port=inner[4])
    elif icmp.type == 8:
        what = "echo request"
    elif icmp.type == 0:
        what = "echo reply"
    elif icmp.type == 11:
        what = "time exceeded in-transit"
    else:
        what = f"type {icmp.type} code {icmp.code}"
    text = f"{src} > {dst}: ICMP {what}, length {len(bytes(icmp.data))}"
    return base(proto="icmp", icmp_type=icmp.type, icmp_code=icmp.code, summary=text, inner=inner)


ICMP6_TEXT = {
    0: "no route to {dst}",
    1: "{dst} unreachable - admin prohibited",
    3: "{dst} address unreachable",
    4: "{dst} {proto} port {port} unreachable",
    5: "{dst} unreachable - source address failed policy",
    6: "{dst} unreachable - reject route",
}
IP6_PROTOS = {6: "tcp", 17: "udp", 58: "icmp6"}
# What every IPv6 interface says by itself, in IPv4 runs too (a namespace's veth has IPv6 on):
# multicast listener queries and reports, router solicitations and advertisements, and
# duplicate address detection (from ::). Not part of any scenario, never evidence.
CHATTER6 = {130, 131, 132, 133, 134, 143}


def ip6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


def from_ip6(packet: dpkt.ip6.IP6, time: float, host: str, link: str) -> Packet | None:
    """IPv6 as IPv4 is read: TCP and UDP alike; ICMPv6 errors with the datagram they quote;
    neighbour solicitations and advertisements as proto `nd` (IPv6's ARP: RFC 4861)."""
    src, dst = ip6(packet.src), ip6(packet.dst)
    base = functools.partial(Packet, time=time, host=host, link=link, src=src, dst=dst)
    body = packet.data
    if isinstance(body, dpkt.tcp.TCP):
        flags, size = tcp_flags(body), max(0, packet.plen - 4 * body.off)
        text = (
            f"{src}.{body.sport} > {dst}.{body.dport}: Flags [{flags}], seq {body.seq}, "
            f"ack {body.ack}, length {size}"
        )
        return base(
            proto="tcp",
            sport=body.sport,
            dport=body.dport,
            flags=flags,
            seq=body.seq,
            ack=body.ack,
            length=size,
            summary=text,
            payload=payload(body.data, size),
        )
    if isinstance(body, dpkt.udp.UDP):
        size = max(0, packet.plen - 8)
        return base(
            proto="udp",
            sport=body.sport,
            dport=body.dport,
            length=size,
            summary=f"{src}.{body.sport} > {dst}.{body.dport}: UDP, length {size}",
            payload=payload(body.data, size),
        )
    upper = getattr(packet, "p", packet.nxt)  # past any extension headers (hop-by-hop)
    if upper == 58:
        return from_icmp6(bytes(body), base, src, dst)
    return base(proto="other", summary=f"{src} > {dst}: ip6-proto-{upper}")


def from_icmp6(raw: bytes, base: Callable[..., Packet], src: str, dst: str) -> Packet | None:
    if len(raw) < 4:
        return None
    kind, code, rest = raw[0], raw[1], raw[4:]
    if kind in CHATTER6 or src == "::":
        return None
    if kind in (135, 136) and len(rest) >= 20:
        target = ip6(rest[4:20])
        if kind == 135:
            text = f"ICMP6, neighbor solicitation, who has {target}"
            return base(src=src, dst=target, proto="nd", flags="request", summary=text)
        text = f"ICMP6, neighbor advertisement, tgt is {target}"
        return base(proto="nd", flags="reply", summary=text)
    inner = None
    if kind in (1, 3) and len(rest) >= 44:
        quoted6 = rest[4:]
        proto = IP6_PROTOS.get(quoted6[6], str(quoted6[6]))
        sport = dport = None
        if proto in ("tcp", "udp") and len(quoted6) >= 44:
            sport = int.from_bytes(quoted6[40:42], "big")
            dport = int.from_bytes(quoted6[42:44], "big")
        inner = (proto, ip6(quoted6[8:24]), ip6(quoted6[24:40]), sport, dport)
    if kind == 1 and inner:
        template = ICMP6_TEXT.get(code, "{dst} unreachable code " + str(code))
        what = template.format(dst=inner[2], proto=inner[0], port=inner[4])
    else:
        what = {128: "echo request", 129: "echo reply", 143: "multicast listener report v2"}.get(
            kind, f"type {kind} code {code}"
        )
    text = f"{src} > {dst}: ICMP6, {what}, length {len(raw)}"
    return base(proto="icmp6", icmp_type=kind, icmp_code=code, summary=text, inner=inner)


def from_arp(arp: dpkt.arp.ARP, time: float, host: str, link: str) -> Packet:
    src, dst = ip(arp.spa), ip(arp.tpa)
    if arp.op == dpkt.arp.ARP_OP_REQUEST:
        text = f"ARP, Request who-has {dst} tell {src}"
    else:
        mac = ":".join(f"{byte:02x}" for byte in arp.sha)
        text = f"ARP, Reply {src} is-at {mac}"
    return Packet(
        time=time,
        host=host,
        link=link,
        proto="arp",
        src=src,
        dst=dst,
        flags="request" if arp.op == dpkt.arp.ARP_OP_REQUEST else "reply",
        summary=text,
    )


def network_layer(linktype: int, frame: bytes) -> Any:
    if linktype == LINKTYPE_ETHERNET:
        return dpkt.ethernet.Ethernet(frame).data
    if linktype == LINKTYPE_SLL:
        return dpkt.sll.SLL(frame).data
    if linktype == LINKTYPE_SLL2:
        return dpkt.sll2.SLL2(frame).data
    raise PcapError(f"link type {linktype} is not supported", hint="capture with -i IFACE")


def read_pcap(path: Path, host: str, link: str, partial: bool = False) -> list[Packet]:
    """Every frame of a capture; with `partial`, a capture tcpdump is still writing (its last
    record may be cut short) reads as far as it is complete."""
    # tcpdump killed before it wrote the header leaves an empty file: no packets, not an error.
    if not path.exists() or path.stat().st_size == 0:
        return []
    packets = []
    with open(path, "rb") as handle:
        try:
            reader = dpkt.pcap.Reader(handle)
            for time, frame in reader:
                packet = decode(reader.datalink(), frame, float(time), host, link)
                if packet is not None:
                    packets.append(packet)
        except (ValueError, dpkt.NeedData) as err:
            if partial and isinstance(err, dpkt.NeedData):
                return packets
            if packets or not isinstance(err, dpkt.NeedData):
                raise PcapError(f"{path}: unreadable capture: {err}") from err
    return packets


def decode(linktype: int, frame: bytes, time: float, host: str, link: str) -> Packet | None:
    try:
        layer = network_layer(linktype, frame)
    except (dpkt.UnpackError, dpkt.NeedData):
        return None  # a frame cut by the snap length
    if isinstance(layer, dpkt.ip.IP):
        return from_ip(layer, time, host, link)
    if isinstance(layer, dpkt.arp.ARP):
        return from_arp(layer, time, host, link)
    if isinstance(layer, dpkt.ip6.IP6):
        return from_ip6(layer, time, host, link)
    return None


def merge(captures: Iterable[list[Packet]]) -> list[Packet]:
    return list(heapq.merge(*captures, key=lambda packet: packet.time))
