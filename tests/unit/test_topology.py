"""Addresses are plain data: slots never overlap, placeholders resolve, nothing leaves 10.77/16."""

import ipaddress

from socklab.scenario.topology import BASE, HOSTS, MAX_SLOTS, NETWORKS, Topology


def test_slots_use_disjoint_subnets_inside_the_testbed_prefix() -> None:
    subnets = [Topology(slot).subnet(net) for slot in range(MAX_SLOTS) for net in NETWORKS]
    assert len(set(subnets)) == len(subnets)
    assert all(subnet.subnet_of(BASE) for subnet in subnets)


def test_leaves_route_through_the_router_on_their_own_network() -> None:
    topo = Topology(2)
    assert topo.gateway("client") == topo.address("router", "lan1")
    assert topo.gateway("server") == topo.address("router", "lan2")
    assert topo.gateway("router") is None


def test_unassigned_and_bridge_addresses_belong_to_no_host() -> None:
    topo = Topology(0)
    owned = {addr for host in HOSTS for addr in topo.addresses(host).values()}
    for net in NETWORKS:
        assert topo.unassigned(net) not in owned
        assert topo.bridge_host(net) not in owned
        assert ipaddress.IPv4Address(topo.unassigned(net)) in topo.subnet(net)


def test_placeholders_cover_hosts_and_networks() -> None:
    names = Topology(0).names()
    assert names["server"] == "10.77.2.10"
    assert names["router.lan2"] == "10.77.2.1"
    assert names["lan1.unassigned"] == "10.77.1.99"
    assert Topology(0).host_of("10.77.1.1") == "router"
