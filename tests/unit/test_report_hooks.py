"""RunHooks: what the engine calls at start, abort and finish."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass

import pytest
import report_journals as rj
from test_report_notify import server  # noqa: F401 (fixture)

from chaosrun.report.hooks import RunHooks, targets_for


@dataclass(frozen=True)
class Hook:
    url: str
    events: tuple[str, ...] = ("start", "abort", "end", "refused")
    format: str = "generic"
    routing_key: str | None = None


def write(path, data):
    path.write_text(json.dumps(data))


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CHAOSRUN_WEBHOOKS", raising=False)
    d = tmp_path / "run"
    d.mkdir()
    return d


def test_events_arrive_in_order_and_reports_are_written(run_dir, server):  # noqa: F811
    journal = run_dir / "journal.json"
    data = rj.journal("aborted")
    data.update(status="running", abort=None, ended_at=None)
    write(journal, data)
    said = []
    hooks = RunHooks(
        journal, [Hook(f"http://127.0.0.1:{server.server_port}/chaosrun")], said.append
    )
    hooks.start()
    data["abort"] = rj.journal("aborted")["abort"]
    write(journal, data)
    hooks.abort()
    data.update(status="aborted", ended_at=rj.at(30))
    write(journal, data)
    written = hooks.finish()
    assert [p.name for p in written] == ["report.html", "junit.xml"]
    assert (run_dir / "report.html").read_text().startswith("<!DOCTYPE html>")
    events = [(b["event"], b["status"]) for _, b in server.received]
    assert events == [("start", "running"), ("abort", "running"), ("end", "aborted")]
    assert said == [f"reports: {run_dir / 'report.html'}, {run_dir / 'junit.xml'}"]


def test_refused_run_sends_end_and_refused_to_subscribers_only(run_dir, server):  # noqa: F811
    journal = run_dir / "journal.json"
    data = rj.journal("passed")
    data["status"] = "refused"
    data["phases"][1].update(outcome="refused", detail="kill switch is on")
    write(journal, data)
    base = f"http://127.0.0.1:{server.server_port}"
    RunHooks(journal, [Hook(f"{base}/all"), Hook(f"{base}/ends", ("end",))]).finish()
    got = sorted((path, body["event"]) for path, body in server.received)
    assert got == [("/all", "end"), ("/all", "refused"), ("/ends", "end")]
    refused = next(b for p, b in server.received if b["event"] == "refused")
    assert "kill switch is on" in refused["text"]


def test_a_hung_webhook_never_delays_start_or_abort(run_dir):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    try:
        journal = run_dir / "journal.json"
        write(journal, rj.journal("aborted"))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hang"
        said = []
        hooks = RunHooks(journal, [Hook(url)], said.append, timeout=2.0)
        started = time.monotonic()
        hooks.start()
        hooks.abort()
        assert time.monotonic() - started < 1.0  # a blocking POST would take 2 s each
        hooks.finish()
        assert time.monotonic() - started < 8.0  # start/abort joined, end bounded
        assert any("timed out" in s for s in said)
        assert all("/hang" not in s for s in said)  # the path may hold a token
    finally:
        sock.close()


def test_missing_journal_is_reported_not_raised(run_dir):
    said = []
    assert RunHooks(run_dir / "journal.json", [], said.append).finish() == []
    assert said and "journal.json" in said[0]


def test_env_urls_get_every_event_once():
    hooks = [Hook("http://a/1", ("end",)), Hook("http://b/2")]

    def urls(event: str, env: list[str]) -> list[str]:
        return [t.url for t in targets_for(event, hooks, env)]

    assert urls("start", ["http://b/2", "http://c/3"]) == ["http://b/2", "http://c/3"]
    assert urls("end", []) == ["http://a/1", "http://b/2"]
