"""Parsing the counter files netstat -s reads."""

from socklab.observe.counters import parse

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
