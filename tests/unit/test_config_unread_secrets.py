"""A secret chaosrun.yml names but this shell cannot read (its variable not set, its file
not there) stops only the commands that send it: the on-call engineer's `freeze`, `abort`,
`status` and `recover` work from any shell, and `validate` (a CI job without the secrets
checks the repository) names them as warnings, while `plan`, `run` and `doctor` refuse with
the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chaosrun.base.errors import InvalidInput
from chaosrun.cli import app
from chaosrun.model import config

CONFIG = """\
prometheus:
  url: https://prom.example.com
  basic_auth: {username: chaos, password_env: CHAOSRUN_TEST_UNSET_PASSWORD}
alertmanager:
  url: https://am.example.com
  bearer_token_file: s/am-token
notifications:
  webhooks:
    - name: pager
      format: pagerduty
      routing_key_env: CR_TEST_UNSET_KEY
    - name: chat
      url: http://127.0.0.1:9/hook
"""
UNREAD = [
    "chaosrun.yml:11: notifications.webhooks[0].routing_key_env: $CR_TEST_UNSET_KEY is not set",
    "chaosrun.yml:3: prometheus.basic_auth.password_env: $CHAOSRUN_TEST_UNSET_PASSWORD is not set",
    "chaosrun.yml:6: alertmanager.bearer_token_file: {root}/s/am-token is not a readable file",
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("CHAOSRUN_CONFIG", "CHAOSRUN_RUNS_DIR", "CHAOSRUN_RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("CHAOSRUN_TEST_UNSET_PASSWORD", "CR_TEST_UNSET_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "chaosrun.yml").write_text(CONFIG)
    return tmp_path


def unread(root: Path) -> list[str]:
    return [f"{root / line.format(root=root)}" for line in UNREAD]


def test_the_config_loads_and_names_what_it_could_not_read(project: Path) -> None:
    cfg = config.load()
    assert list(cfg.unread_secrets) == unread(project)
    assert [h.name for h in cfg.webhooks] == ["chat"]  # the pager's key is not there
    with pytest.raises(InvalidInput) as exc:
        cfg.need_secrets()
    assert str(exc.value).splitlines() == unread(project)


def test_the_kill_switch_works_without_the_secrets(project: Path) -> None:
    frozen = CliRunner().invoke(app, ["freeze", "--reason", "incident 4711"])
    assert frozen.exit_code == 0, frozen.output
    assert (project / ".chaosrun" / "freeze.json").is_file()
    thawed = CliRunner().invoke(app, ["unfreeze", "--reason", "resolved"])
    assert thawed.exit_code == 0, thawed.output
    assert not (project / ".chaosrun" / "freeze.json").exists()


def test_abort_of_a_finished_run_says_so_not_the_secret(project: Path) -> None:
    run = project / ".chaosrun" / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "journal.json").write_text(json.dumps({"run_id": "r1", "status": "passed"}))
    done = CliRunner().invoke(app, ["abort", "r1"])
    assert "r1" in str(done.exception) and "is not set" not in str(done.exception)


def test_plan_refuses_naming_each_unread_secret(project: Path) -> None:
    (project / "e.yml").write_text(
        "title: t\ntargets: {hosts: all}\nfault: {role: chaosrun.chaos.cpu_stress}\nduration: 5s\n"
    )
    (project / "hosts").write_text("a ansible_host=127.0.0.1\n")
    done = CliRunner().invoke(app, ["plan", "e.yml", "-i", "hosts"])
    assert isinstance(done.exception, InvalidInput), done.output
    assert str(done.exception).splitlines() == unread(project)
    doctor = CliRunner().invoke(app, ["doctor", "--json"])
    assert doctor.exit_code == 1
    failed = [c["detail"] for c in json.loads(doctor.stdout)["checks"] if not c["ok"]]
    assert failed[: len(UNREAD)] == unread(project)


def test_validate_checks_the_files_and_names_each_unread_secret_as_a_warning(
    project: Path,
) -> None:
    (project / "e.yml").write_text(
        "title: t\ntargets: {hosts: all, select: {count: 1}}\n"
        "fault: {role: chaosrun.chaos.cpu_stress}\nduration: 5s\n"
    )
    (project / "hosts").write_text("a ansible_host=127.0.0.1\nb ansible_host=127.0.0.2\n")
    done = CliRunner().invoke(app, ["validate", "e.yml", "-i", "hosts"])
    assert done.exit_code == 0, done.output
    warned = [line for line in done.stderr.splitlines() if line.startswith("warning: ")]
    assert warned == [f"warning: {line} (plan, run and drill need it)" for line in unread(project)]
    assert done.stdout.splitlines()[0] == "ok e.yml"
    as_json = CliRunner().invoke(app, ["validate", "--json", "e.yml", "-i", "hosts"])
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.stdout)
    assert doc["ok"] is True and doc["files"][0]["ok"] is True
    assert doc["config"] == {
        "ok": True,
        "errors": [],
        "warnings": [f"{line} (plan, run and drill need it)" for line in unread(project)],
    }
