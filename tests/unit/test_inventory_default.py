"""The inventory a command reads when none is given: chaosrun.yml's, else Ansible's own,
never one of several that Ansible's settings name (its hosts alone would be a partial
fleet). Run in a fresh interpreter: Ansible reads its settings once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = "from chaosrun.hosts.inventory import default_inventory; print(default_inventory())"


def _default(tmp_path: Path, sources: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "CHAOSRUN_"))}
    env.update(ANSIBLE_INVENTORY=sources, ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )  # fmt: skip


def test_one_source_of_ansibles_settings_is_the_default(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("web-1\n")
    done = _default(tmp_path, str(tmp_path / "hosts"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "hosts")


def test_several_sources_are_refused_not_one_of_them_read(tmp_path: Path) -> None:
    for name in ("prod", "extra"):
        (tmp_path / name).write_text("web-1\n")
    done = _default(tmp_path, f"{tmp_path / 'prod'},{tmp_path / 'extra'}")
    assert done.returncode != 0
    assert "name 2 inventory sources" in done.stderr and "give -i" in done.stderr
