"""Requested against measured: delay, jitter and loss on a real link, per mechanism.

    python bench/faults.py [--probes 400]

Two namespaces joined by a veth pair (10.77.1.10 and 10.77.1.1, the testbed's own prefix);
the fault sits on one side's egress, applied by socklab's own fault layer, so what is measured
is what scenarios get. A UDP echo runs in the far namespace; the near one sends numbered probes
and times each round trip. Delay: median and p99 of the RTT added over the no-fault baseline.
Loss: measured loss rate with its 95 % Wilson interval. Every mechanism this kernel has is
measured (netem where sch_netem exists; nftables and the NFQUEUE delayer everywhere).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.scenario.model import Fault
from socklab.testbed.backends.netns import NetnsBackend
from socklab.testbed.faults import FaultContext, apply
from socklab.testbed.ownership import RunLock, new_run_id
from socklab.testbed.probe import probe

ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 7777))
while True:
    data, peer = s.recvfrom(2048); s.sendto(data, peer)
"""
PROBE = """
import socket, struct, sys, time, json
count, gap, wait = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.005)
sent, rtts = {}, {}
def drain():
    try:
        while True:
            data, _ = s.recvfrom(2048); n = struct.unpack("!I", data[:4])[0]
            rtts.setdefault(n, time.monotonic() - sent[n])
    except (TimeoutError, BlockingIOError):
        pass
for n in range(count):
    sent[n] = time.monotonic(); s.sendto(struct.pack("!I", n) + bytes(60), ("10.77.2.10", 7777))
    end = time.monotonic() + gap
    while time.monotonic() < end:
        drain()
end = time.monotonic() + wait
while time.monotonic() < end:
    drain()
print(json.dumps({"sent": count, "rtts": list(rtts.values())}))
"""


def wilson(lost: int, total: int) -> tuple[float, float]:
    if total == 0:
        return (0.0, 1.0)
    z, p = 1.96, lost / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def measure(backend: NetnsBackend, probes: int, rundir: Path) -> tuple[int, list[float]]:
    import json

    server = backend.spawn(
        "server", ["python3", "-c", ECHO], stdout=rundir / "echo.out", stderr=rundir / "echo.err"
    )
    try:
        time.sleep(0.2)
        done = backend.exec(
            "client", ["python3", "-c", PROBE, str(probes), "0.004", "1.0"], timeout=120
        )
        result = json.loads(done.stdout)
        return int(result["sent"]), [rtt * 1000 for rtt in result["rtts"]]
    finally:
        server.stop()


def run_case(fault: dict[str, object] | None, probes: int) -> tuple[int, list[float], str]:
    run_id = new_run_id()
    lock = RunLock(run_id).acquire()
    with tempfile.TemporaryDirectory(prefix="socklab-bench-") as tmp:
        rundir = Path(tmp)
        backend = NetnsBackend(run_id, rundir)
        os.chmod(rundir, 0o777)
        try:
            backend.up()
            ctx = FaultContext.of(backend, rundir)
            undo = (
                apply(Fault.model_validate({"host": "router", "link": fault}), ctx)
                if fault
                else None
            )
            sent, rtts = measure(backend, probes, rundir)
            if undo:
                undo()
            mechanism = ctx.mechanisms[0]["mechanism"] if ctx.mechanisms else "none"
            return sent, rtts, mechanism
        finally:
            backend.down()
            lock.release()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=400)
    args = parser.parse_args()
    caps = probe()
    print(
        f"kernel {os.uname().release}: netem={caps.netem} nftables={caps.nftables} "
        f"nfqueue={caps.nfqueue}"
    )
    _, base, _ = run_case(None, args.probes)
    baseline = statistics.median(base)
    print(f"baseline RTT median {baseline:.3f} ms over {len(base)} probes\n")
    header = ("asked", "mechanism", "added median", "added p99", "spread p1-p99")
    print("{:<22} {:<34} {:>12} {:>10} {:>14}".format(*header))
    for delay in (0, 20, 100):
        for jitter in (0, 10):
            if delay == 0 and jitter:
                continue
            spec = {"network": "lan2", "delay": delay, "jitter": jitter or None}
            _, rtts, mech = run_case(spec, args.probes)
            added = [r - baseline for r in rtts]
            print(
                f"{f'delay {delay} jitter {jitter} ms':<22} {mech:<34} "
                f"{statistics.median(added):>10.3f}ms {percentile(added, 0.99):>8.3f}ms "
                f"{percentile(added, 0.99) - percentile(added, 0.01):>12.3f}ms"
            )
    print(f"\n{'asked':<22} {'mechanism':<34} {'measured loss':>14} {'95% interval':>18}")
    for loss in (1, 10, 30):
        sent, rtts, mech = run_case({"network": "lan2", "loss": loss}, args.probes * 5)
        lost = sent - len(rtts)
        low, high = wilson(lost, sent)
        # A round trip crosses the shaped egress once (server->client), so loss applies once.
        print(
            f"{f'loss {loss} %':<22} {mech:<34} {100 * lost / sent:>12.2f} % "
            f"[{100 * low:5.2f}, {100 * high:5.2f}] %  ({lost}/{sent})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
