"""Signals and the unwinding: a KeyboardInterrupt that Python swallows (raised in an at-fork
hook) must not leave socklab deaf to every later signal."""

from __future__ import annotations

import logging
import signal
import threading
import time

import pytest
from socklab.testbed import stopping


@pytest.fixture
def handlers() -> object:
    saved = {s: signal.getsignal(s) for s in stopping.HANDLED}
    stopping.install()
    yield None
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_a_signal_after_a_swallowed_one_unwinds(
    handlers: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(KeyboardInterrupt):
        stopping.on_signal(signal.SIGINT, None)
    # at once: the command is unwinding, a second Ctrl-C is only counted
    stopping.on_signal(signal.SIGINT, None)
    assert stopping.ignored() >= 1
    # much later, and no teardown running: the first one was swallowed somewhere
    monkeypatch.setattr(stopping, "_unwound_at", stopping._unwound_at - 5)
    with pytest.raises(KeyboardInterrupt):
        stopping.on_signal(signal.SIGINT, None)


def test_a_signal_in_an_at_fork_hook_is_delivered_again_outside_it(handlers: object) -> None:
    hook = logging._releaseLock.__code__  # type: ignore[attr-defined]
    frame = type("Frame", (), {"f_globals": {"__name__": "logging"}, "f_code": hook})()
    delivered = threading.Event()
    signal.signal(signal.SIGUSR1, lambda signum, frame: delivered.set())
    try:
        stopping.on_signal(signal.SIGUSR1, frame)  # type: ignore[arg-type]  # no raise here
        deadline = time.monotonic() + 5
        while not delivered.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)  # Python runs the handler between two of these
        assert delivered.is_set(), "the signal was not delivered again"
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
