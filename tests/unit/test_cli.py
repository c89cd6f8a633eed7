"""The command line on bad input: exit 2, the file and field named, brackets printed as they
are, every file reported, no traceback. Nothing here needs root or a host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from socklab.cli import exec_command

ROOT = Path(__file__).resolve().parents[2]


def socklab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socklab.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_reports_every_file_and_prints_brackets_as_they_are(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: X\ntitle: t\n")
    done = socklab("validate", str(bad), "scenarios/refused.yaml")
    assert done.returncode == 2
    assert "^[a-z][a-z0-9-]*$" in done.stderr
    assert "scenarios/refused.yaml: ok" in done.stdout
    assert "Traceback" not in done.stderr


def test_validate_refuses_a_command_that_does_not_exist(tmp_path: Path) -> None:
    scenario = tmp_path / "mine.yaml"
    scenario.write_text(
        "name: mine\ntitle: t\nbook: {section: s, shows: s, trace: t}\nexplain: e\n"
        "mount: .\nsteps:\n  - run: {name: c, host: client, command: ['./mycli', '{server}']}\n"
        "expect:\n  - exit: {step: c, code: 0}\n"
    )
    done = socklab("validate", str(scenario))
    assert done.returncode == 2
    assert f"steps.0.run.command (c): {tmp_path}/mycli does not exist" in done.stderr
    (tmp_path / "mycli").write_text("#!/bin/sh\n")
    (tmp_path / "mycli").chmod(0o755)
    assert socklab("validate", str(scenario)).returncode == 0


def test_version_and_help_name_every_command() -> None:
    from socklab import __version__

    assert socklab("--version").stdout.strip() == f"socklab {__version__}"
    shown = socklab("--help").stdout
    every = ("list", "run", "suite", "show", "validate", "doctor", "images", "clean")
    for command in (*every, "up", "shell", "exec", "capture", "ps", "down"):
        assert command in shown.split("{")[1].split("}")[0], command


def test_a_closed_pipe_ends_quietly() -> None:
    """`socklab list | head -1`: the reader goes away; no traceback, the SIGPIPE status."""
    head = subprocess.run(
        f'{sys.executable} -m socklab.cli list | head -n 1; echo "${{PIPESTATUS[0]}}"',
        shell=True,
        executable="/bin/bash",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert head.stderr == "", head.stderr
    assert head.stdout.splitlines()[-1] in ("0", "141")  # 0: list was done before head left


def test_not_root_gets_exit_3_and_the_hint() -> None:
    """As an unprivileged user (setpriv), a run stops before touching anything."""
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", "import socklab.cli"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        import pytest

        pytest.skip(f"the user nobody cannot import socklab from {ROOT}")
    every = (
        ["run", "refused", "--backend", "netns"],
        ["clean"],
        ["suite", "refused"],
        ["up", "--backend", "netns"],
        ["down"],
        ["exec", "client", "--", "true"],
        ["shell", "server"],
        ["capture", "lan1"],
    )
    for args in every:
        done = subprocess.run(
            [*as_nobody, sys.executable, "-m", "socklab.cli", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 3, (args, done.stderr)
        assert "need root" in done.stderr and "sudo" in done.stderr
        assert "Traceback" not in done.stderr
    # doctor tells a Docker socket that refuses this user from a stopped engine, and says
    # with its status that no backend is ready
    doctor = subprocess.run(
        [*as_nobody, sys.executable, "-m", "socklab.cli", "doctor"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert doctor.returncode == 3, doctor.stdout
    if os.path.exists("/var/run/docker.sock"):
        assert "refuses this user" in doctor.stdout, doctor.stdout
        assert "start dockerd" not in doctor.stdout


def test_a_program_that_plays_no_step_or_an_empty_one_is_a_usage_error() -> None:
    """A grading script whose variable is empty, or a client no step can run, must not pass
    on the built-in programs' run: exit 2 with the reason, before any host is made."""
    empty = socklab("run", "refused", "--client", "", "--backend", "netns")
    assert empty.returncode == 2 and "--client is empty" in empty.stderr
    suite = socklab("suite", "refused", "--server", " ", "--backend", "netns")
    assert suite.returncode == 2 and "--server is empty" in suite.stderr
    # the book's daytime client, which no step of the UDP echo scenario can be played by
    client = "harness/programs/c/bin/daytimetcpcli"
    nowhere = socklab("run", "udp-echo", "--client", client, "--backend", "netns")
    assert nowhere.returncode == 2 and "--client plays no step of udp-echo" in nowhere.stderr
    quote = socklab("run", "refused", "--client", 'a"b', "--backend", "netns")
    assert quote.returncode == 2 and "cannot be split into words" in quote.stderr, quote.stderr


def test_a_mount_of_a_system_folder_or_of_the_runs_is_refused(tmp_path: Path) -> None:
    """`mount:` shows a folder of programs, read-only, in every host: never /run (Docker's
    socket), /etc (the shadow file), a top like / or /root, or a folder holding the runs."""
    for folder, why in (
        ("/run", "a system folder"),
        ("/etc", "a system folder"),
        ("/", "a system folder"),
    ):
        mine = tmp_path / "mine.yaml"
        mine.write_text(
            "name: mine\ntitle: t\nbook: {section: s, shows: s, trace: t}\nexplain: e\n"
            f"mount: {folder}\nsteps:\n  - run: {{name: c, host: client, command: ['true']}}\n"
            "expect:\n  - exit: {step: c, code: 0}\n"
        )
        done = socklab("validate", str(mine))
        assert done.returncode == 2 and why in done.stderr, (folder, done.stderr)
    here = socklab("run", "refused", "--mount", ".", "--backend", "netns")  # ./runs is in it
    assert here.returncode == 2 and "it holds socklab's runs" in here.stderr


def test_exec_takes_the_command_as_people_type_it() -> None:
    assert exec_command(["exec", "client", "ss", "-tan"]) == (["exec", "client"], ["ss", "-tan"])
    assert exec_command(["exec", "--lab", "x", "client", "ss"]) == (
        ["exec", "--lab", "x", "client"],
        ["ss"],
    )
    assert exec_command(["exec", "client", "--lab", "x", "ls"]) == (
        ["exec", "client", "--lab", "x"],
        ["ls"],
    )
    assert exec_command(["exec", "client", "--", "-x"]) == (["exec", "client"], ["-x"])
    assert exec_command(["run", "exec"]) == (["run", "exec"], [])  # a scenario named exec
    assert exec_command(["capture", "lan1", "-c", "1", "tcp", "port", "13", "--lab", "x"]) == (
        ["capture", "lan1", "-c", "1", "--lab", "x"],
        ["tcp", "port", "13"],
    )


def test_the_default_backend_asks_the_engine_docker_host_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from socklab.run.execute import default_backend

    monkeypatch.delenv("BACKEND", raising=False)
    monkeypatch.delenv("SOCKLAB_BACKEND", raising=False)
    absent = f"unix://{tmp_path}/docker.sock"  # no engine there: nothing is contacted
    monkeypatch.setenv("DOCKER_HOST", absent)
    said: list[str] = []
    assert default_backend(said.append) == "netns"
    assert said and said[0].startswith(f"no Docker engine answered at {absent}")
    assert "the netns backend runs instead" in said[0]
