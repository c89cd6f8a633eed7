"""Outbox files read and made without trusting what a host left there."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from socklab.errors import RunError
from socklab.observe.observations import read_events
from socklab.testbed import files


def test_a_regular_file_is_read_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "a.strace"
    path.write_bytes(b"x" * 100)
    assert files.read_bytes(path, cap=10) == b"x" * 10
    assert files.read_text(tmp_path / "missing") == ""


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("secret")
    (tmp_path / "out").symlink_to(secret)
    with pytest.raises(files.Untrusted, match="symlink"):
        files.read_bytes(tmp_path / "out")
    assert files.read_text(tmp_path / "out") == ""


def test_a_fifo_neither_blocks_nor_counts(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(files.Untrusted, match="regular"):
        files.read_bytes(tmp_path / "fifo")


def test_create_replaces_a_planted_symlink_and_leaves_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("machine file")
    planted = tmp_path / "step.strace"
    planted.symlink_to(target)
    made = files.create(planted, owner=(65534, 65534))
    assert not made.is_symlink() and made.read_text() == ""
    assert (made.stat().st_uid, made.stat().st_mode & 0o777) == (65534, 0o644)
    assert target.read_text() == "machine file"


def test_private_dir_is_not_world_writable(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        made = files.private_dir(tmp_path / "run" / "hosts")
    finally:
        os.umask(old)
    assert made.stat().st_mode & 0o777 == 0o755
    with pytest.raises(FileExistsError):
        files.private_dir(made)


def test_a_planted_directory_stops_the_run_with_a_message(tmp_path: Path) -> None:
    (tmp_path / "step.strace").mkdir()
    with pytest.raises(RunError, match="put a directory at"):
        files.create(tmp_path / "step.strace")


def test_events_a_program_wrote_badly_are_left_out(tmp_path: Path) -> None:
    path = tmp_path / "s.events.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    lines = ['{"event": "ok", "n": 1}', deep, "[1, 2]", '{"no": "event"}', '{"event": 3}', "{cut"]
    path.write_text("\n".join(lines) + "\n")
    assert read_events(path) == [{"event": "ok", "n": 1}]


def test_a_killed_socklabs_scratch_folder_is_found_and_a_live_ones_is_not() -> None:
    # above pid_max (2**22 at most): no process has that id
    gone = Path(tempfile.gettempdir(), f"{files.SCRATCH}-{2**22 + 12345}-initrd-abc")
    gone.mkdir()
    try:
        with files.scratch("exec") as mine:
            stale = files.stale_scratch()
            assert gone in stale
            assert Path(mine) not in stale
    finally:
        gone.rmdir()


def test_the_permission_reset_goes_as_deep_as_a_program_nests(tmp_path: Path) -> None:
    """1,100 nested folders made os.walk raise RecursionError: a traceback, no report."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    folder = os.open(outbox, os.O_RDONLY)
    for _ in range(1100):
        os.mkdir("d", dir_fd=folder)
        inner = os.open("d", os.O_RDONLY, dir_fd=folder)
        os.close(folder)
        folder = inner
    planted = os.open("sh", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=folder)
    os.fchmod(planted, 0o4755)
    try:
        files.sanitize([outbox])
        assert stat.S_IMODE(os.fstat(planted).st_mode) == 0o644
    finally:
        os.close(planted)
        os.close(folder)
        # pytest's own clean-up of old temporary folders recurses: 1,100 levels overflow it
        deepest = outbox / "/".join(["d"] * 1100)
        (deepest / "sh").unlink()
        for level in range(1100, 0, -1):
            (outbox / "/".join(["d"] * level)).rmdir()


def test_an_outbox_past_the_limit_is_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A set-uid file planted after the entries the reset looks at is unreachable: the outbox
    is root's alone (it kept its mode, reachable, with a cap of 100,000 entries)."""
    monkeypatch.setattr(files, "SANITIZE_LIMIT", 50)
    outbox = tmp_path / "outbox"
    outbox.mkdir(mode=0o755)
    for number in range(60):
        (outbox / f"f{number:02d}").write_text("")
    planted = outbox / "zz" / "sh"
    planted.parent.mkdir()
    planted.write_text("")
    planted.chmod(0o4755)
    files.sanitize([outbox])
    reset = stat.S_IMODE(planted.stat().st_mode) == 0o644
    assert reset or stat.S_IMODE(outbox.stat().st_mode) == 0o700
