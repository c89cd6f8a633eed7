"""One run from a plan to its report: the backend chosen, the run folder made, the lock held,
the observations judged. The CLI, the suite and the pytest plugin all run scenarios this way."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ..errors import BackendUnavailable, ScenarioError, SocklabError, sudo_hint
from ..judge import verdict
from ..report import html, model, terminal
from ..testbed import files
from ..testbed.backends import launcher
from ..testbed.backends.base import Backend
from ..testbed.ownership import RUNS_DIR, RunLock, new_run_id
from . import clean, runner
from .plan import Plan

# Imported lazily: a machine without Docker never loads the Docker SDK.
BACKENDS = {
    "compose": "..testbed.backends.compose:ComposeBackend",
    "netns": "..testbed.backends.netns:NetnsBackend",
}
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3
Progress = Callable[[str], None]


def default_backend(say: Progress | None = None) -> str:
    """compose where a Docker engine answers (DOCKER_HOST honoured), else netns, saying why;
    BACKEND or SOCKLAB_BACKEND choose without asking."""
    chosen = os.environ.get("BACKEND") or os.environ.get("SOCKLAB_BACKEND")
    if chosen:
        return chosen
    compose = importlib.import_module(BACKENDS["compose"].split(":")[0], __package__)
    problem: str | None = compose.engine_problem()
    if problem is None:
        return "compose"
    if say is not None:
        say(f"{problem}: the netns backend runs instead (--backend compose insists)")
    return "netns"


def make_backend(
    name: str, run_id: str, rundir: Path, mount: Path | None = None, family: int = 4
) -> Backend:
    if name not in BACKENDS:
        raise ScenarioError(
            f"unknown backend {name!r}", hint=f"choose one of: {', '.join(BACKENDS)}"
        )
    check_family(name, family)
    backend: Backend = import_backend(name)(run_id, rundir, mount)
    if family != 4:
        backend.topology = dataclasses.replace(backend.topology, family=family)
    return backend


def check_family(backend: str, family: int) -> None:
    """IPv6 runs need the kernel's IPv6."""
    if family == 4:
        return
    if not Path("/proc/sys/net/ipv6").exists():
        raise BackendUnavailable(
            "this kernel has no IPv6 (no /proc/sys/net/ipv6)",
            hint="boot with IPv6 (ipv6.disable=0), or run --family 4",
        )


def import_backend(name: str) -> Any:
    """The backend's class, its module imported now (lazily: see BACKENDS)."""
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module, __package__), cls)


def require_root() -> None:
    """Both backends make namespaces and firewall rules: say so before anything is touched."""
    if os.geteuid() != 0:
        raise BackendUnavailable(
            f"socklab runs need root (network namespaces, firewall rules); this is uid "
            f"{os.geteuid()}",
            hint=f"{sudo_hint()} (in a source tree, sudo -E make ... does too)",
        )


def new_rundir(name: str, run_id: str) -> Path:
    """The run's folder: root's alone (0700: no local user reaches into it while a program
    may be changing what it can). What programs in a host write goes to that host's outbox
    under it (the backend makes those; harness/files.py reads them)."""
    RUNS_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = RUNS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id}"
    return files.private_dir(path, mode=0o700)


# Each run first removes what dead runs left; a parallel suite does that once for all its runs.
PRECLEAN = True


def run_plan(
    plan: Plan,
    backend_name: str,
    progress: Progress,
    console: Console | None = None,
    full: bool = False,
    status: Progress | None = None,
) -> tuple[int, dict[str, object]]:
    """Run, judge, write report.json; render to `console` if one is given."""
    scen = plan.scenario
    require_root()
    if backend_name == "compose":  # compose imports itself beside this run's own start
        launcher.start()
    run_id = new_run_id()
    rundir = new_rundir(scen.name, run_id)
    # What dead runs left, of either backend: a netns run also removes compose leftovers
    # wherever a Docker engine may answer.
    if PRECLEAN:
        clean.clean(progress, docker_too=Path("/var/run/docker.sock").exists())
    lock = RunLock(run_id).acquire()
    try:
        backend = make_backend(backend_name, run_id, rundir, plan.mount, plan.family)
        execution = runner.Execution(scen, backend, rundir, progress, plan.mount)
        if status is not None:
            execution.status = status
        obs = execution.run()
    finally:
        lock.release()
    outcomes = verdict.evaluate(scen.expect, obs)
    rep = model.Report(
        scen, backend_name, rundir, obs, outcomes, plan.replacements, plan.played, plan.skipped
    )
    rep.write()
    html.write_report(rep)
    if console is not None:
        terminal.render(rep, console, full)
    return (EXIT_PASS if rep.passed else EXIT_FAIL), rep.to_json()


def exit_code_of(error: SocklabError) -> int:
    """A bad scenario or argument is the user's to fix (2); anything else, the machine's (3)."""
    return EXIT_USAGE if isinstance(error, ScenarioError) else EXIT_ENV
