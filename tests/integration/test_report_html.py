"""report.html as a person sees it: a real run's page opened in headless Chromium, its
screenshot showing the ladder's arrows, its DOM holding the packets and the verdict."""

from __future__ import annotations

import concurrent.futures
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from socklab.report.html import COLOURS

from tests.conftest import socklab

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if found is None:
        pytest.fail("no headless browser: make setup installs Debian's chromium")
    return found


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )


def pixels_of(image: Image.Image, hex_colour: str) -> int:
    """How many pixels are (within a little antialiasing) the given colour."""
    want = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    rgb = image.convert("RGB")
    return sum(
        count
        for count, colour in rgb.getcolors(rgb.width * rgb.height) or []
        if all(abs(a - b) <= 24 for a, b in zip(colour, want, strict=True))
    )


def test_a_real_runs_report_shows_its_ladder_in_a_browser(tmp_path: Path) -> None:
    done = socklab("run", "refused", "--backend", "netns", "--json")
    assert done.code == 0, done.stderr
    page = Path(done.json()["rundir"]) / "report.html"
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert re.search(r'id="verdict" class="pass"[^>]*>PASSED<', dom), dom[:2000]
    arrows = re.findall(r'<g class="packet" data-link="(lan[12])"[^>]*>.*?</g>', dom, re.S)
    labels = re.findall(r'<text [^>]*fill="#[0-9a-f]{6}">([^<]+)</text>', dom)
    # the trace itself: the SYN on both links, the RST back on both
    assert arrows.count("lan1") >= 2 and arrows.count("lan2") >= 2, arrows
    assert labels.count("SYN") == 2 and labels.count("RST,ACK") == 2, labels
    shot = tmp_path / "report.png"
    chromium("--window-size=1400,1000", f"--screenshot={shot}", page.as_uri())
    image = Image.open(shot)
    assert image.size == (1400, 1000)
    # drawn, not just in the DOM: the SYN's blue and the RST's red are on the screen, each
    # arrow 220 pixels of a 2.5-pixel line plus its head and label
    assert pixels_of(image, COLOURS["SYN"]) > 500
    assert pixels_of(image, COLOURS["RST"]) > 500


PAGE_LIMIT = 400 * 1024  # bytes: udp-overrun's page was 1.5 MB of identical arrows
FIGURE_LIMIT = 20_000  # pixels: backlog's figure was 18,656 px of 300 handshakes


def rendered(page: Path, shot: Path) -> tuple[str, Image.Image]:
    dom = chromium("--dump-dom", page.as_uri()).stdout
    chromium("--window-size=1300,900", f"--screenshot={shot}", page.as_uri())
    return dom, Image.open(shot)


def test_every_shipped_scenarios_page_renders_small_with_its_figure(tmp_path: Path) -> None:
    """Each shipped scenario once (netns, four at a time), each page opened in Chromium: under
    400 kB, its verdict and figure in the rendered DOM, the figure's height bounded, folds
    that open, and a screenshot that is a page (many colours), not a blank or an error."""
    done = socklab("suite", "--backend", "netns", "-j", "4", "--json", timeout=600)
    results = done.json()
    assert isinstance(results, list) and len(results) >= 23, done.stderr[-2000:]
    pages = {r["name"]: Path(r["rundir"]) / "report.html" for r in results if r["rundir"]}
    assert len(pages) == len(results), [r["name"] for r in results if not r["rundir"]]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        shown = dict(
            zip(
                pages,
                pool.map(
                    lambda item: rendered(item[1], tmp_path / f"{item[0]}.png"), pages.items()
                ),
                strict=True,
            )
        )
    problems = []
    for name, page in pages.items():
        dom, image = shown[name]
        size = page.stat().st_size
        if size > PAGE_LIMIT:
            problems.append(f"{name}: {size} bytes")
        if not re.search(r'id="verdict" class="(pass|fail)"', dom):
            problems.append(f"{name}: no verdict in the rendered page")
        svg = re.search(r'<svg id="ladder"[^>]* height="([0-9.]+)"', dom)
        if svg is None and 'id="ladder-empty"' not in dom:
            problems.append(f"{name}: neither a figure nor the note that there is none")
        if svg is not None and float(svg.group(1)) > FIGURE_LIMIT:
            problems.append(f"{name}: figure {svg.group(1)} px tall")
        for number in re.findall(r'<a href="#fold-(\d+)">', dom):
            if f'<details id="fold-{number}"' not in dom:
                problems.append(f"{name}: fold {number} does not open")
        colours = len(image.convert("RGB").getcolors(1300 * 900) or [])
        if image.size != (1300, 900) or colours < 50:
            problems.append(f"{name}: screenshot {image.size}, {colours} colours")
    assert not problems, problems
    # what the figures must draw, seen in the rendered DOM
    dom = {name: shown[name][0] for name in pages}
    assert 'class="packet dropped"' in dom["timeout"]  # the router's nftables drop
    assert "SYN x6" in dom["timeout"] or "SYN" in dom["timeout"]
    assert 'class="packet broadcast"' in dom["nohost"]  # ARP requests
    assert "lo: ICMP host unreachable (EHOSTUNREACH)" in dom["nohost"]
    assert "counted as RcvbufErrors" in dom["udp-overrun"]
    assert 'id="book-table"' in dom["backlog"] and 'id="book-table"' in dom["udp-overrun"]
    assert re.search(r"connect\([^)]*\) = -1 ECONNREFUSED", dom["refused"])
