"""Ownership tags: a process is found by its exact tag; cleanup finds a whole run by prefix."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from socklab.testbed import ownership


def test_a_process_tag_does_not_catch_longer_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ownership.TAG_ENV, "zz9999-10")
    child = subprocess.Popen(["sleep", "5"], env=dict(os.environ))
    try:
        # Until it has exec'd, /proc shows the environment it was forked with, not its own (a
        # loaded make test once looked too early).
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/cmdline").read_bytes().split(b"\0")[0] != b"sleep":
            assert time.monotonic() < deadline, "sleep never started"
            time.sleep(0.005)
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


def test_clean_removes_stale_locks_and_orphan_lab_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed before it made anything leaves only its lock file; a `socklab up` killed
    early leaves its folder. Neither may touch a live run's lock or another run's folder."""
    import os
    import time

    from socklab.run import clean

    monkeypatch.setattr(ownership, "LOCK_DIR", tmp_path / "locks")
    monkeypatch.setattr(ownership, "LAB_DIR", tmp_path / "locks" / "labs")
    monkeypatch.setattr(clean, "RUNS_DIR", tmp_path / "runs")
    (tmp_path / "locks" / "labs").mkdir(parents=True)
    old = time.time() - 120
    stale, fresh = tmp_path / "locks" / "aaaaaa.lock", tmp_path / "locks" / "bbbbbb.lock"
    for lock in (stale, fresh):
        lock.write_text("1\n")
    os.utime(stale, (old, old))
    held = ownership.RunLock("cccccc").acquire()
    os.utime(tmp_path / "locks" / "cccccc.lock", (old, old))
    runs = tmp_path / "runs"
    orphan, kept_lab, a_run = (
        runs / "lab.refused-20261126-000000-dddddd",
        runs / "lab.plain-20261126-000000-eeeeee",
        runs / "lab-x-20261126-000000-ffffff",
    )
    for folder in (orphan, kept_lab, a_run):
        folder.mkdir(parents=True)
    (tmp_path / "locks" / "labs" / "eeeeee.json").write_text('{"state": "up"}')
    try:
        removed = clean.stale_locks_and_lab_folders()
    finally:
        held.release()
    assert not stale.exists() and fresh.exists()
    assert not orphan.exists() and kept_lab.exists() and a_run.exists()
    assert sorted(removed) == sorted(["lock aaaaaa.lock", f"lab folder {orphan}"])
