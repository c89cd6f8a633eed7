"""testinfra checks on live compose containers: tools, forwarding, sysctls, routes, a listener.

The testbed is brought up by the compose backend itself, so these check what scenarios get.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import testinfra
from pyroute2 import IPRoute, NetNS
from socklab.scenario.topology import ATTACHMENTS
from socklab.testbed.backends.compose import ComposeBackend, delete_rules, iptables, rules
from socklab.testbed.ownership import RunLock, new_run_id

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
        assert done.stdout == "ping\n"
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


REACH_ALL = """
import socket, sys, threading
tcp_port, udp_port, addresses = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
reached = []
def probe(address):
    try:
        socket.create_connection((address, tcp_port), timeout=1.5).close()
        reached.append(address)
    except OSError:
        pass
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udp.sendto(address.encode(), (address, udp_port))
    except OSError:
        pass
threads = [threading.Thread(target=probe, args=(a,)) for a in addresses]
for t in threads: t.start()
for t in threads: t.join()
print("reached:", " ".join(sorted(reached)))
"""


def machine_addresses() -> list[str]:
    """Every IPv4 address of the machine itself (bridges, docker0, the uplink), loopback aside.
    Packets to them are delivered locally, never forwarded: probing them sends nothing out."""
    with IPRoute() as ipr:
        found = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(family=socket.AF_INET)}
    return sorted(a for a in found if not a.startswith("127."))


def probe_machine(testbed: ComposeBackend, name: str, addresses: list[str]) -> tuple[str, str]:
    """TCP connects and UDP datagrams to every address at once, and one ping each; what was
    reached (TCP), what the machine received (UDP) and what answered a ping."""
    tcp, udp = machine_listeners()
    try:
        ports = [str(tcp.getsockname()[1]), str(udp.getsockname()[1])]
        done = testbed.exec(name, ["python3", "-c", REACH_ALL, *ports, *addresses], timeout=15)
        assert "reached:" in done.stdout, done.stderr
        received = []
        try:
            while True:
                received.append(udp.recvfrom(64)[0].decode())
        except TimeoutError:
            pass
        pings = " ".join(f"ping -c 1 -W 1 {a} >/dev/null 2>&1 && echo {a} &" for a in addresses)
        pinged = testbed.exec(name, ["sh", "-c", f"{pings} wait"], timeout=15).stdout.split()
        return done.stdout.split(":", 1)[1].strip() + " ".join(received), " ".join(pinged)
    finally:
        tcp.close()
        udp.close()


@pytest.mark.parametrize("name", ["client", "router", "server"])
def test_no_container_reaches_the_machine_over_tcp_udp_or_icmp(
    testbed: ComposeBackend, name: str
) -> None:
    """Each bridge's gateway address (x.x.x.254) is the machine's. A container cannot change
    its routes (no NET_ADMIN, even for the harness's own exec); and when one is given a route
    through the bridge from outside (as NET_ADMIN would allow), socklab's INPUT rule still drops
    everything it sends to any address of the machine. Only the machine's own addresses are
    targets (network safety: delivered locally, never forwarded)."""
    gateways = [testbed.topology.bridge_host(net) for net in ATTACHMENTS[name]]
    reached, pinged = probe_machine(testbed, name, gateways)
    assert (reached, pinged) == ("", ""), f"{name} reached the machine"
    denied = testbed.exec(name, ["ip", "route", "replace", "default", "via", gateways[0]])
    assert denied.returncode != 0 and "not permitted" in denied.stderr
    with NetNS(testbed.netns(name)) as ns:
        ns.route("replace", dst="0.0.0.0/0", gateway=gateways[0])
    try:
        reached, pinged = probe_machine(testbed, name, machine_addresses())
        assert (reached, pinged) == ("", ""), f"{name} reached the machine through its bridge"
    finally:
        with NetNS(testbed.netns(name)) as ns:
            gateway = testbed.topology.gateway(name)
            if gateway:
                ns.route("replace", dst="0.0.0.0/0", gateway=gateway)
            else:
                ns.route("del", dst="0.0.0.0/0")


@pytest.mark.parametrize("name", ["client", "router", "server"])
def test_every_container_is_boxed(testbed: ComposeBackend, name: str) -> None:
    """Its own files read-only, no new privileges, a small capability set, and memory,
    process and CPU limits (compose.yaml)."""
    node = host(testbed, name)
    status = node.file("/proc/1/status").content_string
    assert "NoNewPrivs:\t1" in status
    bounding = int(status.split("CapBnd:")[1].split()[0], 16)
    allowed = (1 << 10) | (1 << 13) | (1 << 8)  # NET_BIND_SERVICE, NET_RAW, SETPCAP
    assert bounding == allowed, hex(bounding)
    assert node.run("touch /etc/socklab-probe").rc != 0
    limits = docker.from_env().containers.get(testbed.container(name)).attrs["HostConfig"]
    assert (limits["PidsLimit"], limits["Memory"], limits["NanoCpus"]) == (256, 512 * 2**20, 10**9)
    assert (
        limits["ReadonlyRootfs"]
        and limits["Binds"]
        and all(
            b.endswith(":ro") or b.endswith(":/socklab/out:rw") or b.endswith(":/socklab/out")
            for b in limits["Binds"]
        )
    ), limits["Binds"]


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


@pytest.mark.parametrize("missing", [False, True])
def test_teardown_deletes_its_rules_even_when_one_is_already_gone(missing: bool) -> None:
    """Rules are deleted with one iptables-restore, which is all or nothing: a rule already
    gone must not keep the others in. Interfaces that do not exist, a comment that is not
    socklab's (clean_machine checks beside this one must not see them)."""
    tag = f"socklab-test-{new_run_id()}"
    made = [
        (
            "iptables",
            "INPUT",
            ["-i", f"{tag[-8:]}x{n}", "-m", "comment", "--comment", tag, "-j", "DROP"],
        )
        for n in range(3)
    ]
    try:
        for _, chain, spec in made:
            iptables(["-I", chain, *spec])
        gone = [("iptables", "INPUT", ["-i", f"{tag[-8:]}y", "-j", "DROP"])] if missing else []
        delete_rules([*made, *gone])
        listed = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True)
        assert tag not in listed.stdout
    finally:
        for _, chain, spec in made:
            iptables(["-D", chain, *spec], check=False)
