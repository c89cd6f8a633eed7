"""The wheel ships the root's compose.yaml, images/ and scenarios/ inside the package, under
socklab/shipped/ (harness/shipped.py finds them there): one copy in the tree, none in git twice.
An editable install reads them where they stand."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("compose.yaml", "images", "scenarios")


class BuildWithShipped(build_py):  # type: ignore[misc]
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "socklab" / "shipped"
        for name in SHIPPED:
            source = Path(__file__).resolve().parent / name
            if source.is_dir():
                shutil.copytree(source, target / name, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithShipped})
