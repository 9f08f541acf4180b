"""Blackout windows: starting inside one is refused with its name; one that opens while
a fault is active aborts the run and rolls back."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def test_starting_inside_a_window_is_refused_with_its_name(project: Project):
    now = dt.datetime.now(dt.UTC)
    window = (
        "blackout_windows:\n"
        "  - name: payments-migration\n"
        f"    dates: {{start: '{_stamp(now - dt.timedelta(hours=1))}', "
        f"end: '{_stamp(now + dt.timedelta(hours=1))}'}}\n"
        "    timezone: UTC\n"
    )
    exp = project.experiment("inside", stop_one_order(duration="30s", extra=window))
    done = project.chaosrun("run", str(exp), "-i", str(project.lab.inventory))
    assert done.returncode == 4, done.stderr
    assert "blackout window 'payments-migration'" in done.stderr
    assert "until" in done.stderr
    (entry,) = [e for e in project.audit() if e["action"] == "refused"]
    assert "payments-migration" in entry["reason"]
    project.assert_no_active_fault()


def test_a_window_opening_mid_run_aborts_and_rolls_back(project: Project):
    # This test takes two minutes on purpose: the window must open only once the fault is
    # active, and on a busy machine preflight + steady state + inject took up to ~100 s.
    # Whole seconds: the window's stamps have no fraction, so that is when it opens.
    opens = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)).replace(microsecond=0)
    project.write_config(
        blackout_windows=[
            {
                "name": "nightly-backup",
                "dates": {"start": _stamp(opens), "end": _stamp(opens + dt.timedelta(hours=1))},
                "timezone": "UTC",
            }
        ]
    )
    exp = project.experiment("midrun", stop_one_order(duration="600s"))
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id, journal = project.wait_for_phase(proc, "observe", timeout=110)
    (host,) = journal["targets"]["selected"]
    assert not project.lab.unit_active(host, "order-service.service")
    rc = proc.wait(240)
    ended = dt.datetime.now(dt.UTC)
    assert rc == 3, (proc.stderr.read()[-2000:], project.explain(run_id))
    journal = project.journal(run_id)
    assert "nightly-backup" in journal["abort"]["reason"]
    aborted_at = dt.datetime.fromisoformat(journal["abort"]["at"].replace("Z", "+00:00"))
    # Aborted within one guardrail interval (1s) of the window opening, plus slack.
    assert opens <= aborted_at <= opens + dt.timedelta(seconds=3), (opens, aborted_at)
    assert ended - opens < dt.timedelta(seconds=180)
    assert journal["rollback"]["ok"] is True
    time.sleep(0.5)
    assert project.lab.unit_active(host, "order-service.service")
    project.assert_no_active_fault()
