"""Alert probes: is an alert firing (or not) in Prometheus or Alertmanager?"""

from __future__ import annotations

import requests

from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ProbeSpec
from chaosrun.probes.session import explain, open_session


def firing_alerts(source: str, access: ApiAccess, timeout: float) -> list[str]:
    """Names of the alerts firing now; raises requests errors."""
    base = access.url.rstrip("/")
    session = open_session(access)
    if source == "alertmanager":
        resp = session.get(f"{base}/api/v2/alerts", params={"active": "true"}, timeout=timeout)
        resp.raise_for_status()
        return [
            a.get("labels", {}).get("alertname", "")
            for a in resp.json()
            if a.get("status", {}).get("state") == "active"
        ]
    resp = session.get(f"{base}/api/v1/alerts", timeout=timeout)
    resp.raise_for_status()
    alerts = resp.json().get("data", {}).get("alerts", [])
    return [a.get("labels", {}).get("alertname", "") for a in alerts if a.get("state") == "firing"]


def evaluate(probe: ProbeSpec, access: ApiAccess | None, timeout: float) -> ProbeResult:
    cfg = probe.config
    if access is None:
        return ProbeResult.unknown(f"no {cfg['source']} URL known")
    try:
        names = firing_alerts(cfg["source"], access, probe.timeout or timeout)
    except requests.RequestException as exc:
        return ProbeResult.unknown(f"{cfg['source']} alerts: {explain(exc, access.url)}")
    except ValueError as exc:
        return ProbeResult.unknown(f"{cfg['source']} alerts: {str(exc)[:200]}")
    firing = cfg["name"] in names
    evidence = f"{cfg['name']} {'firing' if firing else 'not firing'} in {cfg['source']}"
    ok = firing == cfg["firing"]
    return ProbeResult(Verdict.PASS if ok else Verdict.BREACH, 1.0 if firing else 0.0, evidence)
