"""The term language of expectations, parsed once; the scenario checks it, observations read it.

`{client}`, `{lan1.unassigned}`            addresses of the testbed
`{call.STEP.CALL.FIELD}`                    a field of the step's first such system call
`{call.STEP.CALL.N.FIELD}`                  a field of its Nth such call (1, 2 ...)
`{counter.SNAPSHOT.KEY}`                    a kernel counter at a snapshot
`call:STEP.CALL.FIELD`, `counter:BEFORE:AFTER:KEY` (the change), `counter:SNAPSHOT:KEY` (the
value), joined by ` + `
`sysctl:HOST:KEY`                           a setting as the host's namespace read it in the run
A value's bounds may be formulas of terms and numbers: `2 * min(225280, sysctl:server:KEY)`.

Every term is something the harness observed from outside the hosts (a traced call, a counter
or a setting read from the host's namespace); nothing a program says about itself is a term.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.-]+)\}")  # counters are named Udp.InDatagrams
# A name in an expectation may stand for several system calls (the C library picks one).
CALL_FAMILIES = {
    "accept": ("accept", "accept4"),
    "recv": ("recvfrom", "recvmsg", "recvmmsg", "read", "readv"),
    "send": ("sendto", "sendmsg", "sendmmsg", "write", "writev"),
}
# count: how many such calls succeeded; pids: how many processes made one (a concurrent
# server's children each read their own connection)
CALL_FIELDS = ("errno", "elapsed", "result", "port", "addr", "count", "pids", "value")


def call_names(name: str) -> tuple[str, ...]:
    return CALL_FAMILIES.get(name, (name,))


@dataclass(frozen=True)
class Term:
    """One reference into the observations: `kind` is call, counter or sysctl."""

    kind: str
    parts: tuple[str, ...]

    @property
    def label(self) -> str:
        return ".".join(self.parts) if self.kind != "counter" else ":".join(self.parts)


class TermError(ValueError):
    """A term that names nothing the observations can hold (a typo): a scenario error."""


def parse_term(text: str) -> Term:
    """`call:STEP.CALL.FIELD`, `counter:BEFORE:AFTER:KEY`, `counter:SNAPSHOT:KEY` or
    `sysctl:HOST:KEY`."""
    kind, sep, rest = text.partition(":")
    if kind == "event":
        raise TermError(
            f"{text!r}: event: terms are gone, a program's report about itself is not evidence; "
            "use what the harness observes: call:STEP.CALL.FIELD, counter:SNAPSHOT:KEY "
            "(listen.PORT.queued is a listener's accept queue)"
        )
    if not sep:
        raise TermError(f"{text!r}: expected call:..., counter:... or sysctl:...")
    if kind == "counter":
        parts = tuple(rest.split(":"))
        if len(parts) not in (2, 3) or not all(parts):
            raise TermError(f"{text!r}: expected counter:BEFORE:AFTER:KEY or counter:SNAPSHOT:KEY")
        return Term(kind, parts)
    if kind == "sysctl":
        parts = tuple(rest.split(":"))
        if len(parts) != 2 or not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", parts[1]):
            raise TermError(
                f"{text!r}: expected sysctl:HOST:KEY, e.g. sysctl:server:net.core.wmem_max"
            )
        return Term(kind, parts)
    parts = tuple(rest.split("."))
    if kind != "call" or len(parts) not in (3, 4) or not all(parts):
        raise TermError(f"{text!r}: expected call:..., counter:... or sysctl:...")
    if len(parts) == 4 and (
        not parts[2].isdigit() or int(parts[2]) < 1 or parts[3] in ("count", "pids")
    ):
        raise TermError(
            f"{text!r}: expected call:STEP.CALL.N.FIELD, N the Nth such call (1, 2 ...)"
        )
    if parts[-1] not in CALL_FIELDS:
        raise TermError(f"{text!r}: a call field is one of {', '.join(CALL_FIELDS)}")
    return Term(kind, parts)


def terms_of(text: str) -> list[Term]:
    return [parse_term(part) for part in text.split(" + ")]


def placeholders(text: str) -> list[str]:
    return PLACEHOLDER.findall(text)


def placeholder_term(key: str) -> Term | None:
    """`{call.S.C.F}` / `{counter.SNAPSHOT.KEY}` / `{delta.BEFORE.AFTER.KEY}` (a counter's
    change between two snapshots) as a term; None for an address name."""
    kind, _, rest = key.partition(".")
    if kind == "delta" and rest:
        before, _, tail = rest.partition(".")
        after, _, name = tail.partition(".")
        return parse_term(f"counter:{before}:{after}:{name}")
    if kind == "counter" and rest:
        snapshot, _, name = rest.partition(".")
        return parse_term(f"counter:{snapshot}:{name}")
    if kind in ("call", "event") and rest:
        return parse_term(f"{kind}:{rest}")
    return None


FORMULA_TERM = re.compile(r"\b(?:call|event|counter|sysctl):[A-Za-z0-9_.:-]+")
FORMULA_FUNCTIONS = {"min": min, "max": max}


def formula_terms(text: str) -> list[Term]:
    return [parse_term(found) for found in FORMULA_TERM.findall(text)]


def evaluate(text: str, value_of: Callable[[Term], float | None]) -> float | None:
    """A formula of terms, numbers, + - * and min()/max(); None when a term has no value.
    Nothing else is accepted (TermError): a scenario file is data, not code."""
    terms: list[Term] = []

    def name(match: re.Match[str]) -> str:
        terms.append(parse_term(match.group(0)))
        return f"_t{len(terms) - 1}"

    try:
        tree = ast.parse(FORMULA_TERM.sub(name, text.strip()), mode="eval")
    except SyntaxError as err:
        raise TermError(f"{text!r}: not a formula ({err.msg})") from err
    values = [value_of(term) for term in terms]

    def walk(node: ast.AST) -> float | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            if isinstance(node.value, bool):
                raise TermError(f"{text!r}: a formula has no true or false")
            return float(node.value)
        if isinstance(node, ast.Name) and re.fullmatch(r"_t\d+", node.id):
            return values[int(node.id[2:])]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = walk(node.operand)
            return None if inner is None else -inner
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
            left, right = walk(node.left), walk(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Add):
                return left + right
            return left - right if isinstance(node.op, ast.Sub) else left * right
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORMULA_FUNCTIONS
            and node.args
            and not node.keywords
        ):
            args = [walk(arg) for arg in node.args]
            found = [a for a in args if a is not None]
            return FORMULA_FUNCTIONS[node.func.id](found) if len(found) == len(args) else None
        raise TermError(f"{text!r}: a formula has terms, numbers, + - * and min()/max() only")

    return walk(tree.body)
