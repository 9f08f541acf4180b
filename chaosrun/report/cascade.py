"""The cascade of a run: in which order the watched signals showed while the fault was on.

A signal "shows" at its first BREACH sample (a guardrail, or an observe-only probe that
crossed its threshold) between the start of inject and the end of the rollback's revert
scripts. Samples are ordered by when they were taken, so the list reads cause first:
for a slow database, the database round trip, then the order service's pool, then the
users' errors. Computed from the journal alone, so reports can rebuild it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chaosrun.base.phases import FAULT_ON, Phase

ROLES = ("observe", "guardrail")


def _epoch(text: Any) -> float | None:
    try:
        return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _inject_start(journal: dict[str, Any]) -> float | None:
    for phase in journal.get("phases") or []:
        if phase.get("name") == Phase.INJECT:
            return _epoch(phase.get("started_at"))
    return None


def _series(journal: dict[str, Any]) -> list[dict[str, Any]]:
    found = [*(journal.get("observations") or []), *(journal.get("probes") or [])]
    return [p for p in found if isinstance(p, dict) and p.get("role") in ROLES]


def first_signals(journal: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per signal that showed during the fault, earliest first."""
    start = _inject_start(journal)
    if start is None:
        return []
    entries = []
    for probe in _series(journal):
        for sample in probe.get("samples") or []:
            at = _epoch(sample.get("at"))
            if sample.get("verdict") != "BREACH" or at is None:
                continue
            if sample.get("phase") not in FAULT_ON:
                continue
            entries.append(
                {
                    "signal": probe.get("name"),
                    "role": probe.get("role"),
                    "first_at": sample.get("at"),
                    "after_inject_s": round(at - start, 3),
                    "value": sample.get("value"),
                    "evidence": sample.get("evidence"),
                }
            )
            break
    return sorted(entries, key=lambda e: e["after_inject_s"])


def quiet_signals(journal: dict[str, Any]) -> list[str]:
    """Watched signals that never crossed their threshold during the fault."""
    shown = {e["signal"] for e in first_signals(journal)}
    return [str(p.get("name")) for p in _series(journal) if p.get("name") not in shown]
