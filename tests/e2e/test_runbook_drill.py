"""End-to-end drills of the shipped runbooks on the lab (real hosts, Prometheus,
Alertmanager, PostgreSQL).

(a) a runbook whose recover step names a wrong unit fails at that step, the automatic
    rollback restores the instance, exit 1, the journal and report name the step;
(b) "database primary down": PostgreSQL stops on db-1, detection and alert steps see it,
    db-2 is promoted and takes writes, every step is timed; afterwards the lab's site
    playbook restores the original topology (db-2 a streaming replica of db-1 again);
(c) "order instance down" compiled with `chaosrun runbook compile` runs with plain
    ansible-playbook against the lab after the instance was stopped by hand: every
    step's play runs and the instance serves again;
(d) a drill that watches: its observe-only probe's samples are in the journal (the
    observer's thread lives), and a guardrail a runbook step breaches aborts the drill and
    is in the cascade, after the observed signal the fault itself moved;
(e) a drill whose manual step nobody answers is rolled back at chaosrun.yml's max_duration:
    measured on the host (the unit's own timestamps, the leases it held), exit 3, the
    journal and the last line name the limit and its line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Lab,
    Project,
    project_fixture,
    safety_lab_fixture,
    when_steady,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
RUNBOOKS = PROJECT / "tests" / "unit" / "fixtures" / "runbooks"
WRONG_UNIT = RUNBOOKS / "order-down-wrong-unit.md"
WATCHED = RUNBOOKS / "order-down-watched.md"
MARKER = "/var/lib/prometheus/node-exporter/chaosrun_drill_marker.prom"
ORDER_HOSTS = ("order-1", "order-2", "order-3")
DB_DOWN = PROJECT / "runbooks" / "database-primary-down.md"
ORDER_DOWN = PROJECT / "runbooks" / "order-instance-down.md"
IN_RECOVERY = "cd /tmp && runuser -u postgres -- psql -tAc 'SELECT pg_is_in_recovery()'"


def playbook(lab: Lab, path: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Plain ansible-playbook against the lab, with the project's Ansible settings."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(lab.inventory),
         str(path), *args],
        cwd=PROJECT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg")},
    )  # fmt: skip


def drill(project: Project, runbook: Path, timeout: float = 900):
    """`chaosrun drill RUNBOOK --json` once the lab's traffic is steady: the drill before
    may have stopped an instance, and its errors stay in the 15 s steady-state window."""
    return when_steady(project, lambda: _drill(project, runbook, timeout))


def _drill(project: Project, runbook: Path, timeout: float):
    done = project.chaosrun("drill", str(runbook), "--auto-ack", "--json", timeout=timeout)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON (rc {done.returncode}): {done.stdout[-1000:]} {done.stderr[-3000:]}")
    return done, result, project.journal(result["run_id"])


def test_a_wrong_unit_fails_at_the_recover_step_and_rolls_back(project: Project) -> None:
    done, result, journal = drill(project, WRONG_UNIT)
    assert done.returncode == 1, (result, done.stderr[-3000:])
    assert (journal["kind"], journal["status"]) == ("drill", "failed")
    assert journal["runbook"]["failed_step"] == 3 == result["failed_step"]
    assert "step 3 (Restart the instance)" in journal["abort"]["reason"]
    assert [s["outcome"] for s in journal["steps"]] == ["ok", "ok", "failed"]
    assert journal["rollback"]["ok"] is True
    (victim,) = journal["targets"]["selected"]
    assert project.lab.unit_active(victim, "order-service.service")
    report = (project.run_dir / result["run_id"] / "report.html").read_text()
    assert "Runbook steps" in report and "Restart the instance" in report
    project.assert_no_active_fault()


def test_b_database_primary_down_promotes_the_replica(project: Project) -> None:
    lab = project.lab
    assert lab.on_host("db-2", IN_RECOVERY) == "t", "db-2 is not a replica before the drill"
    try:
        done, result, journal = drill(project, DB_DOWN)
        assert done.returncode == 0, (result, done.stderr[-3000:])
        steps = journal["steps"]
        assert [s["outcome"] for s in steps] == ["ok"] * 6 + ["acknowledged"] * 3
        assert all(s["duration_s"] >= 0 for s in steps)
        assert {"time_to_detect_s", "time_to_alert_s", "time_to_recover_s"} <= set(
            journal["timings"]
        )
        assert lab.on_host("db-2", IN_RECOVERY) == "f", "db-2 was not promoted"
        rows = lab.on_host(
            "db-2", "cd /tmp && runuser -u postgres -- psql -d shop -tAc "
            "'SELECT count(*) FROM chaosrun_drill'"
        )  # fmt: skip
        assert rows.isdigit() and int(rows) >= 1, rows
        project.assert_no_active_fault()
    finally:
        restored = playbook(lab, PROJECT / "playbooks" / "lab" / "site.yml", timeout=1800)
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert lab.on_host("db-2", IN_RECOVERY) == "t", "the site playbook did not restore the replica"


def test_c_compiled_runbook_runs_with_plain_ansible_playbook(
    project: Project, tmp_path: Path
) -> None:
    lab = project.lab
    compiled = tmp_path / "order-down.yml"
    done = project.chaosrun("runbook", "compile", str(ORDER_DOWN), "-o", str(compiled))
    assert done.returncode == 0, done.stderr[-2000:]
    victim = "order-2"
    lab.on_host(victim, "systemctl stop order-service.service")
    try:
        played = playbook(lab, compiled, "-e", "auto_ack=true", timeout=600)
        restarted = lab.unit_active(victim, "order-service.service")
    finally:
        lab.on_host(victim, "systemctl start order-service.service")
    assert played.returncode == 0, played.stdout[-3000:]
    plays = [line for line in played.stdout.splitlines() if line.startswith("PLAY [")]
    for step in ("Detect the failure", "Restart the instance", "Verify the instance serves"):
        assert any(step in line for line in plays), (step, plays)
    assert not re.search(r"(failed|unreachable)=[1-9]", played.stdout), played.stdout[-3000:]
    assert restarted, "the runbook's restart step did not start the instance"


def test_d_watched_drill_samples_and_shows_a_step_breach_in_the_cascade(project: Project) -> None:
    try:
        done, _result, journal = drill(project, WATCHED)
    finally:
        for host in ORDER_HOSTS:  # the marker is the step's, not the fault's: no rollback
            project.lab.on_host(host, f"rm -f {MARKER}")
    explain = (journal.get("abort"), journal.get("cascade"), done.stderr[-3000:])
    assert "Exception in thread" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 3 and journal["status"] == "aborted", explain
    assert "no drill marker" in journal["abort"]["reason"], explain
    assert journal["runbook"]["failed_step"] is None
    observed = next(p for p in journal["observations"] if p["name"] == "order instances up")
    assert len(observed["samples"]) >= 2, "the observer's samples were lost"
    assert [e["signal"] for e in journal["cascade"]] == ["order instances up", "no drill marker"]
    guard = next(p for p in journal["probes"] if p["name"] == "no drill marker")
    first = next(s for s in guard["samples"] if s["verdict"] == "BREACH")
    assert first["phase"] == "runbook" and first["at"] == journal["cascade"][1]["first_at"]
    assert journal["rollback"]["ok"] is True
    (victim,) = journal["targets"]["selected"]
    assert project.lab.unit_active(victim, "order-service.service")
    project.assert_no_active_fault()


LIMIT_S = 25  # the test project's max_duration: longer than inject and the detect step


def test_e_a_drill_left_waiting_is_rolled_back_at_its_limit(project: Project) -> None:
    """Nobody answers the manual step: at chaosrun.yml's max_duration the fault is gone
    from the host (its unit's own timestamps say how long it was down), the drill exits 3
    naming the limit and its line, and no lease the host held reached past the limit."""
    project.write_config(max_duration=f"{LIMIT_S}s")
    line = project.config_file.read_text().splitlines().index(f"max_duration: {LIMIT_S}s") + 1
    done, result, journal, leases = when_steady(project, lambda: _unanswered(project))
    explain = (journal.get("abort"), done.stderr[-3000:])
    assert done.returncode == 3 and journal["status"] == "aborted", explain
    where = f"max_duration {LIMIT_S}s from {project.config_file}:{line}"
    assert journal["abort"]["timed_out"]["key"] == "max_duration", explain
    assert f"timed out: the fault was on for {LIMIT_S}s, its limit ({where})" in result["reason"]
    assert "during step 2 (Restart the instance)" in result["reason"]
    assert f"its limit ({where})" in done.stderr  # the drill's last line says why
    assert [s["outcome"] for s in journal["steps"]] == ["ok", "stopped"]
    assert journal["rollback"]["ok"] is True
    (victim,) = journal["targets"]["selected"]
    # Measured on the host: the unit was down for the limit, not for a step that ran.
    down = project.lab.on_host(
        victim, "systemctl show order-service.service --value "
        "-p InactiveEnterTimestampMonotonic -p ActiveEnterTimestampMonotonic"
    ).split()  # fmt: skip
    assert project.lab.unit_active(victim, "order-service.service")
    active_at, inactive_at = (int(v) / 1e6 for v in down)
    # The hosts share the controller's kernel, so its monotonic clock: the limit counts from
    # the start of inject (the journal's, on the wall clock), the unit stopped after it.
    inject = next(p for p in journal["phases"] if p["name"] == "inject")
    wall_to_mono = time.time() - time.monotonic()
    inject_at = datetime.fromisoformat(inject["started_at"]).timestamp() - wall_to_mono
    assert inject_at < inactive_at < active_at, (inject_at, inactive_at, active_at)
    assert LIMIT_S - 1 <= active_at - inject_at <= LIMIT_S + 10, active_at - inject_at
    # Every lease the host held expired by the limit (armed at `since`, after its start).
    assert leases, "no lease seen on the host during the drill"
    assert all(until <= since + LIMIT_S + 1 for since, until in leases), leases
    project.assert_no_active_fault()


def _unanswered(project: Project):
    """`chaosrun drill` with its standard input open and never written (a manual step
    nobody acknowledges); the hosts' leases read every 2 s while it runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "drill", str(UNANSWERED), "--json"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=project.env(), cwd=project.workdir,
    )  # fmt: skip
    leases: set[tuple[int, int]] = set()
    while proc.poll() is None:
        for host in ORDER_HOSTS:
            seen = project.lab.on_host(host, LEASES).split()
            leases.update((int(a), int(b)) for a, b in zip(seen[::2], seen[1::2], strict=True))
        time.sleep(2)
    stdout, stderr = proc.communicate(timeout=600)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    try:
        result = json.loads(stdout)
    except ValueError:
        pytest.fail(f"no JSON (rc {proc.returncode}): {stdout[-1000:]} {stderr[-3000:]}")
    return done, result, project.journal(result["run_id"]), leases


UNANSWERED = RUNBOOKS / "order-down-unanswered.md"
# Each active fault's arm time (meta.json `since`) and its run's lease expiry, on one host.
LEASES = (
    'for m in /var/lib/chaosrun/active/*/*/meta.json; do [ -f "$m" ] || continue; '
    'since=$(sed -n \'s/^{"since": \\([0-9]*\\),.*/\\1/p\' "$m"); '
    'until=$(cat "${m%/*/meta.json}/lease" 2>/dev/null); '
    '[ -n "$since" ] && [ -n "$until" ] && echo "$since $until"; done; true'
)
