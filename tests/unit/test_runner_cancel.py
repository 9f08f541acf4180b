"""The engine's ansible-runner adapter stops a play soon after it is canceled: an abort
during inject must not wait for ansible-runner's default 5 s poll."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from chaosrun import runner


@pytest.fixture
def sleeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A role whose `main` entry point sleeps 30 s, and an inventory of localhost."""
    tasks = tmp_path / "roles" / "sleeper" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        "- name: Sleep\n  ansible.builtin.command: sleep 30\n  changed_when: false\n"
    )
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", str(tmp_path / "roles"))
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return inventory


def test_a_canceled_play_ends_within_a_second(sleeper: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    threading.Timer(2.0, cancel.set).start()
    started = time.monotonic()
    result = runner.run_entry_points(
        role="sleeper",
        entry_points=["main"],
        hosts=["localhost"],
        variables={},
        inventory=sleeper,
        work_dir=tmp_path / "work",
        cancel=cancel,
    )
    elapsed = time.monotonic() - started
    assert result.status == "canceled"
    assert elapsed < 3.0, f"canceled at 2 s, returned after {elapsed:.2f} s"
