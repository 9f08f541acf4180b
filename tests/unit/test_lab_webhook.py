"""The lab's pager: every POST is recorded and listed back, over real HTTP."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrun.lab import webhook


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = tmp_path / "notifications.jsonl"
    srv = webhook.serve(0, store)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", store
    srv.shutdown()
    srv.server_close()


def post(url: str, body: bytes) -> dict:
    req = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.load(resp)


def get(url: str) -> list:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def test_records_every_post_and_lists_them(server: tuple[str, Path]) -> None:
    url, store = server
    alert = {"status": "firing", "alerts": [{"labels": {"alertname": "HostDown"}}]}
    assert post(f"{url}/alertmanager", json.dumps(alert).encode()) == {"status": "recorded"}
    post(f"{url}/chaosrun/run", b"plain text")
    got = get(f"{url}/notifications")
    assert [n["path"] for n in got] == ["/alertmanager", "/chaosrun/run"]
    assert got[0]["body"] == alert
    assert got[1]["body"] == "plain text"
    assert got[0]["time"].endswith("Z")
    assert len(store.read_text().splitlines()) == 2


def test_since_filters_by_time(server: tuple[str, Path]) -> None:
    url, _ = server
    post(f"{url}/a", b"{}")
    cut = get(f"{url}/notifications")[0]["time"]
    post(f"{url}/b", b"{}")
    later = get(f"{url}/notifications?since=9999-01-01T00:00:00.000Z")
    assert later == []
    assert [n["path"] for n in get(f"{url}/notifications?since={cut}")][-1] == "/b"


def test_empty_store_lists_nothing(server: tuple[str, Path]) -> None:
    url, _ = server
    assert get(f"{url}/notifications") == []
