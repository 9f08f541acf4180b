"""Drills with fake hosts: steps run in order and are timed, the drill times detection,
and a failing step falls back to the fault's rollback and names the step."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_fixtures import INVENTORY
from test_engine_run import _quiet, env  # noqa: F401  (the engine tests' fake hosts)

from chaosrun.progress import Progress
from chaosrun.runbook.drill import DrillEngine, StepResult, auto_ack
from chaosrun.runbook.plan import drill_plan

RUNBOOK = """\
---
fault:
  role: testns.faults.demo_fault
  vars:
    demo_fault_unit: order-service.service
targets:
  hosts: order_service
  select: {{count: 1}}
  seed: 7
prometheus: {{url: "{url}", scrape_interval: 1s, timeout: 1s}}
steady_state:
  - name: error ratio under 1%
    prometheus: >-
      sum(rate(demo_requests_total{{code=~"5.."}}[15s])) / sum(rate(demo_requests_total[15s]))
    max: 0.01
recovery: {{within: 5s}}
---

# Demo instance down

## Detect the failure

```chaosrun
prometheus: up
max: 0
within: 10s
measure: detect
```

## Restart the unit

```chaosrun
hosts: order_service
tasks:
  - name: Start the unit
    ansible.builtin.systemd_service: {{name: wrong-name.service, state: started}}
```

## Write the postmortem

Who, what, when.
"""


class FakeSteps:
    def __init__(self, fail: int | None = None, seconds: float = 0.2) -> None:
        self.ran: list[int] = []
        self.fail, self.seconds = fail, seconds

    def __call__(self, book, step, inventory, work_dir) -> StepResult:
        self.ran.append(step.number)
        time.sleep(self.seconds)
        if step.number == self.fail:
            return StepResult(
                False, "order-2: Start the unit: Could not find the requested service"
            )
        return StepResult(True, "", {"order-2": "ok"})


def drill(env, steps: FakeSteps, ack=auto_ack):  # noqa: F811
    tmp_path, hosts, prom = env
    path = tmp_path / "demo.md"
    path.write_text(RUNBOOK.format(url=prom.url))
    book, plan = drill_plan(path, INVENTORY)
    engine = DrillEngine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), book, ack, steps
    )
    outcome = engine.run()
    return outcome, json.loads(outcome.journal.read_text()), hosts


def test_drill_runs_and_times_every_step(env) -> None:  # noqa: F811
    outcome, journal, hosts = drill(env, FakeSteps())
    assert (outcome.exit_code, journal["status"], journal["kind"]) == (0, "passed", "drill")
    steps = journal["steps"]
    assert [(s["number"], s["outcome"]) for s in steps] == [
        (1, "ok"), (2, "ok"), (3, "acknowledged"),
    ]  # fmt: skip
    assert all(s["duration_s"] >= 0.2 for s in steps[:2])
    assert steps[2]["kind"] == "manual" and "auto-ack" in steps[2]["detail"]
    assert 0.2 <= journal["timings"]["time_to_detect_s"] < journal["timings"]["runbook_s"]
    assert journal["timings"]["time_to_recover_s"] >= journal["timings"]["runbook_s"]
    assert hosts.plays == [("inject",), ("verify",), ("verify",)]
    assert "runbook" in [p["name"] for p in journal["phases"]]
    assert journal["runbook"]["failed_step"] is None
    report = (outcome.journal.parent / "report.html").read_text()
    assert "Runbook steps" in report and "Write the postmortem" in report


def test_failing_step_falls_back_to_rollback_and_names_the_step(env) -> None:  # noqa: F811
    steps = FakeSteps(fail=2)
    outcome, journal, hosts = drill(env, steps)
    assert (outcome.exit_code, journal["status"]) == (1, "failed")
    assert steps.ran == [1, 2]  # nothing after the failed step
    assert journal["runbook"]["failed_step"] == 2
    reason = journal["abort"]["reason"]
    assert "step 2 (Restart the unit)" in reason and "demo.md:30" in reason
    assert "Could not find the requested service" in reason
    assert hosts.plays[-1] == ("verify",)  # the automatic rollback restored it
    assert journal["rollback"]["ok"] is True
    assert [s["outcome"] for s in journal["steps"]] == ["ok", "failed"]


def test_manual_step_refused_by_the_operator_fails_the_drill(env) -> None:  # noqa: F811
    outcome, journal, _ = drill(env, FakeSteps(), ack=lambda step: (False, "not done"))
    assert outcome.exit_code == 1 and journal["runbook"]["failed_step"] == 3


def test_runbook_without_fault_cannot_be_drilled(tmp_path: Path) -> None:
    from chaosrun.errors import InvalidInput

    path = tmp_path / "nofault.md"
    path.write_text("# Just prose\n\n## Do a thing\n\nText.\n")
    with pytest.raises(InvalidInput, match=r"nofault\.md:1: the front matter names no fault"):
        drill_plan(path, INVENTORY)
