"""Build hook: the wheel carries the phase playbooks and the `chaosrun.chaos` collection
as package data under chaosrun/_data, so an installed chaosrun runs without a checkout
(chaosrun.base.paths.data_dir finds them). Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Paths of the checkout copied, with their relative path, into chaosrun/_data.
BUNDLED = (
    "collections/ansible_collections/chaosrun/chaos",
    "playbooks/fault.yml",
    "playbooks/probe-command.yml",
    "playbooks/experiment.yml",
)
# ansible-test's output and bytecode are not part of the collection.
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "output")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        target = Path(self.build_lib) / "chaosrun" / "_data"
        for rel in BUNDLED:
            src, dst = ROOT / rel, target / rel
            if src.is_dir():
                shutil.copytree(src, dst, ignore=IGNORE, dirs_exist_ok=True)
            else:
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildWithData})
