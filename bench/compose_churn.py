"""Routed packets lost on the compose backend while dockerd creates and removes networks.

    python bench/compose_churn.py [--runs 10]

dockerd takes the jump to DOCKER-USER out of FORWARD for a moment whenever it creates or
removes a network (another run's, or anyone's); socklab's ACCEPT for the router's forwarding
sits in DOCKER-USER, so in that moment a packet routed across a testbed met Docker's isolation
DROP. This runs `refused` (one SYN across the router, answered by a RST at once: a lost SYN
shows as a 1 s retransmission) while another thread churns an internal network, with and
without socklab's second ACCEPT in Docker's isolation chain (compose.late_rules), and prints
how many runs saw a SYN retransmitted. The churned network is internal and carries no traffic.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from socklab.run.execute import run_plan
from socklab.run.plan import prepare
from socklab.testbed.backends import compose


def churn(stop: threading.Event, counter: list[int]) -> None:
    name = f"socklab-churn-{time.time_ns()}"
    while not stop.is_set():
        subprocess.run(
            ["docker", "network", "create", "--internal", name], capture_output=True, check=False
        )
        subprocess.run(["docker", "network", "rm", name], capture_output=True, check=False)
        counter[0] += 1


def retransmitted(runs: int) -> list[float]:
    """connect() times of refused runs that took a SYN retransmission (over 0.5 s)."""
    slow = []
    for _ in range(runs):
        _, data = run_plan(prepare("refused"), "compose", lambda text: None)
        steps = data["steps"]
        assert isinstance(steps, dict)
        calls = [c for c in steps["client"]["calls"] if c["call"] == "connect"]
        if calls and calls[0]["duration"] > 0.5:
            slow.append(round(calls[0]["duration"], 3))
    return slow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    late = compose.late_rules
    for label, rules in (("without the isolation-chain ACCEPT", None), ("with it", late)):
        compose.late_rules = rules or (lambda run_id, network: [])  # type: ignore[assignment]
        stop, counter = threading.Event(), [0]
        thread = threading.Thread(target=churn, args=(stop, counter), daemon=True)
        thread.start()
        try:
            slow = retransmitted(args.runs)
        finally:
            stop.set()
            thread.join()
        print(
            f"{label:36} {len(slow)} of {args.runs} runs lost a SYN {slow or ''} "
            f"({counter[0]} network create/remove cycles meanwhile)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
