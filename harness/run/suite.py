"""Many runs, one table: every scenario (or those named, or those a user's program fits), each
counterfactual, and a JUnit file a course's CI can read."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from select import select as readable_now
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import shipped
from ..errors import ScenarioError, SocklabError
from ..judge import proof
from ..report import html
from ..scenario import model as scenarios
from ..scenario.roles import command_argv, fits
from ..testbed import files, stopping
from ..testbed.backends import launcher
from ..testbed.ownership import RUNS_DIR
from ..testbed.stopping import HANDLED, Teardown, signal_on_parent_death
from . import clean, execute, runner
from .execute import EXIT_FAIL, EXIT_PASS, Progress, exit_code_of, run_plan
from .plan import Plan, prepare


@dataclass
class Result:
    name: str
    verdict: str  # pass, FAIL, ERROR, skipped
    seconds: float
    headline: str
    book: str
    failures: list[str]
    rundir: str = ""  # where its report is; empty when it never got one


def failed(outcomes: Sequence[dict[str, Any]]) -> list[str]:
    """Each failed expectation as `expected ...; observed ...`: what a grader reads first."""
    return [
        f"expected {o['expected']}; observed {o['observed']}" for o in outcomes if not o["passed"]
    ]


# A scenario the suite only reads (its book, its declared waits, its roles), loaded once: the
# table, the schedule and the selection each loaded all 23 (0.13 s a time) before a run began.
read_only = functools.cache(scenarios.load_named)


def select(names: Sequence[str], roles: dict[str, str], family: int = 4) -> list[str]:
    """The scenarios to run: every name checked before anything runs; with a user's program,
    only the scenarios that have its role (played by the program it is named after); over
    IPv6, of all scenarios those that run so (a named one that does not says why)."""
    chosen = list(names) or scenarios.names()
    loaded = {name: read_only(name) for name in chosen}
    if family == 6 and not names:
        chosen = [name for name in chosen if not loaded[name].not_over_ipv6]
    replacements = {role: command_argv(text, Path.cwd()) for role, text in roles.items() if text}
    if not replacements:
        return chosen
    return [name for name in chosen if fits(loaded[name], replacements)]


def default_jobs() -> int:
    """Scenarios mostly wait on kernel timers, not the CPU: four per core, at most 8. On two
    cores, 4 at once ran the netns suite in 1.43-1.51x its longest scenario over 10 suites and
    8 at once in 1.02x over 3, no verdict changed (a hostile tester saw udp-rcvbuf change once
    in 3 suites of 8 at once; its receivers are now stopped during the burst)."""
    return max(1, min(8, 4 * (os.cpu_count() or 1)))


DURATIONS = "durations.json"  # in the runs folder: each scenario's last time, per backend


def durations(backend: str) -> dict[str, float]:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        found = json.loads((RUNS_DIR / DURATIONS).read_text()).get(backend, {})
        return {str(k): float(v) for k, v in found.items()}
    return {}


def remember(results: Sequence[Result], backend: str) -> None:
    path = RUNS_DIR / DURATIONS
    known: dict[str, dict[str, float]] = {}
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(path.read_text())
    mine = known.setdefault(backend, {})
    mine.update({r.name: round(r.seconds, 1) for r in results if r.verdict != "ERROR"})
    with contextlib.suppress(OSError):
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True))


def declared_seconds(name: str) -> float:
    """Without history, what a scenario declares it waits: its sleeps and the least time its
    elapsed expectations demand."""
    scen = read_only(name)
    waits = sum(step.sleep or 0.0 for step in scen.steps)
    for expectation in scen.expect:
        body = expectation.body()
        waits += float(getattr(body, "min", None) or 0.0) if expectation.kind() == "elapsed" else 0
    return waits


SHARD_TIMES = shipped.SCENARIOS / "durations.json"  # recorded here, shipped: one partition


def shard(chosen: Sequence[str], index: int, count: int) -> list[str]:
    """The scenarios of shard `index` of `count` (from 1), for a CI matrix: longest first, each
    to the shard with the least time so far, by the times shipped in scenarios/durations.json
    (else what a scenario declares it waits). Every machine computes the same partition from the
    same names, so every scenario runs in exactly one shard."""
    recorded: dict[str, float] = {}
    with contextlib.suppress(OSError, ValueError, AttributeError):
        recorded = {
            str(k): float(v) for k, v in json.loads(SHARD_TIMES.read_text())["netns"].items()
        }

    def weight(name: str) -> float:
        return recorded.get(name) or declared_seconds(name) or 1.0

    loads = [0.0] * count
    members: list[set[str]] = [set() for _ in range(count)]
    for name in sorted(set(chosen), key=lambda n: (-weight(n), n)):
        least = min(range(count), key=lambda k: (loads[k], k))
        loads[least] += weight(name)
        members[least].add(name)
    return [name for name in chosen if name in members[index - 1]]


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N`, 1 <= I <= N."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count) <= 64):
        raise ScenarioError(
            f"--shard {text!r}: expected I/N with 1 <= I <= N <= 64", hint="e.g. --shard 2/3"
        )
    return int(index), int(count)


def longest_first(chosen: Sequence[str], backend: str) -> list[int]:
    """The positions of `chosen` (a name may be there twice), longest scenario first."""
    known = durations(backend)
    return sorted(
        range(len(chosen)), key=lambda at: -known.get(chosen[at], declared_seconds(chosen[at]))
    )


def run_all(
    names: Sequence[str],
    backend: str,
    say: Progress,
    roles: dict[str, str] | None = None,
    mount: str | None = None,
    jobs: int = 1,
    shard_of: tuple[int, int] | None = None,
    family: int = 4,
) -> list[Result]:
    """Every chosen scenario, in their order in the table; with jobs > 1, that many at once;
    with `shard_of` (I, N), only shard I's; with family 6, over IPv6 (those that run so)."""
    chosen = select(names, roles or {}, family)
    if shard_of is not None:
        chosen = shard(chosen, *shard_of)
    if jobs > 1 and len(chosen) > 1:
        results = run_parallel(chosen, backend, say, roles or {}, mount, jobs, family)
    else:
        results = run_serial(chosen, backend, say, roles, mount, family)
    if family == 4:  # durations.json holds IPv4's, which the shards are balanced by
        remember(results, backend)
    return results


def run_serial(
    chosen: Sequence[str],
    backend: str,
    say: Progress,
    roles: dict[str, str] | None,
    mount: str | None,
    family: int = 4,
) -> list[Result]:
    results = []
    for name in chosen:
        say(f"{name} ...")
        started = time.monotonic()
        book = scenarios.load_named(name).book
        try:
            plan = prepare(name, roles=roles, mount=mount, family=family)
            code, data = run_plan(plan, backend, lambda text: None)
            verdict = "pass" if code == EXIT_PASS else "FAIL"
            headline = str(data["headline"])
            if plan.replacements and not plan.played:
                verdict = "skipped"
                headline = "; ".join(f"{s.step}: {s.why}" for s in plan.skipped)
            outcomes = data["expectations"]
            assert isinstance(outcomes, list)
            failures = failed(outcomes)
            rundir = str(data["rundir"])
        except SocklabError as error:
            verdict, headline, failures, rundir = "ERROR", str(error), [str(error)], ""
        results.append(
            Result(
                name,
                verdict,
                time.monotonic() - started,
                headline,
                book.headline or book.shows[:60],
                failures,
                rundir,
            )
        )
    return results


class Forked:
    """A child made by fork() alone, with socklab already imported: a new interpreter spent
    ~0.5 s of CPU importing it before its run began, per scenario. The subset of Popen's
    interface a suite uses."""

    def __init__(self, pid: int, told: int = -1) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._told = told  # the child writes here once it has observed all (runner.OBSERVED)

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                self._close()
        return self.returncode

    def observed(self) -> bool:
        """Has the run observed all it will (it may still be tearing down)? A child that
        ended without saying so counts too."""
        if self._told >= 0 and readable_now([self._told], [], [], 0)[0]:
            self._close()  # a byte, or the end of a child that died first
        return self._told < 0

    def _close(self) -> None:
        if self._told >= 0:
            os.close(self._told)
            self._told = -1

    def wait(self, timeout: float | None = None) -> int:
        end = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while (code := self.poll()) is None:
            if time.monotonic() > end:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0.0)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:  # a reaped pid may be another process's by now
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def warm(backend: str) -> None:
    """What every run loads, loaded once before the forks: each child starts with it (the
    backend's module is imported here because it is imported lazily everywhere: the compose
    one loads the Docker SDK)."""
    execute.import_backend(backend)
    if backend == "compose":
        launcher.start()  # one compose launcher for every run: the children share its socket
    for template in ("report.html.j2",):
        html.environment().get_template(template)


def fork_run(job: Callable[[], int], out: Path, err: Path) -> Forked:
    """`job` (a run, as `socklab run --json` would make it) in a forked child of its own
    session, stdout and stderr to files. The suite removes what dead runs left once, for all
    its runs: each child skips that (execute.PRECLEAN), where 8 starting at once each scanned
    the whole machine."""
    sys.stdout.flush()
    sys.stderr.flush()
    told, tell = os.pipe()
    suite_pid = os.getpid()
    pid = os.fork()
    if pid:
        os.close(tell)
        return Forked(pid, told)
    code = 70  # EX_SOFTWARE, should anything below fail before the job answers
    try:
        os.close(told)
        # A suite killed outright (kill -9) still stops its runs: each gets the SIGTERM the
        # suite would have sent, and tears down. (Gone already: the same, by hand.)
        signal_on_parent_death(signal.SIGTERM)
        if os.getppid() != suite_pid:
            os.kill(os.getpid(), signal.SIGTERM)

        def observed() -> None:
            os.write(tell, b"o")

        runner.OBSERVED = observed
        # A signal from here to the job's own handlers ends the child by the inherited one
        # (stopping.on_signal: not the main pid), before it has made anything.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        os.setsid()
        for fd, path, flags in (
            (0, os.devnull, os.O_RDONLY),
            (1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
            (2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        ):
            os.dup2(os.open(path, flags, 0o600), fd)
        execute.PRECLEAN = False
        code = job()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_json(
    name: str, backend: str, roles: dict[str, str], mount: str | None, family: int = 4
) -> int:
    """What `socklab run NAME --json` does, for a forked child: the report's JSON on stdout;
    an error as `socklab: ...` on stderr, with the exit code the command would give."""
    stopping.install()
    try:
        try:
            plan = prepare(name, roles=roles, mount=mount, family=family)
            code, data = run_plan(plan, backend, lambda text: None)
        finally:
            stopping.settle()
    except SocklabError as error:
        print(f"socklab: {error}", file=sys.stderr)
        if error.hint:
            print(error.hint, file=sys.stderr)
        return exit_code_of(error)
    except KeyboardInterrupt:
        print("socklab: interrupted; everything the run made was removed", file=sys.stderr)
        return 130
    print(json.dumps(data, indent=2))
    return code


@dataclass
class Child:
    """One scenario run as a forked `socklab run --json`, its output kept apart."""

    at: int  # its position among the chosen
    name: str
    process: Forked
    out: Path
    err: Path
    started: float

    def result(self, book: str) -> Result:
        seconds = time.monotonic() - self.started
        code = self.process.returncode
        try:
            data = json.loads(self.out.read_text())
        except ValueError:
            message = self.err.read_text(errors="replace").strip().splitlines() or [f"exit {code}"]
            # the error's own line, not the hint under it
            said = [line for line in message if line.startswith("socklab: ")] or message
            return Result(self.name, "ERROR", seconds, said[-1], book, message[-5:])
        outcomes = data["expectations"]
        failures = failed(outcomes)
        verdict, headline = ("pass" if code == EXIT_PASS else "FAIL"), str(data["headline"])
        if data["replacements"] and not data["played"]:
            verdict = "skipped"
            headline = "; ".join(f"{s['step']}: {s['why']}" for s in data["skipped"])
        return Result(self.name, verdict, seconds, headline, book, failures, str(data["rundir"]))


def run_parallel(
    chosen: Sequence[str],
    backend: str,
    say: Progress,
    roles: dict[str, str],
    mount: str | None,
    jobs: int,
    family: int = 4,
) -> list[Result]:
    """Up to `jobs` runs at once, longest first. Each is a forked child with its own
    namespaces or compose project, slot and lock (runs never share anything), in a session of
    its own: a Ctrl-C reaches socklab suite only, which passes one SIGTERM to each child and
    waits for every teardown. A run that has observed all it will no longer counts: the next
    scenario starts while it tears down (a compose teardown took ~1 s of each run's place)."""

    def sweep() -> None:
        """What dead runs left, of either backend: their things carry their own ids, so
        nothing of a live run is touched."""
        clean.clean(say, docker_too=Path("/var/run/docker.sock").exists())

    warm(backend)
    waiting = longest_first(chosen, backend)
    books = {name: read_only(name).book for name in chosen}
    running: list[Child] = []
    results: dict[int, Result] = {}  # by position: a scenario named twice runs twice
    cleaned = killed = False
    # Leaving the block for any reason (a Ctrl-C included) stops what still runs, and no
    # further signal interrupts that (Teardown).
    with files.scratch("suite") as tmp, Teardown() as stack:
        stack.callback(stop_children, running, say)
        while waiting or running:
            while waiting and sum(not c.process.observed() for c in running) < jobs:
                at = waiting.pop(0)
                name = chosen[at]
                out, err = Path(tmp, f"{at}-{name}.json"), Path(tmp, f"{at}-{name}.err")
                # No Ctrl-C between the fork and noting the child: it would run on unstopped.
                masked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
                try:
                    job = functools.partial(run_json, name, backend, roles, mount, family)
                    process = fork_run(job, out, err)
                    running.append(Child(at, name, process, out, err, time.monotonic()))
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, masked)
                busy = sum(not c.process.observed() for c in running)
                say(f"{name} started ({busy} running, {len(waiting)} waiting)")
            if not waiting and not cleaned:
                sweep()  # once for all the runs (each skips it), while they run
                cleaned = True
            time.sleep(0.01)  # a free slot is taken within 10 ms
            for child in [c for c in running if c.process.poll() is not None]:
                running.remove(child)
                book = books[child.name]
                done = results[child.at] = child.result(book.headline or book.shows[:60])
                say(f"{child.name}: {done.verdict} in {done.seconds:.1f} s")
                killed |= done.verdict == "ERROR"
        if killed:
            sweep()  # a run that died (kill -9) left its things after the first sweep
    return [results[at] for at in range(len(chosen))]


def stop_children(running: Sequence[Child], say: Progress, grace: float = 90.0) -> None:
    """SIGTERM to each run still going; each tears itself down. A child that has not
    finished tearing down after `grace` seconds is killed (the next run or `socklab clean`
    removes what it leaves, by ownership)."""
    if not running:
        return
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
    going = sum(not child.process.observed() for child in running)
    ending = f", {len(running) - going} tearing down already" if going < len(running) else ""
    say(f"stopping {going} running scenario(s){ending}; each removes what it made")
    deadline = time.monotonic() + grace
    for child in running:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def table(results: Sequence[Result], backend: str) -> Table:
    shown = Table(title=f"socklab suite ({backend})")
    for column in ("scenario", "backend", "verdict", "seconds", "this kernel", "the book"):
        shown.add_column(column)
    styles = {"pass": "green", "FAIL": "bold red", "ERROR": "bold red", "skipped": "yellow"}
    for result in results:
        shown.add_row(
            result.name,
            backend,
            Text(result.verdict, style=styles.get(result.verdict, "")),
            f"{result.seconds:.1f}",
            Text(result.headline),
            Text(result.book),
        )
    return shown


def junit(results: Sequence[Result], backend: str, path: Path, label: str = "") -> None:
    """One test case per scenario, as GitHub Actions test reporters read them."""
    suite = ET.Element(
        "testsuite",
        name=f"socklab-{backend}{label}",
        tests=str(len(results)),
        failures=str(sum(r.verdict == "FAIL" for r in results)),
        errors=str(sum(r.verdict == "ERROR" for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for result in results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"socklab.{backend}",
            name=result.name,
            time=f"{result.seconds:.3f}",
        )
        if result.verdict in ("FAIL", "ERROR"):
            tag = "failure" if result.verdict == "FAIL" else "error"
            node = ET.SubElement(case, tag, message=failure_message(result))
            where = [f"run folder: {result.rundir}"] if result.rundir else []
            node.text = "\n".join([*result.failures, *where])
        elif result.verdict == "skipped":
            ET.SubElement(case, "skipped", message=result.headline[:200])
        ET.SubElement(case, "system-out").text = result.headline
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def failure_message(result: Result) -> str:
    """A failure's one line, as CI summaries show it: how many expectations failed, the first
    of them (expected and observed), and the run folder that holds the evidence."""
    if result.verdict == "ERROR" or not result.failures:
        text = result.headline
    else:
        more = len(result.failures) - 1
        text = result.failures[0] + (f" (and {more} more)" if more else "")
        text = f"{len(result.failures)} failed: {text}"
    where = f"; run folder {result.rundir}" if result.rundir else ""
    limit = 400 - len(where)
    return (text if len(text) <= limit else text[: limit - 3] + "...") + where


def merge_junit(inputs: Sequence[Path], output: Path) -> int:
    """The shards' JUnit files as one report (<testsuites>, their testsuites in it); returns
    how many test cases. A file that is not a socklab JUnit file is a usage error."""
    merged = ET.Element("testsuites")
    cases = 0
    for path in inputs:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as err:
            raise ScenarioError(f"{path}: not a JUnit file ({err})") from err
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        if not suites:
            raise ScenarioError(f"{path}: has no <testsuite>")
        for found in suites:
            merged.append(found)
            cases += len(found.findall("testcase"))
    for key in ("tests", "failures", "errors"):
        merged.set(key, str(sum(int(s.get(key, "0")) for s in merged)))
    ET.ElementTree(merged).write(output, encoding="utf-8", xml_declaration=True)
    return cases


def index(
    results: Sequence[Result], backend: str, wall: float, roles: dict[str, str] | None = None
) -> Path:
    """runs/suite-<time>/index.html: one row per scenario, linking to its report.html; it
    says whose programs were graded (the roles given, else socklab's own)."""
    folder = RUNS_DIR / f"suite-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    graded = {role: text for role, text in (roles or {}).items() if text}
    return html.write_index(results, backend, wall, folder, graded)


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_FAIL if any(r.verdict in ("FAIL", "ERROR") for r in results) else EXIT_PASS


def counterfactuals(names: Sequence[str], backend: str, say: Progress) -> tuple[Table, int]:
    """Run every scenario unchanged (it must pass), then each of its counterfactuals: each
    must make its named expectations fail, and only those (or its `may_change`), without a
    program merely crashing (judge/proof.py)."""
    shown = Table(title=f"socklab counterfactuals ({backend})")
    for column in ("scenario", "change", "must fail", "observed", "verdict"):
        shown.add_column(column)
    loaded = [scenarios.load_named(name) for name in (list(names) or scenarios.names())]
    bad = 0

    def run(
        scen: scenarios.Scenario, label: str, variant: scenarios.Scenario
    ) -> dict[str, Any] | None:
        say(f"{scen.name}: {label} ...")
        try:
            return run_plan(Plan(variant), backend, lambda text: None)[1]
        except SocklabError as error:
            shown.add_row(scen.name, label, "-", str(error), Text("ERROR", "bold red"))
            return None

    for scen in loaded:
        if not scen.counterfactuals:
            bad += 1
            shown.add_row(scen.name, "(none)", "-", "-", Text("NO COUNTERFACTUAL", "bold red"))
            continue
        baseline = run(scen, "unchanged", scen)
        if baseline is None or not baseline["passed"]:
            bad += 1
            if baseline is not None:
                failed = [o for o in baseline["expectations"] if not o["passed"]]
                shown.add_row(
                    scen.name,
                    "unchanged",
                    Text("\n".join(str(o["expected"]) for o in failed)),
                    Text("\n".join(str(o["observed"]) for o in failed)),
                    Text("FAILS UNCHANGED: proves nothing", "bold red"),
                )
            continue
        for index, counterfactual in enumerate(scen.counterfactuals):
            data = run(scen, counterfactual.name, scen.variant(index))
            if data is None:
                bad += 1
                continue
            outcomes = data["expectations"]
            wrong = proof.defects(counterfactual, outcomes, data["steps"])
            bad += bool(wrong)
            listed = [outcomes[n] for n in counterfactual.fails]
            shown.add_row(
                scen.name,
                counterfactual.name,
                Text("\n".join(str(o["expected"]) for o in listed)),
                Text("\n".join(wrong or [str(o["observed"]) for o in listed])),
                Text("DEFECT", "bold red") if wrong else Text("failed, as it must", "green"),
            )
    return shown, (EXIT_FAIL if bad else EXIT_PASS)


def render(shown: Table) -> None:
    Console(highlight=False).print(shown)
