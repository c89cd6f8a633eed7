"""Rules go in through one iptables-restore per tool, and nothing is trusted without the
listing: a rule the restore did not leave in place is inserted (or deleted) one by one."""

from __future__ import annotations

from typing import Any

import pytest

from harness.backends import compose


class Done:
    def __init__(self, code: int) -> None:
        self.returncode, self.stdout, self.stderr = code, "", ""


def test_a_rule_missing_after_a_successful_restore_is_inserted_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = compose.rules("abc123", "lan1")
    assert any(chain == "INPUT" for _, chain, _ in made)
    restored: list[str] = []
    alone: list[tuple[str, list[str]]] = []

    def run(argv: list[str], **options: Any) -> Done:
        restored.append(options["input"])
        return Done(0)

    # the restore "succeeded", yet the listing shows every rule but the INPUT ones
    listed = {"abc123": [rule for rule in made if rule[1] != "INPUT"]}
    monkeypatch.setattr(compose.subprocess, "run", run)
    monkeypatch.setattr(compose, "owned_rules", lambda chains: listed)
    monkeypatch.setattr(
        compose, "iptables", lambda args, check=True, tool="iptables": alone.append((tool, args))
    )
    compose.apply_rules("-I", made, check=True)
    assert any("-I INPUT -i sl-abc123-lan1" in text for text in restored)
    assert alone == [(tool, ["-I", chain, *spec]) for tool, chain, spec in made if chain == "INPUT"]


def test_a_rule_still_listed_after_a_delete_is_deleted_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = compose.rules("abc123", "lan2")
    alone: list[list[str]] = []
    monkeypatch.setattr(compose.subprocess, "run", lambda argv, **options: Done(0))
    monkeypatch.setattr(compose, "owned_rules", lambda chains: {"abc123": made[:1]})
    monkeypatch.setattr(
        compose, "iptables", lambda args, check=True, tool="iptables": alone.append(args)
    )
    compose.apply_rules("-D", made, check=False)
    assert alone == [["-D", made[0][1], *made[0][2]]]
