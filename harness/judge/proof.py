"""Whether a counterfactual proves its reason: the changed run fails where it says, and only
there, and not because a program merely crashed or was called wrongly.

A counterfactual is run beside the unchanged scenario, which must pass: a scenario that fails
as it is proves nothing by failing changed. Then, in the changed run:
- every expectation it lists under `fails` fails (else that check cannot fail);
- every other expectation still passes, unless listed under `may_change`;
- no program crashed (killed by SIGSEGV, SIGABRT ...; a Python traceback) or stopped on a usage
  error: a failure caused that way is a defect of the counterfactual, not a proof.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..scenario.counterfactual import Counterfactual

# Killed by these (128 + N): the program crashed, whatever the network did.
CRASH_SIGNALS = {132: "SIGILL", 134: "SIGABRT", 135: "SIGBUS", 136: "SIGFPE", 139: "SIGSEGV"}
USAGE = re.compile(r"^\s*usage:", re.IGNORECASE | re.MULTILINE)
TRACEBACK = "Traceback (most recent call last)"


def crashed(step: Mapping[str, Any]) -> str | None:
    """Why this step's end says nothing about the network: a crash or a usage error."""
    if step.get("stopped_by_harness"):
        return None
    code = step.get("exit_code")
    if code in CRASH_SIGNALS:
        return f"{step['name']} crashed ({CRASH_SIGNALS[code]}, exit {code})"
    stderr = str(step.get("stderr") or "")
    if code and TRACEBACK in stderr:
        line = stderr.strip().splitlines()[-1][:120]
        return f"{step['name']} crashed (a Python traceback: {line})"
    if code and USAGE.search(stderr):
        return f"{step['name']} stopped on a usage error (exit {code})"
    return None


def defects(
    counterfactual: Counterfactual,
    outcomes: Sequence[Mapping[str, Any]],
    steps: Mapping[str, Mapping[str, Any]],
) -> list[str]:
    """What keeps the changed run from proving its reason; [] when it does."""
    found = []
    for name in sorted(steps):
        why = crashed(steps[name])
        if why:
            found.append(why)
    held = [n for n in counterfactual.fails if outcomes[n]["passed"]]
    found += [f"expect.{n} still passes: {outcomes[n]['expected']} (cannot fail?)" for n in held]
    allowed = set(counterfactual.fails) | set(counterfactual.may_change)
    found += [
        f"expect.{n} failed too, and is not listed (fails or may_change): {o['expected']}"
        f" -> {o['observed']}"
        for n, o in enumerate(outcomes)
        if n not in allowed and not o["passed"]
    ]
    return found
