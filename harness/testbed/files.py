"""Files a host can write, read and made by the harness without trusting them.

A program in a host runs code nobody here wrote, and it can write in its host's outbox
(`<run>/hosts/<host>/`): its strace record and its events. What it finds there may be a symlink
to a file of the machine, a FIFO that blocks a reader, or a file that grows for ever. The harness
therefore opens every outbox file without following a symlink (O_NOFOLLOW), without blocking
(O_NONBLOCK), only if it is a regular file, and reads at most a cap; it creates files there
only if nothing is at the name yet (O_EXCL) and changes the owner through the open file, never
by path. Nothing it makes is world-writable.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from ..errors import RunError

READ_CAP = 64 * 1024 * 1024  # the size the harness lets a program's own file reach (OUTPUT_CAP)


class Untrusted(Exception):
    """The name holds something other than a regular file (a symlink, a FIFO, a directory)."""


def read_bytes(path: Path, cap: int = READ_CAP) -> bytes:
    """At most `cap` bytes of a regular file; FileNotFoundError if nothing is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == 40:  # ELOOP: the name is a symlink
            raise Untrusted(f"{path.name} is a symlink") from err
        raise
    with os.fdopen(fd, "rb") as handle:
        kind = os.fstat(fd).st_mode
        if not stat.S_ISREG(kind):
            raise Untrusted(f"{path.name} is not a regular file")
        return handle.read(cap)


def read_text(path: Path, cap: int = READ_CAP) -> str:
    """The text of an outbox file; empty when it is missing or not a regular file."""
    with contextlib.suppress(FileNotFoundError, Untrusted):
        return read_bytes(path, cap).decode(errors="replace")
    return ""


def create(path: Path, owner: tuple[int, int] | None = None) -> Path:
    """An empty file at `path` for a program to write, owned by `owner` (uid, gid) when given.

    Whatever a host left at the name (a planted symlink or FIFO) is unlinked, not followed;
    if something appears again before the new file is made, the run stops."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except (IsADirectoryError, PermissionError) as err:  # a directory planted at the name
        raise RunError(
            f"a host put a directory at {path}, where the harness makes a file",
            hint="a program in the host is tampering with its outbox; the run is stopped",
        ) from err
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o644)
    except FileExistsError as err:
        raise RunError(
            f"a host keeps putting something at {path} before the harness can make the file",
            hint="a program in the host is tampering with its outbox; the run is stopped",
        ) from err
    try:
        if owner is not None:
            os.fchown(fd, *owner)
    finally:
        os.close(fd)
    return path


def private_dir(path: Path, mode: int = 0o755) -> Path:
    """A directory only root writes in (0755; 0700: only root enters), made whole or not at all."""
    path.mkdir(mode=mode, parents=True, exist_ok=False)
    path.chmod(mode)  # mkdir's mode passes through the umask
    return path


SANITIZE_LIMIT = 100_000  # entries looked at in one outbox before it is sealed instead


def sanitize(paths: list[Path]) -> int:
    """Plain modes again on what a host could chmod (its outbox, its stdout and stderr, which
    it holds open): files 0644, directories 0755, never set-uid, set-gid or world-writable.
    A program that is root in its host can chmod 04755 a copy of python3 there; without this
    any local user could run it as root. Symlinks and other kinds are left alone, not
    followed. The walk keeps its own stack (1,100 nested folders made os.walk raise
    RecursionError); past SANITIZE_LIMIT entries the folder is sealed (0700: only root
    enters), so nothing a program planted after them is reachable. Returns how many modes
    were changed."""
    changed = seen = 0
    for root in paths:  # the harness's own paths: a folder it made, or a file
        changed += _plain(root)
        if root.is_symlink() or not root.is_dir():
            continue
        stack = [root]
        while stack:
            try:
                with os.scandir(stack.pop()) as found:
                    entries = list(found)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > SANITIZE_LIMIT:
                    _seal(root)
                    return changed
                changed += _plain(Path(entry.path))
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
    return changed


def _seal(folder: Path) -> None:
    """Only root enters this folder from now on (through the open folder, never by path)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)


def _plain(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0  # a symlink (ELOOP), gone, or not ours to open
    try:
        kind = os.fstat(fd).st_mode
        want = 0o755 if stat.S_ISDIR(kind) else 0o644 if stat.S_ISREG(kind) else None
        if want is None or stat.S_IMODE(kind) == want:
            return 0
        os.fchmod(fd, want)
        return 1
    finally:
        os.close(fd)


# ---- outbox quota ------------------------------------------------------------------------
OUTBOX_QUOTA = 64 * 1024 * 1024  # what a host may write in all, across its files
MOUNT_SOURCE = "socklab-outbox-"  # + the run's id: whose mount it is, for `clean`


def mount_quota(folder: Path, run_id: str, size: int = OUTBOX_QUOTA) -> None:
    """A tmpfs of `size` bytes at `folder` (an outbox): a program that writes files without
    end fills it and gets ENOSPC (it took 1 GiB of the machine's disk in a second before);
    nosuid and nodev, so nothing it plants there is a set-uid program or a device."""
    options = f"size={size},mode=0755,nosuid,nodev,noexec"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, f"{MOUNT_SOURCE}{run_id}", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RunError(f"could not mount the outbox quota at {folder}: {done.stderr.strip()}")


def quota_mounts(under: Path) -> dict[Path, str]:
    """The outbox tmpfs mounts below `under` (a run killed with -9 leaves them), and whose
    run each is."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            device, point = line.split()[:2]
            path = Path(point.replace("\\040", " "))
            if device.startswith(MOUNT_SOURCE) and path.is_relative_to(under):
                found[path] = device.removeprefix(MOUNT_SOURCE)
    return found


def keep_and_unmount(folder: Path) -> None:
    """The outbox's files, copied to the run folder's disk, and its tmpfs unmounted: regular
    files and folders only (a symlink or FIFO a host left is not followed, not kept), each
    read without trusting it, walked with a stack of its own. Never more than the quota in
    all, and a file with several names once: 2,000 hard links to one 30 MiB file would
    otherwise become 58 GiB of copies on the machine's disk."""
    if folder not in quota_mounts(folder.parent):
        return
    kept = Path(tempfile.mkdtemp(prefix=f".{folder.name}.kept-", dir=folder.parent))
    kept.chmod(0o755)
    stack = [Path()]
    copied: set[int] = set()  # inodes: a hard link's other names are not copied again
    left = OUTBOX_QUOTA
    while stack and left > 0:
        relative = stack.pop()
        with contextlib.suppress(OSError), os.scandir(folder / relative) as entries:
            for entry in list(entries):
                inside = relative / entry.name
                if entry.is_dir(follow_symlinks=False):
                    (kept / inside).mkdir(mode=0o755, exist_ok=True)
                    stack.append(inside)
                elif entry.is_file(follow_symlinks=False) and entry.inode() not in copied:
                    copied.add(entry.inode())
                    with contextlib.suppress(OSError, Untrusted):
                        data = read_bytes(folder / inside, cap=max(0, left))
                        (kept / inside).write_bytes(data)
                        left -= len(data)
    done = subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)
    if done.returncode == 0:
        with contextlib.suppress(OSError):
            for moved in kept.iterdir():
                moved.rename(folder / moved.name)
    shutil.rmtree(kept, ignore_errors=True)


SCRATCH = "socklab-scratch"


def scratch(kind: str) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder named after its process, so one left by a kill -9 is found:
    `socklab clean` (and every run) removes those whose process is gone."""
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH}-{os.getpid()}-{kind}-")


def stale_scratch() -> list[Path]:
    """Temporary folders of socklab processes that no longer exist."""
    found = []
    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH}-*-*"):
        pid = path.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            found.append(path)
    return found
