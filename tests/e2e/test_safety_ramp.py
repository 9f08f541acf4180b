"""Start small: a ramp over the order-service tier stops at the first step that breaks the
error-ratio guardrail, and the journal names the largest step the system absorbed.

HAProxy routes around one or two stopped order-service instances; with all three
stopped the users (the lab's traffic generator) get errors, so the third step breaks.
"""

from __future__ import annotations

import pytest
from safety_support import (  # noqa: F401  (fixtures)
    Project,
    project_fixture,
    safety_lab_fixture,
)

pytestmark = [pytest.mark.lab, pytest.mark.e2e]

ERRORS = 'sum(rate(lab_traffic_requests_total{{outcome!="ok"}}[{w}]))'
ALL = "sum(rate(lab_traffic_requests_total[{w}]))"

RAMP = f"""\
title: Ramp stopping order-service over the tier
targets:
  hosts: order_service
  select: {{count: 1}}
  ramp: [1, 2, "100%"]
  seed: 1
blast_radius: {{max_percent: 100, allow_whole_group: true}}
fault:
  role: chaosrun.chaos.service_stop
  vars: {{service_stop_units: [order-service.service]}}
duration: 10s
prometheus: {{scrape_interval: 1s, timeout: 2s}}
steady_state:
  - name: users see under 1% errors
    prometheus: ({ERRORS.format(w="10s")} or vector(0)) / {ALL.format(w="10s")}
    max: 0.01
guardrails:
  interval: 1s
  probes:
    - name: users see under 5% errors
      prometheus: ({ERRORS.format(w="3s")} or vector(0)) / {ALL.format(w="3s")}
      max: 0.05
recovery: {{within: 90s}}
"""


def test_ramp_stops_at_the_first_breaking_step_and_names_the_largest_absorbed(
    project: Project,
):
    exp = project.experiment("ramp", RAMP)
    done = project.chaosrun("run", str(exp), "-i", str(project.lab.inventory), timeout=900)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    journals = sorted(project.run_dir.glob("*-step*/journal.json"))
    assert [p.parent.name[-5:] for p in journals] == ["step1", "step2", "step3"]
    steps = [project.journal(p.parent.name) for p in journals]
    assert [j["status"] for j in steps] == ["passed", "passed", "aborted"]
    assert [len(j["targets"]["selected"]) for j in steps] == [1, 2, 3]
    assert "users see under 5% errors" in steps[2]["abort"]["reason"]
    ramp = steps[2]["ramp"]
    assert ramp["largest_absorbed"]["hosts"] == 2
    assert ramp["stopped_at"] == {"step": 3, "hosts": 3, "status": "aborted"}
    assert "largest blast radius absorbed: 2 of 3" in done.stdout + done.stderr
    for host in ("order-1", "order-2", "order-3"):
        assert project.lab.unit_active(host, "order-service.service")
    runs = [e for e in project.audit() if e["action"] == "run"]
    assert [e["outcome"] for e in runs] == ["passed", "passed", "aborted"]
    project.assert_no_active_fault()
