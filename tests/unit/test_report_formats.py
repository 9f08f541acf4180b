"""Webhook formats delivered to the lab's own pager (chaosrun.lab.webhook, a real HTTP
receiver in a process of its own): generic JSON, Slack blocks and PagerDuty Events v2,
for a run's start/abort/end and for fleet actions; secrets stay where they belong."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import report_journals as rj

from chaosrun.base.errors import InvalidInput
from chaosrun.model import audit, config
from chaosrun.report import formats
from chaosrun.report.hooks import targets_for
from chaosrun.report.notify import notify

ROUTING_KEY = "R0UTING-key-for-tests"


@pytest.fixture
def pager(tmp_path: Path):
    """The lab's webhook receiver, started as `lab up` starts it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun.lab.webhook", "--port", str(port),
         "--file", str(tmp_path / "pager.jsonl")],
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/notifications", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def received(url: str) -> dict[str, list[dict]]:
    with urllib.request.urlopen(f"{url}/notifications", timeout=5) as resp:
        entries = json.loads(resp.read())
    found: dict[str, list[dict]] = {}
    for entry in entries:
        found.setdefault(entry["path"], []).append(entry["body"])
    return found


def webhooks(tmp_path: Path, pager: str, monkeypatch: pytest.MonkeyPatch) -> list:
    monkeypatch.setenv("PD_KEY", ROUTING_KEY)
    path = tmp_path / "chaosrun.yml"
    path.write_text(
        "notifications:\n  webhooks:\n"
        f"    - {{name: hook, url: {pager}/generic}}\n"
        f"    - {{name: chat, url: {pager}/slack, format: slack}}\n"
        f"    - {{name: pd, url: {pager}/pd, format: pagerduty, routing_key_env: PD_KEY}}\n"
    )
    return config.load(path).webhooks


def test_a_run_in_every_format(tmp_path: Path, pager: str, monkeypatch) -> None:
    hooks = webhooks(tmp_path, pager, monkeypatch)
    journal = rj.journal("aborted")
    for event in ("start", "abort", "end"):
        deliveries = notify(event, journal, targets_for(event, hooks, []))
        assert all(d.ok for d in deliveries), deliveries
    got = received(pager)
    assert [b["event"] for b in got["/generic"]] == ["start", "abort", "end"]
    slack = got["/slack"]
    assert all(b["text"] and b["blocks"][0]["text"]["type"] == "mrkdwn" for b in slack)
    assert journal["run_id"] in slack[1]["blocks"][1]["elements"][0]["text"]
    pd = got["/pd"]
    assert [(b["event_action"], b.get("payload", {}).get("severity")) for b in pd] == [
        ("trigger", "info"),
        ("trigger", "critical"),
        ("resolve", None),
    ]
    assert {b["dedup_key"] for b in pd} == {journal["run_id"]}
    assert all(b["routing_key"] == ROUTING_KEY for b in pd)
    assert "ABORTED" in pd[1]["payload"]["summary"] and pd[1]["payload"]["source"]
    assert ROUTING_KEY not in json.dumps(got["/generic"] + got["/slack"])


def test_fleet_actions_in_every_format(tmp_path: Path, pager: str, monkeypatch) -> None:
    hooks = webhooks(tmp_path, pager, monkeypatch)
    entry = {"user": "alice", "host": "ops-1", "reason": "incident 42", "at": "t"}
    assert set(audit.announce(hooks, "freeze", entry).values()) == {"ok"}
    assert set(audit.announce(hooks, "unfreeze", entry).values()) == {"ok"}
    got = received(pager)
    assert [b["event_action"] for b in got["/pd"]] == ["trigger", "resolve"]
    assert {b["dedup_key"] for b in got["/pd"]} == {formats.FREEZE_KEY}
    assert "incident 42" in got["/slack"][0]["text"]


def test_pagerduty_needs_a_routing_key(tmp_path: Path) -> None:
    path = tmp_path / "chaosrun.yml"
    path.write_text("notifications:\n  webhooks:\n    - {url: 'http://x/', format: pagerduty}\n")
    with pytest.raises(InvalidInput, match=r"chaosrun.yml:3: notifications.webhooks\[0\]:"):
        config.load(path)
    path.write_text("notifications:\n  webhooks:\n    - {url: 'http://x/', format: teams}\n")
    with pytest.raises(InvalidInput, match="format: one of generic, slack, pagerduty"):
        config.load(path)


def test_summaries_fit_pagerduty() -> None:
    facts = {"event": "abort", "run_id": "r", "text": "x" * 5000}
    body = formats.render("pagerduty", facts, "k")
    assert len(body["payload"]["summary"]) == formats.SUMMARY_MAX
