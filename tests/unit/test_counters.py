"""Parsing the counter files netstat -s reads."""

import pytest
from socklab.observe import counters
from socklab.observe.counters import parse
from socklab.scenario.terms import TermError, parse_term

SNMP = """Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 12
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors
Udp: 30 1 1970 2 1970 0
"""


def test_parse_pairs_each_group_header_with_its_values() -> None:
    counters = parse(SNMP)
    assert counters["Ip.Forwarding"] == 2
    assert counters["Udp.InDatagrams"] == 30
    assert counters["Udp.RcvbufErrors"] == 1970
    assert "Udp.InCsumErrors" not in counters


def test_parse_of_nothing_is_empty() -> None:
    assert parse("") == {}


# /proc/net/tcp as Linux 6.x prints it: a listener on 9100 with 3 connections in its accept
# queue (rx_queue 3), one on 22 with none, and an established connection with 5 unread bytes.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0A4D020A:238C 00000000:0000 0A 00000000:00000003 00:00000000 00000000     0        0 1 1
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1
   2: 0A4D020A:238C 0A4D010A:A000 01 00000000:00000005 00:00000000 00000000     0        0 3 1
"""


def test_a_listeners_accept_queue_is_its_rx_queue() -> None:
    """The harness reads the accept queue from the host's /proc/net/tcp: no program says it."""
    assert counters.listeners(PROC_NET_TCP) == {"listen.9100.queued": 3, "listen.22.queued": 0}


def test_a_programs_report_about_itself_is_no_term() -> None:
    """event: terms read what a program wrote about itself; they are refused (exit 2)."""
    with pytest.raises(TermError, match="not evidence"):
        parse_term("event:b0.queued.count")
    assert parse_term("counter:q0:listen.9100.queued").parts == ("q0", "listen.9100.queued")
