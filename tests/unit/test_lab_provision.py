"""Deploying the lab system: when it re-runs, and how a failure reads (real ansible-playbook
on localhost, in a throwaway project)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import provision
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig

LAB = LabConfig(name="unit", subnet="10.99.0.0/24")
PLAY = """- name: Deploy
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Break on purpose
      ansible.builtin.fail:
        msg: the database is on fire
      when: fail_now | default(true)
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "playbooks" / "lab").mkdir(parents=True)
    (root / "playbooks" / "lab" / "site.yml").write_text(PLAY)
    (root / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = False\n")
    (root / "hosts").write_text("localhost ansible_connection=local\n")
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(root))
    return root


def test_inputs_hash_follows_playbooks_and_lab_shape(project: Path) -> None:
    first = provision.inputs_hash(LAB)
    assert provision.inputs_hash(LAB) == first
    assert provision.inputs_hash(LabConfig(name="unit", subnet="10.99.0.0/24", order_hosts=9)) != (
        first
    )
    (project / "playbooks" / "lab" / "site.yml").write_text(PLAY + "\n# changed\n")
    assert provision.inputs_hash(LAB) != first


def test_no_playbook_means_nothing_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(tmp_path))
    assert provision.playbook() is None
    provision.run_site(LAB, LabPaths(tmp_path / "state"), tmp_path / "hosts", print)


def test_a_failed_task_is_named_with_its_message_and_the_log(project: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    paths = LabPaths(tmp_path / "state")
    with pytest.raises(ChaosrunError) as err:
        provision.run_site(LAB, paths, project / "hosts", seen.append)
    message = str(err.value)
    assert "playbooks/lab/site.yml failed" in message
    assert "TASK [Break on purpose]" in message
    assert "the database is on fire" in message
    assert str(paths.log_file("site")) in message
    assert "  TASK [Say hello]" in seen
    assert "the database is on fire" in paths.log_file("site").read_text()


def test_an_orphaned_deployment_of_this_lab_is_found(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "ansible-playbook"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(300)\n")
    fake.chmod(0o755)
    mine, other = tmp_path / "inv-mine" / "hosts", tmp_path / "inv-other" / "hosts"
    procs = [
        subprocess.Popen([str(fake), "-i", str(inv), f"/p/{provision.PLAYBOOK}"])
        for inv in (mine, other)
    ]
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and procs[0].pid not in provision.orphans(mine):
            time.sleep(0.1)
        assert provision.orphans(mine) == [procs[0].pid]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
