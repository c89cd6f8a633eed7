"""Roles: the user's own program in place of the book's, judged by the same expectations.

A scenario's run steps name the role their program plays (`role: client`) and call it the way
the book calls its program (daytimetcpcli gets one address and connects to port 13). `socklab
run refused --client ./daytimetcpcli` puts the user's executable in every step that plays the
client; the step keeps its arguments, faults, captures and expectations. A step whose call the
book's program could not take says why (`keeps:`), keeps the built-in, and is reported as
skipped for the replacement, never silently.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import shipped
from ..errors import ScenarioError
from .model import Scenario, describe

ROLE_FLAGS = ("client", "server")


@dataclass(frozen=True)
class Skipped:
    step: str
    role: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"step": self.step, "role": self.role, "why": self.why}


def command_argv(text: str, base: Path) -> list[str]:
    """`--client "./mycli -v"`: the executable (made absolute when it is a path) and any
    leading arguments of its own."""
    try:
        argv = shlex.split(text)
    except ValueError as err:  # an unclosed quote
        raise ScenarioError(
            f"the command {text!r} cannot be split into words: {err}",
            hint="quote it as a shell would, e.g. --client './my client'",
        ) from err
    if not argv:
        raise ScenarioError("an empty command was given for a role")
    if "/" in argv[0]:
        argv[0] = str((base / argv[0]).resolve())
    return argv


def played(scen: Scenario) -> dict[str, set[str]]:
    """Role -> the built-in programs that play it in this scenario."""
    found: dict[str, set[str]] = {}
    for step in scen.steps:
        if step.run is not None and step.run.role is not None:
            found.setdefault(step.run.role, set()).add(step.run.program or "(command)")
    return found


def fits(scen: Scenario, replacements: dict[str, list[str]]) -> bool:
    """Does this scenario have every replaced role, played (when the replacement is named after
    a book program, e.g. ./daytimetcpcli) by that very program?"""
    roles = played(scen)
    for role, argv in replacements.items():
        if role not in roles:
            return False
        name = Path(argv[0]).name
        builtin = {p for p in roles[role] if p != "(command)"}
        known = name in KNOWN_PROGRAMS
        if known and name not in builtin:
            return False
    return True


def replace(
    scen: Scenario, replacements: dict[str, list[str]]
) -> tuple[Scenario, list[str], list[Skipped]]:
    """The scenario with each replaced role's steps running the user's command; the steps the
    user's programs play, and those they cannot."""
    if not replacements:
        return scen, [], []
    missing = [role for role in replacements if role not in played(scen)]
    if missing:
        raise ScenarioError(
            f"{scen.name} has no step that plays the {missing[0]} role",
            hint=f"its roles: {', '.join(sorted(played(scen))) or 'none'}",
        )
    data: dict[str, Any] = scen.model_dump(by_alias=True)
    skipped: list[Skipped] = []
    played_steps: list[str] = []
    for step in data["steps"]:
        run = step.get("run")
        if not run or run.get("role") not in replacements:
            continue
        named = Path(replacements[run["role"]][0]).name
        if named in KNOWN_PROGRAMS and run.get("program") not in (named, None):
            why = f"played by {run['program']}, and yours is a {named}"
            skipped.append(Skipped(run["name"], run["role"], why))
            continue
        if run.get("keeps"):
            skipped.append(Skipped(run["name"], run["role"], run["keeps"]))
            continue
        run["command"] = list(replacements[run["role"]])
        run["program"] = None
        played_steps.append(run["name"])
    # A counterfactual changes the scenario's own programs (tcpservit for tcpserv01): with a
    # user's program in their place it would not apply; a run with replacements has none.
    data["counterfactuals"] = []
    try:
        return Scenario.model_validate(data), played_steps, skipped
    except ValidationError as err:
        raise ScenarioError(
            f"{scen.name} with your program in it: {describe(err)}",
            hint="a replacement runs as a command: ... step",
        ) from err


def check_commands(scen: Scenario, mount: Path | None) -> None:
    """Every `command:` executable exists and may be executed, before any host is up."""
    base = mount or Path.cwd()
    for index, step in enumerate(scen.steps):
        run = step.run
        if run is None or run.command is None:
            continue
        exe = run.command[0]
        where = f"steps.{index}.run.command ({run.name})"
        if "/" not in exe:
            if shutil.which(exe) is None:
                raise ScenarioError(
                    f"{where}: {exe!r} is not on PATH", hint="give a path, e.g. ./" + exe
                )
            continue
        path = Path(exe) if Path(exe).is_absolute() else base / exe
        if not path.is_file():
            raise ScenarioError(
                f"{where}: {path} does not exist",
                hint="a relative command is looked up in the mounted directory "
                f"({base}); see --mount",
            )
        if not os.access(path, os.X_OK):
            raise ScenarioError(f"{where}: {path} is not executable", hint=f"chmod +x {path}")


KNOWN_PROGRAMS = {path.stem for path in shipped.PROGRAMS.glob("*.py") if path.stem != "unp"}
