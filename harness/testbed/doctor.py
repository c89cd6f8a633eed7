"""`socklab doctor`: each thing socklab needs, whether this machine has it, and what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from ..errors import BackendUnavailable
from . import cgroups, vm
from .probe import probe


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    found: str
    fix: str


def docker_checks() -> list[Check]:
    # Imported here: the compose module loads the Docker SDK, which a netns-only machine lacks.
    from .backends import compose, launcher

    try:
        client = compose.engine()
    except BackendUnavailable as err:
        return [Check("docker engine", False, str(err), err.hint)]
    checks = [Check("docker engine", True, f"Docker {client.version().get('Version')}", "")]
    try:
        command = launcher.compose_command()
        flavour = " ".join(command)
        if launcher.forks(command):
            flavour += " (Python: imported once per run, then forked for each call)"
            checks.append(Check("compose", True, flavour, ""))
        else:
            checks.append(runs("compose", [*command, "version"], flavour))
    except BackendUnavailable as err:
        checks.append(Check("compose", False, str(err), err.hint))
    image = bool(client.images.list(name=compose.IMAGE))
    checks.append(
        Check("node image", image, compose.IMAGE if image else "not built", "socklab images")
    )
    chain = subprocess.run(["iptables", "-S", compose.RULE_CHAIN], capture_output=True, check=False)
    checks.append(
        Check(
            "DOCKER-USER chain",
            chain.returncode == 0,
            "present" if chain.returncode == 0 else "missing",
            "restart dockerd so it creates its chains (needs iptables)",
        )
    )
    return checks


def runs(name: str, argv: list[str], detail: str) -> Check:
    """Does `argv` start and succeed? Found on PATH is not enough: a script's #! line may
    name an interpreter that is not there."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Check(name, False, f"{detail}: {err}", f"fix or remove {argv[0]}")
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
        return Check(name, False, f"{detail}: exit {done.returncode}: {said[0]}", "")
    return Check(name, True, detail, "")


def tool(name: str, package: str) -> Check:
    path = shutil.which(name)
    return Check(name, path is not None, path or "not found", f"apt-get install {package}")


def doctor(console: Console) -> int:
    root = os.geteuid() == 0
    checks = [Check("root", root, f"uid {os.geteuid()}", "run as root (sudo -E)")]
    checks += docker_checks()
    checks += [tool("tcpdump", "tcpdump"), tool("nft", "nftables"), tool("iptables", "iptables")]
    checks += [tool("nsenter", "util-linux"), tool("setpriv", "util-linux")]
    checks.append(tool("bwrap", "bubblewrap"))  # the netns backend's box for a program
    why_not = cgroups.available()
    layout = "v2 (unified)" if cgroups.unified() else "v1 (freezer, memory, pids, cpu)"
    checks.append(
        Check(
            "cgroups",
            why_not is None,
            layout if why_not is None else why_not,
            "mount cgroup2 at /sys/fs/cgroup (or the v1 freezer): without it a step's "
            "processes are stopped by their tag only, and netns hosts have no memory, pids or "
            "CPU limit",
        )
    )
    if root:
        caps = probe()
        checks.append(
            Check(
                "sch_netem",
                caps.netem,
                "yes" if caps.netem else "no (ENOENT)",
                "modprobe sch_netem (CONFIG_NET_SCH_NETEM); socklab falls back to "
                "nftables for loss and an NFQUEUE delayer for delay",
            )
        )
        checks.append(
            Check("nftables numgen", caps.nftables, str(caps.nftables), "CONFIG_NF_TABLES")
        )
        checks.append(
            Check(
                "NFQUEUE target",
                caps.nfqueue,
                str(caps.nfqueue),
                "CONFIG_NETFILTER_NETLINK_QUEUE and xt_NFQUEUE",
            )
        )
    absent = sorted(set(vm.missing_tools()))
    checks.append(
        Check(
            "--kernel (QEMU)",
            not absent,
            f"{vm.accel_known()}; kernels cached: " + (", ".join(vm.cached()) or "none"),
            f"apt-get install {' '.join(absent)} (only for --kernel)",
        )
    )
    table = Table(title="socklab doctor")
    for column in ("", "what", "found", "what to do"):
        table.add_column(column)
    for check in checks:
        table.add_row(
            "[green]ok[/]" if check.ok else "[red]no[/]",
            check.name,
            check.found,
            "" if check.ok else check.fix,
        )
    console.print(table)
    # Both backends capture with the machine's tcpdump in a host's network namespace.
    machine = ("tcpdump", "nsenter")
    netns_ready = root and all(c.ok for c in checks if c.name in (*machine, "setpriv", "bwrap"))
    # --kernel is optional: its line never makes a backend "not ready".
    compose_ready = all(
        c.ok for c in checks if c.name in (*machine, "docker engine", "compose", "node image")
    )
    console.print(
        f"netns backend: {'ready' if netns_ready else 'not ready'}; "
        f"compose backend: {'ready' if compose_ready else 'not ready'}"
    )
    return 0 if netns_ready or compose_ready else 3
