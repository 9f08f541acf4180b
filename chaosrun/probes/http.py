"""HTTP probes: status code, body match and a latency bound.

A refused connection or a timeout is a BREACH here: the service's reachability is the
very thing the probe measures.
"""

from __future__ import annotations

import re
import time

import requests

from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.model.experiment import ProbeSpec


def evaluate(probe: ProbeSpec, headers: dict[str, str], default_timeout: float) -> ProbeResult:
    cfg = probe.config
    timeout = probe.timeout or default_timeout
    started = time.monotonic()
    try:
        resp = requests.request(
            cfg["method"], cfg["url"], headers=headers, timeout=timeout, allow_redirects=False
        )
    except requests.Timeout:
        return ProbeResult(Verdict.BREACH, None, f"{cfg['url']}: no answer within {timeout:g}s")
    except requests.RequestException as exc:
        return ProbeResult(Verdict.BREACH, None, f"{cfg['url']}: {str(exc)[:200]}")
    latency = time.monotonic() - started
    evidence = f"{cfg['method']} {cfg['url']} -> HTTP {resp.status_code} in {latency * 1000:.0f} ms"
    if resp.status_code not in cfg["status"]:
        return ProbeResult(Verdict.BREACH, latency, f"{evidence} (expected {cfg['status']})")
    if cfg.get("body") and not re.search(cfg["body"], resp.text):
        return ProbeResult(Verdict.BREACH, latency, f"{evidence} (body does not match)")
    if cfg.get("max_latency") is not None and latency > cfg["max_latency"]:
        return ProbeResult(Verdict.BREACH, latency, f"{evidence} (slower than max_latency)")
    return ProbeResult(Verdict.PASS, latency, evidence)
