"""The scenario schema: every shipped file loads; a bad file names the file and the field."""

from pathlib import Path

import pytest
from socklab.errors import ScenarioError
from socklab.scenario import model as scenario

MINIMAL = """
name: demo
title: a demo
book: {section: s, shows: x, trace: t}
explain: e
steps:
  - run: {name: client, host: client, program: daytimetcpcli, args: ["{server}"]}
expect:
  - exit: {step: client, code: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", scenario.names())
def test_every_shipped_scenario_validates(name: str) -> None:
    loaded = scenario.load_named(name)
    assert loaded.name == name


def test_minimal_scenario_loads_with_router_captures_by_default(tmp_path: Path) -> None:
    loaded = scenario.load(write(tmp_path, MINIMAL))
    assert [(c.host, c.link) for c in loaded.capture] == [("router", "lan1"), ("router", "lan2")]
    assert loaded.steps[0].kind() == "run"


def test_unknown_host_names_the_field_and_the_choices(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("host: client", "host: laptop"))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert str(path) in str(caught.value)
    assert "steps.0.run.host" in caught.value.hint
    assert "'client', 'router' or 'server'" in caught.value.hint


def test_step_with_two_kinds_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("  - run:", "  - sleep: 1\n    run:"))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert "exactly one of: run, sleep, signal, wait" in caught.value.hint


def test_expectation_on_an_unknown_step_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("exit: {step: client", "exit: {step: ghost"))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert "refers to step 'ghost'" in caught.value.hint


def test_misspelt_field_is_rejected_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("code: 1", "code: 1, cdoe: 2"))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert "expect.0.exit.cdoe" in caught.value.hint


def test_broken_yaml_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not valid YAML"):
        scenario.load(write(tmp_path, "name: [unclosed"))


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario.path_of("refsed")
    assert "did you mean 'refused'" in caught.value.hint


@pytest.mark.parametrize(
    ("expectation", "field", "why"),
    [
        ("output: {step: client}", "expect.0.output", "nothing to look for"),
        ("output: {step: client, contains: ''}", "expect.0.output", "nothing to look for"),
        ("output: {step: client, lacks: x, count: 2}", "expect.0.output", "count counts"),
        ("packet_count: {match: {proto: tcp}}", "expect.0.packet_count", "no bound"),
        ("packet_count: {match: {proto: tcp}, min: 3, max: 1}", "expect.0.packet_count", "above"),
        ("counter: {key: Udp.InErrors, before: a, after: b}", "expect.0.counter", "no bound"),
        ("elapsed: {step: client, min: 2, max: 1}", "expect.0.elapsed", "above max"),
        ("value: {of: 'counter:a:b:Udp.InErrors'}", "expect.0.value", "no bound"),
        ("value: {of: 'counter:a:b:Udp.InErrors', min: 5, max: 1}", "expect.0.value", "above"),
    ],
)
def test_an_expectation_that_cannot_fail_is_refused(
    tmp_path: Path, expectation: str, field: str, why: str
) -> None:
    path = write(tmp_path, MINIMAL.replace("exit: {step: client, code: 1}", expectation))
    with pytest.raises(ScenarioError) as caught:
        scenario.load(path)
    assert field in caught.value.hint and why in caught.value.hint
