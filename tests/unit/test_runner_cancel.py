"""The engine's ansible-runner adapter stops a play soon after it is canceled: an abort
during inject must not wait for ansible-runner's default 5 s poll."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from chaosrun.hosts import runner


@pytest.fixture
def sleeper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A role whose `inject` entry point sleeps 30 s, and an inventory of localhost."""
    tasks = tmp_path / "roles" / "sleeper" / "tasks"
    tasks.mkdir(parents=True)
    for name in ("rollback", "verify"):
        (tasks / f"{name}.yml").write_text("- name: Do nothing\n  ansible.builtin.meta: noop\n")
    (tasks / "inject.yml").write_text(
        "- name: Sleep\n  ansible.builtin.command: sleep 31.5\n  changed_when: false\n"
    )
    monkeypatch.setenv("ANSIBLE_ROLES_PATH", str(tmp_path / "roles"))
    inventory = tmp_path / "hosts"
    inventory.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    )
    return inventory


def test_a_canceled_play_ends_at_once_and_takes_its_task_along(
    sleeper: Path, tmp_path: Path
) -> None:
    cancel = threading.Event()
    canceled_at: list[float] = []

    def cancel_once_sleeping() -> None:
        deadline = time.monotonic() + 60
        while not _sleepers() and time.monotonic() < deadline:
            time.sleep(0.05)
        canceled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_once_sleeping, daemon=True).start()
    result = runner.run_entry_points(
        role="sleeper",
        entry_points=["inject"],
        hosts=["localhost"],
        variables={},
        inventory=sleeper,
        work_dir=tmp_path / "work",
        cancel=cancel,
    )
    after = time.monotonic() - canceled_at[0]
    assert result.status == "canceled"
    # ansible-runner's own poll would take up to 5 s; a loaded machine gets slack.
    assert after < 2.5, f"returned {after:.2f} s after the cancel"
    # Ansible's workers run in sessions of their own: the canceled task must die too.
    assert _sleepers() == []


def _sleepers() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes() == b"sleep\x0031.5\x00":
                found.append(entry.name)
        except OSError:
            continue
    return found
