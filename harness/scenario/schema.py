"""The building blocks of socklab's file formats: strict models (an unknown key is an error)
and one-key mappings that name the field a problem is in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Host = Literal["client", "router", "server"]
Link = Literal["lan1", "lan2", "lo"]
CALL_NAME = r"^[a-z][a-z0-9_]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OneOf(Strict):
    """A mapping with exactly one of its `choices` keys set."""

    choices: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def exactly_one(self) -> OneOf:
        chosen = [name for name in self.choices if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(
                f"needs exactly one of: {', '.join(self.choices)} (got {chosen or 'none'})"
            )
        return self

    def kind(self) -> str:
        return next(name for name in self.choices if getattr(self, name) is not None)

    def body(self) -> Any:
        return getattr(self, self.kind())


class When(Strict):
    """A kernel fact a step or an expectation depends on: the sysctl exists (`sysctl:`) or it
    does not (`no_sysctl:`). Judged on the kernel that runs the scenario, and recorded in its
    observations (`facts`), so a saved run is judged as it ran."""

    sysctl: str | None = Field(default=None, pattern=r"^net\.[a-z0-9_.]+$")
    no_sysctl: str | None = Field(default=None, pattern=r"^net\.[a-z0-9_.]+$")

    @model_validator(mode="after")
    def one(self) -> When:
        if (self.sysctl is None) == (self.no_sysctl is None):
            raise ValueError("needs exactly one of: sysctl, no_sysctl")
        return self

    def fact(self) -> str:
        return f"sysctl:{self.sysctl or self.no_sysctl}"

    def wanted(self) -> bool:
        return self.sysctl is not None

    def describe(self) -> str:
        key = self.sysctl or self.no_sysctl
        return f"kernels with {key}" if self.sysctl else f"kernels without {key}"


def kernel_fact(fact: str) -> bool:
    """`sysctl:KEY`: does this kernel have the setting?"""
    kind, _, key = fact.partition(":")
    assert kind == "sysctl"
    return Path("/proc/sys", *key.split(".")).exists()
