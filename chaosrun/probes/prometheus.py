"""PromQL probes: an instant query checked against absolute or baseline-relative thresholds.

Fast on the abort path: one short timeout, no retries. Anything that is not a clean
number (no series, NaN, an error, a server that is down or not ready) is UNKNOWN.
"""

from __future__ import annotations

import math
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from requests.adapters import Retry

from chaosrun.base.durations import format_duration
from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ProbeSpec
from chaosrun.probes.session import explain, open_session, status_line

MAX_EVIDENCE = 400


class PrometheusSource:
    """One Prometheus server, reached as its access settings say (TLS verified, credentials,
    headers), with the run's query timeout."""

    def __init__(self, access: ApiAccess | str, timeout: float) -> None:
        self.access = ApiAccess(access) if isinstance(access, str) else access
        self.url = self.access.url.rstrip("/")
        self.timeout = timeout
        self.session = open_session(self.access)
        self.client = PrometheusConnect(
            self.url,
            session=self.session,
            retry=Retry(total=0, backoff_factor=0),
            timeout=timeout,
        )

    def ready(self) -> tuple[bool, str]:
        try:
            resp = self.session.get(f"{self.url}/-/ready", timeout=self.timeout)
        except requests.RequestException as exc:
            return False, explain(exc, self.url)
        if resp.status_code != 200:
            return False, status_line(resp.status_code, f"{self.url}/-/ready")
        return True, f"{self.url}/-/ready -> HTTP 200"

    def query(self, promql: str, timeout: float | None = None) -> list[dict[str, Any]]:
        return self.client.custom_query(promql, timeout=timeout or self.timeout)


def sample(source: PrometheusSource, promql: str, timeout: float | None = None):
    """(values, evidence) or (None, reason) when the answer is not usable."""
    try:
        result = source.query(promql, timeout)
    except requests.RequestException as exc:
        return None, f"query failed: {explain(exc, source.url)}"
    except Exception as exc:  # the client's own exception type: an HTTP status
        return None, f"query failed: {_status(exc, source.url)}"
    if not result:
        return None, "query returned no series"
    values: list[tuple[str, float]] = []
    for series in result:
        labels = _labels(series.get("metric", {}))
        try:
            value = float(series["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            return None, f"unexpected answer {str(series)[:100]}"
        if math.isnan(value) or math.isinf(value):
            return None, f"{labels} = {value} (not a number)"
        values.append((labels, value))
    return values, "; ".join(f"{k} = {v:g}" for k, v in values)[:MAX_EVIDENCE]


def evaluate(probe: ProbeSpec, source: PrometheusSource, baseline: float | None) -> ProbeResult:
    query = probe.config["query"]
    values, evidence = sample(source, query, probe.timeout)
    if values is None:
        return ProbeResult.unknown(evidence)
    if probe.threshold.relative and baseline is None:
        return ProbeResult.unknown(f"{evidence} (no baseline)")
    for _, value in values:
        failed = probe.threshold.breached(value, baseline)
        if failed:
            return ProbeResult(Verdict.BREACH, value, f"{evidence} [{failed}]")
    return ProbeResult(Verdict.PASS, values[0][1], evidence)


def baseline(probe: ProbeSpec, source: PrometheusSource, window: float) -> ProbeResult:
    """The probe's average over the window before now, from Prometheus history."""
    step = max(1.0, window / 60.0)
    promql = (
        f"avg_over_time(({probe.config['query']})[{format_duration(window)}:"
        f"{format_duration(step)}])"
    )
    values, evidence = sample(source, promql, probe.timeout)
    if values is None:
        return ProbeResult.unknown(f"baseline: {evidence}")
    value = max(v for _, v in values)
    return ProbeResult(Verdict.PASS, value, f"baseline over {format_duration(window)}: {evidence}")


def _labels(metric: dict[str, str]) -> str:
    if not metric:
        return "value"
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"


def _status(exc: BaseException, url: str) -> str:
    """The client raises its own exception with "HTTP Status Code 401 (...)" in it."""
    text = str(exc)
    if text.startswith("HTTP Status Code "):
        code = text.split()[3]
        if code.isdigit():
            return status_line(int(code), url)
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
