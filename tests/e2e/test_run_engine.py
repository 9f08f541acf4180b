"""End-to-end runs of `chaosrun run` on the lab: real systemd hosts over SSH, the real
Prometheus, the lab's traffic generator as the users.

(a) kill one order-service instance: passes, exit 0, the process was really killed, and
    nothing is left on any host; (b) stop every order instance with a user error-ratio
    guardrail: aborted within one interval after the breach shows in Prometheus, rolled
    back, exit 3; (c) Prometheus stopped while the fault is active: UNKNOWN, abort,
    rollback, exit 3; (d) SIGTERM to the run during the fault: rollback, exit 3, nothing
    left; (e) steady state not holding before the start: exit 4, no host touched.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from engine_support import Watcher, parse_time, query
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)

from chaosrun.lab import api, wait
from chaosrun.model.apiaccess import ApiAccess

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
ORDER_UNIT = "order-service.service"
# The steady state of the stop-all-orders experiments: users are being served.
TRAFFIC_OK = 'sum(rate(lab_traffic_requests_total{outcome="ok"}[15s]))'
USER_ERRORS = (
    'sum(rate(lab_traffic_requests_total{outcome!="ok"}[4s]))'
    " / sum(rate(lab_traffic_requests_total[4s]))"
)


def run_json(project: Project, *args: str, timeout: float = 600):
    done = project.chaosrun("run", *args, "--json", timeout=timeout)
    try:
        result = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON (rc {done.returncode}): {done.stdout[-1000:]} {done.stderr[-3000:]}")
    journal = json.loads((project.run_dir / result["run_id"] / "journal.json").read_text())
    return done, result, journal


def main_pid(project: Project, host: str) -> str:
    return project.lab.on_host(host, f"systemctl show -p MainPID --value {ORDER_UNIT}")


def assert_clean(project: Project, hosts: list[str]) -> None:
    """Nothing of chaosrun left: no state dirs, the units run again, status agrees."""
    for host in hosts:
        assert project.lab.active_dirs(host) == [], host
        assert project.lab.unit_active(host, ORDER_UNIT), host
    project.assert_no_active_fault()


def order_hosts(project: Project) -> list[str]:
    return [f"order-{i}" for i in range(1, project.lab.config.order_hosts + 1)]


def stop_all_orders(guardrail: str, extra: str = "") -> str:
    return f"""\
title: Stop every order-service instance
targets: {{hosts: order_service, select: all}}
blast_radius: {{allow_whole_group: true, max_percent: 100}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [{ORDER_UNIT}]}}
duration: 120s
prometheus: {{scrape_interval: 1s, timeout: 1s}}
steady_state:
  - name: traffic flowing
    prometheus: {TRAFFIC_OK}
    min: 1
guardrails:
  interval: 1s
  breaches_in_a_row: 1
  unknown_budget: 2
  probes:
{guardrail}
recovery: {{within: 90s}}
{extra}"""


ERROR_GUARDRAIL = f"""\
    - name: user error ratio under 20%
      prometheus: '{USER_ERRORS}'
      max: 0.2
"""


def test_a_kill_one_order_instance_passes(project: Project) -> None:
    # The experiment's steady state wants under 1% errors over 15 s: start from calm traffic
    # (`lab up` waits for it too; an earlier test or a load spike may have stirred it since).
    wait.steady_traffic(project.lab.config, 180)
    hosts = order_hosts(project)
    before = {h: main_pid(project, h) for h in hosts}
    exp = PROJECT / "experiments" / "kill-one-order.yml"
    done, result, journal = run_json(project, str(exp), "--set", "duration=10s")
    assert done.returncode == 0, (result, done.stderr[-3000:])
    assert journal["status"] == "passed" and journal["exit_code"] == 0
    (victim,) = journal["targets"]["selected"]
    after = {h: main_pid(project, h) for h in hosts}
    assert after[victim] != before[victim], "the selected instance was not killed"
    assert all(after[h] == before[h] for h in hosts if h != victim), "another instance was hit"
    assert journal["recovery"]["recovered"] is True
    assert journal["overrides"] == {"duration": "10s"}
    # Every ansible-playbook phase ran in a playbook started ahead (chaosrun.run.prestart).
    ahead = {p["name"]: p.get("started_ahead") for p in journal["phases"] if "started_ahead" in p}
    assert ahead == {"inject": True, "verify_active": True, "verify_inactive": True}
    assert_clean(project, hosts)


def test_b_guardrail_breach_aborts_within_one_interval(project: Project) -> None:
    hosts = order_hosts(project)
    exp = project.experiment("stop-all", stop_all_orders(ERROR_GUARDRAIL))
    with Watcher(project.lab.prometheus, USER_ERRORS, lambda v: max(v) > 0.2) as watcher:
        done, result, journal = run_json(project, str(exp))
    assert done.returncode == 3, (result, done.stderr[-3000:])
    assert journal["status"] == "aborted"
    assert "user error ratio under 20%" in journal["abort"]["reason"]
    assert watcher.first is not None, "the breach never showed in Prometheus"
    abort_after = parse_time(journal["abort"]["at"]) - watcher.first
    reverted_after = parse_time(journal["rollback"]["reverted_at"]) - watcher.first
    print(f"abort {abort_after:.2f}s and revert {reverted_after:.2f}s after the breach showed")
    # One guardrail interval (1 s), plus the watcher's own polling step and query time.
    assert abort_after <= 1.0 + 0.5
    assert journal["rollback"]["ok"] is True
    assert_clean(project, hosts)


def test_c_prometheus_stopped_is_unknown_and_aborts(project: Project) -> None:
    from chaosrun.lab import controller, processes
    from chaosrun.lab.state import LabPaths

    lab = project.lab.config
    paths = LabPaths.of(lab)
    guardrail = """\
    - name: node exporters up
      prometheus: count(up{job="node"} == 1)
      min: 1
"""
    exp = project.experiment("prom-down", stop_all_orders(guardrail))
    proc = project.start("run", str(exp), "--json")
    try:
        project.wait_for_phase(proc, "observe")
        assert processes.stop(paths, "prometheus")
        # Back once the run has aborted, so its recovery check (90 s) need not time out.
        project.wait_for_phase(proc, "rollback", timeout=120)
        controller.ensure(lab, paths, ["prometheus"])
        out, err = proc.communicate(timeout=300)
    finally:
        controller.ensure(lab, paths, ["prometheus"])
        _wait_prometheus(api.prometheus(lab))
    result = json.loads(out)
    journal = project.journal(result["run_id"])
    assert proc.returncode == 3, err[-3000:]
    assert "UNKNOWN" in journal["abort"]["reason"]
    samples = [s for p in journal["probes"] if p["role"] == "guardrail" for s in p["samples"]]
    assert samples[-1]["verdict"] == "UNKNOWN"
    assert journal["rollback"]["ok"] is True
    assert_clean(project, order_hosts(project))


def test_d_sigterm_rolls_back(project: Project) -> None:
    hosts = order_hosts(project)
    guardrail = """\
    - name: node exporters up
      prometheus: count(up{job="node"} == 1)
      min: 1
"""
    exp = project.experiment("sigterm", stop_all_orders(guardrail))
    proc = project.start("run", str(exp), "--json")
    run_id, _ = project.wait_for_phase(proc, "observe")
    assert not any(project.lab.unit_active(h, ORDER_UNIT) for h in hosts), "fault not active"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 3, err[-3000:]
    journal = project.journal(run_id)
    assert journal["status"] == "aborted"
    assert "SIGTERM" in journal["abort"]["reason"]
    assert_clean(project, hosts)


def test_e_steady_state_not_holding_refuses_untouched(project: Project) -> None:
    hosts = order_hosts(project)
    before = {h: main_pid(project, h) for h in hosts}
    impossible = """\
    - name: impossible
      prometheus: count(up{job="node"} == 1)
      min: 1
"""
    exp = project.experiment(
        "refuse",
        stop_all_orders(impossible).replace(
            "    min: 1\nguardrails", "    min: 1000000\nguardrails"
        ),
    )
    done, result, journal = run_json(project, str(exp))
    assert done.returncode == 4, (result, done.stderr[-3000:])
    assert journal["status"] == "refused"
    assert "steady state does not hold" in result["reason"]
    names = [p["name"] for p in journal["phases"]]
    assert "inject" not in names and "rollback" not in names
    assert {h: main_pid(project, h) for h in hosts} == before, "a host was touched"
    assert_clean(project, hosts)


def _wait_prometheus(url: ApiAccess, timeout: float = 120) -> None:
    """Wait until Prometheus answers the next test's steady state again: a restarted
    server answers `up` before its rate windows hold two traffic samples."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(url, 'count(up{job="node"} == 1)') and query(url, f"{TRAFFIC_OK} >= 1"):
            return
        time.sleep(1)
    pytest.fail("Prometheus did not come back with traffic samples")
