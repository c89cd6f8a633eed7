"""Every scenario, run for real through the CLI, on both backends; ids like netns:refused.

These need root, network namespaces and (for compose) a Docker engine with the node image:
`make test` provides all three. Nothing here is mocked.
"""

from __future__ import annotations

import pytest
from socklab.scenario import model as scenario

from tests.conftest import BACKENDS, socklab

CASES = [
    pytest.param(backend, name, id=f"{backend}:{name}")
    for backend in BACKENDS
    for name in scenario.names()
]


@pytest.mark.parametrize(("backend", "name"), CASES)
def test_scenario_passes_and_leaves_nothing(backend: str, name: str, clean_machine: None) -> None:
    result = socklab("run", name, "--backend", backend, "--json")
    assert result.code == 0, (
        f"{name} failed on {backend}:\n{result.stdout[-4000:]}\n{result.stderr[-3000:]}"
    )
    report = result.json()
    assert report["scenario"] == name
    assert report["backend"] == backend
    assert report["passed"] is True
    assert report["expectations"] and all(e["passed"] for e in report["expectations"])
    assert report["packets"], "no packet was captured"
