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
    family: Literal[4, 6] | None = Field(
        default=None, description="only in runs over this protocol family (--family)"
    )

    @model_validator(mode="after")
    def one(self) -> When:
        given = [x for x in (self.sysctl, self.no_sysctl, self.family) if x is not None]
        if len(given) != 1:
            raise ValueError("needs exactly one of: sysctl, no_sysctl, family")
        return self

    def fact(self) -> str:
        if self.family is not None:
            return f"family:{self.family}"
        return f"sysctl:{self.sysctl or self.no_sysctl}"

    def wanted(self) -> bool:
        return self.sysctl is not None or self.family is not None

    def describe(self) -> str:
        if self.family is not None:
            return f"IPv{self.family} runs"
        key = self.sysctl or self.no_sysctl
        return f"kernels with {key}" if self.sysctl else f"kernels without {key}"


def kernel_fact(fact: str, family: int = 4) -> bool:
    """`sysctl:KEY`: does this kernel have the setting? `family:N`: is this run over IPv`N`?"""
    kind, _, key = fact.partition(":")
    if kind == "family":
        return int(key) == family
    assert kind == "sysctl"
    return Path("/proc/sys", *key.split(".")).exists()
