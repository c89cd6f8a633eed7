"""A lab to step into: the hosts kept up (with a scenario's faults, or none) after socklab exits.

A lab is owned like a run (every namespace, container, rule and process carries its id) but no
process holds its lock: its state file, /run/socklab/labs/ID.json, says it is up. `socklab
clean` spares a lab that is up and whose hosts are all there; it removes one whose state says
it is going down (an interrupted `socklab down`) or whose hosts are gone (a namespace deleted
by hand, a container that stopped, a reboot). Shells and commands run as the machine's root in
the host's network namespace (netns) or in its container (compose): the operator's own tools,
not a stranger's program, so they are not boxed like a scenario's steps.
"""

from __future__ import annotations

import ipaddress
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import RunError, ScenarioError
from ..scenario.topology import HOSTS
from ..testbed import faults, ownership
from ..testbed.nsenter import interface_on
from ..testbed.stopping import Teardown
from . import clean, runner
from .execute import make_backend, new_rundir, require_root
from .labs import Lab, labs
from .plan import check_machine, prepare

LINKS = ("lan1", "lan2")
SHELL_PROMPT = "socklab:{host}# "


def find(lab_id: str | None, any_state: bool = False) -> Lab:
    """The lab named, or the only one up (with `any_state`, the only one at all: `down`
    finishes a lab that is half down or broken)."""
    found = labs()
    if lab_id is not None:
        chosen = [lab for lab in found if lab.id == lab_id]
        if not chosen:
            known = ", ".join(lab.id for lab in found) or "none"
            raise ScenarioError(f"no lab {lab_id!r} (labs up: {known})", hint="socklab ps")
        return chosen[0]
    up = [lab for lab in found if any_state or lab.state == "up"]
    if not up:
        raise ScenarioError("no lab is up", hint="socklab up [SCENARIO] brings one up")
    if len(up) > 1:
        raise ScenarioError(
            f"{len(up)} labs are up: {', '.join(lab.id for lab in up)}",
            hint="name one with --lab ID (socklab ps lists them)",
        )
    return up[0]


def check_host(host: str) -> None:
    if host not in HOSTS:
        raise ScenarioError(f"no host {host!r}", hint=f"the hosts are {', '.join(HOSTS)}")


def bring_up(name: str | None, backend_name: str, say: Callable[[str], None]) -> Lab:
    """Hosts up, the scenario's faults set, and nothing undone when this returns; any failure
    or signal before the state file is written takes everything down again."""
    require_root()
    scen = prepare(name).scenario if name else None
    if scen is not None:
        check_machine(scen)
    run_id = ownership.new_run_id()
    clean.clean(say, docker_too=Path("/var/run/docker.sock").exists())
    lock = ownership.RunLock(run_id).acquire()
    try:
        with Teardown() as undo:
            # named after the scenario, never its path; a signal before the callback is in
            # leaves a folder `clean` removes (no lab and no live run has its id)
            # "lab.": no scenario's name has a dot, so `clean` never takes a run's folder
            rundir = new_rundir(f"lab.{scen.name if scen else 'plain'}", run_id)
            undo.callback(shutil.rmtree, rundir, True)
            backend = make_backend(backend_name, run_id, rundir)
            undo.callback(backend.down)
            say(f"bringing up client, router, server ({backend_name})")
            backend.up()
            names = backend.topology.names()
            ctx = faults.FaultContext.of(backend, rundir, runner.expander(names, {}, {}))
            for fault in scen.faults if scen is not None else []:
                say(f"fault on {fault.host}: {fault.kind()}")
                faults.apply(fault, ctx)  # undone with the hosts
            lab = Lab(
                run_id,
                backend_name,
                scen.name if scen is not None else "",
                str(rundir),
                time.time(),
                "up",
                netns={h: backend.netns(h) for h in HOSTS} if backend_name == "netns" else {},
                containers={h: backend.container(h) for h in HOSTS}  # type: ignore[attr-defined]
                if backend_name == "compose"
                else {},
                pids={h: backend.pid(h) for h in HOSTS}  # type: ignore[attr-defined]
                if backend_name == "compose"
                else {},
                addresses=names,
                subnets={link: str(backend.topology.subnet(link)) for link in LINKS},
                faults=ctx.notes,
                keepers={str(pid): what for pid, what in ctx.keepers.items()},
            )
            lab.save()
            undo.pop_all()
    finally:
        lock.release()
    return lab


def take_down(lab: Lab, say: Callable[[str], None]) -> list[str]:
    """Mark it going down, then remove everything carrying its id as `clean` does for a dead
    run (its state file and its folder too): a Ctrl-C halfway leaves a lab `clean` removes."""
    try:
        lock = ownership.RunLock(lab.id).acquire()
    except BlockingIOError as err:
        raise RunError(
            f"lab {lab.id} is being taken down by another socklab", hint="socklab ps"
        ) from err
    try:
        # Held while its things go: until the last is removed, others see a live run (a
        # test's leftover check, another `clean`), never a half-removed dead one.
        lab.state = "down"
        lab.save()
        return clean.clean(say, docker_too=lab.backend == "compose", only=lab.id)
    finally:
        lock.release()


def check_whole(lab: Lab) -> None:
    """Every host of the lab is the one it set up (before anything enters one: pyroute2 would
    make a missing namespace anew, an empty one)."""
    if lab.state != "up" or (lost := lab.missing()):
        what = f"has lost {', '.join(lost)}" if lab.state == "up" else f"is {lab.state}"
        raise RunError(f"lab {lab.id} {what}", hint=f"socklab down {lab.id}, then socklab up again")


def host_argv(lab: Lab, host: str, argv: Sequence[str], tty: bool) -> list[str]:
    """argv run in the host: in its container (compose) or its network namespace (netns),
    tagged with the lab's id so `socklab down` and `clean` find it."""
    check_host(host)
    check_whole(lab)
    tag = f"{lab.id}-{host}"
    env = {ownership.TAG_ENV: tag, "PS1": SHELL_PROMPT.format(host=host)}
    if lab.backend == "compose":
        flags = ["-it"] if tty else ["-i"]
        for key, value in env.items():
            flags += ["-e", f"{key}={value}"]
        return ["docker", "exec", *flags, lab.containers[host], *argv]
    pairs = [f"{key}={value}" for key, value in env.items()]
    return ["nsenter", f"--net={lab.netns[host]}", "--", "env", *pairs, *argv]


def interface(lab: Lab, link: str) -> str:
    """The router's interface on the link (the router sits on both)."""
    if link not in LINKS:
        raise ScenarioError(f"no link {link!r}", hint=f"the links are {', '.join(LINKS)}")
    return interface_on(lab.namespace("router"), ipaddress.IPv4Network(lab.subnets[link]))
