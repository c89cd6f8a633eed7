"""The building blocks of socklab's file formats: strict models (an unknown key is an error)
and one-key mappings that name the field a problem is in."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

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
