"""The kill switch: freeze, unfreeze, and the cheap check the engine makes every tick."""

from __future__ import annotations

import json
import time

import pytest

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.model import audit, killswitch


def test_freeze_refuses_and_unfreeze_lifts(tmp_path):
    flag, log = tmp_path / "freeze.json", tmp_path / "audit.jsonl"
    assert killswitch.current(flag) is None
    killswitch.check(flag)
    killswitch.freeze(flag, "incident 4711", log)
    with pytest.raises(Refused, match="incident 4711") as exc:
        killswitch.check(flag)
    assert exc.value.exit_code == 4
    lifted = killswitch.unfreeze(flag, "incident over", log)
    assert lifted is not None and lifted.reason == "incident 4711"
    killswitch.check(flag)
    actions = [(e["action"], e["reason"]) for e in audit.read(log)]
    assert actions == [("freeze", "incident 4711"), ("unfreeze", "incident over")]


def test_reason_is_required(tmp_path):
    with pytest.raises(InvalidInput, match="--reason"):
        killswitch.freeze(tmp_path / "f", "  ", tmp_path / "a")
    assert not (tmp_path / "f").exists() and not (tmp_path / "a").exists()


def test_a_damaged_freeze_file_still_freezes(tmp_path):
    flag = tmp_path / "freeze.json"
    flag.write_text("{not json")
    with pytest.raises(Refused, match="unparsable"):
        killswitch.check(flag)


def test_the_tick_check_is_cheap(tmp_path):
    flag = tmp_path / "freeze.json"
    started = time.perf_counter()
    for _ in range(1000):
        killswitch.current(flag)
    assert time.perf_counter() - started < 0.5  # well under a millisecond a check
    killswitch.freeze(flag, "x", tmp_path / "a")
    assert json.loads(flag.read_text())["reason"] == "x"


def test_freeze_is_announced_to_subscribed_webhooks(tmp_path):
    import http.server
    import threading

    from chaosrun.model.config import Webhook

    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/hook"
    hooks = [Webhook("chat", url, ("freeze",)), Webhook("runs", url, ("end",))]
    try:
        killswitch.freeze(tmp_path / "f", "incident 7", tmp_path / "a", hooks)
        killswitch.unfreeze(tmp_path / "f", "over", tmp_path / "a", hooks)
    finally:
        server.shutdown()
    assert [(b["event"], b["reason"]) for b in got] == [("freeze", "incident 7")]
    assert "incident 7" in got[0]["text"]
