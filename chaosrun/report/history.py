"""Trends across runs: counts, success rate, mean time to recover and a resilience score.

Resilience score (0-100): the severity-weighted share of executed runs that passed.

    score = 100 * sum(weight(run) * passed(run)) / sum(weight(run))

- executed runs are those that injected or tried to: passed, failed, aborted and
  rollback_failed. Refused and still-running runs tested nothing and are left out.
- weight(run) is the experiment's severity: low 1, medium 2, high 3, critical 5
  (missing or unknown severity counts as medium). Surviving a severe fault says more
  about a fleet than surviving a mild one, and failing one costs more.
- a rollback_failed run counts with twice its weight: it left faults behind, which is
  worse for the fleet than any deviation the experiment measured.
- passed(run) is 1 for a passed run and 0 otherwise.

The score is None ("not enough runs") until MIN_RUNS_FOR_SCORE runs in the window were
executed: one lucky run is not a measure of resilience.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

from chaosrun.base.errors import ChaosrunError, InvalidInput
from chaosrun.report import verdicts
from chaosrun.report.journal import (
    Journal,
    experiment_key,
    experiment_title,
    load_journal,
    parse_time,
)

SEVERITY_WEIGHTS = {"low": 1.0, "medium": 2.0, "high": 3.0, "critical": 5.0}
DEFAULT_WEIGHT = SEVERITY_WEIGHTS["medium"]
EXECUTED = ("passed", "failed", "aborted", "rollback_failed")
# crashed: the controller died mid-run (chaosrun.base.liveness); like refused and running, it
# tested nothing and is counted on its own, never against the success rate.
STATUSES = ("passed", "failed", "aborted", "rollback_failed", "refused", "running", "crashed")
GLYPHS = {
    "passed": "P",
    "failed": "F",
    "aborted": "A",
    "rollback_failed": "X",
    "refused": "R",
    "running": "?",
    "crashed": "C",
}
TREND_WINDOW = 5
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `12h`, `30m`, `2w` ago, or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    when = parse_time(text.strip())
    if when is None:
        raise InvalidInput(
            f"--since {text!r}: expected a duration like 7d, 12h, 30m or an ISO date"
        )
    return when


def weight(journal: Journal) -> float:
    severity = str((journal.get("experiment") or {}).get("severity") or "").lower()
    base = SEVERITY_WEIGHTS.get(severity, DEFAULT_WEIGHT)
    return base * 2 if journal.get("status") == "rollback_failed" else base


MIN_RUNS_FOR_SCORE = 5


def resilience_score(journals: list[Journal]) -> float | None:
    executed = [j for j in journals if j.get("status") in EXECUTED]
    total = sum(weight(j) for j in executed)
    if not total or len(executed) < MIN_RUNS_FOR_SCORE:
        return None
    return round(100 * sum(weight(j) for j in executed if j.get("status") == "passed") / total, 1)


def load_runs(runs_dir: Path, since: datetime | None = None) -> tuple[list[Journal], list[str]]:
    """Every readable journal under runs_dir (oldest first) and a note per unreadable one."""
    journals, skipped = [], []
    for path in sorted(runs_dir.glob("*/journal.json")):
        try:
            journal = load_journal(path)
        except ChaosrunError as exc:
            skipped.append(str(exc))
            continue
        started = verdicts.run_start(journal)
        if since is None or (started is not None and started >= since):
            journals.append(journal)
    journals.sort(
        key=lambda j: (verdicts.run_start(j) or datetime.min.replace(tzinfo=UTC), j["run_id"])
    )
    return journals, skipped


def _ttrs(journals: list[Journal]) -> list[float]:
    values = [(j.get("recovery") or {}).get("time_to_recover_s") for j in journals]
    return [float(v) for v in values if verdicts.is_number(v)]


def _rate(journals: list[Journal]) -> float | None:
    executed = [j for j in journals if j.get("status") in EXECUTED]
    return sum(j.get("status") == "passed" for j in executed) / len(executed) if executed else None


def trend(journals: list[Journal]) -> str:
    """improving / declining / steady: pass rate of the last few runs against the few before."""
    executed = [j for j in journals if j.get("status") in EXECUTED]
    size = min(TREND_WINDOW, len(executed) // 2)
    if size == 0:
        return "new"
    recent, before = _rate(executed[-size:]), _rate(executed[-2 * size : -size])
    if recent is None or before is None or recent == before:
        return "steady"
    return "improving" if recent > before else "declining"


@dataclass
class ExperimentTrend:
    key: str
    title: str
    severity: str | None
    runs: int
    passed: int
    success_rate: float | None
    mean_time_to_recover_s: float | None
    last_status: str
    last_run_id: str
    outcomes: str
    trend: str
    score: float | None


@dataclass
class History:
    runs_dir: str
    since: str | None
    total: int
    counts: dict[str, int]
    executed: int
    success_rate: float | None
    mean_time_to_recover_s: float | None
    resilience_score: float | None
    experiments: list[ExperimentTrend] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def score_text(self) -> str:
        """The score as people read it, or why there is none yet."""
        if self.resilience_score is not None:
            return f"{self.resilience_score:.0f} / 100"
        return (
            f"not enough runs for a score ({self.executed} of {MIN_RUNS_FOR_SCORE} executed "
            "runs needed)"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: list[float]) -> float | None:
    return round(fmean(values), 3) if values else None


def _experiment(key: str, journals: list[Journal]) -> ExperimentTrend:
    last = journals[-1]
    rate = _rate(journals)
    return ExperimentTrend(
        key=key,
        title=experiment_title(last),
        severity=(last.get("experiment") or {}).get("severity"),
        runs=len(journals),
        passed=sum(j.get("status") == "passed" for j in journals),
        success_rate=round(rate, 3) if rate is not None else None,
        mean_time_to_recover_s=_mean(_ttrs(journals)),
        last_status=str(last.get("status")),
        last_run_id=str(last.get("run_id")),
        outcomes="".join(GLYPHS.get(str(j.get("status")), "?") for j in journals),
        trend=trend(journals),
        score=resilience_score(journals),
    )


def _run_row(journal: Journal, runs_dir: Path) -> dict[str, Any]:
    report = runs_dir / str(journal.get("run_id")) / "report.html"
    return {
        "report": str(report.resolve()) if report.is_file() else None,
        "run_id": journal.get("run_id"),
        "experiment": experiment_key(journal),
        "title": experiment_title(journal),
        "status": journal.get("status"),
        "started_at": journal.get("started_at"),
        "time_to_recover_s": (journal.get("recovery") or {}).get("time_to_recover_s"),
        "severity": (journal.get("experiment") or {}).get("severity"),
    }


def build_history(runs_dir: Path, since: datetime | None = None) -> History:
    """Aggregate every run under runs_dir started at or after `since`."""
    journals, skipped = load_runs(runs_dir, since)
    by_experiment: dict[str, list[Journal]] = {}
    for j in journals:
        by_experiment.setdefault(experiment_key(j), []).append(j)
    counts = {s: sum(j.get("status") == s for j in journals) for s in STATUSES}
    rate = _rate(journals)
    return History(
        runs_dir=str(runs_dir),
        since=since.isoformat() if since else None,
        total=len(journals),
        counts=counts,
        executed=sum(counts[s] for s in EXECUTED),
        success_rate=round(rate, 3) if rate is not None else None,
        mean_time_to_recover_s=_mean(_ttrs(journals)),
        resilience_score=resilience_score(journals),
        experiments=[_experiment(k, v) for k, v in sorted(by_experiment.items())],
        runs=[_run_row(j, runs_dir) for j in journals],
        skipped=skipped,
    )
