"""Packet capture: tcpdump in a host's namespace, writing a pcap the harness parses later.

tcpdump runs as a process in the host (the backend's spawn), so the same code serves containers
and plain namespaces. `-U` writes each packet as it comes; the capture counts as started only
once tcpdump says it is listening, so no early packet is missed.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunError
from ..testbed.backends.base import Backend, Process, spawn_on_machine
from ..testbed.nsenter import interface_on
from .observations import CaptureRecord
from .pcap import Packet, PcapError, merge, read_pcap

READY_TIMEOUT = 10.0
# tcpdump's closing statistics on stderr: the only place the kernel's drop count is told.
DROPPED = re.compile(r"^(\d+) packets? dropped by kernel$", re.MULTILINE)


@dataclass
class Capture:
    host: str
    link: str
    pcap: Path
    log: Path
    process: Process

    def stop(self) -> None:
        # SIGINT makes tcpdump flush and close the file; its exit status is then 0.
        self.process.stop(signal.SIGINT, grace=3.0)


def stop_all(caps: list[Capture]) -> None:
    """SIGINT to every tcpdump first, then each waited for: they flush side by side."""
    for cap in caps:
        if cap.process.popen.poll() is None:
            cap.process.popen.send_signal(signal.SIGINT)
    for cap in caps:
        cap.stop()


def start_all(backend: Backend, wanted: Sequence[tuple[str, str]], rundir: Path) -> list[Capture]:
    """Every (host, link) capture, started together: each tcpdump takes ~40 ms to say it is
    listening, and they wait for that side by side. On a failure the ones started are
    stopped."""
    caps = [spawn(backend, host, link, rundir) for host, link in wanted]
    try:
        for cap in caps:
            await_listening(cap)
    except BaseException:
        for cap in caps:
            cap.process.stop()
        raise
    return caps


def spawn(backend: Backend, host: str, link: str, rundir: Path) -> Capture:
    iface = (
        "lo" if link == "lo" else interface_on(backend.netns(host), backend.topology.subnet(link))
    )
    pcap = rundir / f"{host}-{link}.pcap"
    log = rundir / f"{host}-{link}.tcpdump.log"
    # The machine's tcpdump, in the host's network namespace only: the pcap goes straight to
    # the run folder, where no program in a host can touch it, and on both backends alike.
    # -Z root: tcpdump would drop to its own user and then fail to write into the run folder.
    # --immediate-mode: without it packets wait in the ring buffer and a SIGINT loses them.
    argv = ["tcpdump", "-i", iface, "-n", "-U", "--immediate-mode", "-Z", "root", "-s", "512"]
    argv += ["-w", str(pcap)]
    out = rundir / f"{host}-{link}.tcpdump.out"
    process = spawn_on_machine(backend, host, argv, stdout=out, stderr=log)
    return Capture(host, link, pcap, log, process)


def await_listening(cap: Capture) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if "listening on" in cap.log.read_text(errors="replace"):
            return
        if cap.process.popen.poll() is not None:
            break
        time.sleep(0.01)
    cap.process.stop()
    said = cap.log.read_text(errors="replace").strip() or f"no word from it in {READY_TIMEOUT:g} s"
    raise RunError(
        f"tcpdump did not start in {cap.host} on {cap.link}: {said}",
        hint="is tcpdump installed where the host runs it? (socklab doctor)",
    )


def collect(caps: list[Capture]) -> tuple[list[CaptureRecord], list[Packet]]:
    """Each stopped capture's packets, and what is wrong with it: a missing or unreadable
    pcap, or packets the kernel dropped before tcpdump read them, make it no evidence."""
    records, packets = [], []
    for cap in caps:
        problem = None
        found: list[Packet] = []
        if not cap.pcap.exists() or cap.pcap.stat().st_size == 0:
            problem = "tcpdump wrote no capture file"
        else:
            try:
                found = read_pcap(cap.pcap, cap.host, cap.link)
            except PcapError as err:
                problem = str(err)
        drops = DROPPED.findall(cap.log.read_text(errors="replace")) if cap.log.exists() else []
        records.append(
            CaptureRecord(
                host=cap.host,
                link=cap.link,
                pcap=cap.pcap.name,
                packets=len(found),
                dropped=int(drops[-1]) if drops else None,
                problem=problem,
            )
        )
        packets.append(found)
    return records, merge(packets)
