"""Roles and plans: a user's program takes the book's program's place, or says why not."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from socklab.errors import ScenarioError
from socklab.report.html import write_index
from socklab.run.plan import prepare
from socklab.run.suite import Result, junit
from socklab.scenario import model as scenario
from socklab.scenario.roles import fits, replace


def exe(folder: Path, name: str, mode: int = 0o755) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


def test_every_step_playing_the_role_runs_the_users_command() -> None:
    scen, played, skipped = replace(scenario.load_named("unreachable"), {"client": ["/x/mycli"]})
    assert played == ["unreachable", "prohibited", "unreachable-delayed"] and skipped == []
    runs = [s.run for s in scen.steps if s.run]
    assert all(r.command == ["/x/mycli"] and r.program is None for r in runs)
    assert [r.args for r in runs] == [["{server}"], ["{lan2.unassigned}"], ["{unrouted}"]]


def test_a_step_that_needs_more_than_the_book_keeps_its_program_and_says_why() -> None:
    _, played, skipped = replace(scenario.load_named("udp-connected"), {"client": ["/x/udpcli01"]})
    assert played == ["unconnected"]
    assert [(s.step, s.role) for s in skipped] == [("connected", "client")]
    assert "8.17" in skipped[0].why


def test_a_program_named_after_a_book_program_plays_only_that_programs_steps() -> None:
    _, played, skipped = replace(scenario.load_named("wan"), {"server": ["/x/udpserv01"]})
    assert played == ["udp-server"]
    assert "played by tcpserv01" in skipped[0].why


def test_a_scenario_without_the_role_is_refused_by_name() -> None:
    with pytest.raises(ScenarioError, match="no step that plays the server role"):
        replace(scenario.load_named("refused"), {"server": ["/x/srv"]})


def test_suite_picks_the_scenarios_a_named_program_fits() -> None:
    names = [
        n for n in scenario.names() if fits(scenario.load_named(n), {"client": ["daytimetcpcli"]})
    ]
    assert {"refused", "timeout", "nohost", "unreachable", "netunreach"} <= set(names)
    assert "tcp-echo" not in names


def test_a_missing_or_unexecutable_command_is_a_usage_error_naming_the_step(tmp_path: Path) -> None:
    with pytest.raises(
        ScenarioError, match=r"steps\.0\.run\.command \(client\): .*nope does not exist"
    ):
        prepare("refused", roles={"client": str(tmp_path / "nope")})
    exe(tmp_path, "plain", mode=stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(ScenarioError, match="is not executable"):
        prepare("refused", roles={"client": str(tmp_path / "plain")})


def test_the_programs_directory_is_mounted_unless_another_is_named(tmp_path: Path) -> None:
    mine = exe(tmp_path, "daytimetcpcli")
    plan = prepare("refused", roles={"client": f"{mine} -v"})
    assert plan.mount == tmp_path and plan.played == ["client"]
    step = plan.scenario.steps[0].run
    assert step is not None and step.command == [str(mine), "-v"]
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(ScenarioError, match="not inside the mounted directory"):
        prepare("refused", roles={"client": str(mine)}, mount=str(other))


def test_junit_has_one_case_per_scenario_with_failures_and_skips(tmp_path: Path) -> None:
    results = [
        Result("refused", "pass", 1.0, "ECONNREFUSED", "", []),
        Result("timeout", "FAIL", 7.0, "success", "", ["connect() fails with ETIMEDOUT: success"]),
        Result("daytime", "skipped", 1.0, "client: prints getsockname", "", []),
    ]
    path = tmp_path / "j.xml"
    junit(results, "netns", path)
    root = ET.parse(path).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "1"
    cases = {case.get("name"): case for case in root}
    failure = cases["timeout"].find("failure")
    assert failure is not None and "ETIMEDOUT" in (failure.text or "")
    assert cases["daytime"].find("skipped") is not None
    assert cases["refused"].find("failure") is None


def test_a_junit_failure_message_names_the_failed_expectations_and_the_run_folder(
    tmp_path: Path,
) -> None:
    failures = [
        "expected connect() fails with ETIMEDOUT; observed success",
        "expected 3 SYNs on lan1; observed 1",
    ]
    results = [Result("timeout", "FAIL", 7.0, "success", "", failures, "runs/timeout-1")]
    path = tmp_path / "j.xml"
    junit(results, "netns", path)
    failure = ET.parse(path).getroot().find("testcase/failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert message.startswith("2 failed: expected connect() fails with ETIMEDOUT; observed")
    assert "(and 1 more)" in message and message.endswith("run folder runs/timeout-1")
    assert "expected 3 SYNs on lan1; observed 1" in (failure.text or "")
    assert "run folder: runs/timeout-1" in (failure.text or "")


def test_the_suite_index_says_whose_program_was_graded_and_counts_verdicts(
    tmp_path: Path,
) -> None:
    results = [
        Result("refused", "pass", 1.0, "ECONNREFUSED", "", []),
        Result("timeout", "FAIL", 7.0, "success", "", ["expected x; observed y"]),
        Result("daytime", "skipped", 1.0, "no role", "", []),
    ]
    page = write_index(results, "netns", 9.0, tmp_path, {"client": "./mycli --fast"})
    text = page.read_text()
    assert "your client <code>./mycli --fast</code>" in text
    assert '1 passed</span>, <span class="FAIL">1 failed</span>' in text
    assert "1 skipped" in text
    plain = write_index(results, "netns", 9.0, tmp_path / "b").read_text()
    assert "socklab&#39;s own programs" in plain or "socklab's own programs" in plain
