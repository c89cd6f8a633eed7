"""Run a Python function inside a network namespace, in-process.

setns(2) with CLONE_NEWNET moves only the calling thread, so a short-lived thread enters the
namespace, does its work and dies; the harness itself never changes namespace. Per-namespace
files (/proc/sys/net/*, /proc/thread-self/net/*) are resolved against the opening thread's
namespace, which is what makes sysctls and SNMP counters readable this way for both backends.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

from pyroute2 import IPRoute, NetNS, netns

from ..errors import RunError

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(path: str, fn: Callable[[], T]) -> T:
    def run() -> T:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({path}): {os.strerror(err)}")
        finally:
            os.close(fd)
        return fn()

    return in_thread(run, name=f"netns:{path}")


def in_thread(fn: Callable[[], T], name: str = "netns") -> T:
    """fn() in a short-lived thread whose namespace changes die with it."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as err:  # re-raised in the caller's thread
            failure.append(err)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    try:
        thread.join()
    except BaseException:
        # A Ctrl-C while the thread works: let it finish first, so what it makes (a namespace
        # it is still attaching) exists before the unwinding removes it, not after.
        while thread.is_alive():
            with contextlib.suppress(KeyboardInterrupt):
                thread.join()
        raise
    if failure:
        raise failure[0]
    return result[0]


def create_netns(name: str) -> None:
    """A named network namespace (/run/netns/NAME), as `ip netns add` makes it, from a thread
    that unshares its own network namespace and bind-mounts it: no forked helper (pyroute2's
    netns.create forks one per namespace, ~6 ms each)."""

    def make() -> None:
        if _libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
        netns.attach(name, "thread-self")

    in_thread(make)


def rtnl_in(path: str) -> IPRoute:
    """An rtnetlink handle on the namespace at `path`: its socket is opened by a thread inside
    the namespace (a socket stays in the namespace it was made in), with no forked helper
    (pyroute2's NetNS forks one per handle, ~10 ms each)."""
    sock = in_netns(path, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0))
    return IPRoute(use_socket=sock)


def run_in(netns: str, argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run a tool of this machine's (nft, iptables) with its network namespace set to netns."""
    return subprocess.run(
        ["nsenter", f"--net={netns}", "--", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def read_sysctl(netns: str, key: str) -> str:
    def read() -> str:
        with open(sysctl_path(key)) as handle:
            return handle.read().strip()

    return in_netns(netns, read)


def write_sysctl(netns: str, key: str, value: str) -> str:
    """Set a sysctl in the namespace and return the value it had before."""

    def write() -> str:
        with open(sysctl_path(key)) as handle:
            old = handle.read().strip()
        with open(sysctl_path(key), "w") as handle:
            handle.write(value)
        return old

    return in_netns(netns, write)


def read_proc_net(netns: str, name: str) -> str:
    """/proc/net/<name> as the namespace sees it (snmp, netstat, tcp, udp ...)."""

    def read() -> str:
        with open(f"/proc/thread-self/net/{name}") as handle:
            return handle.read()

    return in_netns(netns, read)


def interface_on(netns_path: str, subnet: ipaddress.IPv4Network) -> str:
    """The name of the host's interface whose address lies in `subnet`."""
    with NetNS(netns_path) as ns:
        for addr in ns.get_addr(family=2):
            if ipaddress.IPv4Address(addr.get_attr("IFA_ADDRESS")) in subnet:
                return str(ns.get_links(addr["index"])[0].get_attr("IFLA_IFNAME"))
    raise RunError(f"no interface in {netns_path} has an address in {subnet}")
