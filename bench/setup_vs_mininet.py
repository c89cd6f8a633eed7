"""Time to put up and take down the three-host topology: Mininet against socklab's netns backend.

    sudo .venv/bin/python bench/setup_vs_mininet.py [--cycles 21]

Both build client --lan1-- router --lan2-- server from two point-to-point veth links (no
switch, no controller, no OpenFlow) and end in the same state: 10.77.1.10/24 and 10.77.1.1/24
on lan1, 10.77.2.1/24 and 10.77.2.10/24 on lan2, loopback up, the leaves' default route via the
router, and the sysctls of harness/backends/netns.py (the router forwards, the leaves do not).
The cycles are interleaved, one Mininet cycle then one socklab cycle, so both see the same
machine load. One untimed warm-up cycle of each comes first and checks that both reached that
state and that the client reaches the server through the router (one TCP connection, inside
the namespaces this script made).

"up" is from the first call (Mininet(): hosts, links, build(), start(), addresses, sysctls,
routes; NetnsBackend.up()) until everything is set; "down" is net.stop() or
NetnsBackend.down(). Mininet is used as a library only; Mininet.init() is skipped because its
fixLimits() would raise machine-wide sysctls (it runs once per process, so no cycle pays it).

Mininet is not a dependency of socklab. Get it, as root, with:

    # the source: 2.3.1b4, commit 6eb8973c, was used, unpacked from a bare mirror with
    #   mkdir /tmp/mininet-src && git --git-dir=MIRROR archive HEAD | tar -x -C /tmp/mininet-src
    # a clone does as well:
    git clone https://github.com/mininet/mininet /tmp/mininet-src
    # mnexec, which starts each host's shell in its own network namespace
    gcc -O2 -DVERSION=\\"2.3.1b4\\" -o /usr/local/bin/mnexec /tmp/mininet-src/mnexec.c
    # the Python package, kept out of socklab's .venv
    python3 -m venv /tmp/mnvenv && /tmp/mnvenv/bin/pip install /tmp/mininet-src

This script puts /tmp/mininet-src on sys.path (or the directories in $MININET_PATH,
colon-separated), so socklab's .venv can import it. Mininet's hosts also need `ip`, `bash`,
`ifconfig` (net-tools) and `sysctl` on PATH; Open vSwitch is not needed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.scenario.topology import ATTACHMENTS, HOSTS, Topology
from socklab.testbed.backends.netns import (
    SYSCTLS,
    NetnsBackend,
    owned_namespaces,
    remove_namespaces,
)
from socklab.testbed.nsenter import in_netns, read_sysctl, rtnl_in
from socklab.testbed.ownership import RunLock, new_run_id

TOPO = Topology(0)
HOW_TO = """\
Mininet is not importable (or mnexec is not on PATH). Get it, as root:

    git clone https://github.com/mininet/mininet /tmp/mininet-src
    gcc -O2 -DVERSION=\\"2.3.1b4\\" -o /usr/local/bin/mnexec /tmp/mininet-src/mnexec.c
    python3 -m venv /tmp/mnvenv && /tmp/mnvenv/bin/pip install /tmp/mininet-src

then run this again; it looks for the package in /tmp/mininet-src, or in the directories of
$MININET_PATH (colon-separated, e.g. /tmp/mnvenv/lib/python3.11/site-packages)."""


def load_mininet() -> dict[str, Any] | None:
    paths = os.environ.get("MININET_PATH", "/tmp/mininet-src").split(":")
    for path in reversed(paths):
        if path and path not in sys.path:
            sys.path.append(path)
    try:
        from mininet.log import setLogLevel
        from mininet.net import VERSION, Mininet
        from mininet.node import Host
    except ImportError as err:
        print(f"import mininet: {err}", file=sys.stderr)
        return None
    if shutil.which("mnexec") is None:
        print("mnexec: not on PATH", file=sys.stderr)
        return None
    setLogLevel("warning")
    # Mininet.init() would run fixLimits(): machine-wide sysctls (net.core.rmem_max, ...).
    Mininet.inited = True
    return {"Mininet": Mininet, "Host": Host, "VERSION": VERSION}


def ifnames(prefix: str = "") -> dict[tuple[str, str], str]:
    """(host, network) -> interface name: eth0, eth1 in the order of ATTACHMENTS."""
    return {
        (host, net): f"{prefix.format(host=host)}eth{index}"
        for host in HOSTS
        for index, net in enumerate(ATTACHMENTS[host])
    }


def root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


class MininetCycle:
    """One Mininet network: up() and down(), and cleanup() of only what it made if either
    failed: its hosts' shells (their namespaces die with them) and, should any end up in the
    machine's namespace, interfaces named after its hosts that were not there before."""

    def __init__(self, mn: dict[str, Any], baseline_links: set[str]) -> None:
        self.mn = mn
        self.baseline_links = baseline_links
        self.shells: list[subprocess.Popen[bytes]] = []
        self.net: Any = None
        shells = self.shells

        class TrackedHost(mn["Host"]):  # type: ignore[misc,valid-type]
            def startShell(self, *args: Any, **kwargs: Any) -> None:
                super().startShell(*args, **kwargs)
                shells.append(self.shell)

        self.host_cls = TrackedHost

    def up(self) -> None:
        names = ifnames("{host}-")
        net = self.mn["Mininet"](
            topo=None, build=False, controller=None, autoSetMacs=False, host=self.host_cls
        )
        self.net = net
        nodes = {host: net.addHost(host, ip=None) for host in HOSTS}
        for leaf, lan in (("client", "lan1"), ("server", "lan2")):
            net.addLink(
                nodes[leaf],
                nodes["router"],
                intfName1=names[(leaf, lan)],
                intfName2=names[("router", lan)],
            )
        net.build()
        net.start()
        for host, node in nodes.items():
            for lan, address in TOPO.addresses(host).items():
                node.setIP(address, prefixLen=24, intf=names[(host, lan)])
            settings = " ".join(f"{key}={value}" for key, value in SYSCTLS[host].items())
            check(node.cmd(f"sysctl -qw {settings}"), host, "sysctl")
            gateway = TOPO.gateway(host)
            if gateway:
                check(node.cmd(f"ip route add default via {gateway}"), host, "route")

    def down(self) -> None:
        if self.net is not None:
            self.net.stop()
            self.net = None

    def netns(self, host: str) -> str:
        return f"/proc/{self.net.nameToNode[host].pid}/ns/net"

    def cleanup(self) -> None:
        if self.net is not None:
            with contextlib.suppress(Exception):
                self.net.stop()
            self.net = None
        for shell in self.shells:
            if shell.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(shell.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    shell.wait(timeout=5)
        prefixes = tuple(f"{host}-eth" for host in HOSTS)
        for name in sorted(root_links() - self.baseline_links):
            if name.startswith(prefixes):
                subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)


def check(output: str, host: str, what: str) -> None:
    if output.strip():
        raise RuntimeError(f"mininet {host} {what}: {output.strip()}")


class SocklabCycle:
    """As bench/topology.py: a run lock and a temporary run folder around NetnsBackend."""

    def __init__(self) -> None:
        self.run_id = new_run_id()
        self.lock = RunLock(self.run_id).acquire()
        self.tmp = tempfile.TemporaryDirectory(prefix="socklab-bench-")
        self.backend = NetnsBackend(self.run_id, Path(self.tmp.name))

    def up(self) -> None:
        self.backend.up()

    def down(self) -> None:
        self.backend.down()

    def netns(self, host: str) -> str:
        return self.backend.netns(host)

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.backend.down()
        remove_namespaces(owned_namespaces().get(self.run_id, []))

    def close(self) -> None:
        self.tmp.cleanup()
        self.lock.release()


def state(netns: Callable[[str], str]) -> dict[str, Any]:
    """What each host ended up with: IPv4 addresses, default gateway, the sysctls set."""
    seen: dict[str, Any] = {}
    for host in HOSTS:
        handle = rtnl_in(netns(host))
        try:
            addrs = sorted(
                f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
                for a in handle.get_addr(family=socket.AF_INET)
            )
            gateways = sorted(
                r.get_attr("RTA_GATEWAY") for r in handle.get_default_routes(socket.AF_INET)
            )
        finally:
            handle.close()
        sysctls = {key: read_sysctl(netns(host), key) for key in SYSCTLS[host]}
        seen[host] = {"addresses": addrs, "gateways": gateways, "sysctls": sysctls}
    return seen


def reaches(netns: Callable[[str], str]) -> bool:
    """A TCP connection from the client to the server, through the router."""
    server = TOPO.address("server", "lan2")

    def listen() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((server, 0))
        sock.listen(1)
        return sock

    listener = in_netns(netns("server"), listen)
    port = listener.getsockname()[1]

    def connect() -> bool:
        with socket.create_connection((server, port), timeout=3):
            return True

    try:
        return in_netns(netns("client"), connect)
    except OSError:
        return False
    finally:
        listener.close()


def expected() -> dict[str, Any]:
    return {
        host: {
            "addresses": sorted(
                ["127.0.0.1/8", *(f"{a}/24" for a in TOPO.addresses(host).values())]
            ),
            "gateways": [g] if (g := TOPO.gateway(host)) else [],
            "sysctls": SYSCTLS[host],
        }
        for host in HOSTS
    }


def cycle(
    make: Callable[[], Any], ups: list[float], downs: list[float], verify: bool = False
) -> None:
    item = make()
    ok = False
    try:
        start = time.perf_counter()
        item.up()
        up = time.perf_counter() - start
        if verify:
            seen, want = state(item.netns), expected()
            if seen != want:
                raise RuntimeError(f"{type(item).__name__}: state {seen} != expected {want}")
            if not reaches(item.netns):
                raise RuntimeError(f"{type(item).__name__}: client does not reach server")
        start = time.perf_counter()
        item.down()
        down = time.perf_counter() - start
        ups.append(up)
        downs.append(down)
        ok = True
    finally:
        if not ok:
            item.cleanup()
        if isinstance(item, SocklabCycle):
            item.close()


def summary(name: str, ups: list[float], downs: list[float]) -> str:
    totals = [u + d for u, d in zip(ups, downs, strict=True)]
    ms = [
        1000 * v
        for v in (
            statistics.median(ups),
            min(ups),
            statistics.median(downs),
            min(downs),
            statistics.median(totals),
        )
    ]
    return f"{name:<8} {len(ups):>6} " + " ".join(f"{v:>10.1f}" for v in ms)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=21)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root: network namespaces (sudo .venv/bin/python ...)", file=sys.stderr)
        return 2
    mn = load_mininet()
    if mn is None:
        print(HOW_TO, file=sys.stderr)
        return 2
    NetnsBackend("check", Path("/nonexistent")).check()
    # A SIGTERM unwinds like ^C, through each cycle's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    baseline = root_links()

    def mininet() -> MininetCycle:
        return MininetCycle(mn, baseline)

    times: dict[str, tuple[list[float], list[float]]] = {
        "mininet": ([], []),
        "socklab": ([], []),
    }
    # Warm-up, untimed: first-use costs, and the check that both build the same thing.
    cycle(mininet, [], [], verify=True)
    cycle(SocklabCycle, [], [], verify=True)
    for _ in range(args.cycles):
        cycle(mininet, *times["mininet"])
        cycle(SocklabCycle, *times["socklab"])

    print(f"mininet {mn['VERSION']} vs socklab netns; {args.cycles} interleaved cycles each")
    header = ("", "cycles", "up med", "up min", "down med", "down min", "up+down med")
    print("{:<8} {:>6} {:>10} {:>10} {:>10} {:>10} {:>10}".format(*header) + "   (ms)")
    for name, (ups, downs) in times.items():
        print(summary(name, ups, downs))
    up_ratio = statistics.median(times["socklab"][0]) / statistics.median(times["mininet"][0])
    total = [
        statistics.median([u + d for u, d in zip(ups, downs, strict=True)])
        for ups, downs in (times["socklab"], times["mininet"])
    ]
    print(f"socklab/mininet, up medians:      {up_ratio:.2f}")
    print(f"socklab/mininet, up+down medians: {total[0] / total[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
