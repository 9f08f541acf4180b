"""A signal during rollback, and a controller killed with its process group mid-phase.

SIGTERM during rollback: the revert finishes, then the run ends as aborted (exit 3) at once,
without the recovery wait. SIGKILL of the whole group: nothing of the run is left running
on the controller, no temporary file outside its run directory, and `history` calls it
crashed.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from engine_support import parse_time
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


def _wait_in_rollback(project: Project, proc, timeout: float = 400) -> str:
    """Poll the run's journal often: the rollback (revert scripts, then the role's verify
    in one ansible-playbook run) lasts a few seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in project.run_dir.glob("*/journal.json"):
            try:
                journal = json.loads(path.read_text())
            except ValueError:
                continue
            names = [p["name"] for p in journal.get("phases", [])]
            if journal["controller"]["pid"] == proc.pid and "rollback" in names:
                return journal["run_id"]
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before its rollback")
        time.sleep(0.1)
    pytest.fail(f"no rollback within {timeout}s")


def test_sigterm_during_rollback_finishes_it_then_exits_3(project: Project):
    # A recovery deadline far longer than the test allows: waiting it out would show.
    exp = project.experiment(
        "sigterm-rollback", stop_one_order(duration="2s").replace("within: 60s", "within: 300s")
    )
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id = _wait_in_rollback(project, proc)
    proc.send_signal(signal.SIGTERM)
    sent = time.time()
    _out, err = proc.communicate(timeout=300)
    exited = time.time()
    assert proc.returncode == 3, err[-3000:]
    journal = project.journal(run_id)
    assert journal["status"] == "aborted"
    assert journal["abort"]["reason"] == "SIGTERM received during rollback"
    assert journal["abort"]["signal"] == "SIGTERM"
    phases = {p["name"]: p for p in journal["phases"]}
    assert phases["verify_inactive"]["outcome"] == "ok"  # the rollback ran to its end
    assert journal["rollback"]["ok"] is True and "confirmed" not in journal["rollback"]
    assert "recovery" not in phases
    rollback_s = parse_time(phases["verify_inactive"]["ended_at"]) - parse_time(
        phases["rollback"]["started_at"]
    )
    assert exited - sent <= rollback_s + 2, (exited - sent, rollback_s)
    (host,) = journal["targets"]["selected"]
    assert project.lab.unit_active(host, UNIT)
    project.assert_no_active_fault()
