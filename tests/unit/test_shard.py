"""suite --shard I/N for a CI matrix: every scenario in exactly one shard, balanced by the
recorded times, the same partition everywhere; the shards' JUnit files merge into one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from socklab.errors import ScenarioError
from socklab.run import suite
from socklab.run.suite import Result
from socklab.scenario import model as scenario


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_every_scenario_is_in_exactly_one_shard(count: int) -> None:
    names = scenario.names()
    shards = [suite.shard(names, index, count) for index in range(1, count + 1)]
    together = [name for part in shards for name in part]
    assert sorted(together) == sorted(names)
    assert all(part for part in shards)


def test_three_shards_are_balanced_by_the_recorded_times() -> None:
    times = json.loads(suite.SHARD_TIMES.read_text())["netns"]
    assert set(times) == set(scenario.names())  # a new scenario needs its time recorded
    loads = [sum(times[n] for n in suite.shard(scenario.names(), i, 3)) for i in (1, 2, 3)]
    # the longest scenario alone is a floor: no shard is above it or 1.25x the mean
    assert max(loads) <= max(max(times.values()), 1.25 * sum(loads) / 3), loads


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2"])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(ScenarioError, match="expected I/N"):
        suite.parse_shard(text)


def test_the_shards_junit_files_merge_into_one(tmp_path: Path) -> None:
    first = [Result("refused", "pass", 1.0, "h", "b", [])]
    second = [Result("timeout", "FAIL", 7.0, "h", "b", ["errno: ETIMEDOUT"])]
    suite.junit(first, "netns", tmp_path / "1.xml", "-shard-1-of-2")
    suite.junit(second, "netns", tmp_path / "2.xml", "-shard-2-of-2")
    cases = suite.merge_junit([tmp_path / "1.xml", tmp_path / "2.xml"], tmp_path / "all.xml")
    root = ET.parse(tmp_path / "all.xml").getroot()
    assert cases == 2 and root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures")) == ("2", "1")
    assert [s.get("name") for s in root] == [
        "socklab-netns-shard-1-of-2",
        "socklab-netns-shard-2-of-2",
    ]
    (tmp_path / "bad.xml").write_text("not xml")
    with pytest.raises(ScenarioError, match="not a JUnit file"):
        suite.merge_junit([tmp_path / "bad.xml"], tmp_path / "x.xml")
