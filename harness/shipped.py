"""Where socklab's own files are: in this source tree, or inside the installed wheel.

The design card keeps compose.yaml, images/ and scenarios/ at the repository's root. The
wheel carries them under the package's `shipped/` folder (setup.py copies them there at build
time), so the tree holds one copy and an installed socklab still finds them.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_IN_WHEEL = PACKAGE / "shipped"
ROOT = _IN_WHEEL if _IN_WHEEL.is_dir() else PACKAGE.parent

SCENARIOS = ROOT / "scenarios"
COMPOSE_FILE = ROOT / "compose.yaml"
IMAGES = ROOT / "images"
# The book's programs (Python, and the C sources with their binaries under c/bin): every host
# sees this folder read-only at /opt/socklab/programs.
PROGRAMS = PACKAGE / "programs"
