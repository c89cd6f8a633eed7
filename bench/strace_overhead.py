"""What strace costs: connect() elapsed with and without it, for refused and unreachable.

    python bench/strace_overhead.py [--runs 20]

Each case runs the book's daytimetcpcli (Python) in a lab of the scenario (its faults, netns
backend) --runs times traced and --runs times untraced, interleaved. The time is what the
program itself measured around connect() (unp.py's event), the one clock both modes share;
the traced runs also show strace's own duration of the call. Needs root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.pytest_plugin import Socklab
from socklab.testbed.backends.netns import PROGRAMS_DIR, PYTHON


def elapsed(events: list[dict[str, object]]) -> float:
    found = next(e for e in events if e.get("event") == "connect")
    return float(found["elapsed"])  # type: ignore[arg-type]


def case(name: str, runs: int) -> tuple[list[float], list[float], list[float]]:
    plain, traced, by_strace = [], [], []
    with Socklab().scenario(name, backend="netns") as lab:
        argv = [PYTHON, f"{PROGRAMS_DIR}/daytimetcpcli.py", lab.address("server")]
        for _ in range(runs):
            for tracing in (False, True):
                ran = lab.run("client", argv, timeout=20, traced=tracing)
                (traced if tracing else plain).append(elapsed(ran.events))
                call = ran.call("connect")
                if tracing and call is not None and call.duration is not None:
                    by_strace.append(call.duration)
    return plain, traced, by_strace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(f"connect() elapsed, median of {args.runs} (seconds)")
    print(f"{'scenario':<12} {'untraced':>10} {'traced':>10} {'ratio':>7} {'strace -T':>10}")
    for name in ("refused", "unreachable"):
        plain, traced, by_strace = case(name, args.runs)
        a, b = statistics.median(plain), statistics.median(traced)
        print(
            f"{name:<12} {a:>10.6f} {b:>10.6f} {b / a:>7.3f} {statistics.median(by_strace):>10.6f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
