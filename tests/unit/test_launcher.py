"""The compose launcher: compose's own exit code and output, its end with its owner, and the
plain process when compose will not import. Real processes; no engine is asked anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from socklab.errors import BackendUnavailable
from socklab.testbed.backends import launcher
from socklab.testbed.backends.compose import ComposeBackend

PYTHON_COMPOSE = launcher.python_of(["docker-compose"])
needs_compose = pytest.mark.skipif(
    PYTHON_COMPOSE is None, reason="docker-compose here is not a Python script (v2, or none)"
)


def sent(runner: launcher.Launcher, argv: list[str], env: dict[str, str] | None = None) -> Any:
    call = runner.call(argv, dict(os.environ) if env is None else env)
    call.send()
    return call


@needs_compose
def test_a_call_gets_composes_own_exit_code_output_and_environment() -> None:
    runner = launcher.Launcher()
    assert runner.start(["docker-compose"])
    try:
        done = sent(runner, ["docker-compose", "version"]).wait(30)
        assert done.returncode == 0 and "docker-compose version" in done.stdout
        bad = sent(runner, ["docker-compose", "no-such-command"]).wait(30)
        assert bad.returncode == 1 and "No such command" in bad.stderr
        env = {**os.environ, "COMPOSE_FILE": "/nonexistent/socklab-test.yaml"}
        missing = sent(runner, ["docker-compose", "config"], env).wait(30)
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
            "import os, signal; from socklab.testbed.backends import launcher; "
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
    fake.write_text(  # an entry script, for an interpreter that has no compose module
        f"#!{sys.executable}\nimport sys\nfrom compose.cli.main import main\nsys.exit(main())\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    runner = launcher.Launcher()
    assert runner.start(["docker-compose"])
    try:
        with pytest.raises(launcher.Unavailable):
            sent(runner, ["docker-compose", "version"]).wait(30)
        assert runner.broken, "every later call would wait on a launcher that cannot serve it"
    finally:
        runner.stop()


def test_only_a_python_docker_compose_gets_a_launcher(tmp_path: Path) -> None:
    assert launcher.python_of(["docker", "compose"]) is None
    runner = launcher.Launcher()
    assert not runner.start(["docker", "compose"])
    with pytest.raises(launcher.Unavailable):
        runner.call(["docker", "compose", "version"], {})


@needs_compose
def test_calls_sent_to_a_launcher_that_dies_before_taking_them_fall_back() -> None:
    """Killed while it imports compose (a suite's first runs queue there): those calls run
    compose as a process of their own instead of failing (hostile tester: 4 runs ERROR)."""
    runner = launcher.Launcher()
    assert runner.start(["docker-compose"]) and runner.process is not None
    calls = [runner.call(["docker-compose", "version"], dict(os.environ)) for _ in range(3)]
    calls[0].send()
    runner.process.kill()
    runner.process.wait(10)
    with pytest.raises(launcher.Unavailable):
        calls[0].wait(30)
    for call in calls[1:]:
        with pytest.raises(launcher.Unavailable):
            call.send()
    assert runner.broken and runner.sock is None


@pytest.mark.parametrize(
    ("body", "launched"),
    [
        (
            "from compose.cli.main import main\nif __name__ == '__main__':\n    sys.exit(main())\n",
            True,
        ),
        (
            "import sys\nsys.argv.append('--verbose')\nfrom compose.cli.main import main\n"
            "sys.exit(main())\n",
            False,
        ),
        ("print('FAKE')\nraise SystemExit(7)\n", False),
    ],
)
def test_only_an_entry_script_of_compose_is_forked_a_wrapper_runs_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, launched: bool
) -> None:
    fake = tmp_path / "docker-compose"
    fake.write_text(f"#!/usr/bin/python3\nimport re\nimport sys\n{body}")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert (launcher.python_of(["docker-compose"]) == "/usr/bin/python3") is launched


def test_a_docker_compose_that_cannot_start_is_named_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run by name, a first docker-compose on PATH whose #! interpreter is missing was passed
    over for the next one without a word (hostile tester): it is run by its path, and fails."""
    fake = tmp_path / "docker-compose"
    fake.write_text("#!/nonexistent/sh\necho a wrapper\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(launcher, "LAUNCHER", launcher.Launcher())
    monkeypatch.setattr(launcher, "start", lambda: None)
    launcher.compose_command.cache_clear()  # found again under this PATH, and forgotten after
    try:
        try:
            command = launcher.compose_command()
        except BackendUnavailable:
            command = []
        assert command and Path(command[0]).is_absolute()
        assert launcher.python_of([str(fake)]) is None
        backend = ComposeBackend("abc123", tmp_path)
        backend._compose = [str(fake)]
        with pytest.raises(BackendUnavailable, match="cannot start"):
            backend._compose_run("version")
    finally:
        launcher.compose_command.cache_clear()
