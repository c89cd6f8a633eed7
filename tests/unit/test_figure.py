"""The report's figure, from recorded data: hops joined into journeys, drops where a packet went
into the router and never left, folds of like packets, calls on the hosts' time lines, and one
clock for every view."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from socklab.observe.observations import CaptureRecord, Observations, StepResult
from socklab.observe.pcap import Packet
from socklab.observe.strace import Call
from socklab.report import html, terminal
from socklab.report.figure import Fold, Journey, figure, label
from socklab.report.ladder import render_ladder
from socklab.scenario.topology import Topology

from tests.unit.test_report_view import saved_run

TOPO = Topology(0)
CLIENT, ROUTER, SERVER = "10.77.1.10", "10.77.1.1", "10.77.2.10"
BOTH = [CaptureRecord("router", link, f"{link}.pcap", 0, 0) for link in ("lan1", "lan2")]


def syn(at: float, link: str = "lan1", dst: str = SERVER, sport: int = 40000) -> Packet:
    return Packet(at, "router", link, "tcp", CLIENT, dst, sport, 13, "S", seq=7)


def observations(
    packets: list[Packet], captures: list[CaptureRecord] = BOTH, **more: object
) -> Observations:
    obs = Observations(100.0, {}, packets, [], TOPO.names(), captures=captures)
    for name, value in more.items():
        setattr(obs, name, value)
    return obs


def test_a_packet_seen_on_both_links_is_one_journey_and_one_seen_on_one_is_dropped() -> None:
    fig = figure(observations([syn(100.1), syn(100.1001, "lan2"), syn(101.1)]), TOPO.host_of)
    first, second = fig.rows
    assert isinstance(first, Journey) and [h.packet.link for h in first.hops] == ["lan1", "lan2"]
    assert not any(h.dropped for h in first.hops)
    assert isinstance(second, Journey) and second.hops[0].dropped
    assert second.hops[0].receiver == "router"


def test_no_drop_is_drawn_where_the_far_link_was_not_captured() -> None:
    only_lan1 = [c for c in BOTH if c.link == "lan1"]
    fig = figure(observations([syn(100.1)], only_lan1), TOPO.host_of)
    assert isinstance(fig.rows[0], Journey) and not fig.rows[0].hops[0].dropped


def test_like_packets_fold_and_say_how_many_and_how_far_apart() -> None:
    retries = [syn(100.0 + n) for n in range(6)]
    (fold,) = figure(observations(retries), TOPO.host_of).rows
    assert isinstance(fold, Fold) and len(fold.journeys) == 6
    assert fold.text == "SYN x6, 1 s apart; all 6 dropped in the router"
    backoff = [syn(100.0), syn(101.0), syn(103.0)]  # the book's three SYNs stay three
    assert all(isinstance(row, Journey) for row in figure(observations(backoff), TOPO.host_of).rows)


def test_a_syn_to_an_address_no_host_owns_is_labelled_with_it() -> None:
    unassigned = TOPO.names()["lan2.unassigned"]
    fig = figure(observations([syn(100.0, dst=unassigned)]), TOPO.host_of)
    assert isinstance(fig.rows[0], Journey)
    assert fig.rows[0].text == f"SYN to {unassigned} (lan2.unassigned)"


def test_icmp_errors_carry_the_errno_linux_gives_them_and_arp_requests_are_broadcasts() -> None:
    unreachable = Packet(1.0, "router", "lan1", "icmp", ROUTER, CLIENT, icmp_type=3, icmp_code=1)
    port = Packet(1.0, "router", "lan1", "icmp", ROUTER, CLIENT, icmp_type=3, icmp_code=3)
    assert label(unreachable) == "ICMP host unreachable (EHOSTUNREACH)"
    assert label(port) == "ICMP port unreachable (ECONNREFUSED)"
    arp = Packet(100.0, "client", "lan1", "arp", CLIENT, "10.77.1.99", flags="request")
    fig = figure(observations([arp]), TOPO.host_of)
    assert isinstance(fig.rows[0], Journey) and fig.rows[0].hops[0].broadcast


def test_calls_sit_on_their_hosts_line_with_their_return() -> None:
    connect = Call(1, "connect", 100.05, 7.1, -1, "ETIMEDOUT", address=(SERVER, 13))
    step = StepResult("client", "client", ["daytimetcpcli"], 100.0, calls=[connect])
    obs = observations([syn(100.1)], steps={"client": step})
    fig = figure(obs, TOPO.host_of)
    (mark,) = fig.marks
    assert (mark.host, mark.called, mark.returned) == (
        "client",
        f"connect({SERVER}:13)",
        "= -1 ETIMEDOUT",
    )
    text = "\n".join(render_ladder(fig, 80))
    assert "connect(10.77.2.10:13) ..." in text and "connect = -1 ETIMEDOUT" in text
    assert " 0.050000  " in text  # the run's start is the origin, not the first packet


def test_every_view_of_a_run_starts_its_clock_at_the_run_start(tmp_path: Path) -> None:
    rep = saved_run("refused", tmp_path)
    first = min(p.time for p in rep.observations.evidence())
    since = f"{first - rep.observations.started:.6f}"
    out = io.StringIO()
    terminal.render(rep, Console(file=out, width=100, color_system=None), full=True)
    text = out.getvalue()
    page = (tmp_path / "report.html").read_text()
    assert text.count(since) >= 2  # the timeline's and the figure's
    assert f'data-t="{since}"' in page


def test_a_udp_fold_says_what_the_receivers_counters_say(tmp_path: Path) -> None:
    datagrams = [
        Packet(100.0 + n * 0.001, "router", link, "udp", CLIENT, SERVER, 5000, 9877, length=1400)
        for n in range(50)
        for link in ("lan1", "lan2")
    ]
    datagrams.sort(key=lambda p: (p.time, p.link))
    obs = observations(
        datagrams,
        counters={
            "before": {"Udp.InDatagrams": 3, "Udp.RcvbufErrors": 0},
            "after": {"Udp.InDatagrams": 13, "Udp.RcvbufErrors": 40},
        },
        counter_taken={
            "before": {"host": "server", "time": 99.0},
            "after": {"host": "server", "time": 101.0},
        },
    )
    (fold,) = figure(obs, TOPO.host_of).rows
    assert isinstance(fold, Fold)
    assert "50 datagrams (UDP len 1400)" in fold.text
    assert fold.text.endswith(
        "server's counters (before -> after): 10 delivered, 40 counted as RcvbufErrors"
    )


def test_the_page_unfolds_a_fold_and_stays_small(tmp_path: Path) -> None:
    retries = [syn(100.0 + n * 0.01, sport=40000 + n) for n in range(2000)]
    drawn = html.ladder(figure(observations(retries), TOPO.host_of))
    assert len(drawn.bands) == 1 and len(drawn.arrows) == 2  # the first and the last
    (number, _, lines, more) = drawn.unfolds[0]
    assert number == 1 and len(lines) == html.UNFOLD and more == 2000 - html.UNFOLD


def test_two_connects_to_two_addresses_never_fold_together() -> None:
    unassigned = TOPO.names()["lan2.unassigned"]
    first = [syn(100.0 + n) for n in range(6)]
    second = [syn(107.0 + n, dst=unassigned, sport=40001) for n in range(6)]
    rows = figure(observations(first + second), TOPO.host_of).rows
    assert [row.text for row in rows] == [
        "SYN x6, 1 s apart; all 6 dropped in the router",
        f"SYN to {unassigned} (lan2.unassigned) x6, 1 s apart; all 6 dropped in the router",
    ]


def test_a_lost_original_is_the_dropped_one_not_its_retransmission() -> None:
    lost, again = syn(100.1), syn(101.1)
    crossed = syn(101.1002, "lan2")
    rows = figure(observations([lost, again, crossed]), TOPO.host_of).rows
    first, second = rows
    assert isinstance(first, Journey) and first.hops[0].dropped and len(first.hops) == 1
    assert isinstance(second, Journey) and len(second.hops) == 2


def test_a_copy_delayed_seconds_is_matched_not_dropped() -> None:
    sent = [
        Packet(100.0 + n, "router", "lan1", "udp", CLIENT, SERVER, 5000, 9877, length=100 + n)
        for n in range(3)
    ]
    late = [
        Packet(104.0 + n, "router", "lan2", "udp", CLIENT, SERVER, 5000, 9877, length=100 + n)
        for n in range(3)
    ]
    rows = figure(observations(sent + late), TOPO.host_of).rows
    assert not any(isinstance(r, Journey) and r.hops[0].dropped for r in rows)


def test_a_figure_of_many_unlike_rows_is_drawn_in_part_and_says_so() -> None:
    many = [
        Packet(
            100.0 + n * 0.01,
            "router",
            "lan1",
            "icmp",
            ROUTER,
            CLIENT,
            icmp_type=3,
            icmp_code=n % 16,
        )
        for n in range(2000)
    ]
    drawn = html.ladder(figure(observations(many), TOPO.host_of))
    assert len(drawn.arrows) <= html.MAX_ROWS and "rows of packets between" in drawn.omitted
