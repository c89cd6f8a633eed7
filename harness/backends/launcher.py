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
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from harness.errors import BackendUnavailable

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
    """One compose call under way in a child of the launcher."""

    def __init__(self, argv: Sequence[str], status: int, out: object, err: object) -> None:
        self.argv = list(argv)
        self.status = status
        self.out, self.err = out, err
        self.pid = 0
        self.returncode: int | None = None
        self._buffer = b""  # what the status pipe said after its last whole line

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        """Until the child reports its exit code; TimeoutExpired after `timeout` s (the call
        goes on: kill() ends it)."""
        end = time.monotonic() + timeout
        while self.returncode is None:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.status], [], [], left)[0]:
                raise subprocess.TimeoutExpired(self.argv, timeout)
            chunk = os.read(self.status, 4096)
            if not chunk:  # the child died before it could say how it ended
                self.returncode = -1
                break
            self._buffer += chunk
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"pid "):
                    self.pid = int(line.split()[1])
                elif line == b"unavailable":
                    self.close()
                    self.out.close()  # type: ignore[attr-defined]
                    self.err.close()  # type: ignore[attr-defined]
                    raise Unavailable(" ".join(self.argv))
                else:
                    self.returncode = int(line)
        out, err = (self._text(f) for f in (self.out, self.err))
        if self.returncode == -1:
            err += "\nsocklab: the compose launcher's child ended without an exit code"
        self.close()
        return subprocess.CompletedProcess(self.argv, self.returncode, out, err)

    def kill(self) -> None:
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        if self.status >= 0:
            os.close(self.status)
            self.status = -1

    @staticmethod
    def _text(file: object) -> str:
        file.seek(0)  # type: ignore[attr-defined]
        text: str = file.read().decode(errors="replace")  # type: ignore[attr-defined]
        file.close()  # type: ignore[attr-defined]
        return text


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

    def stop(self) -> None:
        """Let go of the launcher: it exits once no fork holds its socket either."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=1)

    def call(self, argv: Sequence[str], env: dict[str, str]) -> Call:
        """Send one compose call (argv[0] is what compose will see as its name); raises
        Unavailable when no launcher runs."""
        if self.sock is None:
            raise Unavailable("no launcher")
        # Files, not pipes: compose never blocks on output nobody reads yet. The Call closes them.
        out = tempfile.TemporaryFile()  # noqa: SIM115
        err = tempfile.TemporaryFile()  # noqa: SIM115
        status_r, status_w = os.pipe()
        request = json.dumps({"argv": list(argv), "env": env, "cwd": os.getcwd()})
        try:
            socket.send_fds(self.sock, [request.encode()], [out.fileno(), err.fileno(), status_w])
        except OSError as gone:
            out.close()
            err.close()
            os.close(status_r)
            self.broken = True
            self.sock.close()
            self.sock = None
            raise Unavailable(str(gone)) from gone
        finally:
            os.close(status_w)
        return Call(argv, status_r, out, err)


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
    if shutil.which("docker") and any(os.access(f"{d}/docker-compose", os.X_OK) for d in dirs):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise BackendUnavailable(
        "neither `docker compose` nor `docker-compose` is installed",
        hint="apt-get install docker-compose (or the docker-compose-plugin), or BACKEND=netns",
    )


def start() -> None:
    """Start this process's launcher, if its compose has one (idempotent; forks share it)."""
    with contextlib.suppress(BackendUnavailable):
        LAUNCHER.start(compose_command())


def python_of(command: Sequence[str]) -> str | None:
    """The interpreter of a docker-compose that is a Python script, from its #! line."""
    if list(command) != ["docker-compose"]:
        return None
    path = shutil.which("docker-compose")
    if path is None:
        return None
    try:
        first = Path(path).read_bytes()[:256].split(b"\n", 1)[0].decode()
    except (OSError, UnicodeDecodeError):
        return None
    words = first[2:].split() if first.startswith("#!") else []
    if words and Path(words[0]).name == "env" and len(words) > 1:
        words = [shutil.which(words[1]) or words[1]]
    if not words or not Path(words[0]).name.startswith("python"):
        return None
    return words[0]


def finish(call: Call, timeout: float) -> None:
    """Let a call end (killed after `timeout` s): a Teardown callback."""
    try:
        call.wait(timeout)
    except subprocess.TimeoutExpired:
        call.kill()
        call.close()
    except Unavailable:
        pass


LAUNCHER = Launcher()
