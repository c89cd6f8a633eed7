"""Counterfactual changes: edits of a scenario's setup by path, never of its expectations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from socklab.judge import proof
from socklab.scenario import model as scenario
from socklab.scenario.counterfactual import Change, Counterfactual, apply


def data() -> dict[str, object]:
    return scenario.load_named("timeout").model_dump(by_alias=True)


def test_set_remove_and_insert_edit_the_setup() -> None:
    change = Change(
        set={"faults.0.sysctl.value": 6},
        remove=["faults.1", "faults.2"],
        insert={"steps.0": {"sleep": 1}},
    )
    changed = apply(data(), change)
    assert changed["faults"][0]["sysctl"]["value"] == 6
    assert len(changed["faults"]) == 1
    assert changed["steps"][0] == {"sleep": 1}
    assert "counterfactuals" not in changed


def test_removals_do_not_shift_each_other() -> None:
    changed = apply(data(), Change(remove=["faults.0", "faults.2"]))
    assert [f["drop"]["to"] for f in changed["faults"]] == ["{server}"]


def test_the_expectations_cannot_be_changed() -> None:
    with pytest.raises(ValidationError, match="never the expectations"):
        Change(remove=["expect.0"])


def test_a_path_that_is_not_there_is_named() -> None:
    with pytest.raises(ValueError, match=r"steps\.9"):
        apply(data(), Change(set={"steps.9.run.args": []}))


def test_every_shipped_scenario_has_a_counterfactual_that_validates() -> None:
    for name in scenario.names():
        scen = scenario.load_named(name)
        assert scen.counterfactuals, f"{name} has no counterfactual"
        for index in range(len(scen.counterfactuals)):
            assert scen.variant(index).name == name


def test_a_counterfactual_naming_no_expectation_is_refused() -> None:
    raw = data()
    raw["counterfactuals"] = [
        {"name": "nothing", "change": {"remove": ["faults.1"]}, "fails": [42]}
    ]
    with pytest.raises(ValidationError, match="no expectation 42"):
        scenario.Scenario.model_validate(raw)


def test_a_counterfactual_that_breaks_the_scenario_is_refused() -> None:
    raw = data()
    raw["counterfactuals"] = [{"name": "no steps", "change": {"remove": ["steps.0"]}, "fails": [0]}]
    with pytest.raises(ValidationError, match="makes an invalid scenario"):
        scenario.Scenario.model_validate(raw)


# ---- does the changed run prove its reason (judge/proof.py) ---------------------------------
def outcome(passed: bool) -> dict[str, object]:
    return {"expected": "x", "observed": "y", "passed": passed}


def step(
    name: str, code: int | None = 1, stderr: str = "", stopped: bool = False
) -> dict[str, object]:
    return {"name": name, "exit_code": code, "stderr": stderr, "stopped_by_harness": stopped}


CF = Counterfactual.model_validate(
    {"name": "no fault", "change": {"remove": ["faults.0"]}, "fails": [0], "may_change": [2]}
)


def test_a_counterfactual_that_fails_where_it_says_proves_it() -> None:
    steps = {"client": step("client", 1, "connect error: Connection refused")}
    assert proof.defects(CF, [outcome(False), outcome(True), outcome(False)], steps) == []


def test_a_listed_expectation_that_still_passes_is_a_defect() -> None:
    (wrong,) = proof.defects(CF, [outcome(True), outcome(True), outcome(True)], {})
    assert "expect.0 still passes" in wrong


def test_an_unlisted_expectation_that_fails_too_is_a_defect() -> None:
    (wrong,) = proof.defects(CF, [outcome(False), outcome(False), outcome(True)], {})
    assert "expect.1 failed too, and is not listed" in wrong


@pytest.mark.parametrize(
    ("ended", "said"),
    [
        (step("client", 139), "crashed (SIGSEGV"),
        (
            step("client", 1, "Traceback (most recent call last):\n  ...\nKeyError: 'x'"),
            "traceback",
        ),
        (step("client", 2, "usage: tcpcli01 [-h] host\ntcpcli01: error: required"), "usage error"),
        (step("client", 1, "usage: tcpcli <IPaddress>\n"), "usage error"),
    ],
)
def test_a_program_that_merely_crashed_proves_nothing(ended: dict[str, object], said: str) -> None:
    (wrong,) = proof.defects(CF, [outcome(False), outcome(True), outcome(True)], {"c": ended})
    assert said in wrong


def test_a_program_the_harness_stopped_did_not_crash() -> None:
    stopped = {"c": step("client", 137, "", stopped=True)}
    assert proof.defects(CF, [outcome(False), outcome(True), outcome(True)], stopped) == []
