"""`chaosrun init`: a project scaffold whose example files check, and never an overwrite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrun import cli
from chaosrun.base import paths
from chaosrun.cli import app
from chaosrun.model import config
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.planning import defaults_from
from chaosrun.runbook.check import check_file


def test_init_writes_a_project_that_checks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CHAOSRUN_CONFIG", raising=False)
    out = CliRunner().invoke(app, ["init", str(tmp_path / "ops")])
    assert out.exit_code == 0, out.output
    root = tmp_path / "ops"
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert names == [
        ".gitignore",
        "chaosrun.yml",
        "experiments/one-busy-core.yml",
        "playbooks/experiment.yml",
        "runbooks/busy-host.md",
    ]
    assert ".chaosrun/" in (root / ".gitignore").read_text()
    # The AWX job template's playbook, as this chaosrun ships it (docs/awx.md).
    shipped = paths.data_dir() / "playbooks" / "experiment.yml"
    assert (root / "playbooks" / "experiment.yml").read_text() == shipped.read_text()
    cfg = config.load(root / "chaosrun.yml")
    assert cfg.inventory == root / "inventory" / "hosts"
    assert cfg.run_dir == root / ".chaosrun" / "runs"
    assert cfg.windows == [] and cfg.caps.max_hosts == 2
    defaults = defaults_from(cfg)
    _, drilled = check_file(root / "runbooks" / "busy-host.md", defaults)
    assert drilled is not None and drilled.fault.role == "chaosrun.chaos.cpu_stress"
    exp = load_experiment(root / "experiments" / "one-busy-core.yml", [], defaults)
    assert exp.fault.role == "chaosrun.chaos.cpu_stress"
    probes = (*exp.steady_state, *exp.guardrails.probes)
    assert {p.kind for p in probes} == {"prometheus"}
    assert all("up{" in str(p.config) for p in probes)


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "chaosrun.yml").write_text("# ours\n")
    monkeypatch.setattr(sys, "argv", ["chaosrun", "init", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    assert "never overwrites" in capsys.readouterr().err
    assert (tmp_path / "chaosrun.yml").read_text() == "# ours\n"
    assert not (tmp_path / "experiments").exists()
