"""Many runs, one table: every scenario (or those named, or those a user's program fits), each
counterfactual, and a JUnit file a course's CI can read."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness import scenario as scenarios
from harness.errors import SocklabError
from harness.execute import EXIT_FAIL, EXIT_PASS, Progress, run_plan
from harness.plan import Plan, prepare
from harness.roles import command_argv, fits


@dataclass
class Result:
    name: str
    verdict: str  # pass, FAIL, ERROR, skipped
    seconds: float
    headline: str
    book: str
    failures: list[str]


def select(names: Sequence[str], roles: dict[str, str]) -> list[str]:
    """The scenarios to run: every name checked before anything runs; with a user's program,
    only the scenarios that have its role (played by the program it is named after)."""
    chosen = list(names) or scenarios.names()
    loaded = {name: scenarios.load_named(name) for name in chosen}
    replacements = {role: command_argv(text, Path.cwd()) for role, text in roles.items() if text}
    if not replacements:
        return chosen
    return [name for name in chosen if fits(loaded[name], replacements)]


def run_all(
    names: Sequence[str],
    backend: str,
    say: Progress,
    roles: dict[str, str] | None = None,
    mount: str | None = None,
) -> list[Result]:
    results = []
    for name in select(names, roles or {}):
        say(f"{name} ...")
        started = time.monotonic()
        book = scenarios.load_named(name).book
        try:
            plan = prepare(name, roles=roles, mount=mount)
            code, data = run_plan(plan, backend, lambda text: None)
            verdict = "pass" if code == EXIT_PASS else "FAIL"
            headline = str(data["headline"])
            if plan.replacements and not plan.played:
                verdict = "skipped"
                headline = "; ".join(f"{s.step}: {s.why}" for s in plan.skipped)
            outcomes = data["expectations"]
            assert isinstance(outcomes, list)
            failures = [f"{o['expected']}: {o['observed']}" for o in outcomes if not o["passed"]]
        except SocklabError as error:
            verdict, headline, failures = "ERROR", str(error), [str(error)]
        results.append(
            Result(
                name,
                verdict,
                time.monotonic() - started,
                headline,
                book.headline or book.shows[:60],
                failures,
            )
        )
    return results


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


def junit(results: Sequence[Result], backend: str, path: Path) -> None:
    """One test case per scenario, as GitHub Actions test reporters read them."""
    suite = ET.Element(
        "testsuite",
        name=f"socklab-{backend}",
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
            node = ET.SubElement(case, tag, message=result.headline[:200])
            node.text = "\n".join(result.failures)
        elif result.verdict == "skipped":
            ET.SubElement(case, "skipped", message=result.headline[:200])
        ET.SubElement(case, "system-out").text = result.headline
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_FAIL if any(r.verdict in ("FAIL", "ERROR") for r in results) else EXIT_PASS


def counterfactuals(names: Sequence[str], backend: str, say: Progress) -> tuple[Table, int]:
    """Run every counterfactual: each must make its named expectations fail."""
    shown = Table(title=f"socklab counterfactuals ({backend})")
    for column in ("scenario", "change", "must fail", "observed", "verdict"):
        shown.add_column(column)
    loaded = [scenarios.load_named(name) for name in (list(names) or scenarios.names())]
    bad = 0
    for scen in loaded:
        if not scen.counterfactuals:
            bad += 1
            shown.add_row(scen.name, "(none)", "-", "-", Text("NO COUNTERFACTUAL", "bold red"))
        for index, counterfactual in enumerate(scen.counterfactuals):
            say(f"{scen.name}: {counterfactual.name} ...")
            try:
                _, data = run_plan(Plan(scen.variant(index)), backend, lambda text: None)
            except SocklabError as error:
                bad += 1
                shown.add_row(
                    scen.name, counterfactual.name, "-", str(error), Text("ERROR", "bold red")
                )
                continue
            outcomes = data["expectations"]
            assert isinstance(outcomes, list)
            held = [outcomes[n] for n in counterfactual.fails if outcomes[n]["passed"]]
            bad += bool(held)
            listed = held or [outcomes[n] for n in counterfactual.fails]
            shown.add_row(
                scen.name,
                counterfactual.name,
                Text("\n".join(str(o["expected"]) for o in listed)),
                Text("\n".join(str(o["observed"]) for o in listed)),
                Text("PASSED: cannot fail?", "bold red")
                if held
                else Text("failed, as it must", "green"),
            )
    return shown, (EXIT_FAIL if bad else EXIT_PASS)


def render(shown: Table) -> None:
    Console(highlight=False).print(shown)
