"""The impact a run reports is what Prometheus holds: the shipped kill-one-order experiment
on the lab, its journal's impact figures checked against Prometheus' own history.

For every steady-state probe: the same expression over the run's sampling window with
query_range at the scrape step, started at the run's first sample so its points fall where
the run's samples fell; the worst value and the seconds beyond the limit (counted the same
way, chaosrun.report.impact.time_beyond) must agree within one scrape interval. Killing one
of three instances behind HAProxy's health checks may leave the 1% limit for a few seconds
or not at all, depending on where the kill lands between health checks: the test asserts
agreement whatever the figure is, zero included. Then the HTML report, in headless
Chromium, states the sentence and every figure.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import pytest
from engine_support import parse_time, query_range
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)
from test_report_e2e import _browser
from test_seed_scenarios import run_when_steady

from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import load_experiment
from chaosrun.report import impact, impact_text

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
EXPERIMENT = PROJECT / "experiments" / "kill-one-order.yml"


def _verdict(value: float | None, limits: dict[str, float]) -> str:
    if value is None or math.isnan(value):
        return "UNKNOWN"
    beyond = value > limits.get("max", math.inf) or value < limits.get("min", -math.inf)
    return "BREACH" if beyond else "PASS"


def _prometheus_series(server: ApiAccess, query: str, start: float, end: float, step: float):
    """One point per step from start to end; a step with no value is UNKNOWN."""
    points = dict(query_range(server, query, start, end, step))
    count = math.floor((end - start) / step + 1e-6) + 1  # Prometheus' own steps
    times = [round(start + i * step, 3) for i in range(count)]
    by_time = {round(t, 3): v for t, v in points.items()}
    return [(t, by_time.get(t)) for t in times]


def _largest_step(values: list[float | None]) -> float:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return max((abs(b - a) for a, b in itertools.pairwise(known)), default=0.0)


def test_the_journals_impact_is_what_prometheus_holds(project: Project) -> None:
    exp = load_experiment(EXPERIMENT)
    step = exp.prometheus.scrape_interval
    done, result, journal = run_when_steady(project, str(EXPERIMENT))
    assert done.returncode == 0, (result, done.stderr[-3000:])
    found = journal["impact"]
    assert found["interval_s"] == exp.guardrails.interval
    window = impact.WINDOW_PHASES
    server = project.lab.prometheus
    for probe in (p for p in journal["probes"] if p["role"] == "steady_state"):
        (entry,) = [e for e in found["probes"] if e["name"] == probe["name"]]
        samples = [s for s in probe["samples"] if s["phase"] in window]
        start, end = parse_time(samples[0]["at"]), parse_time(samples[-1]["at"])
        series = _prometheus_series(server, probe["query"], start, end, step)
        limits = entry["limits"]
        verdicts = [(datetime.fromtimestamp(t, UTC), _verdict(v, limits)) for t, v in series]
        beyond = impact.time_beyond(verdicts, step).seconds
        values = [v for _, v in series if v is not None and not math.isnan(v)]
        worst = max(values) if "max" in limits else min(values)
        print(
            f"{probe['name']}: journal {entry['beyond_s']} s beyond, worst {entry['worst']}; "
            f"Prometheus {beyond} s beyond, worst {worst} ({len(samples)} samples)"
        )
        assert abs(entry["beyond_s"] - beyond) <= step + 0.05, (entry, beyond)
        # A sample taken up to one scrape interval away moves by at most one step's change.
        assert abs(entry["worst"] - worst) <= _largest_step([v for _, v in series]) + 1e-9, (
            entry,
            worst,
        )
        assert entry["samples"] >= exp.duration / exp.guardrails.interval / 2, entry
    if not found["left_limits"]:
        assert (found["self_healing_s"], found["after_rollback_s"]) == (0.0, 0.0)

    # The HTML report states the sentence and the figures.
    browser = _browser()
    html = project.run_dir / result["run_id"] / "report.html"
    visit = browser.open_in_chromium(html, browser.ARTIFACTS / "report-impact.png")
    browser.assert_clean(visit, html)
    assert found["summary"] in visit.text
    for entry in found["probes"]:
        assert impact_text.value_text(entry, entry["worst"]) in visit.text
        assert f"{entry['beyond_s']:.1f} s" in visit.text
    assert "Self-healing" in visit.text and "Recovery after rollback" in visit.text
    assert impact_text.seconds(found["self_healing_s"], "none") in visit.text
    project.assert_no_active_fault()
