"""testinfra checks on live compose containers: tools, forwarding, sysctls, routes, a listener.

The testbed is brought up by the compose backend itself, so these check what scenarios get.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from harness.backends.compose import ComposeBackend
from harness.ownership import RunLock, new_run_id

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
