"""A play's result is known at its stats event (chaosrun.hosts.runner): the caller goes on
while the process still exits, a known play is not canceled any more, and `Finishing`
waits for the exits. A fake ansible_runner.run stands for the process: it sends the events,
then holds its exit until the test lets it go."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chaosrun.hosts import runner


class FakeRun:
    """ansible_runner.run: the given events, then an exit held until `exit` is set (at most
    10 s: a caller that waits for the exit then sees it, and its test fails, not hangs)."""

    def __init__(self, events: list[dict[str, Any]], status: str = "successful", rc: int = 0):
        self.events, self.status, self.rc = events, status, rc
        self.exit = threading.Event()
        self.canceled_after_stats: list[bool] = []

    def __call__(self, **kw: Any) -> SimpleNamespace:
        for event in self.events:
            kw["event_handler"](event)
        cancel = kw.get("cancel_callback")
        deadline = time.monotonic() + 10
        while not self.exit.wait(0.01) and time.monotonic() < deadline:
            if cancel is not None:
                self.canceled_after_stats.append(cancel())
        return SimpleNamespace(status=self.status, rc=self.rc)


def _ok(host: str) -> dict[str, Any]:
    return {"event": "runner_on_ok", "event_data": {"host": host, "task": "Apply"}}


def _stats(**counts: dict[str, int]) -> dict[str, Any]:
    return {"event": "playbook_on_stats", "event_data": counts}


def _play(tmp_path: Path, finishing: runner.Finishing, cancel: threading.Event | None = None):
    return runner.run_entry_points(
        role="r",
        entry_points=["inject"],
        hosts=["a", "b"],
        variables={},
        inventory=tmp_path / "hosts",
        work_dir=tmp_path / "inject",
        cancel=cancel,
        finishing=finishing,
    )


def test_the_result_comes_at_the_stats_and_the_process_ends_behind_it(
    fake_ansible_runner, tmp_path
) -> None:
    run = fake_ansible_runner(FakeRun([_ok("a"), _ok("b"), _stats(ok={"a": 1, "b": 1})]))
    finishing = runner.Finishing()
    result = _play(tmp_path, finishing)
    assert (result.status, result.rc, result.hosts) == ("successful", 0, {"a": "ok", "b": "ok"})
    assert result.exited is None  # the process has not ended yet
    # Its vars file is gone with the stats: a process cut in its exit leaves none behind.
    assert not list((tmp_path / "inject").glob("*.vars.yml"))
    assert [p.thread.is_alive() for p in finishing.wait(0.2)] == [True]
    run.exit.set()
    assert finishing.wait(10) == []
    assert result.exited == ("successful", 0) and result.ok


def test_a_failed_or_unreachable_host_fails_the_result_at_the_stats(
    fake_ansible_runner, tmp_path
) -> None:
    failed = {"event": "runner_on_failed", "event_data": {"host": "b", "task": "Apply"}}
    run = fake_ansible_runner(FakeRun([_ok("a"), failed, _stats(failures={"b": 1})], "failed", 2))
    finishing = runner.Finishing()
    result = _play(tmp_path, finishing)
    assert (result.status, result.rc, result.hosts) == ("failed", 2, {"a": "ok", "b": "failed"})
    run.exit.set()
    assert finishing.wait(10) == [] and result.exited == ("failed", 2)

    unreachable = runner.PlayResult("unknown", -1, {"a": "not run"})
    unreachable.conclude({"dark": {"a": 1}})
    assert (unreachable.status, unreachable.rc, unreachable.ok) == ("failed", 4, False)


def test_a_play_whose_result_is_known_is_not_canceled_while_it_exits(
    fake_ansible_runner, tmp_path
) -> None:
    run = fake_ansible_runner(FakeRun([_ok("a"), _ok("b"), _stats(ok={"a": 1, "b": 1})]))
    finishing, cancel = runner.Finishing(), threading.Event()
    result = _play(tmp_path, finishing, cancel)
    cancel.set()  # an abort during the next phase
    while len(run.canceled_after_stats) < 3:
        threading.Event().wait(0.01)
    run.exit.set()
    assert finishing.wait(10) == []
    assert not any(run.canceled_after_stats) and result.ok


def test_without_stats_the_result_is_the_process_exit(fake_ansible_runner, tmp_path) -> None:
    run = fake_ansible_runner(FakeRun([_ok("a")], "canceled", 254))
    run.exit.set()
    result = _play(tmp_path, runner.Finishing())
    assert (result.status, result.rc, result.exited) == ("canceled", 254, ("canceled", 254))


def test_an_error_of_the_play_reaches_the_caller(monkeypatch, tmp_path) -> None:
    def broken(**_kw: Any) -> None:
        raise RuntimeError("no ansible-playbook")

    monkeypatch.setitem(sys.modules, "ansible_runner", SimpleNamespace(run=broken))
    with pytest.raises(RuntimeError, match="no ansible-playbook"):
        _play(tmp_path, runner.Finishing())
