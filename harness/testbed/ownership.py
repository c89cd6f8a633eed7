"""Who owns what: every run has an id, holds a lock while alive, and tags all it makes.

Cleanup is by ownership, never by name pattern alone: a namespace, container, network, rule or
process is removed only when it carries a run id whose lock nobody holds any more (the harness
died, even by kill -9) or when the live run itself tears down.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BackendUnavailable

LOCK_DIR = Path(os.environ.get("SOCKLAB_LOCK_DIR", "/run/socklab"))
# Where runs leave their folders: ./runs under the working directory unless SOCKLAB_RUNS says
# where (README). A run's folder carries its id, so clean knows a dead lab's from a live one's.
RUNS_DIR = Path(os.environ.get("SOCKLAB_RUNS", "runs")).absolute()
PREFIX = "sl"  # short: Linux interface names are at most 15 characters
TAG_ENV = "SOCKLAB_TAG"


def new_run_id() -> str:
    return secrets.token_hex(3)


@dataclass
class RunLock:
    run_id: str
    _fd: int = field(default=-1, repr=False)

    def acquire(self) -> RunLock:
        try:
            LOCK_DIR.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(LOCK_DIR / f"{self.run_id}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as err:
            raise BackendUnavailable(
                f"socklab cannot take its run lock in {LOCK_DIR}: {err.strerror}",
                hint="socklab needs root (namespaces, firewall rules): sudo -E socklab ...",
            ) from err
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return self

    def release(self) -> None:
        if self._fd >= 0:
            (LOCK_DIR / f"{self.run_id}.lock").unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1


def is_live(run_id: str) -> bool:
    """True while some process holds the run's lock, or while it is a lab that is up."""
    if lab_is_up(run_id):
        return True
    path = LOCK_DIR / f"{run_id}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def forget(run_id: str) -> None:
    (LOCK_DIR / f"{run_id}.lock").unlink(missing_ok=True)


LAB_DIR = LOCK_DIR / "labs"  # a kept lab's state (harness/lab.py): no process holds its lock


def lab_is_up(run_id: str) -> bool:
    try:
        return bool(json.loads((LAB_DIR / f"{run_id}.json").read_text()).get("state") == "up")
    except (OSError, ValueError, AttributeError):
        return False


def tagged_pids(tag: str, prefix: bool = False) -> list[int]:
    """Processes whose environment carries SOCKLAB_TAG=tag (or, with prefix, starting with it).

    Container processes are host processes too, so this finds what `docker exec` started and
    every child a forking server made, without asking the engine. Exact by default: tag
    `abc-1` must not catch `abc-10`.
    """
    needle = f"{TAG_ENV}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        variables = environ.split(b"\0")
        if any(v.startswith(needle) if prefix else v == needle for v in variables):
            found.append(int(entry.name))
    return found


def run_id_of_tag(tag: str) -> str:
    return tag.split("-", 1)[0]
