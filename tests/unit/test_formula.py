"""Bounds that are formulas of what the run read: the kernel's rule, not one machine's number
(udp-rcvbuf: granted = 2 x min(asked, net.core.rmem_max))."""

from __future__ import annotations

import pytest
from socklab.judge.verdict import check_value
from socklab.observe.observations import Observations
from socklab.scenario.expectations import Value
from socklab.scenario.terms import Term, TermError, evaluate

RULE = "2 * min(225280, sysctl:server:net.core.rmem_max)"


def run_with(rmem_max: int | None, granted: int) -> Observations:
    obs = Observations(0.0, {}, [], [], {})
    obs.sysctls = {} if rmem_max is None else {"server:net.core.rmem_max": rmem_max}
    obs.counters = {"a": {"X.y": 0}, "b": {"X.y": granted}}
    return obs


@pytest.mark.parametrize(
    ("rmem_max", "granted", "passed"),
    [
        (212992, 425984, True),  # Debian's and GitHub's default
        (4194304, 450560, True),  # a tuned machine
        (212992, 450560, False),  # one machine's number, expected on another
        (4194304, 425984, False),
    ],
)
def test_the_bound_follows_the_setting_the_run_read(
    rmem_max: int, granted: int, passed: bool
) -> None:
    spec = Value(of="counter:a:b:X.y", min=RULE, max=RULE)
    outcome = check_value(spec, run_with(rmem_max, granted))
    assert outcome.passed is passed, outcome
    assert f"= {2 * min(225280, rmem_max)}" in outcome.expected


def test_a_setting_the_run_did_not_read_fails() -> None:
    outcome = check_value(Value(of="counter:a:b:X.y", min=RULE), run_with(None, 425984))
    assert not outcome.passed and "= ?" in outcome.expected


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "(1).real",
        "(lambda: 1)()",
        "2 ** 64",
        "True",
        "min()",
        "2 *",
    ],
)
def test_a_formula_is_data_not_code(text: str) -> None:
    with pytest.raises(TermError):
        evaluate(text, lambda term: 1.0)


def test_terms_numbers_and_functions() -> None:
    seen: list[Term] = []

    def value(term: Term) -> float:
        seen.append(term)
        return 10.0

    assert evaluate("max(1, 2) * counter:a:b:K.x - -3 + min(4, 5)", value) == 27.0
    assert seen == [Term("counter", ("a", "b", "K.x"))]
    assert evaluate("1 + call:s.c.value", lambda term: None) is None
