"""Counterfactuals: the proof that a scenario's verdict can fail.

Each scenario names at least one change to its own setup (remove a fault, change a sysctl,
swap a program or an argument) and the expectations that must then fail. `socklab suite
--counterfactuals` runs each scenario unchanged (it must pass) and changed, with the same
expectations; a counterfactual whose expectations still pass shows a check that cannot fail,
one that makes other expectations fail (not listed under `may_change`) or whose programs merely
crash proves nothing: each fails the suite (harness/judge/proof.py).

A change edits the scenario as data, by path (`faults.1`, `steps.0.run.args`): `set` replaces
a value, `remove` deletes an item, `insert` puts a new item into a list at an index. Only the
setup may change (faults, steps, capture); the expectations are the thing under test.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

CHANGEABLE = ("faults", "steps", "capture")


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    set: dict[str, Any] = {}
    remove: list[str] = []
    insert: dict[str, Any] = Field(default={}, description="PATH.INDEX: item, into a list")

    @model_validator(mode="after")
    def something_changes(self) -> Change:
        paths = [*self.set, *self.remove, *self.insert]
        if not paths:
            raise ValueError("a change needs at least one of: set, remove, insert")
        for path in paths:
            if path.split(".", 1)[0] not in CHANGEABLE:
                raise ValueError(
                    f"{path!r}: a counterfactual changes the setup ({', '.join(CHANGEABLE)}), "
                    "never the expectations"
                )
        return self


class Counterfactual(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=3, description="what is changed, in a few words")
    why: str = Field(default="", description="why the expectations must then fail")
    change: Change
    fails: list[int] = Field(min_length=1, description="indices into expect: (from 0)")
    may_change: list[int] = Field(
        default=[],
        description="expectations the change may also make fail (indices): every other one "
        "must still pass, so the change fails only where it says",
    )


def walk(data: Any, path: str) -> tuple[Any, str | int]:
    """The container holding `path`'s last part, and that part (an int for a list)."""
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last: str | int = int(parts[-1]) if isinstance(node, list) else parts[-1]
    return node, last


def apply(data: dict[str, Any], change: Change) -> dict[str, Any]:
    """A copy of the scenario data with the change made; ValueError names a path that is
    not there."""
    changed = copy.deepcopy(data)
    changed.pop("counterfactuals", None)
    try:
        for path, value in change.set.items():
            node, key = walk(changed, path)
            node[key] = value
        # Remove from the highest index down, so one removal does not shift the next.
        for path in sorted(change.remove, key=_index_order, reverse=True):
            node, key = walk(changed, path)
            del node[key]
        for path, value in change.insert.items():
            node, key = walk(changed, path)
            if not isinstance(node, list) or not isinstance(key, int) or key > len(node):
                raise ValueError(f"insert {path!r}: not an index into a list")
            node.insert(key, value)
    except (KeyError, IndexError, TypeError, ValueError) as err:
        raise ValueError(f"change {change.model_dump(exclude_defaults=True)}: {err}") from err
    return changed


def _index_order(path: str) -> tuple[str, int]:
    head, _, tail = path.rpartition(".")
    return (head, int(tail) if tail.isdigit() else -1)
