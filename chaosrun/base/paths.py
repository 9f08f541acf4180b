"""Where chaosrun's own files are (bundled playbooks and collection, the lab's files),
whether it runs from a checkout or from an installed package. The user's files are the
project's (chaosrun.base.project)."""

from __future__ import annotations

import os
from pathlib import Path

from chaosrun.base import project

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # chaosrun/, above base/
# Where a built wheel carries the phase playbooks and the collection (setup.py copies them).
DATA_DIR = PACKAGE_DIR / "_data"


def checkout() -> Path | None:
    """The source checkout holding this package, or None for an installed package."""
    candidate = PACKAGE_DIR.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "collections").is_dir():
        return candidate
    return None


def data_dir() -> Path:
    """The tree holding `playbooks/` and `collections/` that chaosrun ships: the package's
    data in a wheel, the checkout in development."""
    if DATA_DIR.is_dir():
        return DATA_DIR
    return checkout() or DATA_DIR


def project_root() -> Path:
    """The project's root directory (chaosrun.base.project.find)."""
    return project.find().root


def lab_root() -> Path:
    """The tree with the lab's files (etc/, playbooks/lab/, inventories/): CHAOSRUN_PROJECT,
    else the checkout, else the working directory. The lab is a development fleet."""
    env = os.environ.get("CHAOSRUN_PROJECT")
    if env:
        return Path(env).resolve()
    return checkout() or Path.cwd()


def collections_dir() -> Path:
    """The bundled collections directory (holds ansible_collections/chaosrun/chaos)."""
    return data_dir() / "collections"


def fault_playbook() -> Path:
    return data_dir() / "playbooks" / "fault.yml"


def command_playbook() -> Path:
    """A command probe's one-task play."""
    return data_dir() / "playbooks" / "probe-command.yml"


# The AWX job template's playbook, relative to a project (which holds a copy) and to the
# tree chaosrun ships; its project root is its directory's parent.
EXPERIMENT_PLAYBOOK = "playbooks/experiment.yml"


def experiment_playbook() -> Path:
    """The job template's playbook as this chaosrun ships it."""
    return data_dir() / EXPERIMENT_PLAYBOOK


def containers_conf() -> Path:
    return lab_root() / "etc" / "containers.conf"
