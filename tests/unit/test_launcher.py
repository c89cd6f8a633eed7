"""The compose launcher: compose's own exit code and output, its end with its owner, and the
plain process when compose will not import. Real processes; no engine is asked anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.backends import launcher

PYTHON_COMPOSE = launcher.python_of(["docker-compose"])
needs_compose = pytest.mark.skipif(
    PYTHON_COMPOSE is None, reason="docker-compose here is not a Python script (v2, or none)"
)


@needs_compose
def test_a_call_gets_composes_own_exit_code_output_and_environment() -> None:
    runner = launcher.Launcher()
    assert runner.start(["docker-compose"])
    try:
        done = runner.call(["docker-compose", "version"], dict(os.environ)).wait(30)
        assert done.returncode == 0 and "docker-compose version" in done.stdout
        bad = runner.call(["docker-compose", "no-such-command"], dict(os.environ)).wait(30)
        assert bad.returncode == 1 and "No such command" in bad.stderr
        env = {**os.environ, "COMPOSE_FILE": "/nonexistent/socklab-test.yaml"}
        missing = runner.call(["docker-compose", "config"], env).wait(30)
        assert missing.returncode == 1 and "socklab-test.yaml" in missing.stderr
    finally:
        runner.stop()
    assert runner.process is not None and runner.process.poll() is not None


@needs_compose
def test_the_launcher_ends_when_its_owner_is_killed() -> None:
    owner = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal; from harness.backends import launcher; "
            "launcher.LAUNCHER.start(['docker-compose']); print(launcher.LAUNCHER.process.pid, "
            "flush=True); os.kill(os.getpid(), signal.SIGKILL)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).resolve().parents[2],
    )
    pid = int(owner.stdout.split()[0])
    end = time.monotonic() + 10
    while time.monotonic() < end and Path(f"/proc/{pid}").exists():
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
        if state == "Z":
            break
        time.sleep(0.05)
    else:
        assert not Path(f"/proc/{pid}").exists(), "the launcher outlived its owner"


def test_a_compose_that_does_not_import_runs_as_a_plain_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "docker-compose"
    fake.write_text(f"#!{sys.executable}\nprint('a compose with no compose module')\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    runner = launcher.Launcher()
    assert runner.start(["docker-compose"])
    try:
        with pytest.raises(launcher.Unavailable):
            runner.call(["docker-compose", "version"], dict(os.environ)).wait(30)
    finally:
        runner.stop()


def test_only_a_python_docker_compose_gets_a_launcher(tmp_path: Path) -> None:
    assert launcher.python_of(["docker", "compose"]) is None
    runner = launcher.Launcher()
    assert not runner.start(["docker", "compose"])
    with pytest.raises(launcher.Unavailable):
        runner.call(["docker", "compose", "version"], {})
