"""IPv6 (--family 6) without a kernel: the addresses the names stand for, IPv6 frames read as
IPv4's are (ICMPv6 errors with what they quote, neighbour discovery as `nd`), ICMPv6's kinds
named and mapped to errnos as Linux maps them, and expectations bound to a family."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import dpkt
import pytest
from socklab.errors import ScenarioError
from socklab.judge import verdict
from socklab.observe.observations import Observations
from socklab.observe.pcap import Packet, read_pcap
from socklab.report.figure import label
from socklab.run.plan import prepare
from socklab.scenario.expectations import Expectation
from socklab.scenario.topology import Topology

from tests.unit.test_pcap import write

CLIENT6, ROUTER6, SERVER6 = "fd00:77:0:1::10", "fd00:77:0:1::1", "fd00:77:0:2::10"


def ip6_frame(src: str, dst: str, body: bytes, nxt: int) -> bytes:
    header = struct.pack(
        "!IHBB16s16s",
        6 << 28,
        len(body),
        nxt,
        64,
        socket.inet_pton(socket.AF_INET6, src),
        socket.inet_pton(socket.AF_INET6, dst),
    )
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x86DD)) + (
        header + body
    )


def tcp6(src: str, dst: str, sport: int, dport: int) -> bytes:
    segment = bytes(dpkt.tcp.TCP(sport=sport, dport=dport, seq=5, flags=dpkt.tcp.TH_SYN))
    return ip6_frame(src, dst, segment, 6)


def icmp6(src: str, dst: str, kind: int, code: int, rest: bytes) -> bytes:
    return ip6_frame(src, dst, bytes([kind, code, 0, 0]) + rest, 58)


def test_the_names_stand_for_ipv6_addresses_in_an_ipv6_run() -> None:
    six = Topology(0, 6).names()
    assert six["client"] == CLIENT6 and six["server"] == SERVER6
    assert six["lan2.unassigned"] == "fd00:77:0:2::99" and six["lan1.subnet"] == "fd00:77:0:1::/64"
    assert Topology(0).names()["server"] == "10.77.2.10"  # IPv4 runs are unchanged
    assert Topology(0, 6).host_of(SERVER6) == "server"


def test_ipv6_frames_are_read_like_ipv4_ones(tmp_path: Path) -> None:
    syn = tcp6(CLIENT6, SERVER6, 40000, 13)
    quoted = bytes(4) + syn[14 : 14 + 40 + 20]  # unused word, then the SYN's header and ports
    frames = [
        (1.0, syn),
        (1.1, icmp6(ROUTER6, CLIENT6, 1, 0, quoted)),
        (
            1.2,
            icmp6(
                CLIENT6,
                "ff02::1:ff00:1",
                135,
                0,
                bytes(4) + socket.inet_pton(socket.AF_INET6, ROUTER6),
            ),
        ),
        (1.3, icmp6("fe80::1", "ff02::16", 143, 0, bytes(4))),  # an MLD report: chatter
        (1.4, icmp6("::", "ff02::1:ff00:10", 135, 0, bytes(20))),  # duplicate address detection
    ]
    syn_read, error, solicitation = read_pcap(
        write(tmp_path / "six.pcap", frames), "router", "lan1"
    )
    assert (syn_read.proto, syn_read.src, syn_read.dport, syn_read.flags) == (
        "tcp",
        CLIENT6,
        13,
        "S",
    )
    assert (error.proto, error.icmp_type, error.icmp_code) == ("icmp6", 1, 0)
    assert error.inner == ("tcp", CLIENT6, SERVER6, 40000, 13)
    assert f"no route to {SERVER6}" in error.summary
    assert (solicitation.proto, solicitation.flags, solicitation.dst) == ("nd", "request", ROUTER6)


def test_icmpv6_kinds_carry_linux_s_errnos_not_icmpv4_s() -> None:
    def error(code: int) -> Packet:
        return Packet(1.0, "router", "lan1", "icmp6", ROUTER6, CLIENT6, icmp_type=1, icmp_code=code)

    assert label(error(0)) == "ICMPv6 no route (ENETUNREACH)"
    assert label(error(1)) == "ICMPv6 administratively prohibited (EACCES)"
    assert label(error(4)) == "ICMPv6 port unreachable (ECONNREFUSED)"
    assert verdict.icmp_name(error(1)) == "admin-prohibited"  # named as IPv4's code 13
    assert verdict.icmp_name(error(0)) == "no-route"


def obs_of(packets: list[Packet], family: int) -> Observations:
    names = Topology(0, family).names()
    return Observations(0.0, {}, packets, [], names, family=family)


def test_an_expectation_bound_to_a_family_is_judged_only_in_that_familys_runs() -> None:
    port = Packet(1.0, "router", "lan1", "icmp6", SERVER6, CLIENT6, icmp_type=1, icmp_code=4)
    spec = {
        "when": {"family": 6},
        "packet_count": {
            "match": {"proto": "icmp", "icmp": "port-unreachable"},
            "min": 1,
            "max": 1,
        },
    }
    expectation = Expectation.model_validate(spec)
    six = verdict.judge(expectation, obs_of([port], 6))
    assert six.passed and not six.skipped  # `icmp` is the run's family's ICMP
    assert verdict.judge(expectation, obs_of([], 6)).passed is False
    four = verdict.judge(expectation, obs_of([], 4))
    assert four.skipped


def test_a_scenario_that_does_not_run_over_ipv6_says_why() -> None:
    with pytest.raises(
        ScenarioError, match="synflood does not run over IPv6: its flood is built as raw IPv4"
    ):
        prepare("synflood", family=6)
    assert prepare("refused", family=6).family == 6
