"""The project lookup: chaosrun.yml upward, CHAOSRUN_PROJECT, paths against the root, and
the one runs directory every command reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrun.base import project
from chaosrun.base.errors import InvalidInput
from chaosrun.cli import app
from chaosrun.model import config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHAOSRUN_PROJECT", "CHAOSRUN_CONFIG", "CHAOSRUN_RUNS_DIR", "CHAOSRUN_RUN_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_found_upward_from_a_subdirectory(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "chaosrun.yml").write_text("run_dir: state/runs\n")
    deep = tmp_path / "experiments" / "team"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    found = project.find()
    assert found.root == tmp_path.resolve() and found.config_file == tmp_path / "chaosrun.yml"
    assert found.resolve("inv/hosts") == tmp_path.resolve() / "inv/hosts"
    assert config.load().run_dir == tmp_path / "state/runs"
    assert config.load().audit_path == tmp_path / ".chaosrun/audit.jsonl"


def test_without_a_file_the_working_directory_is_the_project(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = project.find(tmp_path)
    assert found.config_file is None
    assert config.load().run_dir == tmp_path.resolve() / ".chaosrun/runs"


def test_env_names_the_project(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    assert project.find(Path("/")).root == tmp_path.resolve()
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path / "nope"))
    with pytest.raises(InvalidInput, match="no such directory"):
        project.find()


def test_runs_dir_env_and_its_old_name(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.setenv("CHAOSRUN_RUN_DIR", "old")
    assert config.load().run_dir == tmp_path.resolve() / "old"
    assert "CHAOSRUN_RUN_DIR is deprecated" in capsys.readouterr().err
    monkeypatch.setenv("CHAOSRUN_RUNS_DIR", str(tmp_path / "new"))
    assert config.load().run_dir == tmp_path / "new"


def test_history_reads_the_projects_runs(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "chaosrun.yml").write_text("run_dir: elsewhere\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["history"])
    assert out.exit_code == 0
    assert str(tmp_path.resolve() / "elsewhere") in out.stdout.replace("\n", "")


def test_project_option_names_the_project(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "chaosrun.yml").write_text("run_dir: r\n")
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(app, ["--project", "p", "history", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert str(tmp_path.resolve() / "p" / "r") in out.stdout
