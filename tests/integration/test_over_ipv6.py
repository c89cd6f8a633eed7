"""The chapter over IPv6 (--family 6) on the netns backend: every scenario that runs so passes
as the kernel does it over IPv6, and the IPv6 expectations are not IPv4's: judged as IPv4,
the same runs fail."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from socklab.judge import verdict
from socklab.observe.observations import Observations
from socklab.scenario import model as scenario

from tests.conftest import socklab


def test_every_scenario_that_runs_over_ipv6_passes_and_differs_where_the_kernel_does() -> None:
    listed = socklab("list", "--family", "6")
    every = [line.split()[0] for line in listed.stdout.splitlines() if line[:1].strip()]
    assert len(every) == 22 and "synflood" not in every, every
    # the cases where the families differ (errnos, neighbour discovery, the loopback address,
    # IPv6's own UDP counters), and two where they do not: the rest ran once by hand
    names = ["unreachable", "netunreach", "nohost", "udp-noserver", "daytime", "udp-overrun"]
    names += ["refused", "tcp-echo"]
    done = socklab(
        "suite", *names, "--family", "6", "--backend", "netns", "-j", "4", "--json", timeout=400
    )
    results = {r["name"]: r for r in done.json()}
    assert set(results) == set(names), done.stderr[-2000:]
    assert all(r["verdict"] == "pass" for r in results.values()), [
        (r["name"], r["failures"]) for r in results.values() if r["verdict"] != "pass"
    ]
    # the kernel's IPv6 errnos, as its icmpv6_err_convert maps them
    assert results["unreachable"]["headline"].startswith("ENETUNREACH")
    rundir = Path(results["unreachable"]["rundir"])
    report = json.loads((rundir / "report.json").read_text())
    assert report["family"] == 6 and report["errnos"]["prohibited"] == ["connect: EACCES"]
    page = (Path(results["nohost"]["rundir"]) / "report.html").read_text()
    assert "NS who-has" in page and "ICMPv6 address unreachable (EHOSTUNREACH)" in page

    # the counterfactual: the same IPv6 runs judged as IPv4 runs fail their IPv4 expectations
    for name in ("unreachable", "nohost", "netunreach"):
        obs = Observations.load(Path(results[name]["rundir"]) / "observations.json")
        as_four = dataclasses.replace(obs, family=4)
        outcomes = verdict.evaluate(scenario.load_named(name).expect, as_four)
        assert not all(o.passed for o in outcomes), name


def test_the_containers_go_over_ipv6_too_and_a_raw_ipv4_flood_says_why_not() -> None:
    """compose: the same addresses, set from the machine in each container's namespace; the
    cases that differ between the families, and one with a server."""
    names = ["unreachable", "nohost", "udp-noserver", "tcp-echo"]
    done = socklab(
        "suite", *names, "--family", "6", "--backend", "compose", "-j", "2", "--json", timeout=400
    )
    results = {r["name"]: r for r in done.json()}
    assert set(results) == set(names), done.stderr[-2000:]
    assert all(r["verdict"] == "pass" for r in results.values()), [
        (r["name"], r["failures"]) for r in results.values() if r["verdict"] != "pass"
    ]
    assert results["unreachable"]["headline"].startswith("ENETUNREACH")
    raw = socklab("run", "synflood", "--family", "6", "--backend", "netns")
    assert raw.code == 2 and "does not run over IPv6: its flood is built as raw IPv4" in raw.stderr


def test_compare_puts_the_families_side_by_side() -> None:
    done = socklab(
        "compare",
        "unreachable",
        "synflood",
        "--kernels",
        "host",
        "--families",
        "4,6",
        "--json",
        timeout=200,
    )
    columns = done.json()
    assert [c["family"] for c in columns] == [4, 6], done.stderr[-1000:]
    four, six = ({r["name"]: r for r in c["results"]} for c in columns)
    assert four["unreachable"]["headline"].startswith("EHOSTUNREACH")
    assert six["unreachable"]["headline"].startswith("ENETUNREACH")
    assert "synflood" in four and "synflood" not in six  # not over IPv6: a cell says so
