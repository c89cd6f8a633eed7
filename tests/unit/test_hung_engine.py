"""A Docker engine that stops answering (dockerd hung here once) gives a message, not a
traceback: the SDK's timeout is a requests exception, not a DockerException."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from harness import clean
from harness.backends import compose
from harness.errors import BackendUnavailable


class HungClient:
    def ping(self) -> None:
        raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30)")


def test_an_engine_that_never_answers_the_ping_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compose.docker, "from_env", lambda **_: HungClient())
    with pytest.raises(BackendUnavailable, match="no Docker engine answers: Read timed out"):
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
