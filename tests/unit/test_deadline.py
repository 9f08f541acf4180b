"""The inject deadline (chaosrun.run.deadline): its budget per batch of forks, the stop it
sets once passed (never over a stop already set), and the hosts it names as unfinished,
from the tasks a canceled play's hosts had started and not ended (chaosrun.hosts.runner)."""

from __future__ import annotations

import threading
from typing import Any

from chaosrun.hosts import runner
from chaosrun.run import deadline as deadlines


def test_the_budget_grows_with_the_batches_of_forks() -> None:
    assert deadlines.budget(120, 1, 5) == 120
    assert deadlines.budget(120, 5, 5) == 120
    assert deadlines.budget(120, 6, 5) == 240  # two turns of five forks
    assert deadlines.budget(60, 20, 20) == 60  # the engine's default forks: every host


def test_forks_are_every_host_unless_the_user_set_them(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ANSIBLE_FORKS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ansible.cfg here
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "none.cfg"))
    assert runner.forks(3) == 5 and runner.forks(12) == 12
    (tmp_path / "team.cfg").write_text("[defaults]\nforks = 4\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(tmp_path / "team.cfg"))
    assert runner.forks(12) == 4


def test_a_passed_deadline_sets_the_stop() -> None:
    stop = threading.Event()
    deadline = deadlines.Deadline(0.05, stop).start()
    assert stop.wait(5) and deadline.passed


def test_a_canceled_deadline_never_fires() -> None:
    stop = threading.Event()
    deadline = deadlines.Deadline(0.05, stop).start()
    deadline.cancel()
    assert not stop.wait(0.2) and not deadline.passed


def test_a_stop_set_first_keeps_its_reason() -> None:
    stop = threading.Event()
    stop.set()  # a guardrail or a signal came first
    deadline = deadlines.Deadline(0.01, stop).start()
    deadline._timer.join(5)
    assert not deadline.passed


def _event(kind: str, host: str, task: str) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": {}}}


def test_a_canceled_play_names_the_hosts_still_in_a_task() -> None:
    result = runner.PlayResult("unknown", -1, dict.fromkeys(["a", "b", "c"], "not run"))
    for event in (
        _event("runner_on_start", "a", "Look"),
        _event("runner_on_start", "b", "Look"),
        _event("runner_on_start", "c", "Look"),
        _event("runner_on_ok", "a", "Look"),
        _event("runner_on_ok", "b", "Look"),
        _event("runner_on_ok", "c", "Look"),
        _event("runner_on_start", "a", "Apply"),
        _event("runner_on_start", "b", "Apply"),
        _event("runner_on_ok", "a", "Apply"),
        _event("runner_on_start", "c", "Apply"),
    ):
        runner._record(event, result, None)
    result.exit("canceled", 254)  # the deadline canceled the play
    assert result.hosts == {"a": "ok", "b": runner.UNFINISHED, "c": runner.UNFINISHED}
    assert not result.ok
    late = deadlines.unfinished([result, None])
    assert late == {"b": "Apply", "c": "Apply"}
    why = deadlines.reason(120, "inject", late, ["a", "b", "c"])
    assert why == (
        "inject deadline of 120s passed during inject; "
        "not finished on b (task 'Apply'), c (task 'Apply')"
    )


def test_a_play_that_reached_no_host_names_them_all() -> None:
    why = deadlines.reason(60, "inject", {}, ["a", "b"])
    assert "not finished on a, b (no task under way" in why


def test_a_play_that_reached_its_stats_has_no_unfinished_host() -> None:
    """A task that never reported an end (a meta task, a host ended early) does not turn
    a play that ended on its own into a failed one."""
    result = runner.PlayResult("unknown", -1, dict.fromkeys(["a"], "not run"))
    runner._record(_event("runner_on_ok", "a", "Look"), result, None)
    runner._record(_event("runner_on_start", "a", "End the host"), result, None)
    result.conclude({})
    assert result.hosts == {"a": "ok"} and result.ok
