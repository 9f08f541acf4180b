"""`chaosrun run` in a warm process's fork, on the lab: the same run, the same aborts.

A run started with a warm process up passes with the fork as its controller; Ctrl-C on
the command aborts it and rolls back (exit 3), as without one; a command killed outright
leaves its fork to roll back at once (a hangup), instead of a fault left to the hosts'
dead-man. After a run, the warm process readies inject's playbook for the next one (a
spare): the next run takes it, unless what the playbook read changed since (the
inventory), and `chaosrun warm --stop` leaves no spare behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    LEASE_TTL,
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
    when_steady,
)

from chaosrun.base import liveness

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


class WarmProject(Project):
    """The project's commands with an environment of their own, where a warm process runs."""

    marker: str = ""

    def env(self) -> dict[str, str]:
        # pytest's own variable names the test's stage (setup, call): a command's
        # environment that changes is one no warm process serves.
        env = {**super().env(), "CHAOSRUN_WARM_TEST": self.marker}
        env.pop("PYTEST_CURRENT_TEST", None)
        return env


@pytest.fixture
def warm(project: Project) -> Iterator[WarmProject]:
    here = WarmProject(project.root, project.lab)
    here.marker = uuid.uuid4().hex
    started = here.chaosrun("warm", "--idle", "10m")
    assert started.returncode == 0 and "ready" in started.stderr, started.stderr
    yield here
    here.chaosrun("warm", "--stop")


def _server(project: WarmProject) -> dict[str, Any]:
    done = project.chaosrun("warm", "--status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_run_in_the_fork_passes_with_the_fork_as_its_controller(warm: WarmProject) -> None:
    exp = warm.experiment("warm-pass", stop_one_order(duration="3s"))

    def attempt():
        proc = warm.start("run", str(exp), "-i", str(warm.lab.inventory), "--json")
        run_id = warm.wait_for_phase(proc, "observe", 300, any_controller=True)[0]
        controller = warm.journal(run_id)["controller"]["pid"]
        # The fork's parent is the warm process; the command is another process.
        parent = _parent(controller)
        out, err = proc.communicate(timeout=300)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        return done, (controller, parent, proc.pid), warm.journal(run_id)

    done, (controller, parent, client), journal = when_steady(warm, attempt)
    assert done.returncode == 0, done.stderr[-3000:]
    server = _server(warm)
    assert parent == server["pid"] and controller != client
    assert journal["status"] == "passed"
    assert server["served"] >= 1 and server["running"] == 0
    warm.assert_no_active_fault()


@pytest.mark.parametrize("how", ["ctrl-c", "killed"])
def test_a_warm_run_stopped_from_its_command_rolls_back_at_once(
    warm: WarmProject, how: str
) -> None:
    exp = warm.experiment(f"warm-{how}", stop_one_order(duration="600s"))
    proc = warm.start("run", str(exp), "-i", str(warm.lab.inventory))
    run_id = warm.wait_for_phase(proc, "observe", 300, any_controller=True)[0]
    (host,) = warm.journal(run_id)["targets"]["selected"]
    assert not warm.lab.unit_active(host, UNIT)  # the fault is on
    controller = warm.journal(run_id)["controller"]
    sent = time.monotonic()
    if how == "ctrl-c":
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err[-3000:]
    else:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    # The fork rolls back and ends well before the lease (LEASE_TTL) could have.
    while liveness.gone(controller) is None:
        assert time.monotonic() - sent < 60, "the fork did not end"
        time.sleep(0.2)
    journal = warm.journal(run_id)
    assert journal["status"] == "aborted", warm.explain(run_id)
    assert journal["abort"]["signal"] == ("SIGINT" if how == "ctrl-c" else "SIGHUP")
    assert journal["rollback"]["ok"] is True
    assert time.monotonic() - sent < LEASE_TTL + 60
    assert warm.lab.unit_active(host, UNIT)
    warm.assert_no_active_fault()


def _spare_waiting(runs: Path, timeout: float = 120) -> Path:
    """The spare's directory once its playbook waits for a release."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for events in (runs / ".spares").glob("*/ansible/inject/artifacts/*/job_events"):
            if any("playbook_on_task_start" in e.read_text() for e in events.glob("*.json")):
                return events.parents[4]
        time.sleep(0.3)
    pytest.fail(f"no spare waiting in {runs / '.spares'} within {timeout}s")


def _inject_started(run_dir: Path) -> float:
    """When the run's inject playbook started (its first event), epoch seconds."""
    for path in (run_dir / "ansible" / "inject" / "artifacts").glob("*/job_events/*.json"):
        event = json.loads(path.read_text())
        if event.get("event") == "playbook_on_start":
            return dt.datetime.fromisoformat(event["created"]).timestamp()
    pytest.fail(f"no playbook_on_start among {run_dir}'s inject events")


def _spare_processes(spare: Path) -> list[int]:
    """Processes of the spare at `spare` (its guardian marks them, chaosrun.run.reaper)."""
    needle = f"CHAOSRUN_RUN_MARK=spare-{spare.name}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ:
                found.append(int(entry.name))
    return found


def test_the_next_run_takes_the_ready_playbook_unless_the_inventory_changed(
    warm: WarmProject,
) -> None:
    inventory = warm.root / "inventory" / "hosts"
    inventory.parent.mkdir()
    shutil.copy(warm.lab.inventory, inventory)
    exp = warm.experiment("warm-spare", stop_one_order(duration="2s"))

    def run() -> tuple[subprocess.CompletedProcess[str], float, Path]:
        def attempt():
            launched = time.time()
            done = warm.chaosrun("run", str(exp), "-i", str(inventory), "--json")
            journal = json.loads(done.stdout)["journal"] if done.returncode == 0 else None
            return done, launched, journal

        done, launched, journal = when_steady(warm, attempt)
        assert done.returncode == 0, done.stderr[-3000:]
        return done, launched, Path(journal).parent

    _, launched, first = run()
    assert _inject_started(first) > launched  # no spare yet: its own playbook
    _spare_waiting(warm.run_dir)
    _, launched, second = run()
    assert _inject_started(second) < launched  # the spare's, ready before the launch
    assert not any(p.is_symlink() for p in (warm.run_dir / ".spares").iterdir())

    stale = _spare_waiting(warm.run_dir)
    with inventory.open("a") as fh:  # the spare's playbook read the inventory before this
        fh.write("# changed\n")
    edited = time.time()
    third = run()[2]
    # Its own playbook, or (when a refused attempt came first) a spare readied after the edit.
    assert _inject_started(third) > edited and not stale.exists()
    assert warm.journal(third.name)["status"] == "passed"

    spare = _spare_waiting(warm.run_dir)
    assert _spare_processes(spare)
    stopped = warm.chaosrun("warm", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 30
    while _spare_processes(spare) or any((warm.run_dir / ".spares").iterdir()):
        assert time.monotonic() < deadline, f"spare left: {_spare_processes(spare)}"
        time.sleep(0.3)
    assert os.listdir(warm.run_dir / ".spares") == []
    warm.assert_no_active_fault()
