"""Ownership tags: a process is found by its exact tag; cleanup finds a whole run by prefix."""

import os
import subprocess
from pathlib import Path

import pytest

from harness import ownership


def test_a_process_tag_does_not_catch_longer_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ownership.TAG_ENV, "zz9999-10")
    child = subprocess.Popen(["sleep", "5"], env=dict(os.environ))
    try:
        assert ownership.tagged_pids("zz9999-1") == []
        assert child.pid in ownership.tagged_pids("zz9999-10")
        assert child.pid in ownership.tagged_pids("zz9999-", prefix=True)
    finally:
        child.kill()
        child.wait()


def test_a_run_is_live_only_while_its_lock_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ownership, "LOCK_DIR", tmp_path)  # no root needed
    lock = ownership.RunLock(ownership.new_run_id()).acquire()
    try:
        assert ownership.is_live(lock.run_id)
    finally:
        lock.release()
    assert not ownership.is_live(lock.run_id)
