"""Stopping socklab: the first SIGINT, SIGTERM or SIGHUP unwinds the run; once teardown has
begun, further signals are acknowledged and ignored until everything the run made is removed.

A second Ctrl-C used to abandon a compose teardown half-way (containers, networks, bridges and
DOCKER-USER rules left behind, issue #9). Now teardown is a `Teardown` stack: entering its exit
marks the run as stopping, and the handler only counts what arrives meanwhile. The processes
teardown runs (docker-compose down, iptables) are in sessions of their own, so a terminal's
Ctrl-C, which goes to the whole foreground process group, does not reach them either.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from contextlib import ExitStack
from types import FrameType, TracebackType

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_main_pid = os.getpid()
_tearing_down = 0  # nesting depth of Teardown stacks being unwound
_ignored = 0
_settled = False  # the command has finished: nothing is left to stop
_unwinding = False  # a signal has been obeyed: the command is unwinding
_unwound_at = 0.0
# An unwinding reaches its Teardown within this; a signal later, with no teardown running,
# means the first KeyboardInterrupt was swallowed (raised where Python ignores exceptions).
SWALLOWED_AFTER = 1.0
# logging's at-fork hooks (Python 3.11): an exception raised in them is printed and dropped
AT_FORK_HOOKS = ("_acquireLock", "_releaseLock", "_after_at_fork_child_reinit_locks")


def on_signal(signum: int, frame: FrameType | None) -> None:
    """Unwind the harness, unless it is tearing down already.

    Only in the harness itself: pyroute2 forks helper processes that inherit this handler and a
    copy of our call stack, and stops them with SIGTERM; unwinding there would run the run's
    teardown from the helper and destroy the live testbed.
    """
    global _ignored, _unwinding, _unwound_at
    if os.getpid() != _main_pid:
        os._exit(128 + signum)
    recent = _unwinding and time.monotonic() - _unwound_at < SWALLOWED_AFTER
    if _tearing_down or _settled or recent:
        _ignored += 1
        os.write(
            sys.stderr.fileno(),
            f"socklab: {signal.Signals(signum).name} received; still cleaning up, "
            "wait a moment\n".encode(),
        )
        return
    if (
        frame is not None
        and frame.f_globals.get("__name__") == "logging"
        and frame.f_code.co_name in AT_FORK_HOOKS
    ):
        # Python ignores an exception raised in an at-fork hook (logging's _releaseLock runs
        # after every fork): the signal is delivered again a moment later, outside it.
        threading.Timer(0.02, signal.raise_signal, (signum,)).start()
        return
    # From here on the command unwinds: a second signal, even before a Teardown is entered
    # (in a `finally` on the way there), must not start a second unwinding (the soak saw one
    # skip settle() and end the process by SIGINT after it had cleaned up). Unless nothing
    # has unwound for a while and no teardown runs: then Python swallowed the first one.
    _unwinding, _unwound_at = True, time.monotonic()
    raise KeyboardInterrupt(f"signal {signum}")


def install() -> None:
    global _main_pid, _unwinding, _settled
    _main_pid = os.getpid()
    _unwinding = _settled = False
    for signum in HANDLED:
        signal.signal(signum, on_signal)


def settle() -> None:
    """The command's work is over. Late signals are ignored by the kernel itself: Python puts
    back the default action of a signal whose handler is its own when it shuts down, and a
    late Ctrl-C would then turn exit 130 into death by SIGINT; SIG_IGN it leaves alone."""
    global _settled
    _settled = True
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def ignored() -> int:
    """Signals that arrived during teardown and were acknowledged, not obeyed."""
    return _ignored


class Teardown(ExitStack):
    """An ExitStack whose unwinding no signal interrupts."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # None, never True: no undo socklab registers swallows the error that unwinds it.
        global _tearing_down
        _tearing_down += 1
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            _tearing_down -= 1


PR_SET_PDEATHSIG = 1


def signal_on_parent_death(signum: int) -> None:
    """This process gets `signum` when the one that made it dies (even by kill -9)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
