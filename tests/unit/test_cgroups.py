"""The cgroup layouts, on a fake /sys/fs/cgroup (a folder): where a netns run's groups go and
which limits its hosts get, on the unified hierarchy (v2: GitHub's runners, current Debian and
Ubuntu) and on v1 (this project's machine). Killing is left to the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from socklab.testbed import cgroups


@pytest.fixture
def v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    cgroups.available.cache_clear()
    yield tmp_path
    cgroups.available.cache_clear()  # the real answer again for later tests in this process


@pytest.fixture
def v1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("freezer", "memory", "pids", "cpu"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    cgroups.available.cache_clear()
    yield tmp_path
    cgroups.available.cache_clear()


def test_v2_a_host_gets_a_containers_limits_below_the_run(v2: Path) -> None:
    assert cgroups.unified() and cgroups.available() is None
    host = cgroups.host_group("abc123", "server")
    folder = v2 / "socklab" / "abc123" / "server"
    assert host.dirs == [folder] and host.v2
    assert (folder / "memory.max").read_text() == str(512 * 1024 * 1024)
    assert (folder / "pids.max").read_text() == "256"
    assert (folder / "cpu.max").read_text() == "100000 100000"
    # the controllers are handed down to the host's group
    for parent in (v2, v2 / "socklab", v2 / "socklab" / "abc123"):
        assert (parent / "cgroup.subtree_control").exists()
    step = host.child("client-step")
    step.add(4242)
    assert (folder / "client-step" / "cgroup.procs").read_text() == "4242"
    assert cgroups.stale_runs() == ["abc123"]


def test_v1_a_host_has_a_folder_in_each_hierarchy(v1: Path) -> None:
    assert not cgroups.unified() and cgroups.available() is None
    host = cgroups.host_group("abc123", "client")
    assert [d.relative_to(v1).parts[0] for d in host.dirs] == ["freezer", "memory", "pids", "cpu"]
    assert not host.v2
    assert (v1 / "memory/socklab/abc123/client/memory.limit_in_bytes").read_text() == str(
        512 * 1024 * 1024
    )
    assert (v1 / "pids/socklab/abc123/client/pids.max").read_text() == "256"
    assert (v1 / "cpu/socklab/abc123/client/cpu.cfs_quota_us").read_text() == "100000"
    assert cgroups.stale_runs() == ["abc123"]


def test_a_containers_group_is_found_from_its_first_process(
    v2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = "0::/system.slice/docker-0123abcd.scope\n"
    real = Path.read_text

    def fake(path: Path, *args: object, **kwargs: object) -> str:
        if str(path) == "/proc/77/cgroup":
            return line
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", fake)
    group = cgroups.of_process(77)
    assert group is not None and group.dirs == [v2 / "system.slice" / "docker-0123abcd.scope"]


def test_no_hierarchy_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    cgroups.available.cache_clear()
    assert "neither a cgroup v2 hierarchy nor the v1 freezer" in str(cgroups.available())
    cgroups.available.cache_clear()
