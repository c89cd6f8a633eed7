"""How a guest is run: the accelerator choice (kept per machine boot) and the shell line."""

from __future__ import annotations

from pathlib import Path

import pytest
from socklab.testbed import vm


def test_socklab_accel_decides_without_booting(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_boot(*args: object, **kwargs: object) -> vm.GuestRun:
        raise AssertionError("no guest may boot")

    monkeypatch.setattr(vm, "run", no_boot)
    for wanted in ("kvm", "tcg"):
        monkeypatch.setenv("SOCKLAB_ACCEL", wanted)
        assert vm.accel(vm.Kernel("debian-6.1", "6.1.0-0-amd64", Path("/nonexistent"))) == wanted
        assert vm.accel_known().startswith(wanted.upper())


def test_a_kvm_guest_that_never_runs_its_command_means_tcg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The probe boots once; its answer is kept for this machine boot."""
    monkeypatch.delenv("SOCKLAB_ACCEL", raising=False)
    monkeypatch.setattr(vm, "CACHE", tmp_path / "kernels")
    monkeypatch.setattr(vm.os, "access", lambda path, mode: True)
    boots: list[str] = []

    def hung(
        kernel: vm.Kernel, command: str, share: Path, deadline: float, **kw: object
    ) -> vm.GuestRun:
        boots.append(str(kw.get("accel")))
        return vm.GuestRun(124, share, deadline, "kvm")  # stopped at its deadline

    monkeypatch.setattr(vm, "run", hung)
    kernel = vm.Kernel("debian-6.1", "6.1.0-0-amd64", tmp_path)
    assert vm.accel(kernel) == "tcg"
    assert vm.accel(kernel) == "tcg"
    assert boots == ["kvm"]  # once
    assert vm.accel_known() == "TCG (a KVM guest hung here)"


def test_the_guest_starts_where_socklab_was_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    line = vm.shell_line(["python3", "-m", "socklab.cli", "run", "it's"], {"SOCKLAB_RUNS": "/o"})
    assert line.startswith(f"cd '{tmp_path}' && SOCKLAB_RUNS='/o' exec ")
    assert "'it'\\''s'" in line
