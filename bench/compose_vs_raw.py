"""The compose backend's up() and down() against raw docker-compose on the same compose.yaml.

    python bench/compose_vs_raw.py [--cycles 11]

Interleaved, one raw cycle then the two socklab ones, so all see the same machine. Raw is
`docker-compose up -d --no-build` then `docker-compose down` (compose's defaults), with the same
variables socklab sets (its own subnets, bridges and outboxes). socklab's up() does more than
raw: its firewall rules, the routes set from the machine, and a wait until every address is
there; its down() removes the run's containers through the engine, all at once, then the
networks and the rules. With docker-compose 1.x, socklab runs compose from a launcher that
imported it once (harness/backends/launcher.py): `socklab` is the launcher already started, as
a run starts it before its own first work and a suite before its forks; `socklab cold` starts
one of its own inside the measured time, when the backend is made: no overlap at all.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.scenario.topology import HOSTS, Topology
from socklab.testbed.backends import launcher
from socklab.testbed.backends.base import make_outboxes
from socklab.testbed.backends.compose import COMPOSE_FILE, ComposeBackend, project
from socklab.testbed.backends.launcher import compose_command
from socklab.testbed.ownership import RunLock, new_run_id


def raw_cycle(command: list[str]) -> tuple[float, float]:
    run_id = new_run_id()
    lock = RunLock(run_id).acquire()
    try:
        with tempfile.TemporaryDirectory(prefix="socklab-bench-") as tmp:
            backend = ComposeBackend(run_id, Path(tmp))
            backend.topology = Topology(40)  # a slot no socklab run takes while this runs
            backend._outboxes = make_outboxes(Path(tmp), HOSTS)
            env = {**os.environ, **backend.env()}
            argv = [*command, "-p", project(run_id), "-f", str(COMPOSE_FILE)]
            start = time.perf_counter()
            subprocess.run(
                [*argv, "up", "-d", "--no-build"], env=env, check=True, capture_output=True
            )
            up = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run([*argv, "down"], env=env, check=True, capture_output=True)
            return up, time.perf_counter() - start
    finally:
        lock.release()


def socklab_cycle(cold: bool = False) -> tuple[float, float]:
    """Cold: a launcher of its own, started when the backend is made (inside the time)."""
    run_id = new_run_id()
    lock = RunLock(run_id).acquire()
    try:
        with tempfile.TemporaryDirectory(prefix="socklab-bench-") as tmp:
            if cold:
                launcher.LAUNCHER.stop()
                launcher.LAUNCHER = launcher.Launcher()
            start = time.perf_counter()
            backend = ComposeBackend(run_id, Path(tmp))
            if not cold:
                start = time.perf_counter()
            try:
                backend.up()
                up = time.perf_counter() - start
            finally:
                start = time.perf_counter()
                backend.down()
            return up, time.perf_counter() - start
    finally:
        lock.release()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=11)
    args = parser.parse_args()
    command = compose_command()
    raw, mine, cold = [], [], []
    for _ in range(args.cycles):
        raw.append(raw_cycle(command))
        cold.append(socklab_cycle(cold=True))
        launcher.start()  # as a run does when it starts, a suite before its forks
        mine.append(socklab_cycle())
    print(f"{' '.join(command)} vs socklab compose; {args.cycles} interleaved cycles each")
    print(f"{'':13} {'up med s':>9} {'down med s':>11} {'up+down med s':>14}")
    rows = (("raw", raw), ("socklab", mine), ("socklab cold", cold))
    for name, cycles in rows:
        ups, downs = [c[0] for c in cycles], [c[1] for c in cycles]
        total = statistics.median(u + d for u, d in cycles)
        print(
            f"{name:13} {statistics.median(ups):9.3f} {statistics.median(downs):11.3f} "
            f"{total:14.3f}"
        )
    for name, cycles in rows[1:]:
        up_ratio = statistics.median(c[0] for c in cycles) / statistics.median(c[0] for c in raw)
        cycle_ratio = statistics.median(sum(c) for c in cycles) / statistics.median(
            sum(c) for c in raw
        )
        print(f"{name}/raw, up medians: {up_ratio:.2f}; up+down medians: {cycle_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
