"""The testbed as plain data: three hosts, two networks, their addresses.

client --lan1-- router --lan2-- server. Each run gets a slot; the slot picks the subnets, so
two compose runs at once use different bridges and prefixes. The netns backend has nothing in
the host's namespace and always uses slot 0.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

HOSTS = ("client", "router", "server")
NETWORKS = ("lan1", "lan2")
# Which host sits on which network, and its host number inside the /24.
ATTACHMENTS: dict[str, dict[str, int]] = {
    "client": {"lan1": 10},
    "router": {"lan1": 1, "lan2": 1},
    "server": {"lan2": 10},
}
# Host part of an address that no host owns (the book's "nonexistent host on the local subnet").
UNASSIGNED = 99
# Docker gives each bridge the gateway address in the machine's own namespace; park it where
# no scenario looks.
BRIDGE_HOST = 254
BASE = ipaddress.IPv4Network("10.77.0.0/16")
# Inside the testbed's prefix but on no network of any slot: the router has no route to it.
UNROUTED = "10.77.250.1"
# IPv6: unique local addresses (RFC 4193), one /64 per network, the same host numbers written
# as the same digits (client ::10, router ::1), so fd00:77:0:1::10 reads like 10.77.1.10.
BASE6 = ipaddress.IPv6Network("fd00:77::/32")
UNROUTED6 = "fd00:77:fa::1"
MAX_SLOTS = 32


def hex_digits(number: int) -> int:
    """10 -> 0x10: a host number that reads the same in both families."""
    return int(str(number), 16)


@dataclass(frozen=True)
class Topology:
    slot: int = 0
    family: int = 4  # which addresses the scenario's names stand for; the wiring is IPv4's

    def subnet(self, network: str) -> ipaddress.IPv4Network:
        index = NETWORKS.index(network)
        third = self.slot * len(NETWORKS) + index + 1
        return ipaddress.IPv4Network(f"{BASE.network_address + third * 256}/24")

    def address(self, host: str, network: str) -> str:
        return str(self.subnet(network).network_address + ATTACHMENTS[host][network])

    def addresses(self, host: str) -> dict[str, str]:
        return {net: self.address(host, net) for net in ATTACHMENTS[host]}

    def subnet6(self, network: str) -> ipaddress.IPv6Network:
        index = NETWORKS.index(network)
        return ipaddress.IPv6Network(f"fd00:77:{self.slot:x}:{index + 1}::/64")

    def address6(self, host: str, network: str) -> str:
        return str(self.subnet6(network).network_address + hex_digits(ATTACHMENTS[host][network]))

    def gateway6(self, host: str) -> str | None:
        if host == "router":
            return None
        (network,) = ATTACHMENTS[host]
        return self.address6("router", network)

    def unassigned(self, network: str) -> str:
        return str(self.subnet(network).network_address + UNASSIGNED)

    def bridge_host(self, network: str) -> str:
        return str(self.subnet(network).network_address + BRIDGE_HOST)

    def gateway(self, host: str) -> str | None:
        """The router's address on the host's network: the only way out of a leaf host."""
        if host == "router":
            return None
        (network,) = ATTACHMENTS[host]
        return self.address("router", network)

    def network_of(self, address: str) -> str | None:
        ip = ipaddress.IPv4Address(address)
        for net in NETWORKS:
            if ip in self.subnet(net):
                return net
        return None

    def host_of(self, address: str) -> str | None:
        for host, nets in ATTACHMENTS.items():
            for net in nets:
                if address in (self.address(host, net), self.address6(host, net)):
                    return host
        return None

    def names(self) -> dict[str, str]:
        """Placeholders for scenario arguments: {server}, {router.lan1}, {lan1.unassigned},
        in the topology's family: one scenario file runs over both."""
        six = self.family == 6
        table: dict[str, str] = {}
        for host in HOSTS:
            for net in ATTACHMENTS[host]:
                table[f"{host}.{net}"] = (
                    self.address6(host, net) if six else self.address(host, net)
                )
            table[host] = table[f"{host}.{next(iter(ATTACHMENTS[host]))}"]
        table["unrouted"] = UNROUTED6 if six else UNROUTED
        table["loopback"] = "::1" if six else "127.0.0.1"
        for net in NETWORKS:
            if six:
                unassigned = self.subnet6(net).network_address + hex_digits(UNASSIGNED)
                table[f"{net}.unassigned"] = str(unassigned)
                table[f"{net}.subnet"] = str(self.subnet6(net))
            else:
                table[f"{net}.unassigned"] = self.unassigned(net)
                table[f"{net}.subnet"] = str(self.subnet(net))
        return table
