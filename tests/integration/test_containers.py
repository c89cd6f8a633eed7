"""testinfra checks on live compose containers: tools, forwarding, sysctls, routes, a listener.

The testbed is brought up by the compose backend itself, so these check what scenarios get.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from harness.backends.compose import ComposeBackend, iptables, rules
from harness.ownership import RunLock, new_run_id
from harness.topology import ATTACHMENTS

TOOLS = ["python3", "tcpdump", "ip", "nft", "iptables", "ping", "ps", "setpriv"]


@pytest.fixture(scope="module")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeBackend]:
    run_id = new_run_id()
    lock = RunLock(run_id).acquire()
    backend = ComposeBackend(run_id, Path(tmp_path_factory.mktemp("compose")))
    try:
        backend.up()
        yield backend
    finally:
        backend.down()
        lock.release()


def host(backend: ComposeBackend, name: str) -> testinfra.host.Host:
    return testinfra.get_host(f"docker://{backend.container(name)}")


@pytest.mark.parametrize("name", ["client", "router", "server"])
def test_every_node_has_the_tools(testbed: ComposeBackend, name: str) -> None:
    node = host(testbed, name)
    missing = [tool for tool in TOOLS if not node.exists(tool)]
    assert missing == []


def test_router_forwards_and_answers_errors_at_once(testbed: ComposeBackend) -> None:
    router = host(testbed, "router")
    assert router.sysctl("net.ipv4.ip_forward") == 1
    assert router.sysctl("net.ipv4.icmp_ratelimit") == 0


def test_leaves_do_not_forward_and_route_only_through_the_router(testbed: ComposeBackend) -> None:
    for name, network in (("client", "lan1"), ("server", "lan2")):
        node = host(testbed, name)
        assert node.sysctl("net.ipv4.ip_forward") == 0
        routes = node.check_output("ip -4 route show default")
        assert routes.split()[:3] == ["default", "via", testbed.topology.address("router", network)]


def test_router_has_no_uplink(testbed: ComposeBackend) -> None:
    router = host(testbed, "router")
    assert router.check_output("ip -4 route show default") == ""
    nets = {str(testbed.topology.subnet(n)) for n in ("lan1", "lan2")}
    routes = router.check_output("ip -4 route show").splitlines()
    assert {line.split()[0] for line in routes} == nets


def test_echo_server_listens_and_answers_across_the_router(testbed: ComposeBackend) -> None:
    log = Path(testbed.rundir)
    server = testbed.spawn(
        "server",
        ["python3", f"{testbed.programs_dir}/tcpserv01.py"],
        stdout=log / "srv.out",
        stderr=log / "srv.err",
    )
    try:
        node = host(testbed, "server")
        deadline = time.monotonic() + 10
        while not node.socket("tcp://0.0.0.0:9877").is_listening:
            assert time.monotonic() < deadline, "tcpserv01 never listened"
            time.sleep(0.05)
        done = testbed.exec(
            "client",
            [
                "sh",
                "-c",
                f"echo ping | python3 "
                f"{testbed.programs_dir}/tcpcli01.py {testbed.topology.address('server', 'lan2')}",
            ],
        )
        assert "String received from the server: ping" in done.stdout
    finally:
        server.stop()


REACH = """
import socket, sys
kind, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    if kind == "tcp":
        socket.create_connection((address, port), timeout=1.5).close()
    else:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"hello machine", (address, port))
except OSError as err:
    print("no:", err)
    sys.exit(1)
print("reached")
"""


def machine_listeners() -> tuple[socket.socket, socket.socket]:
    """A TCP listener and a UDP socket on every address of the machine (the bridges' too)."""
    tcp = socket.socket()
    tcp.bind(("0.0.0.0", 0))
    tcp.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", 0))
    udp.settimeout(1.0)
    return tcp, udp


def reaches(testbed: ComposeBackend, name: str, kind: str, address: str, port: int) -> bool:
    done = testbed.exec(name, ["python3", "-c", REACH, kind, address, str(port)], timeout=10)
    return done.returncode == 0 and "reached" in done.stdout


@pytest.mark.parametrize("name", ["client", "router", "server"])
def test_no_container_reaches_the_machine_over_tcp_udp_or_icmp(
    testbed: ComposeBackend, name: str
) -> None:
    """Each bridge's gateway address (x.x.x.254) is the machine's. With socklab's INPUT rule
    nothing from a testbed bridge is delivered to the machine, also when the container (the
    router has NET_ADMIN) routes everything through that address. Only the testbed's own
    bridge addresses are tried (network safety: no other address is ever a target)."""
    tcp, udp = machine_listeners()
    tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
    try:
        for net in ATTACHMENTS[name]:
            gateway = testbed.topology.bridge_host(net)
            assert not reaches(testbed, name, "tcp", gateway, tcp_port), f"{name} -> {gateway} tcp"
            reaches(testbed, name, "udp", gateway, udp_port)
            with pytest.raises(TimeoutError):
                udp.recvfrom(64)
            ping = testbed.exec(name, ["ping", "-c", "1", "-W", "1", gateway])
            assert ping.returncode != 0, f"{name} pinged the machine at {gateway}"
        if name == "router":
            gateway = testbed.topology.bridge_host("lan1")
            testbed.exec("router", ["ip", "route", "replace", "default", "via", gateway])
            try:
                assert not reaches(testbed, "router", "tcp", gateway, tcp_port)
            finally:
                testbed.exec("router", ["ip", "route", "del", "default"])
    finally:
        tcp.close()
        udp.close()


def test_without_the_input_rule_the_machine_would_answer(testbed: ComposeBackend) -> None:
    """The counterfactual: the same probe with socklab's rule lifted for a moment connects,
    so the test above could fail."""
    tcp, _ = machine_listeners()
    gateway = testbed.topology.bridge_host("lan1")
    owned = [r for r in rules(testbed.run_id, "lan1") if r[:2] == ("iptables", "INPUT")]
    for _, chain, spec in owned:
        iptables(["-D", chain, *spec])
    try:
        assert reaches(testbed, "client", "tcp", gateway, tcp.getsockname()[1])
    finally:
        for _, chain, spec in owned:
            iptables(["-I", chain, *spec])
        tcp.close()
