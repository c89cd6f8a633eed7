"""report.html's ladder is drawn to a time axis, and the page carries the whole record."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from socklab.observe.observations import Observations
from socklab.observe.pcap import Packet
from socklab.report import html
from socklab.report.figure import figure

from tests.unit.test_report_view import saved_run

HOSTS = {"10.0.1.2": "client", "10.0.1.1": "router", "10.0.2.2": "server"}


def syn(at: float) -> Packet:
    port = 13 + int(at * 1000)  # each to its own port: like packets in a row would fold
    return Packet(at, "client", "lan1", "tcp", "10.0.1.2", "10.0.2.2", 40000, port, "S")


def test_gaps_grow_with_their_seconds_and_long_ones_break() -> None:
    packets = [syn(0), syn(0.001), syn(1.001), syn(3.001), syn(13.001)]
    obs = Observations(0.0, {}, packets, [], {**{v: k for k, v in HOSTS.items()}})
    drawn = html.ladder(figure(obs, HOSTS.get))
    ys = [a.y1 for a in drawn.arrows]
    steps = [b - a for a, b in pairwise(ys)]
    assert steps[0] == html.ROW  # a millisecond: one row
    assert steps[1] == 1.0 * html.PX_PER_S  # a second: 80 pixels
    assert steps[2] == 2.0 * html.PX_PER_S
    assert steps[3] > html.BREAK_S * html.PX_PER_S  # ten seconds: a break, labelled
    assert [round(b.seconds, 3) for b in drawn.breaks] == [10.0]
    assert all(a.x1 < a.x2 for a in drawn.arrows)  # client to router, rightwards


def test_the_page_has_every_packet_and_call(tmp_path: Path) -> None:
    rep = saved_run("tcp-echo", tmp_path)
    page = (tmp_path / "report.html").read_text()
    evidence = [p for p in rep.observations.evidence() if p.link != "lo"]
    drawn = html.ladder(html.figure(rep.observations, rep.host_of))
    folded = sum(len(lines) for _, _, lines, _ in drawn.unfolds)
    shown = page.count('<g class="packet')
    assert shown + folded >= len(evidence) > 10  # drawn, or listed where its fold opens
    calls = sum(len(step.calls) for step in rep.observations.steps.values())
    assert page.count("&lt;") + page.count(" = ") >= calls  # each call's line
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing fetched
