"""A wheel that installs: built from this tree, installed into a fresh virtualenv (its
dependencies from the package index, nothing from this checkout), it lists every scenario and
runs one, writing the run under ./runs of the directory it was started in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from socklab.scenario import model as scenario

from tests.conftest import ROOT, RUN_DEADLINE


def run(
    argv: list[str], cwd: Path, timeout: float = RUN_DEADLINE
) -> subprocess.CompletedProcess[str]:
    # no PYTHONPATH, no venv of ours: only what the wheel installed can be imported
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("SOCKLAB_RUNS", None)
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_wheel_in_a_fresh_venv_lists_and_runs(tmp_path: Path) -> None:
    # from a copy: setuptools reuses a build/ folder in the tree, which may hold what an old
    # configuration packaged
    tree = tmp_path / "tree"
    shutil.copytree(
        ROOT,
        tree,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".*_cache", "bin"
        ),
    )
    wheels = tmp_path / "wheels"
    built = run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(tree)],
        tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("socklab-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
    installed = run([*pip, str(wheel)], tmp_path, timeout=300)
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "work"
    work.mkdir()
    socklab = str(env_dir / "bin" / "socklab")
    where = run(
        [str(env_dir / "bin" / "python"), "-c", "import socklab; print(socklab.__file__)"], work
    )
    assert where.stdout.startswith(str(env_dir)), where.stdout + where.stderr

    listed = run([socklab, "list"], work)
    assert listed.returncode == 0, listed.stderr
    # a title longer than the line goes on under it, indented
    names = [line.split()[0] for line in listed.stdout.splitlines() if line[:1].strip()]
    assert names == scenario.names() and len(names) == 23

    done = run([socklab, "run", "refused", "--backend", "netns", "--json"], work)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    rundir = Path(json.loads(done.stdout)["rundir"])
    assert rundir.parent == work / "runs"
    assert (rundir / "report.html").is_file()
    assert (rundir / "report.json").is_file()
