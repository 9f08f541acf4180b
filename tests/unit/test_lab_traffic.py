"""The traffic generator against a small local order API: rate, outcomes, bounds, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosrun.lab import traffic
from chaosrun.lab.topology import LabConfig


class FakeOrders(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = 0.0
        self.status = 201
        self.seen: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: FakeOrders

    def _answer(self, code: int, body: dict) -> None:
        time.sleep(self.server.delay)
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:  # the generator gave up on a slow answer, as it should
            pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append("POST " + self.path)
        self._answer(self.server.status, {"id": len(self.server.seen)})

    def do_GET(self) -> None:
        self.server.seen.append("GET " + self.path)
        self._answer(200 if self.server.status < 300 else self.server.status, {"id": 1})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def orders() -> Iterator[FakeOrders]:
    server = FakeOrders()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _run(server: FakeOrders, seconds: float, rate: float, timeout: float = 1.0) -> traffic.Metrics:
    gen = traffic.Generator(traffic.Target(*server.server_address[:2]), rate, timeout, workers=8)
    threading.Timer(seconds, gen.stop.set).start()
    gen.run()
    return gen.metrics


def test_steady_rate_with_writes_and_reads(orders: FakeOrders) -> None:
    metrics = _run(orders, 2.0, rate=25)
    assert metrics.outcomes["error"] == metrics.outcomes["timeout"] == 0
    assert 45 <= metrics.outcomes["ok"] <= 52
    posts = [s for s in orders.seen if s.startswith("POST /orders")]
    gets = [s for s in orders.seen if s.startswith("GET /orders/")]
    assert posts and gets and abs(len(posts) - len(gets)) <= 2


def test_server_errors_count_as_errors(orders: FakeOrders) -> None:
    orders.status = 503
    metrics = _run(orders, 0.5, rate=20)
    assert metrics.outcomes["ok"] == 0
    assert metrics.outcomes["error"] >= 8


def test_slow_answers_count_as_timeouts_and_workers_stay_bounded(orders: FakeOrders) -> None:
    orders.delay = 0.5
    metrics = _run(orders, 1.0, rate=40, timeout=0.2)
    assert metrics.outcomes["ok"] == 0
    assert metrics.outcomes["timeout"] >= 30
    text = metrics.render()
    assert 'lab_traffic_requests_total{outcome="timeout"}' in text
    assert "lab_traffic_target_rate 40" in text
    assert 'lab_traffic_request_duration_seconds_bucket{le="+Inf"}' in text


def test_default_target_is_the_order_frontend_on_the_load_balancer() -> None:
    lab = LabConfig(subnet="10.213.9.0/24")
    assert traffic.default_target(lab) == traffic.Target("10.213.9.10", 8080)
    assert traffic.parse_target("127.0.0.1:81", lab) == traffic.Target("127.0.0.1", 81)
    with pytest.raises(SystemExit):
        traffic.parse_target("nowhere", lab)


def test_bad_rate_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        traffic.parse_args(["--rate", "0"], LabConfig())
    assert "--rate must be between" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _count_ok(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('lab_traffic_requests_total{outcome="ok"}'):
            return float(line.split()[-1])
    return 0.0


def test_process_exports_metrics_and_stops_on_sigterm(orders: FakeOrders) -> None:
    port = _free_port()
    host, target_port = orders.server_address[:2]
    args = ["--rate", "10", "--target", f"{host}:{target_port}", "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun.lab.traffic", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHAOSRUN_LAB_TRAFFIC_TIMEOUT": "1"},
    )
    try:
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline and not _count_ok(text):
            time.sleep(0.3)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                text = ""
        assert _count_ok(text) > 0
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert "traffic: stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
