"""Bad scenario files, each refused before anything starts, with the field and what was
expected (issue #9's list and more). Every case goes through the same path as `socklab run`
and `socklab validate` (plan.prepare), and the CLI turns the error into exit 2."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from socklab.errors import ScenarioError
from socklab.run.plan import prepare

BASE: dict[str, Any] = {
    "name": "base",
    "title": "a valid scenario to break",
    "book": {"section": "s", "shows": "s", "trace": "t"},
    "explain": "e",
    "faults": [{"host": "client", "sysctl": {"key": "net.ipv4.tcp_syn_retries", "value": 2}}],
    "steps": [
        {
            "run": {
                "name": "server",
                "host": "server",
                "program": "tcpserv01",
                "background": True,
                "ready": {"tcp": 9877},
            }
        },
        {"counters": {"name": "before", "host": "server"}},
        {"run": {"name": "client", "host": "client", "program": "tcpcli01", "args": ["{server}"]}},
        {"counters": {"name": "after", "host": "server"}},
    ],
    "expect": [
        {"exit": {"step": "client", "code": 0}},
        {"errno": {"step": "client", "call": "connect", "name": None}},
        {"packets": {"sequence": [{"link": "lan1", "proto": "tcp", "flags": "S"}]}},
    ],
}
Change = Callable[[dict[str, Any]], None]


def at(path: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return change


def append(path: str, value: Any) -> Change:
    def change(data: dict[str, Any]) -> None:
        data[path].append(value)

    return change


def both(*changes: Change) -> Change:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


RUN0 = "steps.0.run"
CASES: list[tuple[str, Change | bytes, str]] = [
    ("not-utf8", b"name: caf\xe9\n", "not UTF-8"),
    ("deep-nesting", b"name: " + b"[" * 20000, "nested too deeply"),
    ("too-large", b"# " + b"x" * (1024 * 1024 + 10) + b"\n", "a scenario file is at most"),
    ("not-yaml", b"name: [unclosed\n  - :\n", "not valid YAML"),
    ("duplicate-key", b"name: a\nexpect: []\nexpect: []\n", "duplicate key 'expect'"),
    ("top-level-list", b"- name: a\n", "a mapping with name"),
    ("empty-file", b"", "a mapping with name"),
    ("unknown-top-key", at("colour", "red"), "colour: Extra inputs are not permitted"),
    ("missing-name", lambda d: d.pop("name"), "name: Field required"),
    ("bad-name", at("name", "Base"), "String should match pattern"),
    ("unknown-host", at(f"{RUN0}.host", "mainframe"), "steps.0.run.host"),
    ("user-root", at(f"{RUN0}.user", "root"), "user: root would keep root's capabilities"),
    ("number-5001-digits", b"name: x\nsteps: " + b"9" * 5001 + b"\n", "a value YAML cannot read"),
    ("argument-200-kb", at(f"{RUN0}.args", ["a" * 200_000]), "at most 4096 characters"),
    (
        "rate-zero",
        at("faults.0", {"host": "router", "link": {"network": "lan2", "rate": "0bit"}}),
        "rate",
    ),
    (
        "machine-wide-sysctl",
        at("faults.0", {"host": "server", "sysctl": {"key": "net.core.rmem_max", "value": 1}}),
        "net.core.rmem_max is machine-wide",
    ),
    (
        "capture-twice",
        at("capture", [{"host": "router", "link": "lan1"} for _ in range(40)]),
        "router on lan1 is captured twice",
    ),
    ("user-nul", at(f"{RUN0}.user", "no\x00body"), "String should match pattern"),
    ("mount-nul", at("mount", "ab\x00c"), "String should match pattern"),
    # from a second hostile test: each raised a traceback (a file name too long, a
    # UnicodeEncodeError in the report) after validate said ok
    ("name-5000", at("name", "b" * 5000), "at most 64 characters"),
    ("step-name-5000", at(f"{RUN0}.name", "s" * 5000), "at most 64 characters"),
    ("title-surrogate", b'name: x\ntitle: "\\ud800"\n', "which is no character"),
    ("unknown-step-key", at(f"{RUN0}.colour", 1), "colour: Extra inputs are not permitted"),
    ("ready-empty", at(f"{RUN0}.ready", {}), "needs exactly one of: tcp, udp, call, calling"),
    ("ready-port-70000", at(f"{RUN0}.ready", {"tcp": 70000}), "less than or equal to 65535"),
    ("program-and-command", at(f"{RUN0}.command", ["x"]), "exactly one of: program"),
    (
        "neither-program-nor-command",
        lambda d: d["steps"][0]["run"].pop("program"),
        "exactly one of: program",
    ),
    (
        "empty-command",
        lambda d: d["steps"][2]["run"].update(program=None, command=[]),
        "at least 1 item",
    ),
    ("timeout-zero", at(f"{RUN0}.timeout", 0), "greater than 0"),
    ("untraced-no-reason", at(f"{RUN0}.untraced", "fast"), "at least 10 characters"),
    (
        "signal-unknown",
        append("steps", {"signal": {"step": "server", "signal": "STOPP"}}),
        "Input should be",
    ),
    (
        "signal-unknown-step",
        append("steps", {"signal": {"step": "sever"}}),
        "refers to step 'sever'",
    ),
    (
        "duplicate-step-name",
        append("steps", {"run": {"name": "client", "host": "client", "program": "tcpcli01"}}),
        "used twice",
    ),
    ("unknown-placeholder", at("steps.2.run.args", ["{sever}"]), "{sever}: unknown name"),
    ("unknown-user", at(f"{RUN0}.user", "nosuchuser"), "no user 'nosuchuser'"),
    ("sysctl-missing", at("faults.0.sysctl.key", "net.ipv4.no_such_thing"), "no such setting"),
    (
        "sysctl-read-only",
        at("faults.0.sysctl.key", "net.ipv4.tcp_available_congestion_control"),
        "read-only",
    ),
    ("sysctl-directory", at("faults.0.sysctl.key", "net.ipv4.conf"), "a group of settings"),
    ("sysctl-not-net", at("faults.0.sysctl.key", "kernel.panic"), "String should match pattern"),
    ("sysctl-value-newline", at("faults.0.sysctl.value", "1\n2"), "not a plain value"),
    (
        "route-garbage",
        at("faults.0", {"host": "router", "route": {"type": "unreachable", "to": "somewhere"}}),
        "'somewhere' is no address or prefix",
    ),
    (
        "route-type",
        at("faults.0", {"host": "router", "route": {"type": "vanish", "to": "{server}"}}),
        "Input should be 'unreachable', 'prohibit' or 'blackhole'",
    ),
    (
        "drop-port-70000",
        at(
            "faults.0", {"host": "router", "drop": {"what": "udp", "to": "{server}", "port": 70000}}
        ),
        "less than or equal to 65535",
    ),
    (
        "link-ingress",
        at("faults.0", {"host": "router", "link": {"network": "lan1", "direction": "ingress"}}),
        "Input should be 'egress'",
    ),
    (
        "link-match",
        at(
            "faults.0",
            {"host": "router", "link": {"network": "lan2", "loss": 100, "match": "{server}"}},
        ),
        "match: Extra inputs are not permitted",
    ),
    (
        "link-not-attached",
        at("faults.0", {"host": "client", "link": {"network": "lan2"}}),
        "client is not on lan2",
    ),
    (
        "loss-150",
        at("faults.0", {"host": "router", "link": {"network": "lan2", "loss": 150}}),
        "less than or equal to 100",
    ),
    (
        "rate-garbage",
        at("faults.0", {"host": "router", "link": {"network": "lan2", "rate": "fast"}}),
        "String should match pattern",
    ),
    (
        "capture-not-attached",
        at("capture", [{"host": "client", "link": "lan2"}]),
        "client is not on lan2",
    ),
    (
        "pattern-link-not-captured",
        at("capture", [{"host": "router", "link": "lan2"}]),
        "lan1 is not captured",
    ),
    (
        "pattern-lo-without-host",
        both(
            at("capture", [{"host": "client", "link": "lo"}, {"host": "router", "link": "lo"}]),
            at("expect.2.packets.sequence.0.link", "lo"),
        ),
        "lo is in every host: say whose",
    ),
    (
        "pattern-host-not-capturing",
        both(
            at("capture", [{"host": "client", "link": "lo"}]),
            at("expect.2.packets.sequence.0", {"link": "lo", "host": "server"}),
        ),
        "server does not capture lo",
    ),
    (
        "pattern-unknown-address",
        at("expect.2.packets.sequence.0.from", "sever"),
        "unknown host or address 'sever'",
    ),
    (
        "pattern-port-70000",
        at("expect.2.packets.sequence.0.dport", 70000),
        "less than or equal to 65535",
    ),
    (
        "unknown-expectation",
        append("expect", {"vibes": {"step": "client"}}),
        "vibes: Extra inputs are not permitted",
    ),
    ("errno-lowercase", at("expect.1.errno.name", "econnrefused"), "String should match pattern"),
    ("untraced-server", at(f"{RUN0}.untraced", "a reason long enough"), "ok-no-error"),
    ("errno-untraced", at("steps.2.run.untraced", "a reason long enough"), "'client' is untraced"),
    (
        "counter-no-snapshot",
        append(
            "expect",
            {"counter": {"key": "Udp.InErrors", "before": "befor", "after": "after", "max": 0}},
        ),
        "no snapshot named 'befor'",
    ),
    (
        "stdin-after-no-step",
        at("steps.2.run.stdin", [{"line": "x", "after": 1, "after_ready": "secnod"}]),
        "after_ready: no step named 'secnod'",
    ),
    (
        "value-formula-with-code",
        append("expect", {"value": {"of": "call:client.connect.elapsed", "max": "(1).real"}}),
        "a formula has terms, numbers",
    ),
    (
        "value-formula-unknown-host",
        append(
            "expect",
            {"value": {"of": "call:client.connect.elapsed", "max": "sysctl:dns:net.core.rmem_max"}},
        ),
        "no host named 'dns'",
    ),
    (
        "value-bad-term",
        append("expect", {"value": {"of": "client.connect", "max": 1}}),
        "expected call:..., counter:... or sysctl:...",
    ),
    (
        "value-bad-call-field",
        append("expect", {"value": {"of": "call:client.connect.colour", "max": 1}}),
        "a call field is one of",
    ),
    ("empty-expect", at("expect", []), "at least 1 item"),
    (
        "counterfactual-changes-expect",
        at(
            "counterfactuals", [{"name": "cheat", "change": {"remove": ["expect.0"]}, "fails": [0]}]
        ),
        "never the expectations",
    ),
    (
        "counterfactual-no-such-expectation",
        at(
            "counterfactuals",
            [{"name": "a change", "change": {"remove": ["faults.0"]}, "fails": [9]}],
        ),
        "no expectation 9",
    ),
    ("mount-not-a-directory", at("mount", "./nowhere"), "is not a directory"),
]


@pytest.mark.parametrize(("case", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_file_is_refused_with_its_field(
    case: str, change: Change | bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{case}.yaml"
    if isinstance(change, bytes):
        path.write_bytes(change)
    else:
        data = copy.deepcopy(BASE)
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    if message == "ok-no-error":  # untraced is fine while no expectation reads its calls
        prepare(str(path))
        return
    with pytest.raises(ScenarioError) as err:
        prepare(str(path))
    said = f"{err.value}\n{err.value.hint}"
    assert message in said
    assert len(said) < 8000, "a broken file reports its first problems, not all of them"


def test_there_are_at_least_forty_bad_files() -> None:
    assert len([c for c in CASES if c[2] != "ok-no-error"]) >= 40


def test_the_base_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(BASE, sort_keys=False))
    assert prepare(str(path)).scenario.name == "base"


def validate_within(path: str, seconds: float = 10.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "socklab.cli", "validate", path],
        capture_output=True,
        text=True,
        timeout=seconds,  # a hang fails the test
        check=False,
    )


def test_hostile_files_exit_2_at_once_with_the_reason(tmp_path: Path) -> None:
    """An alias bomb, a FIFO, a link to /dev/zero, an unhashable key and a name that climbs
    out of the scenarios folder: each exits 2 within seconds, saying why, no traceback."""
    levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for this, last in zip("bcde", "abcd", strict=True):  # 9**5 strings: harmless, and enough
        levels.append(f"{this}: &{this} [{', '.join(['*' + last] * 9)}]")
    (tmp_path / "bomb.yaml").write_text("name: bomb\n" + "\n".join(levels) + "\n")
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "unhashable.yaml").write_text("name: x\n? [1, 2]\n: y\n")
    cases = {
        str(tmp_path / "bomb.yaml"): "aliases (*name) are not allowed",
        str(tmp_path / "fifo.yaml"): "not a regular file",
        str(tmp_path / "zero.yaml"): "not a regular file",
        str(tmp_path / "unhashable.yaml"): "a key must be plain text",
        "../../etc/passwd": "is no scenario name",
    }
    for path, why in cases.items():
        done = validate_within(path)
        assert done.returncode == 2 and why in done.stderr, (path, done.stderr[-500:])
        assert "Traceback" not in done.stderr
