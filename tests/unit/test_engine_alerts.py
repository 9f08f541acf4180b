"""The engine's expected_alerts path with fake hosts and a scripted Alertmanager (a real
HTTP server speaking the silences and alerts of API v2): silence before inject, proof of
firing, expiry at the end; and the engine's chaos_experiment for the dashboard metric."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import GOOD
from test_engine_run import env, run  # noqa: F401  (fixture)


def expecting(env, alerts: str = "[InstanceDown]") -> Path:  # noqa: F811
    """GOOD with `expected_alerts` in the file: an override may not add a silence."""
    path: Path = env[0] / "alerting.yml"
    path.write_text(GOOD.read_text() + f"expected_alerts: {alerts}\n")
    return path


class FakeAlertmanager:
    """Silences kept in memory; /api/v2/alerts shows `firing` (silenced by every live
    silence) to the first `shown` reads, then nothing (the alert resolved)."""

    def __init__(self, firing: list[dict[str, str]], shown: int = 1) -> None:
        self.firing, self.shown = firing, shown
        self.silences: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                sid = body.pop("id", None) or str(uuid.uuid4())
                outer.silences[sid] = {**body, "id": sid}
                self._send(200, {"silenceID": sid})

            def do_GET(self) -> None:
                if self.path.startswith("/api/v2/silence/"):
                    self._send(200, outer.silences[self.path.rsplit("/", 1)[1]])
                    return
                live = [s for s in outer.silences if s not in outer.deleted]
                alerts = []
                if outer.shown > 0:
                    outer.shown -= 1
                    alerts = [
                        {
                            "labels": labels,
                            "status": {"state": "suppressed", "silencedBy": live},
                            "startsAt": "2000-01-01T00:00:00Z",
                        }
                        for labels in outer.firing
                    ]
                self._send(200, alerts)

            def do_DELETE(self) -> None:
                outer.deleted.append(self.path.rsplit("/", 1)[1])
                self._send(200, None)

            def _send(self, code: int, data: Any) -> None:
                raw = b"" if data is None else json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def alertmanager(env):  # noqa: F811
    def make(firing: list[dict[str, str]]) -> FakeAlertmanager:
        tmp_path: Path = env[0]
        fake = FakeAlertmanager(firing)
        cfg = tmp_path / "chaosrun.yml"
        cfg.write_text(cfg.read_text() + f"alertmanager: {{url: {fake.url}}}\n")
        made.append(fake)
        return fake

    made: list[FakeAlertmanager] = []
    yield make
    for fake in made:
        fake.close()


def test_an_expected_alert_that_fired_passes_and_its_silence_is_expired(env, alertmanager):  # noqa: F811
    fake = alertmanager([{"alertname": "InstanceDown", "instance": "order-2:9100"}])
    outcome, journal = run(env, file=expecting(env))
    assert (outcome.exit_code, journal["status"]) == (0, "passed")
    alerts = journal["alerts"]
    (silence,) = alerts["silences"]
    assert silence["expired"] and fake.deleted == [silence["id"]]
    assert {"name": "instance", "value": "(order\\-2)(:[0-9]+)?", "isRegex": True,
            "isEqual": True} in silence["matchers"]  # fmt: skip
    (expected,) = alerts["expected"]
    assert (expected["fired"], expected["hosts"], expected["silenced"]) == (
        True,
        ["order-2:9100"],
        True,
    )
    # The dashboard metric's experiment label comes from the engine.
    assert env[1].variables["chaos_experiment"] == "Kill one demo instance"


def test_an_expected_alert_that_never_fired_fails_the_run(env, alertmanager):  # noqa: F811
    fake = alertmanager([{"alertname": "InstanceDown", "instance": "order-1"}])  # not a target
    outcome, journal = run(env, file=expecting(env))
    assert (outcome.exit_code, journal["status"]) == (1, "failed")
    assert journal["alerts"]["expected"][0]["fired"] is False
    assert len(fake.deleted) == 1


def test_no_alertmanager_refuses_expected_alerts(env) -> None:  # noqa: F811
    from chaosrun.base.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"alerting.yml:\d+: expected_alerts: no Alertmanager"):
        run(env, file=expecting(env))
