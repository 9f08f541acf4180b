"""The kill switch stops running experiments; two runs never share a host; `abort` works."""

from __future__ import annotations

import datetime as dt

import pytest
from safety_support import (  # noqa: F401  (fixtures)
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
