"""The impact of a run in words, from the probes' own names and units.

A probe named "user error ratio under 1%" with `max: 0.01` says what it measures ("user
error ratio") and in which unit a person reads it (percent: the 1 in its name is 100 times
its limit); "p99 under 500ms" with `max: 0.5` reads in milliseconds. A guardrail whose name
measures the same thing ("user error ratio under 5%") gives the sentence its last word:
"user error ratio above 1% for 3.1 s, up to 4.2%, below the 5% guardrail; healed by itself
in 3.4 s". A name without a number keeps the probe's own numbers.
"""

from __future__ import annotations

import math
import re
from typing import Any

from chaosrun.report import verdicts
from chaosrun.report.journal import Journal

# The limit phrase at the end of a name: "under 1%", "below 500 ms", ">= 5 req/s".
_LIMIT_PHRASE = re.compile(
    r"\s+(?:is\s+|stays\s+|remains\s+)?"
    r"(?:under|below|over|above|at most|at least|less than|more than|within|<=?|>=?)"
    r"\s+-?[\d.]+\s*\S*\s*$",
    re.IGNORECASE,
)
_NUMBER_UNIT = re.compile(r"(-?\d+(?:\.\d+)?)\s*(%|[a-zA-Z/µ]+)?")


def subject(name: str) -> str:
    """What a probe measures: its name without the limit phrase at the end."""
    return _LIMIT_PHRASE.sub("", name).strip() or name


def _unit(name: str, limit: float | None) -> tuple[float, str]:
    """(scale, suffix) so that value * scale reads as the name writes its limit."""
    found = _NUMBER_UNIT.findall(name)
    if not found or not limit:
        return 1.0, ""
    number, suffix = float(found[-1][0]), found[-1][1] or ""
    if not number:
        return 1.0, ""
    power = math.log10(abs(number / limit))
    if abs(power - round(power)) > 0.01:
        return 1.0, ""  # the name's number is not this limit (a relative threshold, a typo)
    return 10.0 ** round(power), suffix


def _fmt(value: float, unit: tuple[float, str]) -> str:
    return f"{value * unit[0]:.3g}{unit[1]}"


def _bound(limits: dict[str, float]) -> tuple[str, float] | None:
    if "max" in limits:
        return "max", limits["max"]
    if "min" in limits:
        return "min", limits["min"]
    return None


def _guardrail_clause(journal: Journal, name: str, kind: str, worst: float) -> str:
    """Where the worst value stood against the guardrail that watches the same signal."""
    for probe in journal.get("probes") or []:
        if probe.get("role") != "guardrail" or subject(str(probe.get("name"))) != name:
            continue
        limit = verdicts.limits(probe).get(kind)
        if limit is None:
            continue
        text = _fmt(limit, _unit(str(probe.get("name")), limit))
        inside = worst <= limit if kind == "max" else worst >= limit
        side = ("below" if kind == "max" else "above") if inside else "beyond"
        return f", {side} the {text} guardrail"
    return ""


def probe_clause(journal: Journal, entry: dict[str, Any]) -> str | None:
    """ "user error ratio above 1% for 3.1 s, up to 4.2%, below the 5% guardrail"."""
    bound = _bound(entry.get("limits") or {})
    worst = entry.get("worst")
    if not entry.get("beyond_s") or bound is None or not verdicts.is_number(worst):
        return None
    kind, limit = bound
    name = str(entry.get("name") or "probe")
    unit = _unit(name, limit)
    what = subject(name)
    side, reach = ("above", "up to") if kind == "max" else ("below", "down to")
    return (
        f"{what} {side} {_fmt(limit, unit)} for {entry['beyond_s']:.1f} s, "
        f"{reach} {_fmt(worst, unit)}" + _guardrail_clause(journal, what, kind, worst)
    )


def recovery_clauses(impact: dict[str, Any]) -> list[str]:
    """Self-healing and recovery after rollback, as far as the run measured them."""
    parts = []
    healing = impact.get("self_healing_s")
    after = impact.get("after_rollback_s")
    if healing is None:
        parts.append("did not heal while the fault was on")
    elif healing > 0:
        parts.append(f"healed by itself in {healing:.1f} s")
    if impact.get("rollback_at") is None:
        return parts
    if after is None:
        parts.append("not back within the limits after rollback")
    elif after > 0 or healing is None:
        parts.append(f"back within the limits {after:.1f} s after rollback")
    return parts


def sentence(journal: Journal, impact: dict[str, Any] | None) -> str:
    """The run's impact in one sentence."""
    if not impact:
        return "no impact measured: the steady state was not sampled while the fault was on"
    entries = impact.get("probes") or []
    if not impact.get("left_limits"):
        names = ", ".join(subject(str(e.get("name"))) for e in entries)
        return f"the steady state held throughout: {names} stayed within the limits"
    clauses = [c for c in (probe_clause(journal, e) for e in entries) if c]
    return "; ".join(clauses + recovery_clauses(impact))


def _entry_unit(entry: dict[str, Any]) -> tuple[float, str]:
    bound = _bound(entry.get("limits") or {})
    return _unit(str(entry.get("name") or ""), bound[1] if bound else None)


def limit_text(entry: dict[str, Any]) -> str:
    """A probe's limits in its own unit: "max 1%", "min 5"."""
    unit = _entry_unit(entry)
    limits = entry.get("limits") or {}
    return ", ".join(f"{k} {_fmt(v, unit)}" for k, v in sorted(limits.items())) or "none"


def value_text(entry: dict[str, Any], value: Any) -> str:
    """A value of a probe in its own unit, or "n/a"."""
    return _fmt(value, _entry_unit(entry)) if verdicts.is_number(value) else "n/a"


def seconds(value: Any, missing: str) -> str:
    """A recovery figure for a table: seconds, or what its absence means."""
    return f"{value:.1f} s" if verdicts.is_number(value) else missing
