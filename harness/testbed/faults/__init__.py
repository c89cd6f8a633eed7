"""Faults: declarative, applied into a host's network namespace, each able to undo itself.

The registry is explicit: a fault kind maps to the function that applies it, and applying
returns the undo.
"""

from __future__ import annotations

from ...errors import FaultUnsupported
from ...scenario.model import Fault
from .base import Applier, FaultContext, Undo
from .link import apply_link
from .simple import apply_drop, apply_no_default_route, apply_route, apply_sysctl

REGISTRY: dict[str, Applier] = {
    "route": apply_route,
    "no_default_route": apply_no_default_route,
    "sysctl": apply_sysctl,
    "drop": apply_drop,
    "link": apply_link,
}


def apply(fault: Fault, ctx: FaultContext) -> Undo:
    kind = fault.kind()
    applier = REGISTRY.get(kind)
    if applier is None:
        raise FaultUnsupported(f"no applier registered for fault kind {kind!r}")
    return applier(fault.host, fault, ctx)


__all__ = ["REGISTRY", "FaultContext", "Undo", "apply"]
