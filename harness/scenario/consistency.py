"""Does every name in a scenario refer to something? Checked before any host is up.

A typo must never become a literal that silently matches nothing: `from: sever` under a
`max: 0` would pass with no evidence at all. So every address name, placeholder, term, step,
snapshot and captured link an expectation uses is checked here, and a problem names its field.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from .terms import (
    TermError,
    evaluate,
    formula_terms,
    parse_term,
    placeholder_term,
    placeholders,
    terms_of,
)
from .topology import HOSTS, Topology

ADDRESS_NAMES = set(Topology(0).names()) | set(HOSTS)


def loopback(text: str) -> bool:
    """127.0.0.0/8 is the same in every host and on every testbed: a literal is no typo."""
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def address_problem(
    name: str,
    steps: set[str],
    untraced: frozenset[str] | set[str] = frozenset(),
    snapshots: frozenset[str] | set[str] = frozenset(),
) -> str | None:
    """None if `name` (a placeholder's inside) names something a run can fill."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "step" and parts[2] == "port":
        return None if parts[1] in steps else f"{{{name}}}: no step named {parts[1]!r}"
    try:
        term = placeholder_term(name)
    except TermError as err:
        return str(err)
    if term is None:
        if name in ADDRESS_NAMES:
            return None
        return f"{{{name}}}: unknown name; known: {', '.join(sorted(ADDRESS_NAMES))}"
    if term.kind == "counter":
        unknown = [part for part in term.parts[:-1] if part not in snapshots]
        return f"{{{name}}}: no snapshot named {unknown[0]!r}" if unknown else None
    if term.parts[0] not in steps:
        return f"{{{name}}}: no step named {term.parts[0]!r}"
    if term.kind == "call" and term.parts[0] in untraced:
        return f"{{{name}}}: step {term.parts[0]!r} is untraced: its calls are not recorded"
    return None


def texts(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside a scenario's data, with its field path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from texts(item, f"{path}.{index}")


def problems(data: dict[str, Any], steps: set[str], snapshots: set[str]) -> list[str]:
    """`data` is the scenario as plain data (model_dump by alias)."""
    found = []
    untraced = {
        s["run"]["name"] for s in data.get("steps", []) if s.get("run") and s["run"]["untraced"]
    }
    for path, text in texts(data, ""):
        if path.startswith(("book.", "explain", "title")):
            continue  # prose: braces there are the book's, not placeholders
        for name in placeholders(text):
            problem = address_problem(name, steps, untraced, snapshots)
            if problem:
                found.append(f"{path}: {problem}")
    for index, step in enumerate(data.get("steps", [])):
        for number, line in enumerate((step.get("run") or {}).get("stdin") or []):
            gate = line.get("after_ready") if isinstance(line, dict) else None
            if gate is not None and gate not in steps:
                found.append(
                    f"steps.{index}.run.stdin.{number}.after_ready: no step named {gate!r}"
                )
    captured = {c["link"] for c in data.get("capture", [])}
    captures = {(c["host"], c["link"]) for c in data.get("capture", [])}
    for index, expectation in enumerate(data.get("expect", [])):
        found += expectation_problems(
            expectation, f"expect.{index}", steps, snapshots, captured, untraced, captures
        )
        kind, body = next((k, v) for k, v in expectation.items() if v is not None)
        judged_by_calls = kind in ("errno", "elapsed", "blocked")
        if kind == "exit" and body.get("code") is None:
            judged_by_calls = True  # still blocked: seen in the trace
        if judged_by_calls and body["step"] in untraced:
            found.append(
                f"expect.{index}.{kind}.step: {body['step']!r} is untraced: its calls are not "
                "recorded"
            )
    return found


def patterns(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "match" in body:
        yield "match", body["match"]
    for index, pattern in enumerate(body.get("sequence") or []):
        yield f"sequence.{index}", pattern


def expectation_problems(
    expectation: dict[str, Any],
    where: str,
    steps: set[str],
    snaps: set[str],
    captured: set[str],
    untraced: frozenset[str] | set[str] = frozenset(),
    captures: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> list[str]:
    found = []
    kind, body = next((k, v) for k, v in expectation.items() if v is not None)
    where = f"{where}.{kind}"
    for sub, pattern in patterns(body):
        for key in ("from", "to"):
            name = pattern.get(key)
            if name is not None and name not in ADDRESS_NAMES and not loopback(name):
                found.append(
                    f"{where}.{sub}.{key}: unknown host or address {name!r}; known: "
                    f"{', '.join(sorted(ADDRESS_NAMES))}"
                )
        link, host = pattern.get("link"), pattern.get("host")
        ends = [str(pattern.get(key) or "").split(".")[0] for key in ("from", "to")]
        if link not in (None, "lo") and ends[0] == ends[1] and ends[0] in HOSTS:
            found.append(
                f"{where}.{sub}: from {ends[0]} to {ends[0]} on {link}: a host's packets to "
                "itself never cross a link (only lo): a pattern there could never match"
            )
        if link is not None and link not in captured:
            found.append(
                f"{where}.{sub}.link: {link} is not captured (capture: "
                f"{', '.join(sorted(captured)) or 'nothing'}); a pattern there could never match"
            )
        elif link == "lo" and host is None:
            found.append(
                f"{where}.{sub}.link: lo is in every host: say whose (host: client, router "
                "or server, one that captures lo)"
            )
        elif host is not None and (host, link) not in captures and link is not None:
            found.append(
                f"{where}.{sub}.host: {host} does not capture {link}; a pattern there could "
                "never match"
            )
        elif host is not None and link is None and not any(h == host for h, _ in captures):
            found.append(f"{where}.{sub}.host: {host} captures nothing")
    if kind in ("packets", "packet_count", "timing") and not captured:
        found.append(f"{where}: packet expectations need a capture")
    for key in ("before", "after", "snapshot"):
        if key in body and body[key] not in snaps:
            found.append(f"{where}.{key}: no snapshot named {body[key]!r}")
    term_texts = [(f"{where}.of", body.get("of")), (f"{where}.equals", body.get("equals"))]
    term_texts += [(f"{where}.terms.{i}", t) for i, t in enumerate(body.get("terms") or [])]
    if kind == "value":  # a bound may be a formula of terms
        for key in ("min", "max"):
            if isinstance(body.get(key), str):
                try:
                    evaluate(body[key], lambda term: 1.0)
                except TermError as err:
                    found.append(f"{where}.{key}: {err}")
                    continue
                term_texts.append((f"{where}.{key}", body[key]))
    for field, text in term_texts:
        if text is None:
            continue
        try:
            listed = formula_terms(str(text)) if field.endswith(("min", "max")) else None
            for term in listed if listed is not None else terms_of(str(text)):
                if term.kind == "sysctl":
                    if term.parts[0] not in HOSTS:
                        found.append(f"{field}: no host named {term.parts[0]!r}")
                elif term.kind == "counter":
                    missing = [s for s in term.parts[:-1] if s not in snaps]
                    if missing:
                        found.append(f"{field}: no snapshot named {missing[0]!r}")
                elif term.parts[0] not in steps:
                    found.append(f"{field}: no step named {term.parts[0]!r}")
                elif term.kind == "call" and term.parts[0] in untraced:
                    found.append(f"{field}: step {term.parts[0]!r} is untraced")
        except TermError as err:
            found.append(f"{field}: {err}")
    return found


__all__ = ["ADDRESS_NAMES", "parse_term", "problems"]
