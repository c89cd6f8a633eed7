"""The GitHub Actions workflows (ours and the grading example for courses) are valid against
the github-workflows schema, offline."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "workflow", [".github/workflows/ci.yml", ".github/examples/grade-client.yml"]
)
def test_workflow_matches_the_github_workflows_schema(workflow: str) -> None:
    beside = Path(sys.executable).parent / "check-jsonschema"  # the venv's, when not on PATH
    tool = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is a dev dependency (pip install -e '.[dev]')"
    done = subprocess.run(
        [
            tool,
            "--builtin-schema",
            "vendor.github-workflows",
            str(ROOT / workflow),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_script_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci/run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in script
    assert "make test" in readme


def test_the_grading_example_uploads_the_folder_runs_land_in() -> None:
    """It ran socklab from the student's checkout (runs land in ./runs) and uploaded
    socklab/runs/, which does not exist: the artifact had no run in it."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github/examples/grade-client.yml").read_text())
    steps = workflow["jobs"]["socklab"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    paths = upload["with"]["path"].split()
    run = next(s["run"] for s in steps if "suite" in s.get("run", ""))
    assert "runs/" in paths and "socklab/runs/" not in paths
    assert "SOCKLAB_RUNS" not in run  # so the runs are in ./runs of the working directory


def test_the_grading_example_shards_cover_every_scenario_and_merge() -> None:
    """Its matrix names shards 1..N of N, and its report job merges what they upload."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github/examples/grade-client.yml").read_text())
    job = workflow["jobs"]["socklab"]
    shards = job["strategy"]["matrix"]["shard"]
    run = next(s["run"] for s in job["steps"] if "suite" in s.get("run", ""))
    count = int(run.split("--shard ${{ matrix.shard }}/")[1].split()[0])
    assert shards == list(range(1, count + 1))
    merge = next(s["run"] for s in workflow["jobs"]["report"]["steps"] if "run" in s)
    assert "socklab junit-merge socklab-results.xml" in merge
