"""`lab status` health checks: built-in verdicts and the registry others extend."""

from __future__ import annotations

from collections.abc import Iterable

from chaosrun.lab import health
from chaosrun.lab.health import Check, Snapshot
from chaosrun.lab.topology import LabConfig

LAB = LabConfig(name="unit", order_hosts=1)


def host_rows(state: str = "running", systemd: str = "running") -> list[dict]:
    return [{"name": h.name, "state": state, "systemd": systemd} for h in LAB.hosts()]


def by_name(checks: Iterable[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def test_hosts_running_and_degraded_are_ok_others_fail() -> None:
    rows = host_rows()
    rows[0]["systemd"] = "degraded"
    rows[1]["state"] = "exited"
    del rows[2]
    got = by_name(health.hosts_running(LAB, Snapshot(hosts=rows)))
    assert got[f"host {rows[0]['name']}"].ok
    assert got[f"host {rows[1]['name']}"].detail == "container exited"
    assert got[f"host {LAB.hosts()[2].name}"].detail == "no container"
    assert sum(not c.ok for c in got.values()) == 2


def test_targets_grouped_by_job_name_the_down_ones() -> None:
    targets = [
        {"job": "node", "instance": "a", "health": "up"},
        {"job": "node", "instance": "b", "health": "down"},
        {"job": "haproxy", "instance": "lb-1", "health": "up"},
    ]
    got = by_name(health.targets_up(LAB, Snapshot(targets=targets)))
    assert got["job node"].ok is False
    assert got["job node"].detail == "1/2 up; down: b"
    assert got["job haproxy"].ok is True


def test_prometheus_silent_is_unknown_not_ok() -> None:
    [check] = health.targets_up(LAB, Snapshot(targets=None))
    assert check.ok is None


def test_registered_checks_run_and_a_crash_is_reported() -> None:
    @health.check
    def broken(lab: LabConfig, snap: Snapshot) -> Iterable[Check]:
        raise RuntimeError("boom")

    try:
        results = health.run_all(LAB, Snapshot(hosts=host_rows(), targets=[]))
        crash = by_name(results)["broken"]
        assert crash.ok is None
        assert "boom" in crash.detail
        assert any(c.name.startswith("host ") for c in results)
    finally:
        health._CHECKS.remove(broken)
