"""One play, two stages (chaosrun.hosts.runner): inject's result is known when the next
stage's play starts, verify's at the stats; a failed host is left out of the next stage, a
canceled play cancels both. A fake ansible_runner.run sends the events, holding the rest
after the boundary until the test lets them go."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chaosrun.hosts import runner


def _play_start(name: str) -> dict[str, Any]:
    return {"event": "playbook_on_play_start", "event_data": {"play": name, "name": name}}


def _host(kind: str, host: str, task: str) -> dict[str, Any]:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": {"msg": task}}}


NEXT = _play_start(runner.NEXT_STAGE_PLAY)
FIRST = [
    _play_start("Wait for the engine to release the phase"),
    _host("runner_on_ok", "localhost", "Read the engine's release and select the hosts it names"),
    _play_start("Run entry points of a chaosrun fault role"),
]


class StagedRun:
    """ansible_runner.run: `before`, then (once `go` is set) `after`, then the exit
    `status`; the cancel callback's answers while it waits."""

    def __init__(self, before, after, status: str = "successful", rc: int = 0) -> None:
        self.before, self.after, self.status, self.rc = before, after, status, rc
        self.go = threading.Event()
        self.canceled = threading.Event()

    def __call__(self, **kw: Any) -> SimpleNamespace:
        for event in self.before:
            kw["event_handler"](event)
        cancel = kw.get("cancel_callback")
        while not self.go.wait(0.01):
            if cancel is not None and cancel():
                self.canceled.set()
                return SimpleNamespace(status="canceled", rc=254)
        for event in self.after:
            kw["event_handler"](event)
        return SimpleNamespace(status=self.status, rc=self.rc)


def _start(
    tmp_path: Path, hosts: list[str], canceled=None, seen: list[tuple[str, ...]] | None = None
) -> runner.Background:
    """The play in the background; each stage's events go to `seen` with its name."""
    seen = [] if seen is None else seen
    result = runner.PlayResult("unknown", -1, dict.fromkeys(hosts, "not run"))
    result.then = runner.PlayResult(
        "unknown", -1, on_event=lambda *args: seen.append(("verify", *args))
    )
    play = runner.fault_play(
        role="r",
        variables={},
        result=result,
        forks=len(hosts),
        inventory=tmp_path / "hosts",
        work_dir=tmp_path / "inject",
        on_event=lambda *args: seen.append(("inject", *args)),
        canceled=canceled,
    )
    return runner.Background("staged", play)


def test_the_first_stage_is_known_when_the_next_play_starts(fake_ansible_runner, tmp_path) -> None:
    inject = [_host("runner_on_ok", h, "Apply") for h in ("a", "b")]
    verify = [
        _host("runner_on_ok", "a", "Check"),
        _host("runner_on_failed", "b", "Check"),
        {"event": "playbook_on_stats", "event_data": {"failures": {"b": 1}}},
    ]
    run = fake_ansible_runner(StagedRun([*FIRST, *inject, NEXT], verify, "failed", 2))
    seen: list[tuple[str, ...]] = []
    play = _start(tmp_path, ["a", "b"], seen=seen)
    first = play.wait()  # returns while the next stage's events are held back
    then = first.then
    assert then is not None and not then.known.is_set()
    assert (first.status, first.rc, first.hosts) == ("successful", 0, {"a": "ok", "b": "ok"})
    assert then.hosts == {"a": "not run", "b": "not run"}
    run.go.set()
    assert then.known.wait(10)
    assert (then.status, then.hosts) == ("failed", {"a": "ok", "b": "failed"})
    assert then.messages == {"b": "Check: Check"} and first.messages == {}
    assert first.ok and not then.ok
    # Each stage's events reach its own sink.
    assert ("verify", "b", "failed", "Check") in seen
    assert {s[0] for s in seen if s[-1] == "Apply"} == {"inject"}
    play.thread.join(10)
    assert first.exited == then.exited == ("failed", 2)


def test_a_host_failed_in_the_first_stage_is_not_in_the_next(fake_ansible_runner, tmp_path) -> None:
    inject = [_host("runner_on_ok", "a", "Apply"), _host("runner_on_failed", "b", "Apply")]
    run = fake_ansible_runner(StagedRun([*FIRST, *inject, NEXT], []))
    first: list[runner.PlayResult] = []

    def canceled() -> bool:  # as the engine's: a failed first stage cancels the play
        return bool(first) and first[0].known.is_set() and not first[0].ok

    play = _start(tmp_path, ["a", "b"], canceled)
    first.append(play.result)
    result = play.wait()
    assert (result.status, result.rc, result.hosts) == ("failed", 2, {"a": "ok", "b": "failed"})
    assert result.then is not None and result.then.hosts == {"a": "not run"}
    # Known, so the play is canceled although its first stage's result is in.
    assert run.canceled.wait(10) and result.then.known.wait(10)
    assert result.then.status == "canceled" and not result.then.ok


def test_when_every_host_failed_the_next_stage_never_runs(fake_ansible_runner, tmp_path) -> None:
    failed = [_host("runner_on_failed", h, "Apply") for h in ("a", "b")]
    stats = {"event": "playbook_on_stats", "event_data": {"failures": {"a": 1, "b": 1}}}
    run = fake_ansible_runner(StagedRun([*FIRST, *failed, stats], [], "failed", 2))
    play = _start(tmp_path, ["a", "b"])
    result = play.wait()
    assert (result.status, result.rc) == ("failed", 2)
    assert result.then is not None and result.then.known.is_set()
    assert result.then.status == "not run" and not result.then.ok
    run.go.set()


def test_a_play_canceled_in_its_first_stage_cancels_both(fake_ansible_runner, tmp_path) -> None:
    stop = threading.Event()
    run = fake_ansible_runner(StagedRun([*FIRST, _host("runner_on_ok", "a", "Apply")], []))
    play = _start(tmp_path, ["a"], stop.is_set)
    stop.set()
    result = play.wait()
    assert run.canceled.is_set()
    assert result.status == "canceled" and result.then is not None
    assert result.then.status == "canceled" and result.then.known.is_set()
    assert not result.ok and not result.then.ok


def test_a_stop_after_the_boundary_still_cancels_the_next_stage(
    fake_ansible_runner, tmp_path
) -> None:
    stop = threading.Event()
    run = fake_ansible_runner(StagedRun([*FIRST, _host("runner_on_ok", "a", "Apply"), NEXT], []))
    play = _start(tmp_path, ["a"], stop.is_set)
    result = play.wait()
    assert result.ok
    stop.set()  # an abort during verify
    assert run.canceled.wait(10)
    assert result.then is not None and result.then.known.wait(10)
    assert result.then.status == "canceled"
