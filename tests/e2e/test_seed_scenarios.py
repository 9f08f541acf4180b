"""The seed's slow-database story and the zone outage, end to end on the lab, with the
shipped experiments (experiments/slow-database.yml, experiments/zone-outage.yml).

The seed's first story (kill one order-service instance) is test (a) of
tests/e2e/test_run_engine.py, on experiments/kill-one-order.yml.

(3) slow database: 1000 ms on PostgreSQL's port of the primary; a user-facing guardrail
    aborts the run, the delay is rolled back (measured: the port answers fast again),
    and the journal's cascade reads database round trip, then the order service's pool,
    then the users' errors.
(4) zone outage of zone_a: every zone_a host (and only those) goes dark for its peers
    (measured from the load balancer while the run is on); zone_b's load balancer,
    primary and instances carry the users: the run passes within the guardrails, or
    aborts naming the guardrail that broke; the zone comes back whole and the HTML report
    shows the zones and the guardrails.

Each run takes one to two minutes: the fault itself is short (the slow database aborts
within seconds; the zone outage is cut to 20 s), the rest is inject and rollback with
ansible-playbook and waiting for the steady state to hold again.
"""

from __future__ import annotations

import socket
import time

import pytest
from engine_support import parse_time
from safety_support import (  # noqa: F401  (fixtures)
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
)
from test_run_engine import run_json

from chaosrun.lab import topology

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
DB_PROBE = "database round trip under 500ms"
POOL_PROBES = ("order-service pool exhausted", "order-service pool timeouts")
USER_OBSERVATION = "user errors above 1%"
USER_GUARDRAILS = ("user error ratio under 5%", "user p99 latency under 2s")


def handshake_seconds(address: str, port: int, timeout: float = 5.0) -> float:
    started = time.monotonic()
    with socket.create_connection((address, port), timeout=timeout):
        return time.monotonic() - started


def host(project: Project, name: str) -> topology.Host:
    return next(h for h in project.lab.config.hosts() if h.name == name)


def tagged_rules(project: Project, name: str) -> str:
    """chaosrun's iptables rules on a host (every one carries a chaosrun comment)."""
    return project.lab.on_host(name, "iptables -S | grep chaosrun || true")


def first_shown(journal: dict, names: tuple[str, ...]) -> float | None:
    times = [s["after_inject_s"] for s in journal["cascade"] if s["signal"] in names]
    return min(times) if times else None


def test_3_slow_database_cascades_and_the_guardrail_aborts(project: Project) -> None:
    db = host(project, "db-1")
    assert handshake_seconds(db.address, topology.POSTGRES_PORT) < 0.5, "db-1 slow already"
    exp = PROJECT / "experiments" / "slow-database.yml"
    done, result, journal = run_json(project, str(exp))
    assert done.returncode == 3, (result, done.stderr[-3000:])
    assert journal["status"] == "aborted" and journal["targets"]["selected"] == ["db-1"]
    reason = journal["abort"]["reason"]
    assert any(f"guardrail {name!r} breached" in reason for name in USER_GUARDRAILS), reason
    # The fault was real while it lasted: the controller's own probe saw ~1 s handshakes.
    (db_series,) = [o for o in journal["observations"] if o["name"] == DB_PROBE]
    slow = [s["value"] for s in db_series["samples"] if s["verdict"] == "BREACH" and s["value"]]
    assert slow and max(slow) >= 0.9, db_series["samples"][-5:]
    # ... and so was the pool exhaustion: some instance had every connection busy.
    (pool,) = [o for o in journal["observations"] if o["name"] == POOL_PROBES[0]]
    assert max(s["value"] or 0 for s in pool["samples"]) >= 1.0
    # The cascade, in order: the database, then the pool, then the users.
    order = [s["signal"] for s in journal["cascade"]]
    t_db = first_shown(journal, (DB_PROBE,))
    t_pool = first_shown(journal, POOL_PROBES)
    t_users = first_shown(journal, (USER_OBSERVATION, *USER_GUARDRAILS))
    assert None not in (t_db, t_pool, t_users), order
    assert t_db < t_pool <= t_users, journal["cascade"]
    print("cascade:", [(s["signal"], s["after_inject_s"]) for s in journal["cascade"]])
    # Rolled back, and measured so: no rule left, the port answers fast again.
    assert journal["rollback"]["ok"] is True
    assert tagged_rules(project, "db-1") == ""
    assert project.lab.active_dirs("db-1") == []
    assert handshake_seconds(db.address, topology.POSTGRES_PORT) < 0.5
    assert journal["recovery"]["recovered"] is True, journal["recovery"]
    report = (project.run_dir / result["run_id"] / "report.html").read_text()
    assert "<h2>Cascade</h2>" in report and DB_PROBE in report
    project.assert_no_active_fault()


def lb_reaches(project: Project, name: str) -> bool:
    """Can the load balancer open a connection to the host's app port right now?"""
    target = host(project, name)
    script = (
        f"timeout 3 bash -c '</dev/tcp/{target.address}/{topology.APP_PORT}' "
        "2>/dev/null && echo open || echo dark"
    )
    return project.lab.on_host("lb-1", script) == "open"


def test_4_zone_a_outage_is_carried_by_zone_b(project: Project) -> None:
    zone_a = sorted(h.name for h in project.lab.config.hosts() if h.zone == "zone_a")
    exp = PROJECT / "experiments" / "zone-outage.yml"
    proc = project.start("run", str(exp), "--set", "duration=20s", "--json")
    run_id, _ = project.wait_for_phase(proc, "observe")
    # While the run is on, the zone is dark for its peers and zone_b is not.
    dark = {name: not lb_reaches(project, name) for name in ("order-1", "order-2", "order-3")}
    checked = time.time()
    out, err = proc.communicate(timeout=400)
    journal = project.journal(run_id)
    assert proc.returncode in (0, 3), (out[-2000:], err[-3000:])
    assert sorted(journal["targets"]["selected"]) == zone_a
    assert journal["targets"]["zones"]["selected"] == ["zone_a"]
    expect_dark = {n: host(project, n).zone == "zone_a" for n in dark}
    rollback = next(p for p in journal["phases"] if p["name"] == "rollback")
    if checked < parse_time(rollback["started_at"]):  # else an early abort beat the look
        assert dark == expect_dark, dark
    # The load balancer noticed: both zone_a order servers left the rotation.
    (rotation,) = [o for o in journal["observations"] if o["name"] == "order servers in rotation"]
    assert min(s["value"] for s in rotation["samples"] if s["value"] is not None) <= 1
    guardrails = {p["name"]: p for p in journal["probes"] if p["role"] == "guardrail"}
    survivors = [n for n in guardrails if "zone_b" in n or "lb-1" in n]
    assert len(survivors) == 4, list(guardrails)
    if proc.returncode == 0:
        assert journal["status"] == "passed"
        for probe in guardrails.values():
            assert {s["verdict"] for s in probe["samples"]} == {"PASS"}, probe["name"]
    else:  # aborted: the journal names the guardrail that broke, i.e. the weakness found
        assert journal["status"] == "aborted"
        assert "guardrail" in journal["abort"]["reason"], journal["abort"]
        print("weakness found:", journal["abort"]["reason"])
    # The zone came back whole: nothing of the run left, every order server reachable.
    assert journal["rollback"]["ok"] is True
    for name in zone_a:
        assert tagged_rules(project, name) == "", name
        assert project.lab.active_dirs(name) == [], name
    assert all(lb_reaches(project, n) for n in dark)
    assert journal["recovery"]["recovered"] is True, journal["recovery"]
    report = (project.run_dir / run_id / "report.html").read_text()
    assert "<h2>Zones</h2>" in report and "taken down" in report and "survives" in report
    assert all(name in report for name in guardrails)
    project.assert_no_active_fault()
