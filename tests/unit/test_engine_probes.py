"""Probe verdicts against a real (small) HTTP server that answers like Prometheus."""

from __future__ import annotations

import socket
import time

import pytest
from engine_fixtures import GOOD, FakePrometheus

from chaosrun.base.verdict import Verdict
from chaosrun.model.experiment import ProbeSpec, load_experiment
from chaosrun.probes import Prober
from chaosrun.probes.prometheus import PrometheusSource


@pytest.fixture
def prom():
    server = FakePrometheus()
    yield server
    server.close()


def probes():
    exp = load_experiment(GOOD)
    return exp.guardrails.probes[0], exp.guardrails.probes[1]


@pytest.mark.parametrize(
    "answer, verdict",
    [([0.01], Verdict.PASS), ([0.2], Verdict.BREACH), ([0.0, 0.3], Verdict.BREACH),
     ([], Verdict.UNKNOWN), (["NaN"], Verdict.UNKNOWN), (500, Verdict.UNKNOWN),
     (["+Inf"], Verdict.UNKNOWN)],
)  # fmt: skip
def test_prometheus_verdicts(prom: FakePrometheus, answer, verdict: Verdict) -> None:
    ratio, _ = probes()
    prom.answers[ratio.config["query"]] = answer
    prober = Prober(PrometheusSource(prom.url, 1.0), 1.0)
    result = prober.evaluate(ratio)
    assert result.verdict is verdict, result.evidence
    if verdict is Verdict.UNKNOWN:
        assert result.value is None


def test_server_down_is_unknown_and_fast() -> None:
    ratio, _ = probes()
    prober = Prober(PrometheusSource("http://127.0.0.1:9", 1.0), 1.0)
    started = time.monotonic()
    result = prober.evaluate(ratio)
    assert result.verdict is Verdict.UNKNOWN
    assert "query failed" in result.evidence
    assert time.monotonic() - started < 1.0  # no retries with back-off


def test_relative_threshold_uses_the_baseline(prom: FakePrometheus) -> None:
    _, latency = probes()
    prober = Prober(PrometheusSource(prom.url, 1.0), 1.0)
    assert prober.evaluate(latency).verdict is Verdict.UNKNOWN  # no data, no baseline
    prom.answers[latency.config["query"]] = [0.3]
    assert "no baseline" in prober.evaluate(latency).evidence
    baseline_query = f"avg_over_time(({latency.config['query']})[1m:1s])"
    prom.answers[baseline_query] = [0.25]
    results = prober.take_baselines([latency], 60)
    assert results[latency.name].value == 0.25
    assert prober.evaluate(latency).verdict is Verdict.PASS  # 0.3 <= 0.25 * 1.5
    prom.answers[latency.config["query"]] = [0.4]
    assert prober.evaluate(latency).verdict is Verdict.BREACH


def test_probes_are_evaluated_concurrently() -> None:
    ratio, _ = probes()
    # A listening socket that never answers: every query runs into its timeout.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        prober = Prober(PrometheusSource(url, 0.5), 0.5)
        started = time.monotonic()
        results = prober.evaluate_all([ratio] * 6)
        elapsed = time.monotonic() - started
    assert all(r.verdict is Verdict.UNKNOWN for r in results)
    assert elapsed < 1.5  # six 0.5 s timeouts at once, not in a row


def spec(kind: str, config: dict, timeout: float | None = None) -> ProbeSpec:
    return ProbeSpec("p", kind, config, {}, ("guardrails", "probes", 0), timeout)


def http_cfg(url: str, **extra) -> dict:
    cfg = {"url": url, "method": "GET", "status": [200], "body": None, "max_latency": None}
    return {**cfg, "headers": {}, **extra}


def test_http_probe(prom: FakePrometheus) -> None:
    prober = Prober(None, 1.0)
    ok = prober.evaluate(spec("http", http_cfg(f"{prom.url}/health", body="healthy")))
    assert ok.verdict is Verdict.PASS and "HTTP 200" in ok.evidence
    sick = prober.evaluate(spec("http", http_cfg(f"{prom.url}/health/503")))
    assert sick.verdict is Verdict.BREACH and "HTTP 503" in sick.evidence
    body = prober.evaluate(spec("http", http_cfg(f"{prom.url}/health", body="^nope")))
    assert body.verdict is Verdict.BREACH
    prom.delay = 0.3
    slow = prober.evaluate(spec("http", http_cfg(f"{prom.url}/health", max_latency=0.1)))
    assert slow.verdict is Verdict.BREACH and "slower" in slow.evidence
    down = prober.evaluate(spec("http", http_cfg("http://127.0.0.1:9/health")))
    assert down.verdict is Verdict.BREACH


def test_alert_probe(prom: FakePrometheus) -> None:
    prober = Prober(PrometheusSource(prom.url, 1.0), 1.0)
    cfg = {"name": "HighErrorRatio", "firing": True, "source": "prometheus", "url": None}
    assert prober.evaluate(spec("alert", cfg)).verdict is Verdict.BREACH
    prom.firing = ["HighErrorRatio"]
    assert prober.evaluate(spec("alert", cfg)).verdict is Verdict.PASS
    quiet = {**cfg, "firing": False}
    assert prober.evaluate(spec("alert", quiet)).verdict is Verdict.BREACH
    gone = Prober(PrometheusSource("http://127.0.0.1:9", 0.5), 0.5)
    assert gone.evaluate(spec("alert", cfg)).verdict is Verdict.UNKNOWN
