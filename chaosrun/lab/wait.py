"""Waiting for the lab to be observable: Prometheus ready and its targets up, and the users'
traffic steady, so a lab that says it is up is ready for experiments."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from chaosrun.base.errors import ChaosrunError
from chaosrun.lab import prometheus
from chaosrun.lab.service_health import traffic_check
from chaosrun.lab.topology import LabConfig


def until(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def prometheus_ready(lab: LabConfig, timeout: float = 60) -> None:
    if not until(lambda: prometheus.ready(lab), timeout):
        raise ChaosrunError(f"Prometheus did not become ready on {lab.prometheus_url}")


def down_targets(lab: LabConfig, jobs: Iterable[str]) -> list[dict[str, object]]:
    """Targets of these jobs that are not up (all of them, if Prometheus cannot say)."""
    wanted = set(jobs)
    try:
        found = [t for t in prometheus.targets(lab) if t["job"] in wanted]
    except (OSError, ValueError, KeyError) as exc:
        return [{"job": "*", "instance": "*", "health": "unknown", "error": str(exc)}]
    seen = {t["job"] for t in found}
    missing = [
        {"job": j, "instance": "*", "health": "unknown", "error": "no target"}
        for j in wanted - seen
    ]
    return [t for t in found if t["health"] != "up"] + missing


def targets_up(lab: LabConfig, jobs: Iterable[str], timeout: float) -> None:
    """Wait until every target of these jobs is up; raise naming the ones that are not."""
    jobs = list(jobs)
    last: list[dict[str, object]] = []

    def check() -> bool:
        nonlocal last
        last = down_targets(lab, jobs)
        return not last

    if until(check, timeout, interval=1.0):
        return
    names = ", ".join(f"{t['job']}/{t['instance']} ({t['error'] or t['health']})" for t in last[:8])
    more = f" and {len(last) - 8} more" if len(last) > 8 else ""
    raise ChaosrunError(f"Prometheus targets not up after {timeout:.0f}s: {names}{more}")


def steady_traffic(lab: LabConfig, timeout: float) -> None:
    """Wait until the traffic generator's users are served as `lab status` expects: at
    least 90% of the target rate over its window, under 1% failed. A lab seconds old has
    not filled that window yet, and an experiment's steady state would refuse to start."""
    seen: list[str] = []

    def check() -> bool:
        verdict = traffic_check(lab)
        seen[:] = [verdict.detail]
        return bool(verdict.ok)

    if until(check, timeout, interval=1.0):
        return
    raise ChaosrunError(
        f"user traffic not steady after {timeout:.0f}s: {seen[0]} (see `chaosrun lab status`)"
    )
