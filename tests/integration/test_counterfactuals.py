"""The project's mutation test: each scenario's counterfactual, run for real on netns, makes the
expectations it names fail, and no other (unless listed under may_change), without a program
merely crashing. A counterfactual whose expectations still pass shows a check that cannot fail;
one that breaks more than it says, or crashes a program, proves nothing: each fails here. That
every scenario passes unchanged is test_scenarios.py's."""

from __future__ import annotations

import pytest
from socklab.judge import proof
from socklab.scenario import model as scenario

from tests.conftest import socklab

CASES = [
    pytest.param(name, index, id=f"netns:{name}:{cf.name}")
    for name in scenario.names()
    for index, cf in enumerate(scenario.load_named(name).counterfactuals)
]


def test_every_scenario_has_a_counterfactual() -> None:
    assert {name for name, *_ in (case.values for case in CASES)} == set(scenario.names())


@pytest.mark.parametrize(("name", "index"), CASES)
def test_the_counterfactual_makes_its_expectations_fail(
    name: str, index: int, clean_machine: None
) -> None:
    counterfactual = scenario.load_named(name).counterfactuals[index]
    result = socklab("run", name, "--backend", "netns", "--counterfactual", str(index), "--json")
    assert result.code == 1, f"{name}: {counterfactual.name}\n{result.stderr[-3000:]}"
    data = result.json()
    wrong = proof.defects(counterfactual, data["expectations"], data["steps"])
    assert wrong == [], f"{name}: with '{counterfactual.name}': {wrong}"
