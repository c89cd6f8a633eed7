"""report.html as a person sees it: a real run's page opened in headless Chromium, its
screenshot showing the ladder's arrows, its DOM holding the packets and the verdict."""

from __future__ import annotations

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
