"""The term language of expectations, parsed once; the scenario checks it, observations read it.

`{client}`, `{lan1.unassigned}`            addresses of the testbed
`{call.STEP.CALL.FIELD}`                    a field of the step's first such system call
`{event.STEP.EVENT.FIELD...}`               a field a built-in program reported
`call:STEP.CALL.FIELD`, `event:STEP.EVENT.FIELD`, `counter:BEFORE:AFTER:KEY`, joined by ` + `
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([a-z0-9_.-]+)\}")
# A name in an expectation may stand for several system calls (the C library picks one).
CALL_FAMILIES = {
    "accept": ("accept", "accept4"),
    "recv": ("recvfrom", "recvmsg", "recvmmsg", "read", "readv"),
    "send": ("sendto", "sendmsg", "sendmmsg", "write", "writev"),
}
CALL_FIELDS = ("errno", "elapsed", "result", "port", "addr", "count", "value")


def call_names(name: str) -> tuple[str, ...]:
    return CALL_FAMILIES.get(name, (name,))


@dataclass(frozen=True)
class Term:
    """One reference into the observations: `kind` is call, event or counter."""

    kind: str
    parts: tuple[str, ...]

    @property
    def label(self) -> str:
        return ".".join(self.parts) if self.kind != "counter" else ":".join(self.parts)


class TermError(ValueError):
    """A term that names nothing the observations can hold (a typo): a scenario error."""


def parse_term(text: str) -> Term:
    """`call:STEP.CALL.FIELD`, `event:STEP.EVENT.FIELD...` or `counter:BEFORE:AFTER:KEY`."""
    kind, sep, rest = text.partition(":")
    if not sep:
        raise TermError(f"{text!r}: expected call:..., event:... or counter:...")
    if kind == "counter":
        parts = tuple(rest.split(":"))
        if len(parts) != 3 or not all(parts):
            raise TermError(f"{text!r}: expected counter:BEFORE:AFTER:KEY")
        return Term(kind, parts)
    parts = tuple(rest.split("."))
    if kind not in ("call", "event") or len(parts) < 3 or not all(parts):
        raise TermError(f"{text!r}: expected {kind}:STEP.NAME.FIELD")
    if kind == "call" and (len(parts) != 3 or parts[2] not in CALL_FIELDS):
        raise TermError(f"{text!r}: a call field is one of {', '.join(CALL_FIELDS)}")
    return Term(kind, parts)


def terms_of(text: str) -> list[Term]:
    return [parse_term(part) for part in text.split(" + ")]


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def placeholder_term(key: str) -> Term | None:
    """`{call.S.C.F}` / `{event.S.E.F}` as a term; None for an address name."""
    kind, _, rest = key.partition(".")
    if kind in ("call", "event") and rest:
        return parse_term(f"{kind}:{rest}")
    return None
