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
