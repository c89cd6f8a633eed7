"""Kernel counters of a host: /proc/net/snmp and /proc/net/netstat, as `Group.Name` -> value,
and the accept queues of its listening TCP sockets, as `listen.PORT.queued`.

The book runs `netstat -s` before and after; these are the files netstat reads, per network
namespace, so each testbed host has its own (Udp.RcvbufErrors, TcpExt.ListenDrops ...). The
harness reads them from the machine, in the host's namespace: no program in the host can change
what they say except by what it does to the kernel.
"""

from __future__ import annotations

import contextlib

from ..testbed.nsenter import read_proc_net

FILES = ("snmp", "netstat")
LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's `st` column


def parse(text: str) -> dict[str, int]:
    """Pairs of lines: `Group: Name Name ...` then `Group: value value ...`."""
    counters: dict[str, int] = {}
    lines = text.splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=False):
        group, names = header.split(":", 1)
        group_again, numbers = values.split(":", 1)
        if group != group_again:
            continue
        for name, number in zip(names.split(), numbers.split(), strict=False):
            counters[f"{group}.{name}"] = int(number)
    return counters


def listeners(text: str) -> dict[str, int]:
    """/proc/net/tcp{,6}: for a listening socket the kernel prints its accept queue's length
    (sk_ack_backlog) as rx_queue; tx_queue is 0. A port listened on twice adds up."""
    found: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or fields[3] != LISTEN:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        queued = int(fields[4].split(":")[1], 16)
        key = f"listen.{port}.queued"
        found[key] = found.get(key, 0) + queued
    return found


SNMP6_GROUPS = ("UdpLite6", "Icmp6", "Udp6", "Ip6")  # longest first: UdpLite6 before Udp6


def parse_snmp6(text: str) -> dict[str, int]:
    """/proc/net/snmp6: one `Udp6InDatagrams  5` a line, as `Udp6.InDatagrams`: IPv6's
    counters are its own (an IPv6 datagram never counts in Udp.InDatagrams)."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            continue
        group = next((g for g in SNMP6_GROUPS if fields[0].startswith(g)), None)
        if group is not None:
            counters[f"{group}.{fields[0][len(group) :]}"] = int(fields[1])
    return counters


def snapshot(netns: str) -> dict[str, int]:
    counters: dict[str, int] = {}
    for name in FILES:
        counters.update(parse(read_proc_net(netns, name)))
    with contextlib.suppress(FileNotFoundError):  # a kernel without IPv6 has no snmp6
        counters.update(parse_snmp6(read_proc_net(netns, "snmp6")))
    for name in ("tcp", "tcp6"):
        try:
            text = read_proc_net(netns, name)
        except FileNotFoundError:  # a kernel without IPv6
            continue
        for key, value in listeners(text).items():
            counters[key] = counters.get(key, 0) + value
    return counters
