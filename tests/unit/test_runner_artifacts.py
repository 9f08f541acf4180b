"""ansible-runner writes the whole environment of every play it starts into the run's
directory (`artifacts/<id>/command`): a password chaosrun.yml reads from a variable, and
whatever else the operator's shell holds, would stay there with the run. chaosrun keeps
the command and the variables it set, and drops the rest once the play ended."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chaosrun.base import liveness, secrets
from chaosrun.hosts import artifacts, runner
from chaosrun.model import config
from chaosrun.runbook import drill
from chaosrun.runbook.parse import parse

SECRET = "s3cr3t-from-the-operators-shell"


def files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text in p.read_text(errors="replace")]


def test_a_real_play_leaves_no_variable_of_the_shell_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_PASSWORD", SECRET)
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    work = tmp_path / "probe"
    answers = runner.run_command(
        pattern="here", command="echo hello", inventory=inventory, work_dir=work, timeout=60
    )
    assert answers == {"here": (0, "hello")}
    (command,) = work.rglob("artifacts/*/command")
    kept = json.loads(command.read_text())
    assert kept["command"][0] == "ansible-playbook" and "ANSIBLE_COLLECTIONS_PATH" in kept["env"]
    assert files_holding(work, SECRET) == []


def test_a_fault_play_leaves_none_either(
    fake_ansible_runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_PASSWORD", SECRET)

    def run(**kw: Any) -> SimpleNamespace:
        # As ansible-runner does: the command and its whole environment, before the play.
        artifacts = Path(kw["private_data_dir"]) / "artifacts" / "x"
        artifacts.mkdir(parents=True)
        env = {**os.environ, **kw["envvars"]}
        (artifacts / "command").write_text(
            json.dumps({"command": ["ansible-playbook"], "env": env})
        )
        return SimpleNamespace(status="successful", rc=0)

    fake_ansible_runner(run)
    work = tmp_path / "inject"
    runner.run_entry_points(
        role="r",
        entry_points=["inject"],
        hosts=["a"],
        variables={},
        inventory=tmp_path / "hosts",
        work_dir=work,
    )
    assert files_holding(work, SECRET) == []


def test_plays_run_where_chaosrun_was_started(
    fake_ansible_runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As plain ansible-playbook from the team's repository: relative paths in its ssh
    arguments (`-F ssh_config`, `UserKnownHostsFile=known_hosts`) are the ssh client's,
    taken from the working directory, not from the run's directory. A runbook step's play
    reads a file by a relative path; the fault play is started there too."""
    repo = tmp_path / "ops"
    repo.mkdir()
    monkeypatch.chdir(repo)
    # The ssh client Ansible starts, standing in for OpenSSH: it notes where it runs.
    ssh = tmp_path / "ssh"
    ssh.write_text(f"#!/bin/sh\npwd > {tmp_path / 'ssh-ran-in'}\nexit 255\n")
    ssh.chmod(0o755)
    inventory = tmp_path / "hosts"
    inventory.write_text(f"far ansible_host=192.0.2.1 ansible_ssh_executable={ssh}\n")
    book = parse(
        "# R\n\n## Look\n\n```chaosrun\nhosts: far\n"
        "tasks:\n  - ansible.builtin.command: 'true'\n```\n",
        tmp_path / "r.md",
    )
    result = drill.run_step(book, book.steps[0], inventory, tmp_path / "step")
    assert not result.ok  # the stand-in answers no host
    assert (tmp_path / "ssh-ran-in").read_text().strip() == str(repo)
    (tmp_path / "ssh-ran-in").unlink()
    answers = runner.run_command(
        pattern="far", command="true", inventory=inventory, work_dir=tmp_path / "p", timeout=60
    )
    assert answers["far"][0] == -1  # a command probe, the same
    assert (tmp_path / "ssh-ran-in").read_text().strip() == str(repo)

    started: dict[str, Any] = {}

    def run(**kw: Any) -> SimpleNamespace:
        started.update(kw)
        return SimpleNamespace(status="successful", rc=0)

    fake_ansible_runner(run)
    runner.run_entry_points(
        role="r", entry_points=["inject"], hosts=["a"], variables={},
        inventory=inventory, work_dir=tmp_path / "inject",
    )  # fmt: skip
    assert started["project_dir"] == str(repo)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def local_inventory(tmp_path: Path) -> Path:
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"here ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return inventory


def test_no_play_is_handed_a_variable_the_project_reads_a_secret_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's files name PROMETHEUS_PASSWORD as a secret's source (a webhook URL
    embeds a token): a command probe's play, run for real, sees neither; the rest of the
    operator's environment (an ssh agent, a cloud profile) it keeps."""
    monkeypatch.setattr(secrets, "_secret_env", {secrets.WEBHOOKS_ENV})
    (tmp_path / "chaosrun.yml").write_text(
        "prometheus:\n  url: https://prom.example.com\n  basic_auth:\n"
        "    username: chaos\n    password_env: PROMETHEUS_PASSWORD\n"
    )
    config.load(tmp_path / "chaosrun.yml")
    monkeypatch.setenv("PROMETHEUS_PASSWORD", SECRET)
    monkeypatch.setenv(secrets.WEBHOOKS_ENV, f"https://hooks.example.com/{SECRET}")
    monkeypatch.setenv("OPS_PROFILE", "team-a")
    answers = runner.run_command(
        pattern="here",
        command='echo "${PROMETHEUS_PASSWORD:-none} ${CHAOSRUN_WEBHOOKS:-none} $OPS_PROFILE"',
        inventory=local_inventory(tmp_path),
        work_dir=tmp_path / "probe",
        timeout=60,
    )
    assert answers == {"here": (0, "none none team-a")}
    assert files_holding(tmp_path / "probe", SECRET) == []


def test_a_drill_step_is_handed_only_the_secrets_its_probes_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compiled step's probe modules read the Prometheus token on the controller, from
    the variable its access block names: that one variable reaches the step's play, no
    other secret does, and the play's record under the run keeps neither."""
    monkeypatch.setattr(secrets, "_secret_env", {"PROM_TOKEN", "PD_KEY"})
    monkeypatch.setenv("PROM_TOKEN", SECRET)
    monkeypatch.setenv("PD_KEY", "pagerduty-key-of-the-shell")
    book = parse(
        "# R\n\n## Look\n\n```chaosrun\nhosts: here\ntasks:\n"
        "  - ansible.builtin.assert:\n"
        "      that:\n"
        # Its digest, not the secret itself: the step's playbook is a file of the run.
        f"        - lookup('env', 'PROM_TOKEN') | hash('sha1') == '{sha1(SECRET)}'\n"
        "        - lookup('env', 'PD_KEY') == ''\n"
        "```\n",
        tmp_path / "r.md",
    )
    endpoints = {
        "chaosrun_prometheus_url": "https://prom.example.com",
        "chaosrun_prometheus_access": {"bearer_token_env": "PROM_TOKEN"},
    }
    assert drill.secret_sources(endpoints) == {"PROM_TOKEN"}
    work = tmp_path / "step"
    result = drill.run_step(book, book.steps[0], local_inventory(tmp_path), work, endpoints)
    assert result.ok, result.detail
    assert files_holding(work, SECRET) == []
    assert files_holding(work, "pagerduty-key-of-the-shell") == []


def test_a_killed_controllers_records_are_swept(tmp_path: Path) -> None:
    """A controller killed mid-play leaves the play's record uncut and its vars file: the
    sweep of `recover` cuts the record of every run that ended or crashed, removes the
    vars file, and leaves a run that still goes alone."""
    runs = tmp_path / "runs"

    def left(run_id: str, status: str, controller: dict[str, Any]) -> Path:
        play = runs / run_id / "ansible" / "inject"
        (play / "artifacts" / "x").mkdir(parents=True)
        env = {"PATH": "/usr/bin", "ANSIBLE_CONFIG": "ansible.cfg", "OPS_TOKEN": SECRET}
        (play / "artifacts" / "x" / "command").write_text(
            json.dumps({"command": ["ansible-playbook"], "cwd": "/", "env": env})
        )
        (play / "fault-abc.vars.yml").write_text(f"db_password: {SECRET}\n")
        (runs / run_id / "journal.json").write_text(
            json.dumps({"status": status, "controller": controller})
        )
        return runs / run_id

    here = {"host": socket.gethostname(), **liveness.identity()}
    dead = {"host": socket.gethostname(), "pid": 2**22 + 7, "pid_started": "1"}
    crashed = left("crashed", "running", dead)
    finished = left("finished", "passed", dead)
    going = left("going", "running", here)
    assert artifacts.sweep_ended(runs) == {"crashed": 2, "finished": 2}
    assert files_holding(crashed, SECRET) == [] and files_holding(finished, SECRET) == []
    (record,) = crashed.rglob("artifacts/*/command")
    assert json.loads(record.read_text())["env"] == {
        "PATH": "/usr/bin",
        "ANSIBLE_CONFIG": "ansible.cfg",
    }
    assert len(files_holding(going, SECRET)) == 2  # its play may still read its vars file
    assert artifacts.sweep_ended(runs) == {}  # nothing left to cut
