"""A fault whose apply really hangs on one host (the test-only role chaostest.faults.hang,
tests/e2e/collections), on the lab. The inject deadline ends the run within the deadline
plus a bound, rolled back on every host (measured on the hosts: the fault's file, its state
and its blocked step are gone), aborted (exit 3) with the journal naming the deadline and
the host that had not finished. A controller SIGKILLed during the hang leaves it to
`recover`, which ends the hung step first: it returns in seconds, not after the 120 s wait
for the lock the step holds, and the step cannot apply after it.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import datetime

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    CHAOSRUN,
    PROJECT,
    STATE_DIR,
    Project,
    kill_group,
    project_fixture,
    safety_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
DEADLINE_S = 15
# Beyond the deadline: cancel the play, end the hung step, revert, the role's rollback and
# verify in a fresh play, the journal. About 10 s on the lab; a busy machine is slower.
BOUND_S = 40
HUNG, DONE = "order-1", "payment-1"
HANG_S = 613  # the blocked apply's `sleep`, found on the host by this number

EXPERIMENT = f"""\
title: An apply that hangs on one host
targets: {{hosts: "{HUNG}:{DONE}", select: all}}
fault:
  role: chaostest.faults.hang
  vars: {{hang_on: [{HUNG}], hang_seconds: {HANG_S}}}
duration: 30s
guardrails: {{interval: 1s}}
recovery: {{within: 30s}}
"""


def _hang(on: str, seconds: int) -> str:
    return EXPERIMENT.replace(f'"{HUNG}:{DONE}"', on).replace(str(HANG_S), str(seconds))


def _use_test_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test-only collection first; the project's own for chaosrun.chaos.
    monkeypatch.setenv(
        "ANSIBLE_COLLECTIONS_PATH", f"{PROJECT}/tests/e2e/collections:{PROJECT}/collections"
    )


def _when(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_a_hung_apply_is_cut_at_the_deadline_and_every_host_rolled_back(project: Project):
    lab = project.lab
    project.write_config(
        deadlines={"inject": f"{DEADLINE_S}s"},
        blast_radius={"max_hosts": 5, "max_percent": 100, "allow_whole_group": True},
    )
    experiment = project.experiment("hang", EXPERIMENT)
    env = {
        **project.env(),
        # The test-only collection first; the project's own for chaosrun.chaos.
        "ANSIBLE_COLLECTIONS_PATH": f"{PROJECT}/tests/e2e/collections:{PROJECT}/collections",
    }
    done = subprocess.run(
        [*CHAOSRUN, "run", str(experiment), "-i", str(lab.inventory)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S + 300,  # without the deadline the run waits on the hang
        env=env,
        cwd=PROJECT,
    )
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    run_id = next(p.name for p in project.run_dir.iterdir() if (p / "journal.json").is_file())
    journal = project.journal(run_id)
    why = project.explain(run_id)
    abort = journal["abort"]
    assert abort["reason"].startswith(f"inject deadline of {DEADLINE_S}s passed"), why
    assert list(abort["unfinished"]) == [HUNG], why
    assert "Claim the host" in abort["unfinished"][HUNG], why
    assert journal["status"] == "aborted" and journal["exit_code"] == 3
    assert journal["rollback"]["ok"] is True, why
    # The revert ended the hung step on its host (and found none on the other).
    assert journal["rollback"].get("steps_ended") == [HUNG], why
    inject = next(p for p in journal["phases"] if p["name"] == "inject")
    took = _when(journal["ended_at"]) - _when(inject["started_at"])
    assert took < DEADLINE_S + BOUND_S, f"{took:.1f}s from inject to the end\n{why}"
    # On the hosts: the fault's file, its state and the blocked step are gone.
    for host in (HUNG, DONE):
        assert lab.on_host(host, f"ls /var/tmp/chaostest-hang-{run_id} 2>&1 | grep -c No") == "1"
        assert run_id not in lab.active_dirs(host)
    assert lab.on_host(HUNG, f"pgrep -f 'slee[p] {HANG_S}' || echo gone") == "gone"
    reverts = lab.on_host(
        DONE, f'grep -c \'"run_id": "{run_id}".*"ok": true\' {STATE_DIR}/history.jsonl'
    )
    assert reverts == "1", reverts
    project.assert_no_active_fault()
    print(f"hung apply: {took:.1f}s from inject to the end (deadline {DEADLINE_S}s)")


RECOVER_HANG_S = 614  # this test's blocked apply, found on the host by this number


def test_recover_ends_the_hung_step_of_a_killed_controller_at_once(
    project: Project, monkeypatch: pytest.MonkeyPatch
):
    lab = project.lab
    # A lease (the dead-man) and a deadline far longer than the test: only recover acts.
    project.write_config(
        lease={"ttl": "600s", "renew_every": "5s", "max_ttl": "600s"},
        deadlines={"inject": "10m"},
        blast_radius={"max_hosts": 5, "max_percent": 100, "allow_whole_group": True},
    )
    _use_test_collection(monkeypatch)
    experiment = project.experiment("hang-kill", _hang(HUNG, RECOVER_HANG_S))
    proc = project.start("run", str(experiment), "-i", str(lab.inventory))
    try:
        run_id, _ = project.wait_for_phase(proc, "inject")
        # The sleep itself (its command line starts so), not the arm step's script, which
        # carries the same words from before its apply runs: a controller killed then leaves
        # no step on the host for recover to end.
        hung = f"pgrep -f '^slee[p] {RECOVER_HANG_S}' || echo gone"
        deadline = time.monotonic() + 120
        while lab.on_host(HUNG, hung) == "gone":
            assert proc.poll() is None and time.monotonic() < deadline, "the apply never hung"
            time.sleep(0.5)
    finally:
        kill_group(proc, signal.SIGKILL)
        proc.wait(10)
    time.sleep(2)  # the controller's guardian ends its ssh clients; the host's step goes on
    assert lab.on_host(HUNG, hung) != "gone"
    started = time.monotonic()
    done = project.chaosrun("recover", "-i", str(lab.inventory), "--run", run_id, timeout=180)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    said = " ".join(done.stdout.split())
    assert f"{HUNG}: ended a step of run {run_id} still running on the host" in said, said
    assert f"{HUNG}/hang: reverted" in said, said
    assert took < 60, f"recover took {took:.1f}s: it waited for the hung step's lock"
    # On the host: the step is gone, the fault undone (its file), nothing of the run left.
    assert lab.on_host(HUNG, hung) == "gone"
    assert lab.on_host(HUNG, f"ls /var/tmp/chaostest-hang-{run_id} 2>&1 | grep -c No") == "1"
    assert lab.active_dirs(HUNG) == []
    (entry,) = [e for e in project.audit() if e["action"] == "recover"]
    assert entry["outcome"] == "recovered" and entry["steps_ended"] == {HUNG: [run_id]}
    project.assert_no_active_fault()
    print(f"recover after a SIGKILL during a hung apply: {took:.1f}s")
