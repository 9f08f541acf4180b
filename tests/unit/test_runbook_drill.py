"""Drills with fake hosts: steps run in order and are timed, the drill times detection,
and a failing step falls back to the fault's rollback and names the step."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
from engine_fixtures import INVENTORY
from test_engine_run import _quiet, env  # noqa: F401  (the engine tests' fake hosts)

from chaosrun.run.progress import Progress
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

    def __call__(self, book, step, inventory, work_dir, endpoints, cancel=None) -> StepResult:
        self.ran.append(step.number)
        self.endpoints = endpoints
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
    steps = FakeSteps()
    outcome, journal, hosts = drill(env, steps)
    # The steps' probes ask the run's own Prometheus (tests/unit/test_drill_endpoints.py).
    assert steps.endpoints["chaosrun_prometheus_url"] == env[2].url
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
    from chaosrun.base.errors import InvalidInput

    path = tmp_path / "nofault.md"
    path.write_text("# Just prose\n\n## Do a thing\n\nText.\n")
    with pytest.raises(InvalidInput, match=r"nofault\.md:1: the front matter names no fault"):
        drill_plan(path, INVENTORY)


WATCHED = """\
observe:
  interval: 200ms
  probes:
    - name: pool in use
      prometheus: max(demo_db_pool_in_use)
      max: 100
guardrails:
  interval: 200ms
  probes:
    - name: user errors under 10%
      prometheus: user_errors
      max: 0.1
"""


def test_drill_with_observe_records_samples_and_cascade(env) -> None:  # noqa: F811
    """One journal for the whole drill: the observer's samples land in it (its thread
    does not die), and a guardrail breached during a runbook step is in the cascade."""
    tmp_path, _hosts, prom = env
    prom.answers["max(demo_db_pool_in_use)"] = [3]
    prom.answers["user_errors"] = [0.0]
    errors: list[BaseException] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: errors.append(args.exc_value)

    class BreachingSteps(FakeSteps):
        def __call__(self, book, step, inventory, work_dir, endpoints, cancel=None) -> StepResult:
            prom.answers["user_errors"] = [0.5]  # users hurt while the step runs
            return super().__call__(book, step, inventory, work_dir, endpoints, cancel)

    path = tmp_path / "watched.md"
    text = RUNBOOK.format(url=prom.url).replace(
        "recovery: {within: 5s}\n", "recovery: {within: 5s}\n" + WATCHED
    )
    path.write_text(text)
    book, plan = drill_plan(path, INVENTORY)
    engine = DrillEngine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), book, auto_ack,
        BreachingSteps(seconds=1.0),
    )  # fmt: skip
    try:
        outcome = engine.run()
    finally:
        threading.excepthook = previous
    journal = json.loads(outcome.journal.read_text())
    assert errors == []
    observed = next(p for p in journal["observations"] if p["name"] == "pool in use")
    assert observed["samples"], "the observer's samples were lost"
    assert outcome.exit_code == 3 and "user errors under 10%" in journal["abort"]["reason"]
    assert [e["signal"] for e in journal["cascade"]] == ["user errors under 10%"]
    breach = next(p for p in journal["probes"] if p["name"] == "user errors under 10%")
    first = next(s for s in breach["samples"] if s["verdict"] == "BREACH")
    assert first["phase"] == "runbook" and first["at"] == journal["cascade"][0]["first_at"]


def limited(env, *, ceiling: str = "", own: str = "") -> tuple[Path, Path]:  # noqa: F811
    """The runbook, with its own `duration` when `own` is given, and chaosrun.yml with a
    `max_duration` when `ceiling` is: their paths."""
    tmp_path, _hosts, prom = env
    cfg = Path(os.environ["CHAOSRUN_CONFIG"])
    if ceiling:
        cfg.write_text(cfg.read_text() + f"max_duration: {ceiling}\n")
    path = tmp_path / "demo.md"
    text = RUNBOOK.format(url=prom.url)
    if own:
        text = text.replace(
            "recovery: {within: 5s}\n", f"recovery: {{within: 5s}}\nduration: {own}\n"
        )
    path.write_text(text)
    return path, cfg


def drill_at(env, path: Path, steps, ack=auto_ack):  # noqa: F811
    tmp_path, _hosts, _ = env
    book, plan = drill_plan(path, INVENTORY)
    engine = DrillEngine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), book, ack, steps
    )
    started = time.monotonic()
    outcome = engine.run()
    return outcome, json.loads(outcome.journal.read_text()), time.monotonic() - started


def lease_seconds(scripts: list[str]) -> list[int]:
    """The seconds each lease renewal wrote (`date +%s) + N`)."""
    return [int(m) for s in scripts for m in re.findall(r"\$\(date \+%s\) \+ (\d+) \)\)", s)]


def test_a_drill_past_max_duration_times_out_mid_step_and_rolls_back(env) -> None:  # noqa: F811
    """A step still under way at the ceiling: the drill does not wait for it, the fault is
    rolled back, exit 3, and the journal says timed out, naming the limit and its line."""
    path, cfg = limited(env, ceiling="2s")
    steps = FakeSteps(seconds=30)
    outcome, journal, took = drill_at(env, path, steps)
    hosts = env[1]
    assert (outcome.exit_code, journal["status"]) == (3, "aborted"), journal.get("abort")
    assert took < 20, "the drill waited for the step"
    abort = journal["abort"]
    assert abort["timed_out"] == {"s": 2.0, "key": "max_duration", "source": f"{cfg}:4"}
    assert abort["reason"] == (
        f"timed out: the fault was on for 2s, its limit (max_duration 2s from {cfg}:4), "
        f"during step 1 (Detect the failure), {path}:21"
    )
    assert journal["fault"]["limit"] == abort["timed_out"]
    assert [s["outcome"] for s in journal["steps"]] == ["stopped"]
    assert journal["steps"][0]["detail"] == abort["reason"]
    assert journal["runbook"]["failed_step"] is None
    runbook = next(p for p in journal["phases"] if p["name"] == "runbook")
    assert runbook["outcome"] == "timed_out"
    assert journal["rollback"]["ok"] is True and hosts.plays[-1] == ("verify",)
    # The host's dead-man does not outlive the limit: armed for it, never renewed past it.
    assert hosts.variables["chaos_ttl"] == 2
    assert lease_seconds(hosts.scripts) and max(lease_seconds(hosts.scripts)) <= 2
    assert outcome.abort_reason == abort["reason"]
    report = (outcome.journal.parent / "report.html").read_text()
    assert "TIMED OUT and rolled back" in report


def test_an_unanswered_prompt_times_out_at_the_runbooks_own_duration(env) -> None:  # noqa: F811
    """The runbook's own `duration` is the drill's limit when it is shorter than the
    ceiling; an operator who never answers a manual step does not keep the fault on."""
    path, _ = limited(env, own="2s")
    never = threading.Event()
    outcome, journal, took = drill_at(
        env, path, FakeSteps(seconds=0.1), ack=lambda step: (never.wait(), "")
    )
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert took < 20
    assert journal["abort"]["timed_out"] == {"s": 2.0, "key": "duration", "source": f"{path}:17"}
    assert "its limit (duration 2s from " in journal["abort"]["reason"]
    assert "during step 3 (Write the postmortem)" in journal["abort"]["reason"]
    assert [s["outcome"] for s in journal["steps"]] == ["ok", "ok", "stopped"]


def test_a_drill_within_its_limit_passes_and_keeps_its_lease(env) -> None:  # noqa: F811
    """Far from the limit nothing changes: the lease is the run's own, the drill passes."""
    path, _ = limited(env, ceiling="1h")
    outcome, journal, _ = drill_at(env, path, FakeSteps())
    assert outcome.exit_code == 0 and journal["abort"] is None
    assert journal["fault"]["limit"]["key"] == "max_duration"
    assert env[1].variables["chaos_ttl"] == journal["fault"]["ttl_s"]
    assert set(lease_seconds(env[1].scripts)) == {journal["fault"]["ttl_s"]}
