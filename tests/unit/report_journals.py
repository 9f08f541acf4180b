"""Journals shaped like docs/journal.md for report tests, with hostile strings on demand."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

SCRIPT = '<script>document.title="pwned"</script>'
IMG = '<img src="http://127.0.0.9/x.png" onerror="alert(1)">'
T0 = datetime(2026, 11, 27, 21, 5, 1, 123000, tzinfo=UTC)


def at(seconds: float) -> str:
    return (
        (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _phase(name: str, start: float, end: float, outcome: str = "ok", hosts=None, detail=""):
    return {
        "name": name,
        "started_at": at(start),
        "ended_at": at(end),
        "outcome": outcome,
        "hosts": hosts or {},
        "detail": detail,
    }


def _samples(phase: str, start: float, values: list[float | None], limit: float) -> list[dict]:
    out = []
    for i, v in enumerate(values):
        verdict = "UNKNOWN" if v is None else ("PASS" if v <= limit else "BREACH")
        out.append(
            {
                "at": at(start + i),
                "phase": phase,
                "value": v,
                "verdict": verdict,
                "evidence": f"v={v}",
            }
        )
    return out


def journal(status: str = "aborted", hostile: bool = False) -> dict[str, Any]:
    """A whole run: steady state, inject, observe with a guardrail, rollback, recovery."""
    host = f"order-2{SCRIPT}" if hostile else "order-2"
    title = f'Kill {SCRIPT} one & "order"' if hostile else "Kill one order-service instance"
    label = IMG if hostile else "order"
    aborted = status == "aborted"
    guard_values = [0.1, 0.2, 0.7, 0.8] if aborted else [0.1, 0.2, 0.2, 0.3]
    data = {
        "schema": 1,
        "run_id": "20261127T210501-kill-one-order-3f9a",
        "kind": "run",
        "experiment": {
            "title": title,
            "file": "experiments/kill-one-order.yml",
            "severity": "high",
            "description": f"desc {SCRIPT}" if hostile else "One instance dies.",
        },
        "overrides": {"duration": "5s", "db_password": "hunter2-secret"},
        "status": status,
        "exit_code": {"passed": 0, "failed": 1, "aborted": 3}.get(status, 5),
        "started_at": at(0),
        "ended_at": at(30),
        "controller": {"user": "root", "host": "ci-1", "pid": 1234},
        "inventory": "inventories/lab/hosts",
        "targets": {
            "pattern": "order_service",
            "matched": ["order-1", host, "order-3"],
            "selected": [host],
        },
        "fault": {
            "role": "chaosrun.chaos.process_kill",
            "vars": {"process_kill_unit": "order-service", "api_token": "tok-123456"},
        },
        "phases": [
            _phase("validate", 0, 0.2),
            _phase("preflight", 0.2, 1, hosts={host: "ok"}),
            _phase("steady_state_before", 1, 4),
            _phase("inject", 4, 6, hosts={host: "ok"}),
            _phase("verify_active", 6, 7, hosts={host: "ok"}),
            _phase(
                "observe",
                7,
                11,
                outcome="breach" if aborted else "ok",
                detail=f"guardrail p99 {label} breached" if aborted else "",
            ),
            _phase("rollback", 11, 13, hosts={host: "ok"}),
            _phase("verify_inactive", 13, 14, hosts={host: "ok"}),
            _phase("recovery", 14, 19),
            _phase("report", 19, 19.5),
        ],
        "probes": [
            {
                "name": f"error ratio {label} under 1%",
                "kind": "prometheus",
                "role": "steady_state",
                "threshold": {"max": 0.01},
                "query": f'sum(rate(demo_requests_total{{service="{label}",code=~"5.."}}[15s]))',
                "samples": _samples("steady_state_before", 1, [0.0, 0.0, 0.001], 0.01)
                + _samples("recovery", 14, [0.05, 0.02, None, 0.0, 0.0], 0.01),
            },
            {
                "name": f"p99 {label} under 500ms",
                "kind": "prometheus",
                "role": "guardrail",
                "threshold": {"max": 0.5},
                "query": "histogram_quantile(0.99, ...)",
                "samples": _samples("observe", 7, guard_values, 0.5),
            },
        ],
        "abort": (
            {
                "reason": f"guardrail 'p99 {label} under 500ms' breached 2 times in a row",
                "at": at(10.5),
            }
            if aborted
            else None
        ),
        "rollback": {"ok": True, "hosts": {host: "ok"}},
        "recovery": {"within_s": 60, "time_to_recover_s": 3.2, "recovered": True},
        "steps": [],
    }
    return copy.deepcopy(data)


def drill(hostile: bool = False) -> dict[str, Any]:
    """A drill journal: the runbook's steps instead of an automatic rollback."""
    data = journal("passed", hostile)
    data["kind"] = "drill"
    name = f"Page {SCRIPT}" if hostile else "Acknowledge the page"
    data["steps"] = [
        {"name": name, "kind": "manual", "outcome": "ok", "started_at": at(7), "ended_at": at(9)},
        {"name": "Restart the unit", "kind": "tasks", "outcome": "ok", "duration_s": 1.5},
    ]
    return data
