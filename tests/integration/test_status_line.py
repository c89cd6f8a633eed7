"""What a person at a terminal sees while a run waits on a kernel timer: a status line naming
the running step and its time against its deadline (stderr); a pipe gets none of it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT, socklab

RUN = f"{sys.executable} -m socklab.cli run udp-noserver --backend netns"


def test_a_terminal_sees_the_running_step_and_its_deadline(clean_machine: None) -> None:
    # script(1) gives the run a pseudo-terminal, as a person's shell would
    done = subprocess.run(
        ["script", "-qec", RUN, "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert re.search(r"client on client: \d\.\d s of its 3 s deadline", done.stdout)
    assert "PASSED" in done.stdout


def test_a_pipe_gets_no_status_line(clean_machine: None) -> None:
    result = socklab("run", "udp-noserver", "--backend", "netns")
    assert result.code == 0, result.stderr[-2000:]
    assert "deadline" not in result.stderr and "PASSED" in result.stdout
