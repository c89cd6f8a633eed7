"""pcap parsing on captures the test writes itself with dpkt, and the ladder drawn from them."""

from __future__ import annotations

import socket
from pathlib import Path

import dpkt
import pytest
from socklab.observe.observations import CaptureRecord, Observations
from socklab.observe.pcap import Packet, PcapError, merge, read_pcap
from socklab.report.figure import figure
from socklab.report.ladder import render_ladder
from socklab.scenario.topology import Topology

TOPO = Topology(0)
CLIENT, ROUTER1, ROUTER2, SERVER = "10.77.1.10", "10.77.1.1", "10.77.2.1", "10.77.2.10"
CAPTURED = [CaptureRecord("router", link, f"{link}.pcap", 0, 0) for link in ("lan1", "lan2")]


def ip_frame(src: str, dst: str, body: dpkt.Packet, proto: int) -> bytes:
    packet = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, data=body)
    packet.len = len(bytes(packet))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=packet))


def tcp(src: str, dst: str, sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    segment = dpkt.tcp.TCP(sport=sport, dport=dport, seq=100, ack=7, flags=flags, data=payload)
    return ip_frame(src, dst, segment, 6)


def icmp_unreach(src: str, dst: str, code: int, quoted: bytes) -> bytes:
    body = dpkt.icmp.ICMP(type=3, code=code, data=dpkt.icmp.ICMP.Unreach(data=quoted))
    return ip_frame(src, dst, body, 1)


def udp_datagram(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    return ip_frame(src, dst, dpkt.udp.UDP(sport=sport, dport=dport, data=payload), 17)


def write(path: Path, frames: list[tuple[float, bytes]], linktype: int = 1) -> Path:
    with open(path, "wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=linktype)
        for stamp, frame in frames:
            writer.writepkt(frame, ts=stamp)
    return path


def test_tcp_flags_ports_and_lengths_are_read_as_tcpdump_shows_them(tmp_path: Path) -> None:
    syn = tcp(CLIENT, SERVER, 43388, 13, dpkt.tcp.TH_SYN)
    rst = tcp(SERVER, CLIENT, 13, 43388, dpkt.tcp.TH_RST | dpkt.tcp.TH_ACK)
    data = tcp(CLIENT, SERVER, 43388, 13, dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK, b"hello\n")
    packets = read_pcap(
        write(tmp_path / "a.pcap", [(1.0, syn), (1.5, rst), (2.0, data)]), "router", "lan1"
    )
    assert [p.flags for p in packets] == ["S", "R.", "P."]
    assert (packets[0].src, packets[0].sport, packets[0].dst, packets[0].dport) == (
        CLIENT,
        43388,
        SERVER,
        13,
    )
    assert packets[2].length == 6
    assert packets[0].summary.startswith("10.77.1.10.43388 > 10.77.2.10.13: Flags [S]")
    assert packets[1].host == "router" and packets[1].link == "lan1"


def test_icmp_port_unreachable_names_the_quoted_datagram(tmp_path: Path) -> None:
    quoted = bytes(
        dpkt.ip.IP(
            src=socket.inet_aton(CLIENT),
            dst=socket.inet_aton(SERVER),
            p=17,
            data=dpkt.udp.UDP(sport=40000, dport=9877, data=b"x" * 13),
        )
    )
    frame = icmp_unreach(SERVER, CLIENT, 3, quoted[:28])
    (packet,) = read_pcap(write(tmp_path / "i.pcap", [(1.0, frame)]), "router", "lan2")
    assert (packet.proto, packet.icmp_type, packet.icmp_code) == ("icmp", 3, 3)
    assert packet.inner == ("udp", CLIENT, SERVER, 40000, 9877)
    assert "ICMP 10.77.2.10 udp port 9877 unreachable" in packet.summary


def test_arp_request_and_udp_datagram(tmp_path: Path) -> None:
    arp = dpkt.arp.ARP(
        op=dpkt.arp.ARP_OP_REQUEST,
        sha=b"\x02" * 6,
        spa=socket.inet_aton(CLIENT),
        tha=b"\0" * 6,
        tpa=socket.inet_aton("10.77.1.99"),
    )
    frame = bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\xff" * 6, type=0x0806, data=arp))
    udp = udp_datagram(CLIENT, SERVER, 40000, 9877, b"hello, world\n")
    packets = read_pcap(write(tmp_path / "u.pcap", [(1.0, frame), (1.1, udp)]), "client", "lan1")
    assert packets[0].summary == "ARP, Request who-has 10.77.1.99 tell 10.77.1.10"
    assert (packets[1].proto, packets[1].length) == ("udp", 13)


def test_linux_cooked_v2_capture_from_any_interface(tmp_path: Path) -> None:
    ip_packet = tcp(CLIENT, SERVER, 1, 2, dpkt.tcp.TH_SYN)[14:]
    sll2 = dpkt.sll2.SLL2(protocol=0x0800, data=ip_packet)
    (packet,) = read_pcap(
        write(tmp_path / "s.pcap", [(1.0, bytes(sll2))], linktype=276), "client", "any"
    )
    assert packet.flags == "S"


def test_empty_file_means_no_packets_and_a_bad_link_type_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert read_pcap(empty, "router", "lan1") == []
    assert read_pcap(write(tmp_path / "h.pcap", []), "router", "lan1") == []
    with pytest.raises(PcapError, match="link type 147"):
        read_pcap(write(tmp_path / "x.pcap", [(1.0, b"\0" * 40)], linktype=147), "router", "lan1")


def test_merge_orders_captures_by_time() -> None:
    a = [Packet(time=1.0, host="r", link="lan1", proto="tcp", src=CLIENT, dst=SERVER)]
    b = [Packet(time=0.5, host="r", link="lan2", proto="tcp", src=CLIENT, dst=SERVER)]
    assert [p.link for p in merge([a, b])] == ["lan2", "lan1"]


def segment(t: float, link: str, src: str, dst: str, sport: int, dport: int, flags: str) -> Packet:
    return Packet(
        time=t,
        host="router",
        link=link,
        proto="tcp",
        src=src,
        dst=dst,
        sport=sport,
        dport=dport,
        flags=flags,
    )


def ladder_of(packets: list[Packet]) -> list[str]:
    obs = Observations(0.0, {}, packets, [], TOPO.names(), captures=CAPTURED)
    return render_ladder(figure(obs, TOPO.host_of))


def test_ladder_draws_each_hop_and_a_drop_ends_at_the_router() -> None:
    syn1 = segment(0.0, "lan1", CLIENT, SERVER, 5, 13, "S")
    syn2 = segment(0.001, "lan2", CLIENT, SERVER, 5, 13, "S")
    rst = segment(0.002, "lan2", SERVER, CLIENT, 13, 5, "R.")
    rst_back = segment(0.003, "lan1", SERVER, CLIENT, 13, 5, "R.")
    lines = ladder_of([syn1, syn2, rst, rst_back])
    assert lines[0].split() == ["client", "router", "server"]
    first, second, third = lines[1:4]
    assert "SYN" in first and first.index(">") < second.index("SYN")  # lan1 hop left of lan2
    assert "---->|" in second.replace(" ", "-") or ">|" in second
    assert "<" in third and "RST,ACK" in third
    dropped = ladder_of([syn1])[1]
    bar = dropped.index("|", dropped.index("|") + 1)  # the router's column
    assert dropped.index("X") == bar - 1, "a SYN seen only on lan1 ends in a drop mark"


def test_two_captures_of_one_packet_are_one_but_two_copies_are_two() -> None:
    """The router and the server both capture lan2: one packet. netem's duplicate puts two
    identical datagrams on the wire microseconds apart: both captures see two."""
    from socklab.observe.observations import distinct
    from socklab.observe.pcap import Packet

    def seen(at: float, host: str) -> Packet:
        return Packet(at, host, "lan2", "udp", "10.0.2.1", "10.0.2.2", 5000, 9877, length=10)

    once = [seen(1.0, "router"), seen(1.0001, "server")]
    assert len(distinct(once)) == 1
    twice = [
        seen(1.0, "router"),
        seen(1.00002, "router"),
        seen(1.0001, "server"),
        seen(1.00012, "server"),
    ]
    assert len(distinct(twice)) == 2
    interleaved = [
        seen(1.0, "router"),
        seen(1.0001, "server"),
        seen(1.0002, "router"),
        seen(1.0003, "server"),
    ]
    assert len(distinct(interleaved)) == 2
    later = [
        seen(1.0, "router"),
        seen(1.0001, "server"),
        seen(2.0, "router"),
        seen(2.0001, "server"),
    ]
    assert len(distinct(later)) == 2


def test_a_length_is_the_datagrams_and_segments_own_not_the_captured_share(tmp_path: Path) -> None:
    """tcpdump keeps 512 bytes of each frame (-s 512): a 1400-byte datagram or segment is
    still 1400 bytes long, as its headers say."""
    snap = 512
    frames = [
        udp_datagram(CLIENT, SERVER, 40000, 9877, b"x" * 1400),
        tcp(CLIENT, SERVER, 40001, 9877, dpkt.tcp.TH_ACK, b"y" * 1400),
    ]
    path = write(tmp_path / "cut.pcap", [(1.0 + n, frame[:snap]) for n, frame in enumerate(frames)])
    udp, segment = read_pcap(path, "router", "lan1")
    assert (udp.proto, udp.length) == ("udp", 1400) and "length 1400" in udp.summary
    assert (segment.proto, segment.length) == ("tcp", 1400) and "length 1400" in segment.summary
