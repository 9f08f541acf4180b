"""Ramp steps and the engine-facing safety checks (preflight, per-tick abort reason)."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket

import pytest

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.model import config, killswitch, ramp_steps, safety
from chaosrun.modes import ramp


def test_ramp_counts_from_counts_and_percentages():
    steps = ramp_steps.parse_steps([1, 2, "25%", "50%", "100%"], "exp.yml:4: targets.ramp")
    assert ramp_steps.host_counts(steps, 3) == [1, 2, 3]
    assert ramp_steps.host_counts(steps, 20) == [1, 2, 5, 10, 20]
    assert ramp_steps.host_counts(ramp_steps.parse_steps([1, "50%", "all"], "x"), 4) == [1, 2, 4]
    with pytest.raises(InvalidInput, match=r"targets.ramp\[1\]"):
        ramp_steps.parse_steps([1, "two"], "exp.yml:4: targets.ramp")


def test_ramp_stops_at_the_first_failing_step_and_names_the_largest_absorbed():
    seen = []

    def cycle(index, hosts):
        seen.append(list(hosts))
        return ("passed", 0, "") if len(hosts) < 3 else ("aborted", 3, "error ratio breached")

    result = ramp.run([1, 2, 3, 4], ["a", "b", "c", "d"], cycle, lambda rest, n: rest[:n])
    assert seen == [["a"], ["a", "b"], ["a", "b", "c"]]
    data = result.as_dict()
    assert data["largest_absorbed"]["hosts"] == 2 and data["largest_absorbed"]["percent"] == 50
    assert data["stopped_at"] == {"step": 3, "hosts": 3, "status": "aborted"}


def cfg(tmp_path, text=""):
    path = tmp_path / "chaosrun.yml"
    path.write_text(text)
    return config.load(path)


def test_preflight_refuses_frozen_window_cap_and_busy_hosts(tmp_path):
    c = cfg(tmp_path, "blackout_windows:\n  - {name: backup, cron: '0 2 * * *', length: 1h}\n")
    args = {"pattern": "order_service", "matched": ["o1", "o2", "o3"], "selected": ["o1"]}
    night = dt.datetime(2026, 11, 27, 2, 30, tzinfo=dt.UTC)
    noon = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(Refused, match=r"'backup'.*until Fri 2026-11-27 03:00 UTC"):
        safety.preflight(c, now=night, **args)
    assert safety.preflight(c, now=noon, **args).limit == 1
    with pytest.raises(Refused, match="2 of 3"):
        safety.preflight(c, now=noon, **{**args, "selected": ["o1", "o2"]})
    run = c.run_dir / "run-a"
    run.mkdir(parents=True)
    (run / "journal.json").write_text(
        json.dumps(
            {
                "run_id": "run-a",
                "status": "running",
                "controller": {"host": socket.gethostname(), "pid": os.getpid()},
                "targets": {"selected": ["o1"]},
            }
        )
    )
    with pytest.raises(Refused, match="held by running experiment run-a"):
        safety.preflight(c, now=noon, **args)
    assert safety.preflight(c, now=noon, run_id="run-a", **args)
    killswitch.freeze(c.freeze_file, "game day over", c.audit_path)
    with pytest.raises(Refused, match="game day over"):
        safety.preflight(c, now=noon, **args)


def test_refuses_now_needs_no_inventory_and_fails_closed(tmp_path):
    c = cfg(tmp_path, "blackout_windows:\n  - {name: backup, cron: '0 2 * * *', length: 1h}\n")
    night = dt.datetime(2026, 11, 27, 2, 30, tzinfo=dt.UTC)
    noon = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    lunch = [{"name": "lunch", "cron": "0 12 * * *", "length": "1h"}]
    assert safety.refuses_now(c, now=night)
    assert not safety.refuses_now(c, now=noon)
    assert safety.refuses_now(c, lunch, now=noon)  # the experiment's own window
    assert safety.refuses_now(c, [{"name": "broken"}], now=noon)  # the plan will say why
    killswitch.freeze(c.freeze_file, "game day over", c.audit_path)
    assert safety.refuses_now(c, now=noon)


def test_watch_reports_freeze_window_and_abort_requests(tmp_path):
    c = cfg(tmp_path, "blackout_windows:\n  - {name: backup, cron: '0 2 * * *', length: 1h}\n")
    watch = safety.Watch(c, "run-b")
    assert watch.abort_reason(dt.datetime(2026, 11, 27, 1, 59, tzinfo=dt.UTC)) is None
    assert "backup" in watch.abort_reason(dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC))
    (c.run_dir / "run-b").mkdir(parents=True)
    (c.run_dir / "run-b" / safety.ABORT_FILE).write_text(
        json.dumps({"reason": "stop", "user": "u"})
    )
    assert "aborted by u@" in watch.abort_reason(dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC))
    killswitch.freeze(c.freeze_file, "big red button", c.audit_path)
    assert "big red button" in watch.abort_reason()


def test_dead_or_zombie_controllers_do_not_hold_hosts():
    assert safety.pid_alive(os.getpid())
    assert not safety.pid_alive(None) and not safety.pid_alive(2**22 + 1)


def test_run_plan_runs_one_engine_per_step_and_writes_the_ramp_into_the_journals(
    tmp_path, monkeypatch
):
    """A fake engine stands in for the lab: steps of 1 and 2 hosts pass, 3 breaches."""
    import dataclasses
    from types import SimpleNamespace

    from chaosrun.model.blast_radius import Caps
    from chaosrun.plan.targets import Selection

    runs = []

    class FakeEngine:
        def __init__(self, plan, root, progress, run_id, journal_extras):
            self.plan, self.root, self.run_id = plan, root, run_id
            self.extras = journal_extras

        def run(self):
            hosts = self.plan.selection.selected
            runs.append(list(hosts))
            status, code = ("passed", 0) if len(hosts) < 3 else ("aborted", 3)
            path = self.root / self.run_id / "journal.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps({"run_id": self.run_id, "status": status, **self.extras}))
            return SimpleNamespace(
                status=status,
                exit_code=code,
                journal=path,
                run_id=self.run_id,
                abort_reason="error ratio breached",
            )

    monkeypatch.setattr(ramp, "Engine", FakeEngine)

    @dataclasses.dataclass
    class FakePlan:
        experiment: object
        selection: Selection
        caps: Caps

    spec = SimpleNamespace(ramp=(1, 2, "100%"), seed=3)
    plan = FakePlan(
        SimpleNamespace(targets=spec, file=tmp_path / "ramp.yml"),
        Selection("order_service", ["o1", "o2", "o3"], [], ["o1"]),
        Caps(max_percent=None, allow_whole_group=True),
    )
    messages = []
    progress = SimpleNamespace(message=lambda text, *a: messages.append(text))
    outcome = ramp.run_plan(plan, tmp_path, progress, ramp_id="r1")
    assert [len(h) for h in runs] == [1, 2, 3] and runs[0][0] in runs[1]
    assert outcome.status == "aborted" and outcome.run_id == "r1-step3"
    last = json.loads((tmp_path / "r1-step3" / "journal.json").read_text())
    assert last["ramp"]["largest_absorbed"]["hosts"] == 2
    assert last["ramp"]["stopped_at"] == {"step": 3, "hosts": 3, "status": "aborted"}
    assert "largest blast radius absorbed: 2 of 3" in messages[-1]
    first = json.loads((tmp_path / "r1-step1" / "journal.json").read_text())
    assert (first["ramp"]["id"], first["ramp"]["step"], first["ramp"]["of"]) == ("r1", 1, 3)
    assert first["ramp"]["largest_absorbed"]["hosts"] == 2  # named once the ramp ended
    # Over the cap anywhere in the ramp: refused before the first step.
    plan.caps = Caps()
    runs.clear()
    with pytest.raises(Refused, match="2 of 3"):
        ramp.run_plan(plan, tmp_path, progress, ramp_id="r2")
    assert runs == []
