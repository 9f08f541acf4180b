"""A spare (chaosrun.run.spare): inject's playbook readied before the command, taken only
while nothing it read as it started has changed, and ended without a trace otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrun.run import prestart, spare

ROLE = "chaosrun.chaos.process_kill"
REAL_START = prestart.start  # before conftest's fixture takes it away for each test


@pytest.fixture(autouse=True)
def _real_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prestart, "start", REAL_START)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory" / "hosts"
    path.parent.mkdir()
    path.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return path


@pytest.fixture
def ready(inventory: Path, tmp_path: Path) -> Iterator[spare.Spare]:
    """A spare for ROLE on `inventory`, runs kept in tmp_path/runs; ended after the test."""
    made = spare.prepare(ROLE, inventory, tmp_path / "runs")
    assert made is not None
    yield made
    if not made.pending.ended():
        made.discard()


def test_the_fingerprint_follows_what_the_playbook_reads(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = spare.fingerprint(ROLE, inventory)
    assert first is not None and spare.fingerprint(ROLE, inventory) == first
    assert spare.fingerprint("chaosrun.chaos.service_stop", inventory) != first

    group_vars = inventory.parent / "group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text("x: 1\n")
    second = spare.fingerprint(ROLE, inventory)
    assert second != first

    with inventory.open("a") as fh:
        fh.write("# a comment is still a change\n")
    third = spare.fingerprint(ROLE, inventory)
    assert third not in (first, second)

    monkeypatch.chdir(tmp_path)
    assert spare.fingerprint(ROLE, inventory) != third


def test_an_inventory_that_is_not_plain_files_gets_no_spare(tmp_path: Path) -> None:
    script = tmp_path / "inventory.sh"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o755)
    plugin = tmp_path / "aws_ec2.yml"
    plugin.write_text("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    assert spare.fingerprint(ROLE, script) is None
    assert spare.fingerprint(ROLE, plugin) is None
    assert spare.prepare(ROLE, plugin, tmp_path / "runs") is None
    assert spare.fingerprint("chaosrun.chaos.no_such_role", tmp_path / "missing") is None


def test_a_spare_is_taken_as_the_runs_directory_while_nothing_changed(
    ready: spare.Spare, inventory: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    assert ready.usable(ROLE, inventory, runs)
    assert not ready.usable(ROLE, inventory, tmp_path / "elsewhere")
    assert not ready.usable("chaosrun.chaos.service_stop", inventory, runs)
    run_dir = runs / "20261207T000000-x-abcd"
    work = ready.work
    ready.take(run_dir)
    assert work.is_symlink() and work.resolve() == run_dir.resolve()
    assert (work / "ansible" / "inject" / "release.fifo").exists()
    assert not ready.pending.ended()  # still waiting: its paths hold through the link
    ready.discard()
    assert ready.pending.ended()


def test_a_spare_whose_inventory_changed_is_not_taken_and_ends_without_a_trace(
    ready: spare.Spare, inventory: Path, tmp_path: Path
) -> None:
    with inventory.open("a") as fh:
        fh.write("localhost2 ansible_connection=local\n")
    assert not ready.usable(ROLE, inventory, tmp_path / "runs")
    ready.discard()
    assert ready.pending.ended()
    assert not ready.work.exists()
    assert os.environ.get("CHAOSRUN_RUN_MARK") is None  # the guardian's marker is gone too


def test_prune_removes_what_ended_processes_left(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"{dead.pid}-aaaa"
    (left / "ansible").mkdir(parents=True)
    link = tmp_path / f"{dead.pid}-bbbb"
    link.symlink_to(left)
    mine = tmp_path / f"{os.getpid()}-cccc"
    mine.mkdir()
    spare.prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]
