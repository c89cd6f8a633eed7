"""What this kernel and machine can do, asked of the kernel itself in a throwaway namespace.

The answers decide, at run time, which mechanism applies a fault: sch_netem where it exists
(GitHub's runners), else the declared fallbacks (nftables for loss, an NFQUEUE delayer for
delay). Netlink's ENOENT for a qdisc kind means the module is missing, and is reported as such.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from dataclasses import asdict, dataclass

from pyroute2 import NetNS, netns
from pyroute2.netlink.exceptions import NetlinkError

from .nsenter import create_netns, run_in
from .ownership import PREFIX, RunLock, new_run_id
from .stopping import Teardown

ENOENT = 2


@dataclass(frozen=True)
class Capabilities:
    netem: bool
    nftables: bool
    nfqueue: bool
    tbf: bool

    def to_json(self) -> dict[str, bool]:
        return asdict(self)


def qdisc_works(ns: NetNS, index: int, kind: str, **options: object) -> bool:
    try:
        ns.tc("replace", kind, index=index, **options)
    except NetlinkError as err:
        if err.code == ENOENT:
            return False  # the qdisc kind is not in this kernel
        raise
    return True  # the probe namespace and its qdiscs go away together


def in_probe_ns(name: str, argv: list[str], stdin: str = "") -> bool:
    if shutil.which(argv[0]) is None:
        return False
    return run_in(f"/var/run/netns/{name}", argv, stdin).returncode == 0


def remove_quietly(name: str) -> None:
    with contextlib.suppress(OSError, NetlinkError):
        netns.remove(name)


@functools.cache
def probe() -> Capabilities:
    if os.geteuid() != 0:
        return Capabilities(netem=False, nftables=False, nfqueue=False, tbf=False)
    run_id = new_run_id()
    name = f"{PREFIX}-{run_id}-probe"
    # Owned like a run: while the lock is held `socklab clean` spares the namespace, and once
    # its holder is gone (even by kill -9) clean removes it.
    lock = RunLock(run_id).acquire()
    # A Teardown, noted before the namespace exists: no signal between making it and the
    # undo, nor one during the undo, leaves it behind.
    with Teardown() as undo:
        undo.callback(lock.release)
        undo.callback(remove_quietly, name)
        create_netns(name)  # in a thread, no forked helper a signal could race with
        with NetNS(name) as ns:
            lo = ns.link_lookup(ifname="lo")[0]
            ns.link("set", index=lo, state="up")
            netem = qdisc_works(ns, lo, "netem", delay=1000)
            tbf = qdisc_works(ns, lo, "tbf", rate="1mbit", burst=32000, latency=50000)
        nft_ok = in_probe_ns(
            name,
            ["nft", "-f", "-"],
            "table inet probe {\n chain c {\n type filter hook output priority 0;\n"
            " numgen random mod 100 < 1 counter\n }\n}\n",
        )
        # nft's own `queue` needs nft_queue, often missing; the xtables NFQUEUE target works
        # through iptables-nft, so that is what is probed and used.
        queue = in_probe_ns(
            name,
            ["iptables", "-t", "mangle", "-A", "POSTROUTING", "-j", "NFQUEUE", "--queue-bypass"],
        )
        return Capabilities(netem=netem, nftables=nft_ok, nfqueue=queue, tbf=tbf)
