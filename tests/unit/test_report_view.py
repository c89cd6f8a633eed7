"""The terminal report fits its width and folds long lists; a saved run shows again from its
folder alone (recorded observations of real runs, tests/unit/recorded/)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from socklab.judge import verdict
from socklab.observe.observations import Observations
from socklab.report import html, model, terminal
from socklab.scenario import model as scenario

RECORDED = Path(__file__).resolve().parent / "recorded"


def saved_run(name: str, rundir: Path) -> model.Report:
    scen = scenario.load_named(name)
    obs = Observations.load(RECORDED / f"{name}.json")
    rep = model.Report(scen, "netns", rundir, obs, verdict.evaluate(scen.expect, obs))
    rep.write()
    html.write_report(rep)
    shutil.copy(RECORDED / f"{name}.json", rundir / "observations.json")
    return rep


def view(rep: model.Report, width: int, full: bool = False) -> list[str]:
    out = io.StringIO()
    console = Console(file=out, width=width, highlight=False, color_system=None)
    terminal.render(rep, console, full=full)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [80, 100, 60])
def test_the_ladder_never_wraps(tmp_path: Path, width: int) -> None:
    lines = view(saved_run("tcp-echo", tmp_path), width)
    assert max(len(line) for line in lines) <= width
    start = lines.index(next(x for x in lines if "calls and packets" in x)) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].lstrip().startswith("╰"))
    ladder = [x.strip("│ ") for x in lines[start + 1 : end]]  # inside the panel, header aside
    # rich wraps a line that is too long inside the panel: a wrapped row leaves a piece
    # without the three rails
    arrows = [x for x in ladder if "->|" in x or "|<-" in x]  # a packet's row, not a call's
    assert arrows and all(x.count("|") == 3 for x in arrows), "\n".join(ladder)
    rows = [x for x in ladder[:12] if "-->" in x or "<--" in x or "->|" in x]
    assert rows, "\n".join(ladder[:12])
    ported = any(" > " in x.split("|")[-1] for x in rows)
    assert ported == (width >= 80)  # the port column goes first when room runs out


def test_a_narrow_terminal_is_told_how_wide_the_ladder_needs(tmp_path: Path) -> None:
    lines = view(saved_run("refused", tmp_path), 40)
    assert any("the ladder needs 42 columns;" in x for x in lines)


def test_long_lists_fold_and_full_shows_them(tmp_path: Path) -> None:
    rep = saved_run("no-close", tmp_path)
    folded, full = view(rep, 100), view(rep, 100, full=True)
    assert any("more rows (report.json; --full shows all)" in x for x in folded)
    assert any("more lines (report.json; --full shows all)" in x for x in full) is False
    assert len(folded) + 40 < len(full)


def test_show_rebuilds_a_run_from_its_folder(tmp_path: Path) -> None:
    rep = saved_run("refused", tmp_path)
    again = model.load(tmp_path)
    assert again.passed == rep.passed and again.headline() == rep.headline()
    assert [o.to_json() for o in again.outcomes] == [o.to_json() for o in rep.outcomes]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["definition"]["name"] == "refused"


def test_escape_sequences_from_a_program_or_a_title_are_shown_escaped(tmp_path: Path) -> None:
    """A window title, a clipboard write, an erased line replaced by a fake PASSED: what a
    program prints and what a scenario file says reach the terminal escaped, never raw."""
    rep = saved_run("refused", tmp_path)
    hostile = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x1b[2K\rPASSED"
    rep.observations.steps["client"].stderr = hostile
    rep.scenario = rep.scenario.model_copy(update={"title": "t\x1b[2Kfake"})
    out = io.StringIO()
    console = Console(file=out, width=120, highlight=False, force_terminal=True)
    terminal.render(rep, console)
    shown = out.getvalue()
    assert "\x1b]" not in shown and "\x1b[2K" not in shown and "\x07" not in shown
    assert "\\x1b]0;pwned" in shown and "\\x1b[2Kfake" in shown
