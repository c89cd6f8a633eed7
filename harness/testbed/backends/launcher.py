"""docker-compose 1.x imported once and forked for each call.

docker-compose 1.x is a Python program that spends ~0.26 s of CPU importing itself
(distutils, pkg_resources, its Docker SDK) before it sends the engine anything: a quarter of
a run's `compose up`, paid again by every run of a suite. The launcher is compose's own
interpreter with compose imported, started when a run or a suite starts (beside socklab's
own work); each call is a child forked from it that runs compose's own main() with the
call's arguments and environment. Compose still does all the work, as it would from its
command line. Where compose is `docker compose` v2 (a Go program: nothing to save) or a
docker-compose that does not import this way, calls run it as a plain process.

The launcher reads calls from its end of a socketpair that only this process and its forks
hold (no path anyone else could connect to); each call hands over its stdout, stderr and a
status pipe with the request (SCM_RIGHTS). It exits once every holder of the other end is
gone, so a socklab killed with -9 leaves no launcher; a call under way finishes as a plain
compose would.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ...errors import BackendUnavailable

# Run by compose's interpreter, which has nothing of socklab: argv[1] is its socket's fd.
# A child writes "pid N\n" to the status pipe first, then its exit code; "unavailable" when
# compose would not import.
PROGRAM = r"""
import json, os, signal, socket, sys, traceback
sock = socket.socket(fileno=int(sys.argv[1]))
try:
    import compose.cli.main as main
except Exception:
    main = None
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
while True:
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
    except InterruptedError:
        continue
    if not msg:
        break
    if len(fds) == 3 and os.fork() == 0:
        code = 1
        out, err, status = fds
        try:
            sock.close()
            os.write(status, b"pid %d\n" % os.getpid())
            if main is None:
                os.write(status, b"unavailable\n")
                os._exit(0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            call = json.loads(msg)
            os.environ.clear()
            os.environ.update(call["env"])
            os.chdir(call["cwd"])
            sys.argv = call["argv"]
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                main.main()
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (done.code is not None)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.write(status, b"%d\n" % code)
            os._exit(0)
    for fd in fds:
        os.close(fd)
"""


class Unavailable(Exception):
    """This compose cannot be launched this way: run it as a plain process."""


class Call:
    """One compose call: made (its pipe and files) before it is sent, so that whatever moment
    a signal lands in, `finish` knows whether a compose child may be running."""

    def __init__(self, owner: Launcher, argv: Sequence[str], env: dict[str, str]) -> None:
        self.owner = owner
        self.argv = list(argv)
        self.request = json.dumps({"argv": self.argv, "env": env, "cwd": os.getcwd()}).encode()
        # Files, not pipes: compose never blocks on output nobody reads yet. Closed by wait().
        self.out = tempfile.TemporaryFile()  # noqa: SIM115
        self.err = tempfile.TemporaryFile()  # noqa: SIM115
        self.status, self._status_w = os.pipe()
        self.pid = 0
        self.returncode: int | None = None
        self._buffer = b""  # what the status pipe said after its last whole line

    def send(self) -> None:
        """Hand the call to the launcher. Once this returns or is interrupted, only a compose
        child can hold the status pipe's write end: its end of file means no child runs."""
        try:
            if self.owner.sock is None:
                raise Unavailable("the launcher is gone")
            fds = [self.out.fileno(), self.err.fileno(), self._status_w]
            socket.send_fds(self.owner.sock, [self.request], fds)
        except OSError as gone:
            self.owner.give_up()
            raise Unavailable(str(gone)) from gone
        finally:
            os.close(self._status_w)

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Until the child reports its exit code; TimeoutExpired after `timeout` s (the call
        goes on: kill() ends it). Unavailable when no compose child took the call (the
        launcher is gone, or compose does not import there): run compose as a process."""
        end = time.monotonic() + timeout
        while self.returncode is None:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.status], [], [], left)[0]:
                raise subprocess.TimeoutExpired(self.argv, timeout)
            chunk = os.read(self.status, 4096)
            if not chunk and not self.pid:  # the launcher ended before it forked for this
                self.owner.give_up()
                self._close_all()
                raise Unavailable(" ".join(self.argv))
            if not chunk:  # the child died before it could say how it ended
                self.returncode = -1
                break
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"pid "):
                    self.pid = int(line.split()[1])
                elif line == b"unavailable":
                    self.owner.give_up()
                    self._close_all()
                    raise Unavailable(" ".join(self.argv))
                else:
                    self.returncode = int(line)
        out, err = (self._text(f) for f in (self.out, self.err))
        if self.returncode == -1:
            err += "\nsocklab: the compose launcher's child ended without an exit code"
        self._close_all()
        return subprocess.CompletedProcess(self.argv, self.returncode, out, err)

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def _close_all(self) -> None:
        if self.status >= 0:
            os.close(self.status)
            self.status = -1
        self.out.close()
        self.err.close()

    @staticmethod
    def _text(file: IO[bytes]) -> str:
        file.seek(0)
        return file.read().decode(errors="replace")


class Launcher:
    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.broken = False

    def start(self, command: Sequence[str]) -> bool:
        """Start the launcher for `command` if it is a Python docker-compose; True when one
        runs (idempotent)."""
        if self.sock is not None:
            return True
        interpreter = python_of(command)
        if interpreter is None or self.broken:
            return False
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [interpreter, "-c", PROGRAM, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a terminal's Ctrl-C is socklab's alone
            )
        except OSError:
            mine.close()
            self.broken = True
            return False
        finally:
            theirs.close()
        self.sock = mine
        atexit.register(self.stop)
        return True

    def call(self, argv: Sequence[str], env: dict[str, str]) -> Call:
        """A compose call, not sent yet (argv[0] is what compose sees as its name); raises
        Unavailable when no launcher runs."""
        if self.sock is None:
            raise Unavailable("no launcher")
        return Call(self, argv, env)

    def give_up(self) -> None:
        """The launcher cannot take calls (it died, or compose will not import there): every
        later call of this process runs compose as a process of its own."""
        self.broken = True
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def stop(self) -> None:
        """Let go of the launcher: it exits once no fork holds its socket either."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)


def finish(call: Call, timeout: float) -> None:
    """Let a call end (killed after `timeout` s): a Teardown callback."""
    try:
        call.wait(timeout)
    except subprocess.TimeoutExpired:
        call.kill()
        call._close_all()
    except Unavailable:
        pass


# Where the docker CLI looks for its plugins (docker-compose v2 is one), in its own order.
PLUGIN_DIRS = (
    "~/.docker/cli-plugins",
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


@functools.cache
def compose_command() -> list[str]:
    """`docker compose` (v2) where its plugin is installed, else docker-compose 1.x. Found by
    looking for the plugin file, as the docker CLI does: asking `docker compose version` cost
    every run an extra process."""
    config = os.environ.get("DOCKER_CONFIG")
    dirs = [f"{config}/cli-plugins"] if config else []
    dirs += [os.path.expanduser(path) for path in PLUGIN_DIRS]
    # By its path: an exec by name skips a first match that cannot start (a wrapper whose #!
    # interpreter is missing) and runs the next one on PATH without a word.
    docker = shutil.which("docker")
    if docker and any(os.access(f"{d}/docker-compose", os.X_OK) for d in dirs):
        return [docker, "compose"]
    found = shutil.which("docker-compose")
    if found:
        return [found]
    raise BackendUnavailable(
        "neither `docker compose` nor `docker-compose` is installed",
        hint="apt-get install docker-compose (or the docker-compose-plugin), or BACKEND=netns",
    )


def start() -> None:
    """Start this process's launcher, if its compose has one (idempotent; forks share it)."""
    with contextlib.suppress(BackendUnavailable):
        LAUNCHER.start(compose_command())


# The statements of the scripts that pip and setuptools write for compose's entry point
# (Debian's docker-compose is the latter). A docker-compose with any other statement is a
# wrapper of someone's: it runs as it is, never skipped for compose's main().
ENTRY_SCRIPT_LINES = frozenset(
    line.strip()
    for line in r"""
import re
import sys
from compose.cli.main import main
if __name__ == '__main__':
sys.argv[0] = re.sub(r'(-script\.pyw|\.exe)?$', '', sys.argv[0])
sys.argv[0] = re.sub(r'(-script\.pyw?|\.exe)?$', '', sys.argv[0])
sys.exit(main())
__requires__ = 'docker-compose==VERSION'
try:
from importlib.metadata import distribution
except ImportError:
from importlib_metadata import distribution
from pkg_resources import load_entry_point
def importlib_load_entry_point(spec, group, name):
dist_name, _, _ = spec.partition('==')
matches = (
entry_point
for entry_point in distribution(dist_name).entry_points
if entry_point.group == group and entry_point.name == name
)
return next(matches).load()
globals().setdefault('load_entry_point', importlib_load_entry_point)
sys.exit(load_entry_point('docker-compose==VERSION', 'console_scripts', 'docker-compose')())
""".splitlines()
)
VERSION = re.compile(r"docker-compose==[0-9][0-9A-Za-z.+-]*")


def python_of(command: Sequence[str]) -> str | None:
    """The interpreter of a docker-compose that is a Python entry script of compose (as pip
    or setuptools write them), from its #! line; None for anything else."""
    if len(command) != 1 or Path(command[0]).name != "docker-compose":
        return None
    path = shutil.which(command[0])
    if path is None:
        return None
    try:
        text = Path(path).read_bytes()[:8192].decode()
    except (OSError, UnicodeDecodeError):
        return None
    first, _, body = text.partition("\n")
    words = first[2:].split() if first.startswith("#!") else []
    if words and Path(words[0]).name == "env" and len(words) > 1:
        words = [shutil.which(words[1]) or words[1]]
    if not words or not Path(words[0]).name.startswith("python"):
        return None
    if not os.access(words[0], os.X_OK):
        return None  # it cannot start at all: run as it is, it says so
    for line in body.splitlines():
        line = VERSION.sub("docker-compose==VERSION", line.strip())
        if line and not line.startswith("#") and line not in ENTRY_SCRIPT_LINES:
            return None
    return words[0]


def forks(command: Sequence[str]) -> bool:
    """Does `compose version` run through a launcher here (socklab doctor)?"""
    trial = Launcher()
    if not trial.start(command):
        return False
    try:
        call = trial.call([*command, "version"], dict(os.environ))
        call.send()
        return call.wait(60).returncode == 0
    except (Unavailable, subprocess.TimeoutExpired):
        return False
    finally:
        trial.stop()


LAUNCHER = Launcher()
