"""socklab's command line: list, run, suite, doctor, clean.

Exit codes: 0 every expectation held, 1 one failed, 2 usage error (bad scenario name or file),
3 the machine cannot run it (no engine, no root, missing kernel feature).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.text import Text

from harness import scenario as scenarios
from harness.backends.base import Backend
from harness.errors import ScenarioError, SocklabError
from harness.ownership import RunLock, new_run_id

RUNS_DIR = Path(os.environ.get("SOCKLAB_RUNS", Path(__file__).resolve().parent.parent / "runs"))
# Imported lazily: a machine without Docker never loads the Docker SDK.
BACKENDS = {
    "compose": "harness.backends.compose:ComposeBackend",
    "netns": "harness.backends.netns:NetnsBackend",
}
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_ENV = 0, 1, 2, 3

err = Console(stderr=True, highlight=False)


def default_backend() -> str:
    """compose where a Docker engine answers, else netns (DESIGN.md)."""
    chosen = os.environ.get("BACKEND") or os.environ.get("SOCKLAB_BACKEND")
    if chosen:
        return chosen
    return "compose" if Path("/var/run/docker.sock").exists() else "netns"


def make_backend(name: str, run_id: str, rundir: Path) -> Backend:
    if name not in BACKENDS:
        raise ScenarioError(
            f"unknown backend {name!r}", hint=f"choose one of: {', '.join(BACKENDS)}"
        )
    module, cls = BACKENDS[name].split(":")
    factory = getattr(importlib.import_module(module), cls)
    backend: Backend = factory(run_id, rundir) if name == "compose" else factory(run_id)
    return backend


MAIN_PID = os.getpid()


def terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM and SIGINT unwind the harness, so every ExitStack tears its resources down.

    Only in the harness itself: pyroute2 forks helper processes that inherit this handler and a
    copy of our call stack, and stops them with SIGTERM; unwinding there would run the run's
    teardown from the helper and destroy the live testbed.
    """
    if os.getpid() != MAIN_PID:
        os._exit(128 + signum)
    raise KeyboardInterrupt(f"signal {signum}")


def run_one(
    name: str, backend_name: str, quiet: bool, counterfactual: str | None = None
) -> tuple[int, dict[str, object]]:
    scen = scenarios.load_named(name)
    if counterfactual is not None:
        scen = scen.variant(counterfactual_index(scen, counterfactual))
    return run_scenario(scen, backend_name, quiet)


def counterfactual_index(scen: scenarios.Scenario, wanted: str) -> int:
    """A counterfactual by its number (from 0) or its name."""
    names = [c.name for c in scen.counterfactuals]
    if wanted.isdigit() and int(wanted) < len(names):
        return int(wanted)
    if wanted in names:
        return names.index(wanted)
    listed = "; ".join(f"{i}: {n}" for i, n in enumerate(names)) or "none"
    raise ScenarioError(
        f"{scen.name} has no counterfactual {wanted!r}", hint=f"its counterfactuals: {listed}"
    )


def run_scenario(
    scen: scenarios.Scenario, backend_name: str, quiet: bool
) -> tuple[int, dict[str, object]]:
    from harness import clean, report, runner, verdict  # heavy imports only for a real run

    run_id = new_run_id()
    rundir = RUNS_DIR / f"{scen.name}-{time.strftime('%Y%m%d-%H%M%S')}-{run_id}"
    rundir.mkdir(parents=True)
    rundir.chmod(0o777)  # steps may run as an unprivileged user and write their event files
    progress = (
        (lambda text: None) if quiet else (lambda text: err.print(f"[dim]socklab:[/] {text}"))
    )
    clean.clean(progress, docker_too=backend_name == "compose")
    lock = RunLock(run_id).acquire()
    try:
        backend = make_backend(backend_name, run_id, rundir)
        obs = runner.Execution(scen, backend, rundir, progress).run()
    finally:
        lock.release()
    outcomes = verdict.evaluate(scen.expect, obs)
    rep = report.Report(scen, backend_name, rundir, obs, outcomes)
    rep.write()
    if not quiet:
        report.render(rep, Console(highlight=False))
    return (EXIT_PASS if rep.passed else EXIT_FAIL), rep.to_json()


def cmd_list(args: argparse.Namespace) -> int:
    for name in scenarios.names():
        scen = scenarios.load_named(name)
        print(f"{name:<18} {scen.title}")
    return EXIT_PASS


def cmd_run(args: argparse.Namespace) -> int:
    backend = args.backend or default_backend()
    code, data = run_one(args.name, backend, quiet=args.json, counterfactual=args.counterfactual)
    if args.json:
        print(json.dumps(data, indent=2))
    return code


def cmd_suite(args: argparse.Namespace) -> int:
    from rich.table import Table

    backend = args.backend or default_backend()
    if args.counterfactuals:
        return counterfactual_suite(args.names or scenarios.names(), backend)
    table = Table(title=f"socklab suite ({backend})")
    for column in ("scenario", "backend", "verdict", "seconds", "this kernel", "the book"):
        table.add_column(column)
    failed = 0
    for name in args.names or scenarios.names():
        err.print(f"[dim]socklab suite:[/] {name} ...")
        started = time.monotonic()
        try:
            code, data = run_one(name, backend, quiet=True)
            verdict = "[green]pass[/]" if code == EXIT_PASS else "[bold red]FAIL[/]"
            seen = str(data["headline"])
        except SocklabError as error:
            code, verdict, seen = EXIT_FAIL, "[bold red]ERROR[/]", str(error)
        failed += code != EXIT_PASS
        book = scenarios.load_named(name).book
        table.add_row(
            name,
            backend,
            verdict,
            f"{time.monotonic() - started:.1f}",
            seen,
            book.headline or book.shows[:60],
        )
    Console(highlight=False).print(table)
    return EXIT_FAIL if failed else EXIT_PASS


def counterfactual_suite(names: Sequence[str], backend: str) -> int:
    """Run every counterfactual: each must make its named expectations fail."""
    from rich.table import Table

    table = Table(title=f"socklab counterfactuals ({backend})")
    for column in ("scenario", "change", "must fail", "observed", "verdict"):
        table.add_column(column)
    loaded = [scenarios.load_named(name) for name in names]
    bad = 0
    for scen in loaded:
        if not scen.counterfactuals:
            bad += 1
            table.add_row(scen.name, "(none)", "-", "-", "[bold red]NO COUNTERFACTUAL[/]")
        for index, counterfactual in enumerate(scen.counterfactuals):
            err.print(f"[dim]socklab counterfactuals:[/] {scen.name}: {counterfactual.name} ...")
            try:
                _, data = run_scenario(scen.variant(index), backend, quiet=True)
            except SocklabError as error:
                bad += 1
                table.add_row(scen.name, counterfactual.name, "-", str(error), "[bold red]ERROR[/]")
                continue
            outcomes = data["expectations"]
            assert isinstance(outcomes, list)
            held = [outcomes[n] for n in counterfactual.fails if outcomes[n]["passed"]]
            bad += bool(held)
            shown = held or [outcomes[n] for n in counterfactual.fails]
            table.add_row(
                scen.name,
                counterfactual.name,
                Text("\n".join(str(o["expected"]) for o in shown)),
                Text("\n".join(str(o["observed"]) for o in shown)),
                "[bold red]PASSED: cannot fail?[/]" if held else "[green]failed, as it must[/]",
            )
    Console(highlight=False).print(table)
    return EXIT_FAIL if bad else EXIT_PASS


def cmd_validate(args: argparse.Namespace) -> int:
    for path in args.paths:
        scen = scenarios.load(Path(path))
        print(f"{path}: ok ({scen.name}, {len(scen.steps)} steps, {len(scen.expect)} expectations)")
    return EXIT_PASS


def cmd_doctor(args: argparse.Namespace) -> int:
    from harness.doctor import doctor

    return doctor(Console(highlight=False))


def cmd_clean(args: argparse.Namespace) -> int:
    from harness.clean import clean

    removed = clean(print)
    print(f"socklab clean: removed {len(removed)} leftover(s)")
    return EXIT_PASS


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="socklab", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the scenarios").set_defaults(func=cmd_list)
    run = sub.add_parser("run", help="run one scenario and report")
    run.add_argument("name", help="a scenario name (socklab list) or a path to your own .yaml")
    run.add_argument(
        "--backend", choices=sorted(BACKENDS), help="default: compose if Docker answers"
    )
    run.add_argument("--json", action="store_true", help="print report.json instead of the view")
    run.add_argument(
        "--counterfactual",
        metavar="N|NAME",
        help="run the scenario with one of its counterfactual changes (its expectations then "
        "fail where the counterfactual says)",
    )
    run.set_defaults(func=cmd_run)
    suite = sub.add_parser("suite", help="run every scenario and print one table")
    suite.add_argument("names", nargs="*", help="default: every scenario")
    suite.add_argument("--backend", choices=sorted(BACKENDS))
    suite.add_argument(
        "--counterfactuals",
        action="store_true",
        help="run each scenario's counterfactuals: every one must make its expectations fail",
    )
    suite.set_defaults(func=cmd_suite)
    val = sub.add_parser("validate", help="check scenario files against the schema")
    val.add_argument("paths", nargs="+")
    val.set_defaults(func=cmd_validate)
    sub.add_parser("doctor", help="what this machine can do").set_defaults(func=cmd_doctor)
    sub.add_parser("clean", help="remove what crashed runs left").set_defaults(func=cmd_clean)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    global MAIN_PID
    MAIN_PID = os.getpid()
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        code: int = args.func(args)
        return code
    except ScenarioError as error:
        report_error(error)
        return EXIT_USAGE
    except SocklabError as error:
        report_error(error)
        return EXIT_ENV
    except KeyboardInterrupt:
        err.print("socklab: interrupted; everything the run made was removed")
        return 130


def report_error(error: SocklabError) -> None:
    err.print(f"[bold red]socklab: {error}[/]")
    if error.hint:
        err.print(error.hint)


if __name__ == "__main__":
    sys.exit(main())
