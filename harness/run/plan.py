"""What to run, settled before any host is up: the scenario (or one of its counterfactuals),
the user's programs in its roles, and the directory they live in. Every mistake here is a
usage error (exit 2) that names what was wrong."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ScenarioError
from ..scenario import model as scenarios
from ..scenario.model import Scenario
from ..scenario.roles import Skipped, check_commands, command_argv, replace
from ..scenario.schema import kernel_fact
from ..testbed.ownership import RUNS_DIR


@dataclass
class Plan:
    scenario: Scenario
    mount: Path | None = None
    replacements: dict[str, list[str]] = field(default_factory=dict)
    played: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    family: int = 4  # 6: the scenario's names stand for IPv6 addresses (--family 6)


def check_machine(scen: Scenario) -> None:
    """What the file cannot say by itself: every sysctl exists and may be written on this
    kernel, every user exists. Before any host is up, so nothing is left half-made."""
    taken = [
        step
        for step in scen.steps
        if step.when is None or kernel_fact(step.when.fact()) == step.when.wanted()
    ]
    faults = [*scen.faults, *(step.fault for step in taken if step.fault)]
    for fault in faults:
        if fault.sysctl is None:
            continue
        key = fault.sysctl.key
        path = Path("/proc/sys", *key.split("."))
        where = f"sysctl {key}"
        if not path.exists():
            raise ScenarioError(
                f"{where}: this kernel ({os.uname().release}) has no such setting",
                hint="see `sysctl -a | grep` for what it has; some keys exist only from some "
                "kernel version on",
            )
        if path.is_dir():
            raise ScenarioError(f"{where}: a group of settings, not one")
        if not os.access(path, os.W_OK):
            raise ScenarioError(f"{where}: read-only on this kernel")
    for step in scen.steps:
        if step.run is not None and step.run.user is not None:
            try:
                pwd.getpwnam(step.run.user)
            except KeyError as err:
                raise ScenarioError(
                    f"step {step.run.name}: no user {step.run.user!r} on this machine",
                    hint="nobody is one that exists everywhere",
                ) from err


def counterfactual_index(scen: Scenario, wanted: str) -> int:
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


def scenario_file(name: str) -> Path:
    return Path(name) if name.endswith((".yaml", ".yml")) else scenarios.path_of(name)


# Folders of the machine a host must never see, even read-only: the system's (/run holds
# Docker's socket, /etc the shadow file), and the tops of where people keep everything.
SYSTEM = tuple(
    Path(folder)
    for folder in [
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/lib",
        "/lib32",
        "/lib64",
        "/proc",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/usr",
        "/var",
    ]
)
TOPS = (Path("/"), Path("/home"), Path("/root"), Path("/tmp"), Path("/mnt"), Path("/media"))


def mount_dir(text: str, base: Path) -> Path:
    path = (base / text).resolve()
    if not path.is_dir():
        raise ScenarioError(f"mount: {path} is not a directory")
    check_mountable(path)
    return path


def check_mountable(path: Path) -> None:
    """A folder of programs only: never a system folder, the top of a tree of people's files,
    socklab's runs folder, or a folder that holds it (a program would read other runs)."""
    runs = RUNS_DIR.resolve()
    why = None
    if path in TOPS or any(path == top or path.is_relative_to(top) for top in SYSTEM):
        why = "a system folder"
    elif runs.is_relative_to(path) or path.is_relative_to(runs):
        why = f"it holds socklab's runs ({runs})"
    if why is not None:
        raise ScenarioError(
            f"mount: {path} may not be shown to the hosts: {why}",
            hint="mount a folder that holds only your programs (a runs folder elsewhere: "
            "SOCKLAB_RUNS=...)",
        )


def prepare(
    name: str,
    *,
    counterfactual: str | None = None,
    roles: dict[str, str] | None = None,
    mount: str | None = None,
    family: int = 4,
) -> Plan:
    scen = scenarios.load_named(name)
    if family not in (4, 6):
        raise ScenarioError(f"--family {family}: no such family", hint="4 (IPv4) or 6 (IPv6)")
    if family == 6 and scen.not_over_ipv6:
        raise ScenarioError(
            f"{scen.name} does not run over IPv6: {' '.join(scen.not_over_ipv6.split())}",
            hint="run it with --family 4; `socklab list --family 6` shows the ones that do",
        )
    if counterfactual is not None:
        scen = scen.variant(counterfactual_index(scen, counterfactual))
    cwd = Path.cwd()
    replacements = {role: command_argv(text, cwd) for role, text in (roles or {}).items() if text}
    chosen = None
    if mount is not None:
        chosen = mount_dir(mount, cwd)
    elif scen.mount is not None:
        chosen = mount_dir(scen.mount, scenario_file(name).resolve().parent)
    elif replacements:
        # `--client ./mycode/cli` with no --mount: the program's own directory is mounted.
        exes = [Path(argv[0]) for argv in replacements.values() if argv[0].startswith("/")]
        chosen = exes[0].parent if exes else None
        if chosen is not None:
            check_mountable(chosen)
    for role, argv in replacements.items():
        exe = Path(argv[0])
        if exe.is_absolute() and chosen is not None and not exe.is_relative_to(chosen):
            raise ScenarioError(
                f"--{role} {exe}: not inside the mounted directory {chosen}",
                hint="hosts see only the mounted directory: put both programs in one directory "
                "or name it with --mount",
            )
    scen, played, skipped = replace(scen, replacements)
    check_commands(scen, chosen)
    check_machine(scen)
    return Plan(scen, chosen, replacements, played, skipped, family)
