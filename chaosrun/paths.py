"""Where the project's files are, whether run from a checkout or an installed package."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The chaosrun project directory: CHAOSRUN_PROJECT, else the checkout holding the package,
    else the current directory."""
    env = os.environ.get("CHAOSRUN_PROJECT")
    if env:
        return Path(env).resolve()
    candidate = PACKAGE_DIR.parent
    if (candidate / "ansible.cfg").is_file() and (candidate / "collections").is_dir():
        return candidate
    return Path.cwd()


def collections_dir() -> Path:
    return project_root() / "collections"


def containers_conf() -> Path:
    return project_root() / "etc" / "containers.conf"
