"""chaosrun.yml, blackout windows, blast-radius caps and schedules through schema.Checker:
a good file loads to exactly what the earlier hand-written loaders gave (a snapshot taken
with them), a bad one reports every problem at once with its file, line and field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosrun import config, scaffold_project, schedules

PROJECT = Path(__file__).resolve().parents[2]
SETTINGS = Path(__file__).resolve().parent / "fixtures" / "settings"


def _shown(value: object, *roots: Path) -> str:
    text = repr(value)
    for root in roots:
        text = text.replace(str(root), f"<{root.name if root == PROJECT else 'tmp'}>")
    return text


def loaded(tmp_path: Path) -> dict[str, str]:
    """What each shipped or documented example loads to, paths made machine-neutral."""
    (tmp_path / "ca.pem").write_text("ca\n")
    (tmp_path / "am-token").write_text("am-secret\n")
    rich = tmp_path / "chaosrun.yml"
    rich.write_text((SETTINGS / "rich-chaosrun.yml").read_text())
    scaffolded = tmp_path / "scaffolded"
    scaffold_project.init(scaffolded)
    return {
        "repo": _shown(config.load(PROJECT / "chaosrun.yml"), PROJECT),
        "rich": _shown(config.load(rich), tmp_path),
        "scaffolded": _shown(config.load(scaffolded / "chaosrun.yml"), tmp_path),
        "schedules": _shown(schedules.load(SETTINGS / "schedules.yml"), SETTINGS),
    }


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    for name in ("CHAOSRUN_CONFIG", "CHAOSRUN_RUNS_DIR", "CHAOSRUN_RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S20_PROM_PASSWORD", "prom-secret")
    monkeypatch.setenv("S20_PD_KEY", "pd-secret")
    return tmp_path


def test_good_files_load_as_the_old_loaders_did(settings_env: Path) -> None:
    got = loaded(settings_env)
    if os.environ.get("CHAOSRUN_WRITE_SNAPSHOT"):
        for name, text in got.items():
            (SETTINGS / f"{name}.loaded.txt").write_text(text + "\n")
    for name, text in got.items():
        assert text + "\n" == (SETTINGS / f"{name}.loaded.txt").read_text(), name
