"""The backend seam: how hosts exist and how to run a process in one.

A backend knows nothing about faults, captures or verdicts. Its whole interface is
`up`, `down`, `netns(host)`, `exec(host, argv)` and `spawn(host, argv)`; faults and captures
take the namespace path and the spawn function and never import Docker.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import signal as signals
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from ... import shipped
from ...scenario.topology import Topology
from .. import cgroups, files
from ..ownership import TAG_ENV, tagged_pids


@dataclass(frozen=True)
class Feed:
    """One line written to a program's standard input, `after` seconds after the previous one
    (or, with a `gate`, after the gate opened: another step got ready)."""

    text: str
    after: float = 0.0
    gate: threading.Event | None = None


GATE_DEADLINE = 300.0  # a gate that never opens (its step failed) stops holding the line back


@dataclass(frozen=True)
class Completed:
    argv: Sequence[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Process:
    """A program running in a host. Signals reach it and its children by ownership tag."""

    host: str
    argv: Sequence[str]
    tag: str
    popen: subprocess.Popen[bytes]
    started: float = field(default_factory=time.time)
    _feeder: threading.Thread | None = None

    def feed(self, lines: Sequence[Feed], close: bool = True) -> None:
        stdin = self.popen.stdin
        if stdin is None:
            return

        def write(pipe: IO[bytes]) -> None:
            try:
                for line in lines:
                    if line.gate is not None:
                        line.gate.wait(GATE_DEADLINE)
                    time.sleep(line.after)
                    pipe.write(line.text.encode())
                    pipe.flush()
                if close:
                    pipe.close()
            except (BrokenPipeError, ValueError):
                pass  # the program exited before reading all of its input

        self._feeder = threading.Thread(target=write, args=(stdin,), daemon=True)
        self._feeder.start()

    def close_stdin(self) -> None:
        if self.popen.stdin and not self.popen.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.popen.stdin.close()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig: int) -> None:
        for pid in tagged_pids(self.tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, sig: int = signals.SIGTERM, grace: float = 2.0) -> int:
        """End it (and every child it forked); SIGKILL after `grace` seconds."""
        if self.popen.poll() is None or tagged_pids(self.tag):
            self.signal(sig)
            if self.wait(grace) is None or tagged_pids(self.tag):
                self.freeze_and_kill()
                self.wait(grace)
            if self.popen.poll() is None:
                self.popen.kill()
                self.popen.wait(grace)
        self.close_stdin()
        return self.popen.returncode

    def freeze_and_kill(self, rounds: int = 200) -> None:
        """A program that forks forever outruns a plain kill loop: stop every process of the
        tag until no new one appears (a stopped process cannot fork), then kill them all."""
        frozen: set[int] = set()
        for _ in range(rounds):
            pids = set(tagged_pids(self.tag))
            if pids <= frozen:
                break
            for pid in pids - frozen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signals.SIGSTOP)
            frozen |= pids
        for _ in range(rounds):
            left = tagged_pids(self.tag)
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signals.SIGKILL)
            time.sleep(0.01)


class Backend(Protocol):
    name: str
    run_id: str
    topology: Topology
    # Where the book's programs are, as a process in a host sees the path, and the Python
    # that runs them there.
    programs_dir: str
    python: str

    def outbox(self, host: str) -> Path:
        """The one folder of the machine a program in `host` may write (harness/files.py)."""
        ...

    def inside(self, host: str, path: Path) -> str:
        """A file of `host`'s outbox as a program in the host names it."""
        ...

    def owner(self, host: str, user: str) -> tuple[int, int]:
        """The uid and gid of a user of `host`, for the files a step as that user writes."""
        ...

    def up(self) -> None: ...

    def down(self) -> None: ...

    def step_group(self, host: str, step: str) -> cgroups.Group | None:
        """A cgroup, made, for one step's processes in `host` (None where cgroups cannot be
        written): the harness moves the step's first process there before it runs."""
        ...

    def netns(self, host: str) -> str: ...

    def spawn(
        self,
        host: str,
        argv: Sequence[str],
        *,
        stdout: Path,
        stderr: Path,
        env: dict[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        caps: Sequence[str] | None = None,
    ) -> Process:
        """Start argv in the host. caps=None: a harness tool with all the host's privileges;
        a list: a program, confined (confine()) with those capabilities and no other."""
        ...

    def exec(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        user: str | None = None,
        caps: Sequence[str] | None = None,
    ) -> Completed: ...


# The book's programs and the Python that runs them, as the machine sees them: the harness's
# own helpers run from here. The system's Python starts fastest (no pyenv shim, no virtualenv)
# and any user can run it, which a step with `user:` needs.
MACHINE_PROGRAMS = shipped.PROGRAMS
MACHINE_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable

OUTBOX_INSIDE = "/socklab/out"  # where a container sees its outbox


def make_outboxes(rundir: Path, hosts: Sequence[str], run_id: str) -> dict[str, Path]:
    """`<run>/hosts/<host>/`, one per host, root's (0755): a program in a host writes only in
    its own, at most files.OUTBOX_QUOTA in all (a tmpfs, kept on disk by keep_outboxes when
    the hosts are gone), and the harness reads from it without trusting it (files.py)."""
    made: dict[str, Path] = {}
    try:
        for host in hosts:
            made[host] = files.private_dir(rundir / "hosts" / host)
            files.mount_quota(made[host], run_id)
    except BaseException:
        keep_outboxes(made)
        raise
    return made


def keep_outboxes(outboxes: dict[str, Path]) -> None:
    """Once no program can write them any more: the outboxes' files onto the run folder's
    disk, their tmpfs unmounted."""
    for folder in outboxes.values():
        files.keep_and_unmount(folder)


def spawn_on_machine(
    backend: Backend, host: str, argv: Sequence[str], *, stdout: Path, stderr: Path
) -> Process:
    """A harness tool (tcpdump, the NFQUEUE delayer) run by the machine in a host's network
    namespace and nothing else of it: what it writes, it writes to the run folder, out of the
    host's reach, and the host needs no capability for it."""
    tag = new_tag(backend.run_id)
    full = ["nsenter", f"--net={backend.netns(host)}", "--", "env", f"{TAG_ENV}={tag}", *argv]
    return Process(host=host, argv=argv, tag=tag, popen=popen(full, stdout, stderr))


_counter = itertools.count(1)


def new_tag(run_id: str) -> str:
    return f"{run_id}-{next(_counter)}"


# No file a spawned process writes on the machine (its stdout and stderr, which for a container
# the `docker exec` client writes) may grow past this: a program that floods its output is
# stopped by SIGXFSZ (or, behind docker exec, SIGPIPE) instead of filling the disk.
OUTPUT_CAP = 64 * 1024 * 1024


def cap_files() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_CAP, OUTPUT_CAP))


def popen(
    argv: Sequence[str], stdout: Path, stderr: Path, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
            cwd=cwd,
            preexec_fn=cap_files,
        )


def tagged_env(tag: str, env: dict[str, str] | None) -> dict[str, str]:
    return {TAG_ENV: tag, **(env or {})}


def exec_by_spawn(
    backend: Backend,
    host: str,
    argv: Sequence[str],
    *,
    timeout: float,
    user: str | None,
    caps: Sequence[str] | None = None,
) -> Completed:
    """Run to completion with a deadline; on the deadline the process and its children die."""
    with files.scratch("exec") as tmp:
        out, err = Path(tmp, "out"), Path(tmp, "err")
        proc = backend.spawn(host, argv, stdout=out, stderr=err, user=user, caps=caps)
        proc.close_stdin()
        code = proc.wait(timeout)
        if code is None:
            proc.stop()
            code = -9
        return Completed(
            argv, code, out.read_text(errors="replace"), err.read_text(errors="replace")
        )
