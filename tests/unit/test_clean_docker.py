"""Cleaning compose leftovers: a Docker engine that stops answering (dockerd hung here once)
gives a message, not a traceback (the SDK's timeout is a requests exception, not a
DockerException); and a run is forgotten only after all of its things are gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from socklab.errors import BackendUnavailable
from socklab.run import clean
from socklab.testbed.backends import compose


class HungClient:
    def ping(self) -> None:
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")


def test_an_engine_that_never_answers_the_ping_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compose.docker, "from_env", lambda **_: HungClient())
    said = r"no Docker engine answers at unix:///var/run/docker\.sock: Read timed out"
    with pytest.raises(BackendUnavailable, match=said):
        compose.engine()


def test_clean_says_what_it_left_when_the_engine_hangs_mid_listing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def hang(_client: Any) -> set[str]:
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")

    socket = tmp_path / "docker.sock"
    socket.touch()
    monkeypatch.setattr(compose, "SOCKET_PATH", str(socket))
    monkeypatch.setattr(compose, "engine", lambda: object())
    monkeypatch.setattr(compose, "owned_runs", hang)
    monkeypatch.setattr(compose, "owned_rules", dict)
    said: list[str] = []
    assert clean.clean_docker(lambda _run: True, said.append) == []
    assert len(said) == 1 and "did not answer" in said[0] and "restart dockerd" in said[0]


def test_clean_forgets_a_run_only_after_its_rules_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Forgotten first, a run's remaining rules had no live owner for a moment, and a test
    running beside it counted them as left behind."""
    order: list[str] = []
    rule = ("iptables", "INPUT", ["-i", "sl-abc123-lan1", "-j", "DROP"])
    monkeypatch.setattr(compose, "engine", lambda: object())
    monkeypatch.setattr(compose, "owned_runs", lambda _client: {"abc123"})
    monkeypatch.setattr(
        compose, "remove_owned", lambda _c, run: order.append(f"containers {run}") or []
    )
    monkeypatch.setattr(compose, "owned_rules", lambda: {"abc123": [rule]})
    monkeypatch.setattr(
        compose, "delete_rules", lambda made: order.extend(f"rule {r[2][1]}" for r in made)
    )
    monkeypatch.setattr(clean.ownership, "forget", lambda run: order.append(f"forget {run}"))
    clean.clean_docker(lambda _run: True, lambda _text: None)
    assert order == ["containers abc123", "rule sl-abc123-lan1", "forget abc123"]
