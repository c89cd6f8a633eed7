"""Runs on another kernel: socklab's netns backend inside a QEMU guest booted with a stock kernel.

`--kernel debian-6.1` fetches Debian bookworm's `linux-image-amd64` kernel package with apt
(apt checks it against the archive's signed index), keeps it in a cache with its sha256 (checked
again on every use), and boots it under QEMU: with KVM where /dev/kvm runs a guest (GitHub's
runners), with TCG emulation where it does not (a KVM guest hangs on a machine without nested
virtualization, so a probe boot decides, once per machine boot), and the report says which.
The guest sees the machine's root file system read-only over 9p with a tmpfs overlay (so the same
socklab, Python and tools run there), the kernel's own modules at /lib/modules (so sch_netem
loads), no network device at all, and one writable share: the folder its runs go to. A guest
that hangs or panics is killed at the deadline and its console log kept; QEMU never outlives
the call.

Chosen over virtme-ng: it wants the guest's tools (virtme-ng-init, a Rust binary) and the
kernel's modules installed on the machine, and a writable host root; the plumbing here is one
busybox script (harness/testbed/guest-init) and one QEMU command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailable, ScenarioError
from . import files, ownership
from .stopping import signal_on_parent_death

CACHE = Path(os.environ.get("SOCKLAB_CACHE", "/var/cache/socklab")) / "kernels"
INIT = Path(__file__).resolve().parent / "guest-init"
# name -> the Debian package that depends on the current kernel of that series
KERNELS = {"debian-6.1": "linux-image-amd64"}
# What the initramfs loads to reach the machine's files; the rest comes from /lib/modules.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
# The machine's root, read-only; multidevs=remap keeps inode numbers of its mounts apart.
ROOT_SHARE = "security_model=passthrough,readonly=on,multidevs=remap"
TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "busybox": "busybox-static",
    "cpio": "cpio",
    "modprobe": "kmod",
    "depmod": "kmod",
}


@dataclass(frozen=True)
class Kernel:
    name: str  # debian-6.1
    release: str  # 6.1.0-56-amd64
    root: Path  # the unpacked package: boot/vmlinuz-*, lib/modules/*

    @property
    def vmlinux(self) -> Path:
        return self.root / f"vmlinux-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules"


def missing_tools() -> list[str]:
    return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]


def check_tools() -> None:
    missing = sorted(set(missing_tools()))
    if missing:
        raise BackendUnavailable(
            f"--kernel needs QEMU and an initramfs toolset: missing {', '.join(missing)}",
            hint=f"apt-get install {' '.join(missing)}",
        )


def cached() -> list[str]:
    """The kernels in the cache, as `name (release)`."""
    found = []
    for meta in sorted(CACHE.glob("*/release")):
        found.append(f"{meta.parent.name} ({meta.read_text().strip()})")
    return found


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_of(name: str) -> str:
    """The versioned kernel package the meta package depends on (linux-image-6.1.0-N-amd64)."""
    done = subprocess.run(
        ["apt-cache", "depends", KERNELS[name]], capture_output=True, text=True, check=False
    )
    for line in done.stdout.splitlines():
        word = line.split()[-1] if line.strip().startswith("Depends:") else ""
        if word.startswith("linux-image-") and word != KERNELS[name]:
            return word
    raise BackendUnavailable(
        f"apt knows no kernel package for {name} ({KERNELS[name]})",
        hint="this needs Debian bookworm's package lists (apt-get update), or --kernel PATH.deb",
    )


def check_name(name: str) -> None:
    """A kernel socklab can run, by name or path, checked before anything runs."""
    if name.endswith(".deb"):
        if not Path(name).is_file():
            raise ScenarioError(f"--kernel {name}: no such file")
    elif name not in KERNELS:
        raise ScenarioError(
            f"unknown kernel {name!r}",
            hint=f"choose host, {', '.join(KERNELS)}, or a path to a linux-image-*.deb",
        )


def fetch(name: str, say: Callable[[str], None]) -> Kernel:
    """The kernel `name` (debian-6.1) or a linux-image .deb at a path, unpacked in the cache."""
    if name.endswith(".deb"):
        deb = Path(name).resolve()
        if not deb.is_file():
            raise ScenarioError(f"--kernel {name}: no such file")
        key = deb.stem
    elif name in KERNELS:
        deb, key = Path(), name
    else:
        raise ScenarioError(
            f"unknown kernel {name!r}",
            hint=f"choose host, {', '.join(KERNELS)}, or a path to a linux-image-*.deb",
        )
    home = CACHE / key
    if (home / "release").exists() and (home / "sha256").exists():
        kept = next(home.glob("*.deb"))
        if sha256(kept) != (home / "sha256").read_text().strip():
            raise BackendUnavailable(
                f"the cached kernel {kept} does not match its recorded sha256",
                hint=f"remove {home} and run again to fetch it afresh",
            )
        return Kernel(key, (home / "release").read_text().strip(), home)
    home.mkdir(parents=True, exist_ok=True)
    if name in KERNELS:
        package = package_of(name)
        say(f"fetching {package} with apt (verified against the archive's signed index)")
        done = subprocess.run(
            ["apt-get", "download", package], cwd=home, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BackendUnavailable(
                f"apt-get download {package} failed: {done.stderr.strip()[-300:]}",
                hint="needs Debian's package mirror (apt-get update)",
            )
        deb = next(home.glob("*.deb"))
    else:
        shutil.copy(deb, home / deb.name)
        deb = home / deb.name
    say(f"unpacking {deb.name}")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(home)], check=True)
    (release,) = [p.name for p in (home / "lib" / "modules").iterdir()]
    subprocess.run(["depmod", "-b", str(home), release], check=True)
    unpack_vmlinux(home / "boot" / f"vmlinuz-{release}", home / f"vmlinux-{release}")
    (home / "sha256").write_text(sha256(deb) + "\n")
    (home / "release").write_text(release + "\n")
    return Kernel(key, release, home)


def unpack_vmlinux(vmlinuz: Path, vmlinux: Path) -> None:
    """The ELF kernel inside Debian's bzImage (xz): QEMU boots it through its PVH entry and
    TCG is spared the decompression (about 4 s of every boot)."""
    data = vmlinuz.read_bytes()
    start = data.find(b"\xfd7zXZ\x00")
    try:
        elf = lzma.LZMADecompressor().decompress(data[start:])
    except lzma.LZMAError:
        elf = b""
    if start < 0 or elf[:4] != b"\x7fELF":
        shutil.copy(vmlinuz, vmlinux)  # QEMU boots a bzImage too, only slower
        return
    vmlinux.write_bytes(elf)


def initramfs(kernel: Kernel) -> Path:
    """busybox, the modules to mount the machine's root over 9p, and guest-init."""
    image = kernel.root / f"initrd-{sha256(INIT)[:12]}.cpio.gz"
    if image.exists():
        return image
    with files.scratch("initrd") as tmp:
        stage = Path(tmp)
        for sub in ("bin", "dev", "proc", "sys", "mods"):
            (stage / sub).mkdir()
        shutil.copy(shutil.which("busybox") or "/bin/busybox", stage / "bin" / "busybox")
        subprocess.run(
            ["mknod", "-m", "600", str(stage / "dev" / "console"), "c", "5", "1"], check=True
        )
        subprocess.run(
            ["mknod", "-m", "666", str(stage / "dev" / "null"), "c", "1", "3"], check=True
        )
        order: list[str] = []
        for module in BOOT_MODULES:
            shown = subprocess.run(
                [
                    "modprobe",
                    "-d",
                    str(kernel.root),
                    "-S",
                    kernel.release,
                    "--show-depends",
                    module,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            for line in shown.stdout.splitlines():
                words = line.split()
                if words[:1] == ["insmod"] and Path(words[1]).name not in order:
                    shutil.copy(words[1], stage / "mods" / Path(words[1]).name)
                    order.append(Path(words[1]).name)
        (stage / "modules.order").write_text("\n".join(order) + "\n")
        shutil.copy(INIT, stage / "init")
        (stage / "init").chmod(0o755)
        listing = subprocess.run(["find", "."], cwd=stage, capture_output=True, check=True).stdout
        packed = subprocess.run(
            ["cpio", "-o", "-H", "newc", "--quiet"],
            cwd=stage,
            input=listing,
            capture_output=True,
            check=True,
        ).stdout
        partial = image.with_suffix(".tmp")
        with partial.open("wb") as out:
            out.write(
                subprocess.run(["gzip", "-1"], input=packed, capture_output=True, check=True).stdout
            )
        partial.rename(image)
    return image


@dataclass
class GuestRun:
    exit_code: int  # the command's, or 124 at the deadline, 125 if the guest never ran it
    share: Path  # the folder the guest wrote: guest.stdout, guest.stderr, console.log, runs
    seconds: float
    accel: str = "tcg"


KVM_PROBE_SECONDS = 30.0  # a KVM guest boots to its command in ~2 s; one that hangs never does


def accel(kernel: Kernel, say: Callable[[str], None] = lambda text: None) -> str:
    """kvm where /dev/kvm really runs a guest, else tcg. A KVM guest hangs on a machine without
    nested virtualization although /dev/kvm opens fine, so the answer is a boot of the kernel
    with KVM running `true`; kept per machine boot. SOCKLAB_ACCEL=kvm|tcg decides instead."""
    forced = os.environ.get("SOCKLAB_ACCEL", "")
    if forced in ("kvm", "tcg"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    known = CACHE.parent / f"kvm-{boot}"
    with contextlib.suppress(OSError):
        if (found := known.read_text().strip()) in ("kvm", "tcg"):
            return found
    say(f"trying KVM once (at most {KVM_PROBE_SECONDS:.0f} s; the answer is kept until reboot)")
    with files.scratch("kvm") as tmp:
        probe = run(kernel, "true", Path(tmp), KVM_PROBE_SECONDS, cpus=1, accel="kvm")
    found = "kvm" if probe.exit_code == 0 else "tcg"
    known.parent.mkdir(parents=True, exist_ok=True)
    known.write_text(found + "\n")
    return found


def accel_known() -> str:
    """What doctor says without booting anything."""
    if os.environ.get("SOCKLAB_ACCEL") in ("kvm", "tcg"):
        return f"{os.environ['SOCKLAB_ACCEL'].upper()} (SOCKLAB_ACCEL)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "TCG (no usable /dev/kvm)"
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    with contextlib.suppress(OSError):
        found = (CACHE.parent / f"kvm-{boot}").read_text().strip()
        return "KVM (a guest booted)" if found == "kvm" else "TCG (a KVM guest hung here)"
    return "KVM or TCG: the first --kernel run tries a KVM guest"


def run(
    kernel: Kernel,
    command: str,
    share: Path,
    deadline: float,
    cpus: int = 2,
    accel: str = "tcg",
) -> GuestRun:
    """`command` (a shell line) in a guest of `kernel`; `share` is /out-share there."""
    share.mkdir(parents=True, exist_ok=True)
    (share / "cmd").write_text(command + "\n")
    image = initramfs(kernel)
    append = [
        "console=ttyS0",
        "panic=-1",
        "quiet",
        "loglevel=4",
        "rdinit=/init",
        f"socklab.moddir={kernel.modules}",
        f"socklab.accel={accel}",
    ]
    argv = [
        "qemu-system-x86_64",
        "-accel", accel,
        "-cpu", "host" if accel == "kvm" else "max",
        "-m", "2048",
        "-smp", str(cpus),
        "-kernel", str(kernel.vmlinux),
        "-initrd", str(image),
        "-append", " ".join(append),
        "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
        "-nic", "none",  # no network device: nothing the guest does leaves it
        "-virtfs", f"local,path=/,mount_tag=root,{ROOT_SHARE}",
        "-virtfs", f"local,path={share},mount_tag=out,security_model=passthrough",
    ]  # fmt: skip
    started = time.monotonic()
    # Owned like a run: QEMU carries the guest run's tag and dies with socklab (even a kill -9
    # of it: PR_SET_PDEATHSIG); were it ever left, the lock nobody holds lets `socklab clean`
    # and the next run kill it.
    lock = ownership.RunLock(ownership.new_run_id()).acquire()
    env = {**os.environ, ownership.TAG_ENV: f"{lock.run_id}-qemu"}
    with lock_released(lock), (share / "console.log").open("wb") as console:
        qemu = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, preexec_fn=die_with_parent,
        )  # fmt: skip
        try:
            qemu.wait(deadline)
        except subprocess.TimeoutExpired:
            qemu.kill()
            qemu.wait()
            return GuestRun(124, share, time.monotonic() - started, accel)
        finally:
            if qemu.poll() is None:  # an exception (a Ctrl-C) on the way: no QEMU is left
                qemu.kill()
                qemu.wait()
    code = share / "guest.exit"
    with contextlib.suppress(FileNotFoundError, ValueError):
        return GuestRun(int(code.read_text()), share, time.monotonic() - started, accel)
    return GuestRun(125, share, time.monotonic() - started, accel)


@contextlib.contextmanager
def lock_released(lock: ownership.RunLock) -> Iterator[None]:
    try:
        yield
    finally:
        lock.release()


def die_with_parent() -> None:
    """In the child before exec: SIGKILL when the process that started it dies."""
    signal_on_parent_death(signal.SIGKILL)


def shell_line(argv: list[str], env: dict[str, str]) -> str:
    """A POSIX shell line for the guest: `cd` to where socklab was started (the machine's /
    is the guest's, read-only), the environment, the argv."""
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
    assignments = " ".join(f"{k}='{v}'" for k, v in env.items())
    here = str(Path.cwd()).replace("'", "'\\''")
    return f"cd '{here}' && {assignments} exec {quoted}"
