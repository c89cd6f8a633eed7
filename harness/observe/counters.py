"""Kernel counters of a host: /proc/net/snmp and /proc/net/netstat, as `Group.Name` -> value.

The book runs `netstat -s` before and after; these are the files netstat reads, per network
namespace, so each testbed host has its own (Udp.RcvbufErrors, TcpExt.ListenDrops ...).
"""

from __future__ import annotations

from ..testbed.nsenter import read_proc_net

FILES = ("snmp", "netstat")


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


def snapshot(netns: str) -> dict[str, int]:
    counters: dict[str, int] = {}
    for name in FILES:
        counters.update(parse(read_proc_net(netns, name)))
    return counters
