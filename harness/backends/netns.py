"""The netns backend: three plain network namespaces joined by veth pairs, made with pyroute2.

No Docker and no bridge: lan1 and lan2 are each a veth pair whose ends are created directly in
their namespaces (moving an end costs ~19 ms; creating it in place costs nothing extra), and one
pyroute2 handle per namespace is opened once. Nothing is added to the machine's own namespace.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from pyroute2 import NetNS, netns

from harness.backends.base import Completed, Process, exec_by_spawn, new_tag, popen, tagged_env
from harness.errors import BackendUnavailable
from harness.nsenter import write_sysctl
from harness.ownership import PREFIX
from harness.topology import ATTACHMENTS, HOSTS, Topology

NETNS_DIR = "/var/run/netns"
PROGRAMS_DIR = str(Path(__file__).resolve().parent.parent / "programs")
# The book's programs are stdlib-only: the system's Python starts fastest (no pyenv shim, no
# virtualenv) and any user can run it, which a step with `user:` needs.
PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
# The router forwards and answers every error at once: ICMP rate limiting per destination
# would make unreachable timings wander (DESIGN.md).
# A new namespace copies the machine's IPv4 settings, and Docker turns forwarding on there, so
# the leaves are set to what a plain host has.
SYSCTLS = {
    "client": {"net.ipv4.ip_forward": "0"},
    "router": {"net.ipv4.ip_forward": "1", "net.ipv4.icmp_ratelimit": "0"},
    "server": {"net.ipv4.ip_forward": "0"},
}


PROBE = "probe"  # the capability probe's throwaway namespace (harness/probe.py)


def ns_name(run_id: str, host: str) -> str:
    return f"{PREFIX}-{run_id}-{host}"


def owned_namespaces() -> dict[str, list[str]]:
    """Run id -> namespace names, for every namespace socklab made."""
    runs: dict[str, list[str]] = {}
    for name in sorted(netns.listnetns()):
        parts = name.split("-")
        if len(parts) == 3 and parts[0] == PREFIX and parts[2] in (*HOSTS, PROBE):
            runs.setdefault(parts[1], []).append(name)
    return runs


def remove_namespaces(names: Sequence[str]) -> None:
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            netns.remove(name)


class NetnsBackend:
    name = "netns"
    programs_dir = PROGRAMS_DIR
    python = PYTHON

    def __init__(self, run_id: str, rundir: Path, mount: Path | None = None) -> None:
        # rundir and mount: the netns hosts share the machine's file system, so a program sees
        # both at their own paths with nothing to do.
        self.run_id = run_id
        self.topology = Topology(0)
        self._made: list[str] = []

    def check(self) -> None:
        if os.geteuid() != 0:
            raise BackendUnavailable(
                "the netns backend needs root to create network namespaces",
                hint="run as root (sudo -E make ...), or use BACKEND=compose",
            )
        missing = [tool for tool in ("nsenter", "setpriv") if shutil.which(tool) is None]
        if missing:
            raise BackendUnavailable(
                f"the netns backend needs {', '.join(missing)}",
                hint="apt-get install util-linux",
            )

    def netns(self, host: str) -> str:
        return f"{NETNS_DIR}/{ns_name(self.run_id, host)}"

    def up(self) -> None:
        self.check()
        handles: dict[str, NetNS] = {}
        try:
            for host in HOSTS:
                name = ns_name(self.run_id, host)
                netns.create(name)
                self._made.append(name)
                handles[host] = NetNS(name)
            self._wire(handles)
        except Exception:
            self.down()
            raise
        finally:
            for handle in handles.values():
                handle.close()

    def _wire(self, handles: dict[str, NetNS]) -> None:
        topo = self.topology
        ifnames: dict[tuple[str, str], str] = {}
        for host in HOSTS:
            for index, net in enumerate(ATTACHMENTS[host]):
                ifnames[(host, net)] = f"eth{index}"
        # lan1: client <-> router, lan2: server <-> router; the peer end is born in the router.
        for leaf, net in (("client", "lan1"), ("server", "lan2")):
            handles[leaf].link(
                "add",
                ifname=ifnames[(leaf, net)],
                kind="veth",
                peer={
                    "ifname": ifnames[("router", net)],
                    "net_ns_fd": ns_name(self.run_id, "router"),
                },
            )
        for host in HOSTS:
            ns = handles[host]
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            for net, address in topo.addresses(host).items():
                index = ns.link_lookup(ifname=ifnames[(host, net)])[0]
                ns.addr("add", index=index, address=address, prefixlen=24)
                ns.link("set", index=index, state="up")
            gateway = topo.gateway(host)
            if gateway:
                ns.route("add", dst="default", gateway=gateway)
        for host, settings in SYSCTLS.items():
            for key, value in settings.items():
                write_sysctl(self.netns(host), key, value)

    def down(self) -> None:
        remove_namespaces(self._made)
        self._made = []

    def _argv(self, host: str, argv: Sequence[str], user: str | None) -> list[str]:
        wrapped = ["nsenter", f"--net={self.netns(host)}", "--"]
        if user:
            entry = pwd.getpwnam(user)
            wrapped += ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}"]
            wrapped += ["--clear-groups"]
        return wrapped + list(argv)

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        stdout: Path,
        stderr: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
    ) -> Process:
        tag = new_tag(self.run_id)
        full = self._argv(
            host, ["env", *[f"{k}={v}" for k, v in tagged_env(tag, env).items()], *argv], user
        )
        return Process(host=host, argv=argv, tag=tag, popen=popen(full, stdout, stderr, cwd))

    def exec(
        self, host: str, argv: Sequence[str], *, timeout: float = 10.0, user: str | None = None
    ) -> Completed:
        return exec_by_spawn(self, host, argv, timeout=timeout, user=user)
