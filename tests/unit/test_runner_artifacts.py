"""ansible-runner writes the whole environment of every play it starts into the run's
directory (`artifacts/<id>/command`): a password chaosrun.yml reads from a variable, and
whatever else the operator's shell holds, would stay there with the run. chaosrun keeps
the command and the variables it set, and drops the rest once the play ended."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chaosrun.hosts import runner
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
