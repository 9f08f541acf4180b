"""playbooks/experiment.yml run through ansible-runner, as AWX runs a job template: a
passing run, and a guardrail breach that aborts early and still rolls back. The fault is
observed on the hosts themselves (the unit's state), not taken from the playbook."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
from labsched import PROJECT, Lab, UnitWatch, sched_lab

from chaosrun.lab import wait

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
__all__ = ["sched_lab"]

UNIT = "order-service.service"


def runner_env() -> dict[str, str]:
    """The project's ansible.cfg, and this environment's ansible-playbook first on PATH."""
    path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return {"ANSIBLE_CONFIG": str(PROJECT / "ansible.cfg"), "PATH": path}


def run_playbook(lab: Lab, tmp_path: Path, experiment: str, **extra: Any) -> Any:
    """One job: the project checkout as project_dir, the lab inventory, survey-like vars."""
    (tmp_path / "runner").mkdir(exist_ok=True)
    return ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        project_dir=str(PROJECT),
        playbook="playbooks/experiment.yml",
        inventory=str(lab.inventory),
        extravars={"chaosrun_experiment": experiment, **extra},
        envvars=runner_env(),
        quiet=True,
        timeout=600,
    )


def task_results(result: Any, task: str) -> list[dict[str, Any]]:
    return [
        e["event_data"]
        for e in result.events
        if e.get("event") in ("runner_on_ok", "runner_on_failed")
        and e.get("event_data", {}).get("task") == task
    ]


def stats(result: Any) -> dict[str, Any]:
    return next(e["event_data"] for e in result.events if e.get("event") == "playbook_on_stats")


def main_pids(lab: Lab) -> dict[str, str]:
    return {
        h: lab.on_host(h, f"systemctl show -p MainPID --value {UNIT}") for h in lab.order_hosts()
    }


def test_kill_one_order_runs_and_rolls_back(sched_lab: Lab, tmp_path: Path) -> None:
    """The shipped kill-one-instance experiment, as an AWX job would run it."""
    wait.steady_traffic(sched_lab.config, 180)  # its steady state wants under 1% errors
    before = main_pids(sched_lab)
    result = run_playbook(sched_lab, tmp_path, "experiments/kill-one-order.yml")
    assert result.status == "successful", result.stdout.read()[-3000:]
    selected = {e["host"] for e in task_results(result, "Roll the fault back")}
    assert len(selected) == 1
    after = main_pids(sched_lab)
    # the killed instance runs again under a new process; the others were not touched
    changed = {h for h in before if before[h] != after[h]}
    assert changed == selected, (before, after)
    for host in sched_lab.order_hosts():
        assert sched_lab.unit_state(host, UNIT) == "active"
        assert sched_lab.active_faults(host) == []
    run_stats = stats(result)
    assert run_stats["failures"] == {} and run_stats["artifact_data"]["chaosrun_aborted"] == ""
    verdicts = run_stats["artifact_data"]["chaosrun_recovery"]
    assert {v["name"] for v in verdicts} == {"user error ratio under 1%", "traffic flowing"}
    assert all(v["verdict"] == "PASS" for v in verdicts)


def test_guardrail_breach_aborts_and_rolls_back(sched_lab: Lab, tmp_path: Path) -> None:
    hosts = sched_lab.order_hosts()
    with UnitWatch(sched_lab, hosts, UNIT) as watch:
        result = run_playbook(
            sched_lab, tmp_path, "tests/e2e/experiments/stop-one-order-breach.yml"
        )
    assert result.status == "failed"
    stopped = task_results(result, "Stop the experiment on a guardrail")
    assert stopped and "breached 2 time(s) in a row" in stopped[0]["res"]["msg"]
    rolled = task_results(result, "Roll the fault back")
    assert rolled and all(e["res"].get("failed") is not True for e in rolled)
    assert len(watch.seen_down) == 1
    # the fault was meant to last 60s; the breach ended it long before (timed from the
    # unit seen down to seen up again, so a slow preflight on a busy machine does not count)
    ((victim, down_for),) = watch.down_for.items()
    assert down_for < 55, f"{victim} was down {down_for:.1f}s"
    for host in hosts:
        assert sched_lab.unit_state(host, UNIT) == "active"
        assert sched_lab.active_faults(host) == []
    artifact = stats(result)["artifact_data"]
    assert "guardrail no order-service instance is down breached" in artifact["chaosrun_aborted"]


def test_unreachable_target_refuses_before_injecting(sched_lab: Lab, tmp_path: Path) -> None:
    """A target that does not answer stops the run before anything is injected."""
    ghost = tmp_path / "ghost.yml"
    nobody = ipaddress.ip_network(sched_lab.config.subnet)[250]  # no lab host holds it
    ghost.write_text(
        "all:\n  children:\n    lab:\n      children:\n        order_service:\n"
        f"          hosts:\n            ghost-1: {{ansible_host: {nobody}}}\n"
    )
    (tmp_path / "runner").mkdir(exist_ok=True)
    result = ansible_runner.run(
        private_data_dir=str(tmp_path / "runner"),
        project_dir=str(PROJECT),
        playbook="playbooks/experiment.yml",
        inventory=[str(sched_lab.inventory), str(ghost)],
        extravars={
            "chaosrun_experiment": "tests/e2e/experiments/stop-one-order.yml",
            "chaosrun_targets": "ghost-1,order-1",
            "chaosrun_count": 2,
        },
        envvars={**runner_env(), "ANSIBLE_TIMEOUT": "3"},
        quiet=True,
        timeout=300,
    )
    assert result.status == "failed"
    refused = task_results(result, "Refuse unless every target answers")
    assert refused and "ghost-1" in refused[0]["res"]["msg"]
    assert task_results(result, "Inject the fault") == []
    assert sched_lab.unit_state("order-1", UNIT) == "active"
