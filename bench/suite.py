"""The whole suite one scenario at a time against N at once, per backend, in one run.

    python bench/suite.py [--backend netns|compose|all] [--jobs N] [--rounds 1]

For each backend: `socklab suite -j 1`, then `socklab suite -j N` (rounds times), each one's
wall time, its longest scenario, the ratio of wall time to that scenario, and every verdict
that differed between rounds (a flake is named with its scenario).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUMMARY = re.compile(r"(\d+) scenarios in ([\d.]+) s wall time.*the longest took ([\d.]+) s")


def suite(backend: str, jobs: int) -> tuple[float, float, dict[str, str]]:
    """Wall time, longest scenario and each scenario's verdict of one `socklab suite`."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "socklab.cli", "suite", "--backend", backend, "-j", str(jobs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.monotonic() - started
    found = SUMMARY.search(done.stdout)
    if not found:
        raise SystemExit(
            f"no summary from socklab suite:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    verdicts = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 4 and cells[2] == backend and cells[1]:
            verdicts[cells[1]] = cells[3]
    return wall, float(found.group(3)), verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", choices=["netns", "compose", "all"])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="parallel suites per backend")
    args = parser.parse_args()
    backends = ["netns", "compose"] if args.backend == "all" else [args.backend]
    print(f"{'backend':8} {'jobs':>4} {'wall s':>7} {'longest s':>9} {'ratio':>6}  not passed")
    for backend in backends:
        serial_wall, serial_longest, serial = suite(backend, 1)
        bad = sorted(n for n, v in serial.items() if v != "pass")
        print(
            f"{backend:8} {1:>4} {serial_wall:7.1f} {serial_longest:9.1f} "
            f"{serial_wall / serial_longest:6.2f}  {', '.join(bad) or '-'}"
        )
        for _ in range(args.rounds):
            wall, longest, verdicts = suite(backend, args.jobs)
            bad = sorted(f"{n}: {v}" for n, v in verdicts.items() if v != serial.get(n))
            print(
                f"{backend:8} {args.jobs:>4} {wall:7.1f} {longest:9.1f} "
                f"{wall / longest:6.2f}  {', '.join(bad) or '-'}  "
                f"(serial/parallel {serial_wall / wall:.2f}x)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
