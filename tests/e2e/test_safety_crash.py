"""No fault outlives its controller: SIGKILL, `recover`, and a cut control connection.

The lease is LEASE_TTL seconds (the test project's chaosrun.yml); the experiment is meant
to last ten minutes, so only the lease can explain a fast revert.
"""

from __future__ import annotations

import signal
import time

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    LEASE_TTL,
    Project,
    kill_group,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


def _inject(project: Project, name: str):
    exp = project.experiment(name, stop_one_order(duration="600s"))
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id, journal = project.wait_for_phase(proc, "observe")
    (host,) = journal["targets"]["selected"]
    assert not project.lab.unit_active(host, UNIT), "the fault is not observable"
    assert project.lab.active_dirs(host) == [run_id]
    return proc, run_id, host


def test_sigkill_leaves_the_fault_for_at_most_one_lease(project: Project):
    proc, run_id, host = _inject(project, "sigkill")
    kill_group(proc, signal.SIGKILL)
    killed = time.monotonic()
    proc.wait(10)
    # `status` sees the orphan: the controller is dead.
    faults = project.status()["faults"]
    assert [(f["host"], f["run_id"], f["orphaned"]) for f in faults] == [(host, run_id, True)]
    while project.lab.active_dirs(host) and time.monotonic() - killed < LEASE_TTL + 5:
        time.sleep(0.5)
    reverted_after = time.monotonic() - killed
    assert project.lab.active_dirs(host) == [], f"still active {reverted_after:.1f}s after kill"
    assert reverted_after <= LEASE_TTL + 5
    assert project.lab.unit_active(host, UNIT)
    history = project.lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl")
    assert '"by": "deadman"' in history and run_id in history
    project.assert_no_active_fault()


def test_recover_right_after_a_kill_reverts_at_once(project: Project):
    proc, run_id, host = _inject(project, "recover")
    kill_group(proc, signal.SIGKILL)
    proc.wait(10)
    started = time.monotonic()
    done = project.chaosrun("recover", "-i", str(project.lab.inventory), "--run", run_id)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert f"{host}/service_stop: reverted" in done.stdout
    # Well inside one lease: it was recover, not the dead-man.
    assert project.lab.active_dirs(host) == []
    assert project.lab.unit_active(host, UNIT)
    history = project.lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl")
    assert '"by": "recover"' in history, (history, took)
    (entry,) = [e for e in project.audit() if e["action"] == "recover"]
    assert entry["run_id"] == run_id and entry["outcome"] == "recovered"
    assert entry["targets"] == [host]
    project.assert_no_active_fault()


def test_cut_control_connection_host_reverts_by_its_timer(project: Project):
    """A partition that includes the control connection: the controller cannot renew the
    lease nor roll back; the host reverts by itself."""
    proc, run_id, host = _inject(project, "partition")
    gateway = project.lab.config.gateway
    rule = f"INPUT -s {gateway} -p tcp --dport 22 -j DROP -m comment --comment chaosrun-e2e-cut"
    project.lab.on_host(host, f"iptables -I {rule}")
    cut = time.monotonic()
    try:
        while project.lab.active_dirs(host) and time.monotonic() - cut < LEASE_TTL + 10:
            time.sleep(0.5)
        reverted_after = time.monotonic() - cut
        assert project.lab.active_dirs(host) == [], "the host did not revert by itself"
        # A renewal may have landed just before the cut: one lease plus the renew gap.
        assert reverted_after <= LEASE_TTL + 10
        assert project.lab.unit_active(host, UNIT)
        history = project.lab.on_host(host, "tail -n 1 /var/lib/chaosrun/history.jsonl")
        assert '"by": "deadman"' in history and run_id in history
    finally:
        project.lab.on_host(host, f"iptables -D {rule}")
    # The controller saw the lease lapse and stopped; it must not claim success.
    rc = proc.wait(240)
    assert rc != 0
    project.assert_no_active_fault()
