"""The machine-readable summary of one run (`chaosrun report --format json`)."""

from __future__ import annotations

from typing import Any

from chaosrun.report import impact, impact_text, verdicts
from chaosrun.report.journal import Journal, experiment_key, experiment_title, seconds_between


def summarize(journal: Journal) -> dict[str, Any]:
    """Verdicts per phase and probe, recovery and abort: what a CI gate or a bot reads."""
    recovery = journal.get("recovery") or {}
    probes = []
    for p in journal.get("probes") or []:
        result = verdicts.probe_result(p)
        probes.append(
            {
                "name": p.get("name"),
                "role": p.get("role"),
                "verdict": result.verdict,
                "message": result.message,
                "samples": result.counts,
                "worst": result.worst,
                "threshold": p.get("threshold"),
            }
        )
    return {
        "run_id": journal.get("run_id"),
        "kind": journal.get("kind", "run"),
        "experiment": {
            "key": experiment_key(journal),
            "title": experiment_title(journal),
            "severity": (journal.get("experiment") or {}).get("severity"),
        },
        "status": journal.get("status"),
        "passed": journal.get("status") == "passed",
        "exit_code": journal.get("exit_code"),
        "started_at": journal.get("started_at"),
        "duration_s": seconds_between(journal.get("started_at"), journal.get("ended_at")),
        "targets": (journal.get("targets") or {}).get("selected") or [],
        "phases": [
            {
                "name": p.get("name"),
                "outcome": p.get("outcome"),
                "result": verdicts.phase_class(p.get("outcome")),
                "duration_s": seconds_between(p.get("started_at"), p.get("ended_at")),
            }
            for p in journal.get("phases") or []
        ],
        "probes": probes,
        "abort_reason": (journal.get("abort") or {}).get("reason"),
        "rollback_ok": (journal.get("rollback") or {}).get("ok"),
        "recovered": recovery.get("recovered"),
        "time_to_recover_s": recovery.get("time_to_recover_s"),
        "impact": _impact(journal),
        "alerts": _alerts(journal),
    }


def _alerts(journal: Journal) -> dict[str, Any] | None:
    """Which expected alerts fired, which alerts nobody expected fired, and whether every
    silence the run made is gone; null when the experiment expected no alerts."""
    alerts = journal.get("alerts")
    if not alerts:
        return None
    return {
        "expected": [
            {k: a.get(k) for k in ("name", "labels", "fired", "hosts", "first_seen")}
            for a in alerts.get("expected") or []
        ],
        "unexpected": [
            {k: u.get(k) for k in ("name", "labels", "first_seen")}
            for u in alerts.get("unexpected") or []
        ],
        "silences_expired": all(s.get("expired") for s in alerts.get("silences") or []),
        "errors": [str(x) for x in alerts.get("errors") or []],
    }


def _impact(journal: Journal) -> dict[str, Any] | None:
    """The journal's impact figures (null fields: never held again) and their sentence."""
    found = impact.of(journal)
    if not found:
        return None
    return {**found, "summary": found.get("summary") or impact_text.sentence(journal, found)}
