"""Webhook notifications against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import report_journals as rj

from chaosrun.report.notify import notify, payload, urls_from_env


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, json.loads(body)))
        code = 500 if self.path.startswith("/fail") else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.received = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def silent_port():
    """A listener that accepts connections and never answers: a hung webhook."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_start_abort_end_reach_the_receiver_with_text_and_fields(server):
    url = f"http://127.0.0.1:{server.server_port}/hooks/chaosrun"
    data = rj.journal("aborted")
    for event in ("start", "abort", "end"):
        [delivery] = notify(event, data, [url])
        assert delivery.ok, delivery
    assert [b["event"] for _, b in server.received] == ["start", "abort", "end"]
    abort = server.received[1][1]
    assert abort["run_id"] == data["run_id"] and abort["status"] == "aborted"
    assert "2 times in a row" in abort["abort_reason"] and "ABORTED" in abort["text"]
    assert server.received[2][1]["time_to_recover_s"] == 3.2


def test_secrets_never_leave(server):
    url = f"http://127.0.0.1:{server.server_port}/"
    notify("end", rj.journal("passed"), [url])
    raw = json.dumps(server.received)
    assert "hunter2-secret" not in raw and "tok-123456" not in raw
    assert "process_kill_unit" not in raw


def test_slack_text_escapes_angle_brackets():
    text = payload("start", rj.journal("passed", hostile=True))["text"]
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_failures_are_reported_without_the_url_path(server):
    bad = f"http://127.0.0.1:{server.server_port}/fail/T000/secret-token"
    results = notify("end", rj.journal("passed"), [bad, "file:///etc/passwd"])
    assert [r.ok for r in results] == [False, False]
    assert results[0].detail == "HTTP 500"
    assert all("secret-token" not in r.target and "passwd" not in r.target for r in results)


def test_a_hung_webhook_does_not_block(server, silent_port):
    good = f"http://127.0.0.1:{server.server_port}/ok"
    hung = [f"http://127.0.0.1:{silent_port}/hang{i}" for i in range(6)]
    started = time.monotonic()
    results = notify("start", rj.journal("passed"), [*hung, good], timeout=1.0)
    # One shared deadline (about 1.5 s), not one per URL (6 s and more); loose for slow CI.
    assert time.monotonic() - started < 4.0
    assert [r.ok for r in results] == [False] * 6 + [True]
    assert all("timed out" in r.detail for r in results[:6])


def test_unknown_event_is_a_programming_error():
    with pytest.raises(ValueError):
        notify("middle", rj.journal("passed"), [])


def test_urls_from_env():
    assert urls_from_env({"CHAOSRUN_WEBHOOKS": "http://a/x, http://b/y  http://c"}) == [
        "http://a/x",
        "http://b/y",
        "http://c",
    ]
