"""Counterfactual changes: edits of a scenario's setup by path, never of its expectations."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from socklab.scenario import model as scenario
from socklab.scenario.counterfactual import Change, apply


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
