"""Shared fixtures: the CLI as a user runs it, and a check that a run left nothing behind."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from socklab.testbed import cgroups, files, ownership
from socklab.testbed.backends.compose import CHAINS

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["netns", "compose"]
RUN_DEADLINE = 180  # seconds: a hung run fails the test instead of blocking CI


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.stdout)
        return data


def socklab(
    *args: str, timeout: float = RUN_DEADLINE, env: dict[str, str] | None = None
) -> CliResult:
    done = subprocess.run(
        [sys.executable, "-m", "socklab.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


RUN_ID = re.compile(r"(?:sl-?|socklab:)([0-9a-f]{6})")


def leftovers() -> list[str]:
    """Everything of socklab's left on the machine by runs that are over: a run that is still
    going (its lock held, e.g. another test's under pytest-xdist) is not a leftover."""
    stale = [item for item in everything() if not live(item)]
    # A run that ended between the listing and the lock check took its things with it: only
    # what is still there on a second look is left over.
    return sorted(set(stale) & set(everything())) if stale else []


def live(item: str) -> bool:
    found = RUN_ID.search(item)
    return bool(found) and ownership.is_live(found.group(1))


def everything() -> list[str]:
    """Everything of socklab's that exists on the machine."""
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    found += [
        f"netns {line.split()[0]}" for line in netns.stdout.splitlines() if line.startswith("sl-")
    ]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False)
    found += [
        f"link {line.split(':')[1].strip()}"
        for line in links.stdout.splitlines()
        if line.split(":")[1].strip().startswith("sl-")
    ]
    found += [f"cgroup sl-{run_id}" for run_id in cgroups.stale_runs()]
    found += [
        f"outbox mount sl-{run_id} {mount}"
        for mount, run_id in files.quota_mounts(Path("/")).items()
    ]
    for tool, chain in CHAINS:
        rules = subprocess.run([tool, "-S", chain], capture_output=True, text=True, check=False)
        found += [f"rule {line}" for line in rules.stdout.splitlines() if "socklab:" in line]
    docker = subprocess.run(
        ["docker", "ps", "-a", "--filter", "label=socklab.run", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    found += [f"container {name}" for name in docker.stdout.split()]
    nets = subprocess.run(
        ["docker", "network", "ls", "--filter", "label=socklab.run", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    found += [f"network {name}" for name in nets.stdout.split()]
    return found


@pytest.fixture
def clean_machine() -> Iterator[None]:
    before = leftovers()
    assert before == [], f"the machine was not clean before the test: {before}"
    yield
    after = leftovers()
    assert after == [], f"the run left these behind: {after}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first, so a parallel run (pytest-xdist) does not end waiting on a long test
    that started last."""
    items.sort(key=lambda item: -estimate(item))


def estimate(item: pytest.Item) -> float:
    """Seconds a test is expected to take: its scenario's last time in this folder's
    runs/durations.json (socklab suite keeps it), else what the scenario declares."""
    params = getattr(item, "callspec", None)
    name = params.params.get("name") if params else None
    backend = params.params.get("backend", "netns") if params else "netns"
    return scenario_seconds(str(name), str(backend))


@functools.cache
def scenario_seconds(name: str, backend: str) -> float:
    from socklab.run import suite
    from socklab.scenario import model as scenario

    if name not in scenario.names():
        return 0.0
    return suite.durations(backend).get(name) or suite.declared_seconds(name)
