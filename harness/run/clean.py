"""Find and remove what dead runs left: namespaces, containers, networks, rules, processes.

Only things carrying a socklab run id are touched, and only when no live harness holds that
run's lock (so a run in another terminal is safe).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import BackendUnavailable
from ..testbed import cgroups, files, ownership
from ..testbed.backends.netns import owned_namespaces, remove_namespaces
from ..testbed.ownership import RUNS_DIR
from . import labs


def stale_processes() -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for pid in ownership.tagged_pids("", prefix=True):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for var in environ:
            if var.startswith(ownership.TAG_ENV.encode() + b"="):
                tag = var.split(b"=", 1)[1].decode()
                runs.setdefault(ownership.run_id_of_tag(tag), []).append(pid)
    return runs


def clean(
    say: Callable[[str], None], docker_too: bool = True, only: str | None = None
) -> list[str]:
    """Remove what runs that are over left; with `only`, what that run left, for its owner
    (`socklab down`, holding the run's lock). A lab that is up is live; one whose hosts are
    gone is first marked so (harness/lab.py)."""

    def dead(run_id: str) -> bool:
        if only is not None:  # its owner takes it down, holding its lock
            return run_id == only
        return not ownership.is_live(run_id)

    if only is None:
        labs.reap(say)
    # a lab's folder holds only its hosts' outboxes: it goes with the lab
    folders = [kept.rundir for kept in labs.labs() if dead(kept.id)]
    removed: list[str] = []
    for run_id, pids in stale_processes().items():
        if dead(run_id):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    removed.append(f"process {pid} (run {run_id})")
                except ProcessLookupError:
                    pass
    for mount, run_id in files.quota_mounts(Path("/")).items():
        if dead(run_id):
            files.keep_and_unmount(mount)
            removed.append(f"outbox mount {mount}")
    for run_id in cgroups.stale_runs():  # a netns run's step groups, with what they still hold
        if dead(run_id):
            cgroups.run_group(run_id).remove()
            removed.append(f"cgroups of run {run_id}")
    for run_id, names in owned_namespaces().items():
        if dead(run_id):
            remove_namespaces(names)
            removed += [f"namespace {name}" for name in names]
            ownership.forget(run_id)
    if docker_too:
        removed += clean_docker(dead, say)
    for lab_state in ownership.LAB_DIR.glob("*.json") if ownership.LAB_DIR.is_dir() else []:
        if dead(lab_state.stem):  # a lab that went down, with nothing left of it
            lab_state.unlink(missing_ok=True)
            removed.append(f"lab {lab_state.stem}")
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    if only is None:
        for left in files.stale_scratch():  # a killed socklab's temporary folder
            shutil.rmtree(left, ignore_errors=True)
            removed.append(f"temporary folder {left}")
        removed += stale_locks_and_lab_folders()
    for item in removed:
        say(f"removed {item}")
    return removed


def clean_docker(dead: Callable[[str], bool], say: Callable[[str], None]) -> list[str]:
    # Imported here: the netns backend and a machine without Docker never load the SDK.
    import docker.errors
    import requests

    from ..testbed.backends import compose

    removed: list[str] = []
    gone: set[str] = set()  # forgotten only once all of a run's things are: until then, its
    # lock file says it is someone's (a lab's rules outlived its forgotten lock for a moment,
    # and a test running beside it counted them as left behind)
    try:
        client = compose.engine()
        for run_id in compose.owned_runs(client):
            if dead(run_id):
                removed += compose.remove_owned(client, run_id)
                gone.add(run_id)
    except (BackendUnavailable, docker.errors.DockerException, requests.RequestException) as err:
        if Path(compose.SOCKET_PATH).exists():  # an engine that hangs, not a machine without one
            say(
                f"the Docker engine did not answer: {err}; the containers and networks of dead "
                "runs are left for now: restart dockerd, then run socklab clean again"
            )
    for run_id, owned in compose.owned_rules().items():
        if dead(run_id):
            compose.delete_rules(owned)
            removed += [f"{tool} {chain} rule {' '.join(spec)}" for tool, chain, spec in owned]
            gone.add(run_id)
    for run_id in gone:
        ownership.forget(run_id)
    return removed


def stale_locks_and_lab_folders() -> list[str]:
    """Lock files nobody holds (a run killed before it made anything) and lab folders under
    ./runs with neither a lab nor a live run of their id (a `socklab up` killed early)."""
    removed = []
    for lock in ownership.LOCK_DIR.glob("*.lock") if ownership.LOCK_DIR.is_dir() else []:
        # a minute old at least: a run creates its lock file a moment before it takes it
        with contextlib.suppress(FileNotFoundError):
            if time.time() - lock.stat().st_mtime > 60 and not ownership.is_live(lock.stem):
                lock.unlink(missing_ok=True)
                removed.append(f"lock {lock.name}")
    known = (
        {path.stem for path in ownership.LAB_DIR.glob("*.json")}
        if ownership.LAB_DIR.is_dir()
        else set()
    )
    for folder in RUNS_DIR.glob("lab.*-*") if RUNS_DIR.is_dir() else []:
        run_id = folder.name.rsplit("-", 1)[-1]
        if folder.is_dir() and run_id not in known and not ownership.is_live(run_id):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(f"lab folder {folder}")
    return removed
