"""What a run, a phase and a probe came to, derived from the journal alone.

Shared by every output format so HTML, JUnit, Markdown and JSON never disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chaosrun.base import phases
from chaosrun.base.phases import Phase
from chaosrun.base.thresholds import KEYS as THRESHOLD_KEYS
from chaosrun.base.thresholds import Threshold
from chaosrun.report.journal import Journal, parse_time

PHASE_OK = frozenset({"ok", "passed", "pass", "success", "changed"})
PHASE_SKIPPED = frozenset({"skipped", "skip", "not_run"})
PHASE_PENDING = frozenset({"running", "pending", ""})
# Phases whose steady-state samples come after the fault is gone: breaches there are
# the system recovering, judged by the last sample and by time to recover.
AFTER_FAULT = phases.AFTER_FAULT
# Phases while the fault is on (a drill runs its runbook instead of observing): the
# steady state is sampled there to measure the impact (chaosrun.report.impact), not judged;
# the guardrails judge the fault.
FAULT_PHASES = phases.FAULT_ON

STATUS_HEADLINES = {
    "passed": "PASSED: the steady state held",
    "failed": "FAILED: the hypothesis deviated",
    "aborted": "ABORTED and rolled back",
    "refused": "REFUSED: the run did not start",
    "rollback_failed": "ROLLBACK FAILED: faults may still be active",
    "running": "RUNNING: partial journal",
    "crashed": "CRASHED: the controller died mid-run; its faults were left to the hosts' leases",
}
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth|cookie|private", re.IGNORECASE)
REDACTED = "***"


TIMED_OUT = "TIMED OUT and rolled back: the fault reached its limit"


def headline(status: str, journal: Journal | None = None) -> str:
    """The run's outcome in a few words; an aborted run its limit stopped (a drill past
    `max_duration`, `abort.timed_out`) says so."""
    if status == "aborted" and ((journal or {}).get("abort") or {}).get("timed_out"):
        return TIMED_OUT
    return STATUS_HEADLINES.get(status, status.upper())


def phase_class(outcome: Any) -> str:
    """`ok`, `skipped`, `pending` or `failed` for a phase outcome string."""
    text = str(outcome or "").lower()
    if text in PHASE_OK:
        return "ok"
    if text in PHASE_SKIPPED:
        return "skipped"
    if text in PHASE_PENDING:
        return "pending"
    return "failed"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ProbeResult:
    """A probe's overall verdict with a one-line reason."""

    verdict: str  # PASS | BREACH | UNKNOWN
    message: str
    counts: dict[str, int]
    worst: float | None


def threshold_text(threshold: dict[str, Any] | None) -> str:
    parts = [f"{k} {v}" for k, v in (threshold or {}).items() if k in THRESHOLD_KEYS]
    return ", ".join(parts) or "no threshold"


def limits(probe: dict[str, Any]) -> dict[str, float]:
    """The probe's absolute limits: `max`/`min` as given, and the tighter of those and the
    baseline-relative ones when the journal recorded the probe's `baseline`."""
    threshold = Threshold.parse(probe.get("threshold") or {}, strict=False)
    base = probe.get("baseline")
    return threshold.limit(float(base) if is_number(base) else None).as_dict()


def worst(samples: list[dict[str, Any]], threshold: dict[str, Any]) -> float | None:
    values = [s["value"] for s in samples if is_number(s.get("value"))]
    if not values:
        return None
    lower_only = {"min", "max_decrease"} & threshold.keys() and not {
        "max",
        "max_increase",
    } & threshold.keys()
    if lower_only:
        return min(values)
    return max(values)


def probe_result(probe: dict[str, Any]) -> ProbeResult:
    """Judge one probe: guardrails fail on any breach; steady-state probes fail on a breach
    before the fault, or when their last sample after rollback is not PASS (while the fault
    is on they measure its impact, chaosrun.report.impact, and the guardrails judge)."""
    samples = [s for s in probe.get("samples") or [] if isinstance(s, dict)]
    threshold = probe.get("threshold") or {}
    counts = {v: sum(1 for s in samples if s.get("verdict") == v) for v in ("PASS", "BREACH")}
    counts["UNKNOWN"] = len(samples) - counts["PASS"] - counts["BREACH"]
    worst_value = worst(samples, threshold)
    limit = threshold_text(threshold)
    if not samples:
        return ProbeResult("UNKNOWN", "no samples were taken", counts, None)
    if probe.get("role") == "steady_state":
        before = [s for s in samples if s.get("phase") not in AFTER_FAULT | FAULT_PHASES]
        after = [s for s in samples if s.get("phase") in AFTER_FAULT]
        breaches = sum(1 for s in before if s.get("verdict") == "BREACH")
        if breaches:
            return ProbeResult(
                "BREACH",
                f"breached {breaches} time(s) before the fault; worst {worst_value} ({limit})",
                counts,
                worst_value,
            )
        if after and after[-1].get("verdict") != "PASS":
            last = after[-1]
            return ProbeResult(
                "BREACH" if last.get("verdict") == "BREACH" else "UNKNOWN",
                f"last sample after rollback was {last.get('verdict')}: "
                f"{last.get('value')} ({limit})",
                counts,
                worst_value,
            )
    elif counts["BREACH"]:
        return ProbeResult(
            "BREACH",
            f"breached {counts['BREACH']} of {len(samples)} samples; worst {worst_value} ({limit})",
            counts,
            worst_value,
        )
    if not counts["PASS"]:
        return ProbeResult("UNKNOWN", f"no sample could be judged ({limit})", counts, worst_value)
    note = f"; {counts['UNKNOWN']} unknown" if counts["UNKNOWN"] else ""
    return ProbeResult(
        "PASS", f"{counts['PASS']} of {len(samples)} passed{note}", counts, worst_value
    )


def phase(journal: Journal, name: str) -> dict[str, Any] | None:
    """The last phase record with this name."""
    found = [p for p in journal.get("phases") or [] if p.get("name") == name]
    return found[-1] if found else None


def run_start(journal: Journal) -> datetime | None:
    start = parse_time(journal.get("started_at"))
    if start:
        return start
    phases = journal.get("phases") or []
    return parse_time(phases[0].get("started_at")) if phases else None


def run_end(journal: Journal) -> datetime | None:
    """The end of the run, else the latest time any phase or sample mentions."""
    end = parse_time(journal.get("ended_at"))
    if end:
        return end
    times = [
        parse_time(p.get(k))
        for p in journal.get("phases") or []
        for k in ("started_at", "ended_at")
    ]
    times += [
        parse_time(s.get("at")) for p in journal.get("probes") or [] for s in p.get("samples") or []
    ]
    times = [t for t in times if t]
    return max(times) if times else run_start(journal)


def fault_window(journal: Journal) -> tuple[datetime, datetime] | None:
    """From the start of inject to the end of rollback (or the end of the run)."""
    inject = phase(journal, Phase.INJECT)
    start = parse_time(inject.get("started_at")) if inject else None
    if start is None:
        return None
    rollback = phase(journal, Phase.ROLLBACK)
    end = parse_time(rollback.get("ended_at")) if rollback else None
    return start, end or run_end(journal) or start


def rollback_window(journal: Journal) -> tuple[datetime, datetime] | None:
    rollback = phase(journal, Phase.ROLLBACK)
    if not rollback:
        return None
    start = parse_time(rollback.get("started_at"))
    end = parse_time(rollback.get("ended_at")) or run_end(journal)
    return (start, end) if start and end else None


def abort_time(journal: Journal) -> datetime | None:
    abort = journal.get("abort") or {}
    return parse_time(abort.get("at"))


def recovered_time(journal: Journal) -> datetime | None:
    """End of rollback plus time to recover: when every steady-state probe passed again."""
    ttr = (journal.get("recovery") or {}).get("time_to_recover_s")
    # The engine counts verify_inactive as part of rolling back: recovery starts after it.
    ends = [
        parse_time((phase(journal, n) or {}).get("ended_at"))
        for n in (Phase.ROLLBACK, Phase.VERIFY_INACTIVE, Phase.VERIFY_INACTIVE_AGAIN)
    ]
    ends = [t for t in ends if t]
    if not is_number(ttr) or not ends:
        return None
    return max(ends) + timedelta(seconds=ttr)


def host_results(journal: Journal) -> tuple[list[str], list[str], dict[tuple[str, str], str]]:
    """Hosts (rows), columns (phases that report hosts, then rollback) and cell outcomes."""
    hosts: list[str] = list((journal.get("targets") or {}).get("selected") or [])
    columns: list[str] = []
    cells: dict[tuple[str, str], str] = {}
    records = [(p.get("name", "?"), p.get("hosts") or {}) for p in journal.get("phases") or []]
    rollback_hosts = (journal.get("rollback") or {}).get("hosts") or {}
    if rollback_hosts and not any(n == Phase.ROLLBACK and h for n, h in records):
        records.append((Phase.ROLLBACK.value, rollback_hosts))
    for name, by_host in records:
        if not isinstance(by_host, dict) or not by_host:
            continue
        if name not in columns:
            columns.append(name)
        for host, outcome in by_host.items():
            if host not in hosts:
                hosts.append(str(host))
            cells[(str(host), name)] = str(outcome)
    return [str(h) for h in hosts], columns, cells


def redact(value: Any, key: str = "") -> Any:
    """Copy of a vars mapping with values under secret-looking keys replaced."""
    if key and _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
