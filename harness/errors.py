"""One root error and the few kinds a user sees; the CLI maps each to a message and exit code."""

import os
import shutil
import sys


class SocklabError(Exception):
    """Root of every error socklab raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class ScenarioError(SocklabError):
    """A scenario file or name is wrong: nothing was run."""


class BackendUnavailable(SocklabError):
    """The hosts cannot be brought up here (no Docker engine, not root, no image)."""


class FaultUnsupported(SocklabError):
    """This kernel lacks what a fault needs (for example CONFIG_NET_SCH_NETEM)."""


class RunError(SocklabError):
    """A step of a run failed in a way that is not an observation (a program would not start)."""


def command() -> str:
    """How to run this socklab again, for a hint: its own path where it was started as
    `socklab` (a venv's, pip's, the box's), else through this Python."""
    if os.path.basename(sys.argv[0]) == "socklab":
        return os.path.abspath(sys.argv[0])
    return shutil.which("socklab") or f"{sys.executable} -m socklab.cli"


def sudo_hint() -> str:
    return f"sudo -E {command()} ..."
