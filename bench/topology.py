"""Median seconds to put the three-host topology up and take it down, per backend.

    python bench/topology.py [--runs 7] [--backend netns|compose|all]

Reference points from the design card: Mininet ~0.05 s up and ~0.05 s down for the same three
hosts; docker-compose ~1.2 s up and ~1.1 s down.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.testbed.backends.base import Backend
from socklab.testbed.ownership import RunLock, new_run_id


def make(name: str, run_id: str, rundir: Path) -> Backend:
    if name == "netns":
        from socklab.testbed.backends.netns import NetnsBackend

        return NetnsBackend(run_id, rundir)
    from socklab.testbed.backends.compose import ComposeBackend

    return ComposeBackend(run_id, rundir)


def measure(name: str, runs: int) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for _ in range(runs):
        run_id = new_run_id()
        lock = RunLock(run_id).acquire()
        with tempfile.TemporaryDirectory(prefix="socklab-bench-") as tmp:
            backend = make(name, run_id, Path(tmp))
            try:
                start = time.perf_counter()
                backend.up()
                ups.append(time.perf_counter() - start)
            finally:
                start = time.perf_counter()
                backend.down()
                downs.append(time.perf_counter() - start)
                lock.release()
    return ups, downs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--backend", choices=["netns", "compose", "all"], default="all")
    args = parser.parse_args()
    names = ["netns", "compose"] if args.backend == "all" else [args.backend]
    header = ("backend", "runs", "up median", "up min", "down median", "down min")
    print("{:<8} {:>4} {:>10} {:>8} {:>12} {:>9}".format(*header))
    for name in names:
        ups, downs = measure(name, args.runs)
        print(
            f"{name:<8} {args.runs:>4} {statistics.median(ups):>9.3f}s {min(ups):>7.3f}s"
            f" {statistics.median(downs):>11.3f}s {min(downs):>8.3f}s"
        )
    print("reference: mininet 0.05 s up / 0.05 s down; docker-compose 1.2 s up / 1.1 s down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
