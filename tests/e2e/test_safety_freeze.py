"""The kill switch stops running experiments; two runs never share a host; `abort` works."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    STATE_DIR,
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


def test_freeze_during_a_run_aborts_it_and_blocks_new_runs(project: Project):
    exp = project.experiment("freeze", stop_one_order(duration="600s"))
    inv = str(project.lab.inventory)
    proc = project.start("run", str(exp), "-i", inv)
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    frozen = project.chaosrun("freeze", "--reason", "incident INC-42")
    frozen_at = dt.datetime.now(dt.UTC)
    assert frozen.returncode == 0, frozen.stderr
    assert proc.wait(120) == 3
    journal = project.journal(run_id)
    assert "INC-42" in journal["abort"]["reason"]
    aborted_at = dt.datetime.fromisoformat(journal["abort"]["at"].replace("Z", "+00:00"))
    assert aborted_at - frozen_at <= dt.timedelta(seconds=1 + 1), "not within one interval"
    assert project.lab.unit_active(host, UNIT)
    # Frozen: a new run is refused, touching nothing.
    refused = project.chaosrun("run", str(exp), "-i", inv)
    assert refused.returncode == 4 and "INC-42" in refused.stderr
    assert project.chaosrun("unfreeze", "--reason", "resolved").returncode == 0
    actions = [e["action"] for e in project.audit()]
    assert actions == ["freeze", "run", "refused", "unfreeze"], actions
    project.assert_no_active_fault()


def test_a_second_run_on_a_held_host_is_refused_naming_the_run(project: Project, tmp_path):
    inv = str(project.lab.inventory)
    first = project.experiment(
        "first", stop_one_order(duration="600s", exclude=("order-2", "order-3"))
    )
    proc = project.start("run", str(first), "-i", inv)
    run_id, journal = project.wait_for_phase(proc, "observe")
    assert journal["targets"]["selected"] == ["order-1"]
    try:
        # Same controller: refused from the live run's journal before any SSH.
        second = project.experiment(
            "second", stop_one_order(duration="10s", exclude=("order-2", "order-3"))
        )
        done = project.chaosrun("run", str(second), "-i", inv)
        assert done.returncode == 4, done.stderr
        assert run_id in done.stderr
        # Another controller (its own run dir): refused by the host's lock, naming the run.
        other = Project(tmp_path / "other", project.lab)
        other.root.mkdir()
        other.write_config()
        done = other.chaosrun("run", str(second), "-i", inv)
        assert done.returncode == 4, done.stderr
        assert run_id in done.stderr
        assert project.lab.active_dirs("order-1") == [run_id]
    finally:
        aborted = project.chaosrun("abort", run_id, "--reason", "test over")
    assert aborted.returncode == 0, aborted.stderr
    assert proc.wait(120) == 3
    assert "test over" in project.journal(run_id)["abort"]["reason"]
    assert project.lab.unit_active("order-1", UNIT)
    actions = sorted(e["action"] for e in project.audit())
    assert actions == ["abort", "refused", "run"], actions
    project.assert_no_active_fault()


def _at(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _controller(project: Project, name: str) -> Project:
    """Another controller: its own directory (where it runs), chaosrun.yml, runs and audit."""
    other = Project(project.root / name, project.lab)
    other.root.mkdir()
    other.write_config()
    other.workdir = other.root
    return other


def _status(project: Project, inventory: str) -> dict:
    """`status -i` of the order service's hosts, as JSON."""
    done = project.chaosrun("status", "-i", inventory, "--hosts", "order_service", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _history(project: Project, host: str, run_id: str) -> list[dict]:
    """The host's revert records of a run."""
    out = project.lab.on_host(host, f"grep -F '\"{run_id}\"' {STATE_DIR}/history.jsonl")
    return [json.loads(line) for line in out.splitlines() if line]


def _inject_as_a_playbook(project: Project, host: str, run_id: str):
    """The role's inject run by plain ansible-playbook (as cron or AWX would), no preflight."""
    env = {**project.env(), "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")}
    extra = {
        "chaos_hosts": host,
        "chaos_role": "chaosrun.chaos.service_stop",
        "chaos_entry_points": ["inject"],
        "chaos_run_id": run_id,
        "chaos_ttl": 15,
        "service_stop_units": [UNIT],
    }
    playbook = Path(sys.executable).parent / "ansible-playbook"
    inventory = str(project.lab.inventory)
    return subprocess.run(
        [str(playbook), "playbooks/fault.yml", "-i", inventory, "-e", json.dumps(extra)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=PROJECT,
    )


def test_freeze_on_the_hosts_from_another_controller(project: Project):
    """Issue 21: a run holds a fault; `freeze -i` from a second project directory stops it
    (its lease renewal sees the marker) within the renewal interval + 2 s, the fault is
    gone; a run from a third directory, and the role's inject run by plain ansible-playbook,
    are refused naming the freeze; `unfreeze -i` lets runs go again."""
    inv = str(project.lab.inventory)
    exp = project.experiment("held", stop_one_order(duration="600s"))
    proc = project.start("run", str(exp), "-i", inv)
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    assert not project.lab.unit_active(host, UNIT)
    second, third = _controller(project, "second"), _controller(project, "third")
    try:
        # The order service's hosts: the run's and the third's targets (fewer SSH logins
        # than the whole lab; the whole inventory is the default, as in the unit tests).
        frozen = second.chaosrun(
            "freeze", "-i", inv, "-l", "order_service", "--reason", "INC-77 freeze", "--json"
        )
        assert frozen.returncode == 0, frozen.stderr
        answer = json.loads(frozen.stdout)
        assert host in answer["hosts"] and answer["unreachable"] == {}
        assert answer["reverted"][host] == [f"{run_id}/service_stop"]
        marked = answer["frozen_at"][host]  # the host's clock: the lab's hosts share ours
        assert proc.wait(120) == 3
        journal = project.journal(run_id)
        reason = journal["abort"]["reason"]
        assert "kill switch on the hosts" in reason and "INC-77" in reason, reason
        # The fault went with the freeze: its revert script ran right after the marker.
        (revert,) = _history(project, host, run_id)
        assert revert["by"] == "freeze" and revert["ok"] is True
        assert revert["at"] - marked <= 2, revert
        # 3 s is the project's lease.renew_every (safety_support.Project.write_config): the
        # run aborts, and its rollback starts, within one renewal + 2 s.
        assert _at(journal["abort"]["at"]) - marked <= 3 + 2, journal["abort"]
        (rollback,) = [p for p in journal["phases"] if p["name"] == "rollback"]
        assert _at(rollback["started_at"]) - marked <= 3 + 2, rollback
        assert journal["rollback"]["ok"] is True
        assert project.lab.unit_active(host, UNIT)
        assert project.lab.active_dirs(host) == []

        short = third.experiment("short", stop_one_order(duration="5s"))
        refused = third.chaosrun("run", str(short), "-i", inv)
        assert refused.returncode == 4, refused.stderr
        assert "INC-77" in refused.stderr and "frozen" in refused.stderr
        # The guarantee is the role's own lock step, whoever runs it.
        direct = _inject_as_a_playbook(third, host, "lockstep-check")
        assert direct.returncode != 0
        assert f"{host}: frozen since" in direct.stdout and "INC-77" in direct.stdout
        assert project.lab.unit_active(host, UNIT) and project.lab.active_dirs(host) == []

        state = _status(second, inv)
        assert state["frozen_hosts"][host]["reason"] == "INC-77 freeze"
    finally:
        lifted = second.chaosrun("unfreeze", "-i", inv, "-l", "order_service", "-r", "over")
    assert lifted.returncode == 0, lifted.stderr
    assert _status(second, inv)["frozen_hosts"] == {}
    done = third.chaosrun("run", str(short), "-i", inv)
    assert done.returncode == 0, done.stderr
    assert [(e["action"], e["outcome"]) for e in second.audit()] == [
        ("freeze", "frozen"),
        ("unfreeze", "unfrozen"),
    ]
    assert [e["action"] for e in third.audit()] == ["refused", "run"]
    project.assert_no_active_fault()
