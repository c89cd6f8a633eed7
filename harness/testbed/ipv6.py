"""An IPv6 run's addresses (--family 6), set from the machine in each host's network namespace,
the same way on both backends: a netns host's or a container's (Docker's IPv4 networks carry
IPv6 frames like any bridge; no IPv6 subnet is asked of the engine).

Each interface gets its unique local address (topology.address6) without duplicate address
detection, once it is up; no router advertisement is taken; the router forwards IPv6 and
answers errors at once; leaves route everything through it. Then a wait until no address is
tentative: the kernel does not answer neighbour solicitations for one it still holds back (a
run's first solicitation once went unanswered when addresses came before the links).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from ..errors import BackendUnavailable
from ..scenario.topology import ATTACHMENTS, HOSTS, Topology
from .nsenter import interface_on, rtnl_in, write_sysctl

NODAD = 0x02  # IFA_F_NODAD
TENTATIVE = 0x40  # IFA_F_TENTATIVE
READY_S = 3.0
# Docker turns IPv6 off in a container on an IPv4 network: on again, per interface too.
QUIET = {
    "disable_ipv6": "0",
    "accept_dad": "0",
    "accept_ra": "0",
}
ROUTER = {"net.ipv6.conf.all.forwarding": "1", "net.ipv6.icmp.ratelimit": "0"}


def wire(netns: Callable[[str], str], topology: Topology) -> None:
    for host in HOSTS:
        path = netns(host)
        names = {net: interface_on(path, topology.subnet(net)) for net in ATTACHMENTS[host]}
        for scope in ("all", "default", *names.values()):
            for key, value in QUIET.items():
                write_sysctl(path, f"net.ipv6.conf.{scope}.{key}", value)
        if host == "router":
            for key, value in ROUTER.items():
                write_sysctl(path, key, value)
        with rtnl_in(path) as ns:
            for net, name in names.items():
                index = ns.link_lookup(ifname=name)[0]
                address = topology.address6(host, net)
                ns.addr("add", index=index, address=address, prefixlen=64, flags=NODAD)
            gateway = topology.gateway6(host)
            if gateway:
                ns.route("replace", dst="::/0", gateway=gateway)
    ready(netns)


def ready(netns: Callable[[str], str]) -> None:
    deadline = time.monotonic() + READY_S
    waiting: list[str] = []
    while time.monotonic() < deadline:
        waiting = []
        for host in HOSTS:
            with rtnl_in(netns(host)) as ns:
                for found in ns.get_addr(family=socket.AF_INET6):
                    if found.get_attr("IFA_FLAGS", found["flags"]) & TENTATIVE:
                        waiting.append(host)
        if not waiting:
            return
        time.sleep(0.02)
    raise BackendUnavailable(
        f"IPv6 addresses still tentative after {READY_S:g} s in {', '.join(sorted(set(waiting)))}",
        hint="the kernel holds them back for duplicate address detection: run --family 4",
    )
