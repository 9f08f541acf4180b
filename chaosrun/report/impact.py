"""Impact: how far and how long the steady state left its limits during a run.

The engine samples every steady-state probe from the start of inject until recovery holds
(chaosrun.run.engine), so the journal holds a series per probe. From those samples alone:
per probe the worst value, the seconds beyond its limit and when it came back within it;
for the steady state as a whole (every probe PASS) the two recovery figures, self-healing
(from inject until it held again while the fault was still on) and recovery after rollback
(from the start of rollback until it held again). The engine writes the result into the
journal as `impact`; reports rebuild it from the samples when an older journal lacks it.

Time beyond a limit is counted sample and hold (docs/reports.md): each sample stands for
the time until the next sample, the last one for one sampling interval.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chaosrun.base.phases import Phase
from chaosrun.report import verdicts
from chaosrun.report.journal import Journal, parse_time

# Steady-state samples taken while the fault is on and after it: the impact window.
# Earlier ones judge the start, not the fault.
WINDOW_PHASES = verdicts.FAULT_PHASES | verdicts.AFTER_FAULT
PASS, BREACH, UNKNOWN = "PASS", "BREACH", "UNKNOWN"


@dataclass(frozen=True)
class Beyond:
    """Time a sampled series spent beyond its limit."""

    seconds: float  # held time of BREACH samples
    unknown_s: float  # held time of samples that could not be judged
    first_at: datetime | None  # the first BREACH sample
    back_at: datetime | None  # the first PASS after the last BREACH (None: never came back)


def time_beyond(samples: Sequence[tuple[datetime, str]], interval: float) -> Beyond:
    """Sample and hold over (time, verdict) pairs in time order: each sample's verdict lasts
    until the next sample, the last one's for `interval` seconds."""
    beyond = unknown = 0.0
    first_at = back_at = None
    last_breach = -1
    for i, (at, verdict) in enumerate(samples):
        nxt = samples[i + 1][0] if i + 1 < len(samples) else at + timedelta(seconds=interval)
        held = max((nxt - at).total_seconds(), 0.0)
        if verdict == BREACH:
            beyond += held
            first_at = first_at or at
            last_breach = i
        elif verdict != PASS:
            unknown += held
    if last_breach >= 0:
        back_at = next((at for at, v in samples[last_breach + 1 :] if v == PASS), None)
    return Beyond(round(beyond, 3), round(unknown, 3), first_at, back_at)


def _series(probe: dict[str, Any]) -> list[tuple[datetime, str, Any]]:
    found = []
    for s in probe.get("samples") or []:
        at = parse_time(s.get("at")) if isinstance(s, dict) else None
        if at is not None and s.get("phase") in WINDOW_PHASES:
            found.append((at, str(s.get("verdict")), s.get("value")))
    return sorted(found, key=lambda x: x[0])


def _sampled_in_fault(probe: dict[str, Any]) -> bool:
    samples = probe.get("samples") or []
    return any(isinstance(s, dict) and s.get("phase") in verdicts.FAULT_PHASES for s in samples)


def _combined(series: list[list[tuple[datetime, str, Any]]]) -> list[tuple[datetime, str]]:
    """The steady state as a whole at every sample time: BREACH if any probe's latest
    sample is, PASS if all are, else UNKNOWN (a probe not sampled yet is unknown)."""
    times = sorted({at for s in series for at, _, _ in s})
    out = []
    for t in times:
        latest = [next((v for at, v, _ in reversed(s) if at <= t), UNKNOWN) for s in series]
        verdict = BREACH if BREACH in latest else PASS if set(latest) == {PASS} else UNKNOWN
        out.append((t, verdict))
    return out


def _interval(series: list[list[tuple[datetime, str, Any]]]) -> float:
    """The usual gap between samples, for journals that did not record it."""
    gaps = [(b[0] - a[0]).total_seconds() for s in series for a, b in itertools.pairwise(s)]
    gaps = [g for g in gaps if g > 0]
    return round(statistics.median(gaps), 3) if gaps else 1.0


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _phase_start(journal: Journal, name: str) -> datetime | None:
    return parse_time((verdicts.phase(journal, name) or {}).get("started_at"))


def _probe_entry(probe: dict[str, Any], series, interval: float) -> dict[str, Any]:
    result = time_beyond([(at, v) for at, v, _ in series], interval)
    threshold = probe.get("threshold") or {}
    worst = verdicts.worst([{"value": v} for _, _, v in series], threshold)
    return {
        "name": probe.get("name"),
        "limits": verdicts.limits(probe),
        "worst": worst,
        "beyond_s": result.seconds,
        "unknown_s": result.unknown_s,
        "first_beyond_at": _iso(result.first_at),
        "back_within_at": _iso(result.back_at),
        "samples": len(series),
    }


def _recovery_figures(
    combined: list[tuple[datetime, str]],
    inject: datetime,
    rollback: datetime | None,
    interval: float,
) -> dict[str, Any]:
    during = [s for s in combined if rollback is None or s[0] < rollback]
    after = [s for s in combined if rollback is not None and s[0] >= rollback]
    if rollback is not None and during:
        after = [(rollback, during[-1][1]), *after]  # the state held when rollback began
    fault = time_beyond(during, interval)
    if not fault.seconds:
        healing, healed_at = 0.0, None
    elif fault.back_at is not None:
        healing, healed_at = (fault.back_at - inject).total_seconds(), fault.back_at
    else:
        healing, healed_at = None, None
    figures: dict[str, Any] = {
        "self_healing_s": None if healing is None else round(healing, 3),
        "healed_at": _iso(healed_at),
        "after_rollback_s": None,
        "recovered_at": None,
    }
    if rollback is not None and after:
        back = time_beyond(after, interval)
        if not back.seconds:
            figures["after_rollback_s"] = 0.0
        elif back.back_at is not None:
            figures["after_rollback_s"] = round((back.back_at - rollback).total_seconds(), 3)
            figures["recovered_at"] = _iso(back.back_at)
    return figures


def summarize(journal: Journal, interval: float | None = None) -> dict[str, Any] | None:
    """The run's impact, or None when nothing was injected or the steady state was not
    sampled while the fault was on."""
    inject = _phase_start(journal, Phase.INJECT)
    probes = [
        p
        for p in journal.get("probes") or []
        if isinstance(p, dict) and p.get("role") == "steady_state"
    ]
    series = [_series(p) for p in probes]
    if inject is None or not any(_sampled_in_fault(p) for p in probes):
        return None  # nothing injected, or a journal from before the fault was sampled
    step = interval or _interval(series)
    entries = [_probe_entry(p, s, step) for p, s in zip(probes, series, strict=True)]
    rollback = _phase_start(journal, Phase.ROLLBACK)
    return {
        "interval_s": step,
        "from": _iso(inject),
        "rollback_at": _iso(rollback),
        "left_limits": any(e["beyond_s"] > 0 for e in entries),
        "probes": entries,
        **_recovery_figures(_combined(series), inject, rollback, step),
    }


def of(journal: Journal) -> dict[str, Any] | None:
    """The impact the engine recorded, else rebuilt from the samples."""
    recorded = journal.get("impact")
    return recorded if isinstance(recorded, dict) else summarize(journal)
