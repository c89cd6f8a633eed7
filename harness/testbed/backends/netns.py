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

from pyroute2 import IPRoute, netns

from ...errors import BackendUnavailable, sudo_hint
from ...scenario.topology import ATTACHMENTS, HOSTS, Topology
from .. import cgroups, ipv6
from ..nsenter import create_netns, rtnl_in, write_sysctl
from ..ownership import PREFIX
from .base import (
    MACHINE_PROGRAMS,
    MACHINE_PYTHON,
    OUTBOX_INSIDE,
    Completed,
    Process,
    exec_by_spawn,
    keep_outboxes,
    make_outboxes,
    new_tag,
    popen,
    tagged_env,
)

NETNS_DIR = "/var/run/netns"
PROGRAMS_DIR = str(MACHINE_PROGRAMS)
PYTHON = MACHINE_PYTHON
# The router forwards and answers every error at once: ICMP rate limiting per destination
# would make unreachable timings wander (DESIGN.md).
# A new namespace copies the machine's IPv4 settings, and Docker turns forwarding on there, so
# the leaves are set to what a plain host has.
SYSCTLS = {
    "client": {"net.ipv4.ip_forward": "0"},
    "router": {"net.ipv4.ip_forward": "1", "net.ipv4.icmp_ratelimit": "0"},
    "server": {"net.ipv4.ip_forward": "0"},
}

# Top-level folders a program does not see. /run, /tmp and /var come back as empty tmpfs. They
# are left out of the read-only view, not hidden after it: a recursive bind of / copies every
# mount below it, and other runs' namespaces (/run/netns) and containers (/var/lib/docker)
# come and go meanwhile; bwrap then failed to remount one that had just gone.
UNSEEN = {"proc", "dev", "sys", "run", "tmp", "var", "root", "home", "mnt", "media", "boot", "srv"}


def reachable(path: str) -> list[str]:
    """bwrap arguments that make the folders above `path` 0755 where the box makes them (in
    a hidden top-level folder: /tmp/clone/harness/programs): bwrap makes them 0700, and a
    step run as a `user:` could not reach its program."""
    parts = Path(path).parts[1:-1]
    if not parts or parts[0] not in UNSEEN:
        return []
    made: list[str] = []
    for depth in range(2, len(parts) + 1):
        made += ["--perms", "0755", "--dir", "/" + "/".join(parts[:depth])]
    return made


def machine_view() -> list[str]:
    """bwrap arguments for the machine's top-level folders, read-only (/usr, /etc, /opt, the
    folder socklab lives in ...); the merged-/usr symlinks (/bin -> usr/bin) as symlinks."""
    view: list[str] = []
    for entry in sorted(os.listdir("/")):
        path = f"/{entry}"
        if entry in UNSEEN or entry == "lost+found":
            continue
        if os.path.islink(path):
            view += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            view += ["--ro-bind", path, path]
    return view


# What bwrap would otherwise leave writable to a uid-0 program (bwrap covers them only for a
# user that is not root): the kernel's settings, the SysRq trigger (a reboot), IRQ and bus files.
PROC_COVERED = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus")

PLAIN_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
]


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
        # A program sees the machine's file system read-only (confine()), its outbox and the
        # user's mounted directory at their own paths.
        self.run_id = run_id
        self.rundir = rundir
        self.mount = mount
        self.topology = Topology(0)
        self._made: list[str] = []
        self._outboxes: dict[str, Path] = {}
        self._groups: dict[str, cgroups.Group] = {}

    def check(self) -> None:
        if os.geteuid() != 0:
            raise BackendUnavailable(
                "the netns backend needs root to create network namespaces",
                hint=f"run as root ({sudo_hint()}), or use --backend compose",
            )
        missing = [tool for tool in ("nsenter", "setpriv", "bwrap") if shutil.which(tool) is None]
        if missing:
            raise BackendUnavailable(
                f"the netns backend needs {', '.join(missing)}",
                hint="apt-get install util-linux bubblewrap (in a source tree: make setup)",
            )

    def netns(self, host: str) -> str:
        return f"{NETNS_DIR}/{ns_name(self.run_id, host)}"

    def outbox(self, host: str) -> Path:
        return self._outboxes[host]

    def inside(self, host: str, path: Path) -> str:
        return f"{OUTBOX_INSIDE}/{path.relative_to(self._outboxes[host])}"

    def up(self) -> None:
        self.check()
        self._outboxes = make_outboxes(self.rundir, HOSTS, self.run_id)
        handles: dict[str, IPRoute] = {}
        try:
            for host in HOSTS:
                name = ns_name(self.run_id, host)
                # Noted before it exists: a signal between the two would otherwise leave a
                # namespace down() does not know of (the soak found one).
                self._made.append(name)
                create_netns(name)
                handles[host] = rtnl_in(self.netns(host))
            self._wire(handles)
        except Exception:
            self.down()
            raise
        finally:
            for handle in handles.values():
                handle.close()

    def _wire(self, handles: dict[str, IPRoute]) -> None:
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
        if topo.family == 6:
            ipv6.wire(self.netns, topo)

    def down(self) -> None:
        cgroups.run_group(self.run_id).remove()
        remove_namespaces(self._made)
        self._made = []
        keep_outboxes(self._outboxes)

    def step_group(self, host: str, step: str) -> cgroups.Group | None:
        """Below the host's group, which has a container's limits (512 MiB, 256 processes,
        one CPU), made at the first step of the host."""
        if cgroups.available() is not None:
            return None
        if host not in self._groups:
            self._groups[host] = cgroups.host_group(self.run_id, host)
        return self._groups[host].child(step)

    def confine(
        self, host: str, caps: Sequence[str], user: str | None, cwd: str | None
    ) -> list[str]:
        """A program's box (bubblewrap): the machine's top-level folders read-only, except /run
        (Docker's and every daemon's sockets), /tmp and /var (empty tmpfs) and /root, /home,
        /sys ... (absent); the programs, the user's directory and its outbox at their own paths
        (only the outbox writable); its own PID namespace (it sees and signals nothing of the
        machine, and dies with the harness); and only the capabilities its step declares. As a
        `user:` it keeps none."""
        box = ["bwrap", *machine_view(), "--dev", "/dev", "--proc", "/proc"]
        # As in a container: the kernel's settings read-only. A uid-0 program with no
        # capability could write them (machine-wide ones like kernel.core_pattern, and its own
        # namespace's, undoing the scenario's faults); the harness sets them from outside,
        # before the program starts. /proc/sys/net still shows the host's own namespace.
        for covered in PROC_COVERED:
            if covered == "/proc/sys" or Path(covered).exists():  # this kernel may lack one
                box += ["--ro-bind", covered, covered]
        for hidden in ("/tmp", "/run", "/var"):
            box += ["--tmpfs", hidden]
        for shown in (PROGRAMS_DIR, sys.prefix, str(self.mount or "")):
            if shown and Path(shown).exists():
                box += [*reachable(shown), "--ro-bind", shown, shown]
        # At a path of its own, as in a container: the run folder (0700) is not on the way.
        parent = str(Path(OUTBOX_INSIDE).parent)  # bwrap would make it 0700: a user step's way
        box += ["--perms", "0755", "--dir", parent, "--bind", str(self.outbox(host)), OUTBOX_INSIDE]
        box += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
        box += ["--new-session", "--cap-drop", "ALL"]
        granted = ["setuid", "setgid"] if user else caps
        for cap in granted:
            box += ["--cap-add", f"CAP_{cap.upper()}"]
        if cwd:
            box += ["--chdir", cwd]
        box.append("--")
        if user:
            entry = pwd.getpwnam(user)
            box += ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}"]
            box += ["--clear-groups", "--inh-caps=-all", "--"]
        return box

    def owner(self, host: str, user: str) -> tuple[int, int]:
        entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid

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
        caps: Sequence[str] | None = None,
    ) -> Process:
        tag = new_tag(self.run_id)
        full = ["nsenter", f"--net={self.netns(host)}", "--"]
        settings = [f"{k}={v}" for k, v in tagged_env(tag, env).items()]
        if caps is not None or user:
            # A program gets a plain environment, not the harness's (sudo -E brings the user's
            # tokens along): what a container's program gets. bwrap itself, whose environment
            # a program in the box can read (/proc/1/environ), starts with the plain one only:
            # without the step's tag, so a signal step never reaches the box's keeper.
            full = ["env", "-i", *PLAIN_ENV, *full, *self.confine(host, caps or [], user, cwd)]
            settings = ["-i", *PLAIN_ENV, *settings]
        full += ["env", *settings, *argv]
        return Process(host=host, argv=argv, tag=tag, popen=popen(full, stdout, stderr, cwd))

    def exec(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        user: str | None = None,
        caps: Sequence[str] | None = None,
    ) -> Completed:
        return exec_by_spawn(self, host, argv, timeout=timeout, user=user, caps=caps)
