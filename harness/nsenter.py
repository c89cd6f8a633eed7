"""Run a Python function inside a network namespace, in-process.

setns(2) with CLONE_NEWNET moves only the calling thread, so a short-lived thread enters the
namespace, does its work and dies; the harness itself never changes namespace. Per-namespace
files (/proc/sys/net/*, /proc/thread-self/net/*) are resolved against the opening thread's
namespace, which is what makes sysctls and SNMP counters readable this way for both backends.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(path: str, fn: Callable[[], T]) -> T:
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(fn())
        except BaseException as err:  # re-raised in the caller's thread
            failure.append(err)

    thread = threading.Thread(target=run, name=f"netns:{path}")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


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
