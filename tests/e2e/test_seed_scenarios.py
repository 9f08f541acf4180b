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

import json
import socket
import subprocess
import time

import pytest
from engine_support import parse_time
from safety_support import (  # noqa: F401  (fixtures)
    NOT_STEADY,
    PROJECT,
    STEADY_ATTEMPTS,
    Project,
    project_fixture,
    safety_lab_fixture,
    when_steady,
)
from test_run_engine import run_json

from chaosrun.lab import api, topology, wait

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
DB_PROBE = "database round trip under 500ms"
POOL_PROBES = ("order-service pool exhausted", "order-service pool timeouts")
USER_OBSERVATION = "user errors above 1%"
USER_GUARDRAILS = ("user error ratio under 5%", "user p95 latency under 1.5s")


def run_when_steady(project: Project, *args: str):
    """`chaosrun run ARGS --json` once the lab's traffic is steady (safety_support.when_steady)."""
    return when_steady(project, lambda: run_json(project, *args))


def handshake_seconds(address: str, port: int, timeout: float = 5.0) -> float:
    started = time.monotonic()
    with socket.create_connection((address, port), timeout=timeout):
        return time.monotonic() - started


def host(project: Project, name: str) -> topology.Host:
    return next(h for h in project.lab.config.hosts() if h.name == name)


def tagged_rules(project: Project, name: str) -> str:
    """chaosrun's iptables rules on a host (every one carries a chaosrun comment)."""
    return project.lab.on_host(name, "iptables -S | grep -i chaosrun || true")


def first_shown(journal: dict, names: tuple[str, ...]) -> float | None:
    times = [s["after_inject_s"] for s in journal["cascade"] if s["signal"] in names]
    return min(times) if times else None


def test_3_slow_database_cascades_and_the_guardrail_aborts(project: Project) -> None:
    db = host(project, "db-1")
    assert handshake_seconds(db.address, topology.POSTGRES_PORT) < 0.5, "db-1 slow already"
    exp = PROJECT / "experiments" / "slow-database.yml"
    done, result, journal = run_when_steady(project, str(exp))
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


def observe_or_end(project: Project, proc: subprocess.Popen[str]) -> str | None:
    """Wait until the run's observe phase starts (its run id) or the run ends (None)."""
    deadline = time.monotonic() + 400
    while proc.poll() is None and time.monotonic() < deadline:
        for path in project.run_dir.glob("*/journal.json"):
            try:
                journal = json.loads(path.read_text())
            except ValueError:
                continue
            if any(p["name"] == "observe" for p in journal.get("phases", [])):
                return journal["run_id"]
        time.sleep(0.5)
    return None


def check_failures(project: Project, seconds: float) -> dict[str, float]:
    """HAProxy's failed health checks per server over the last `seconds` (Prometheus)."""
    promql = f"increase(haproxy_server_check_failures_total[{int(seconds)}s])"
    result = api.query(project.lab.config, promql)
    return {r["metric"]["server"]: float(r["value"][1]) for r in result}


def test_4_zone_a_outage_is_carried_by_zone_b(project: Project) -> None:
    hosts = project.lab.config.hosts()
    zone_a = sorted(h.name for h in hosts if h.zone == "zone_a")
    servers = [h.name for h in hosts if {"order_service", "payment_service"} & set(h.groups)]
    exp = PROJECT / "experiments" / "zone-outage.yml"
    orders = ("order-1", "order-2", "order-3")
    for _ in range(STEADY_ATTEMPTS):
        wait.steady_traffic(project.lab.config, 180)
        started = time.time()
        proc = project.start("run", str(exp), "--set", "duration=20s", "--json")
        dark, checked = None, 0.0
        if observe_or_end(project, proc):  # the run is on: zone_a is dark, zone_b is not
            dark = {name: not lb_reaches(project, name) for name in orders}
            checked = time.time()
        out, err = proc.communicate(timeout=400)
        if proc.returncode != 4 or NOT_STEADY not in out:
            break
        time.sleep(20)  # refused, nothing touched: the lab's traffic was not steady
    assert proc.returncode in (0, 3), (out[-2000:], err[-3000:])
    run_id = json.loads(out)["run_id"]
    journal = project.journal(run_id)
    assert sorted(journal["targets"]["selected"]) == zone_a
    assert journal["targets"]["zones"]["selected"] == ["zone_a"]
    expect_dark = {n: host(project, n).zone == "zone_a" for n in orders}
    rollback = next(p for p in journal["phases"] if p["name"] == "rollback")
    if dark is not None and checked < parse_time(rollback["started_at"]):
        assert dark == expect_dark, dark
    # The load balancer saw exactly zone_a's servers go dark (its failed health checks).
    failures = check_failures(project, time.time() - started + 5)
    for name in servers:
        failed = failures.get(name, 0) > 0
        assert failed == (name in zone_a), (name, failures)
    guardrails = {p["name"]: p for p in journal["probes"] if p["role"] == "guardrail"}
    survivors = [n for n in guardrails if "zone_b" in n or "lb-1" in n]
    assert len(survivors) == 4, list(guardrails)
    if proc.returncode == 0:
        assert journal["status"] == "passed"
        for probe in guardrails.values():
            assert "BREACH" not in {s["verdict"] for s in probe["samples"]}, probe["name"]
    else:  # aborted: the journal names the guardrail that broke, i.e. the weakness found
        assert journal["status"] == "aborted"
        assert "guardrail" in journal["abort"]["reason"], journal["abort"]
        print("weakness found:", journal["abort"]["reason"])
    # The zone came back whole: nothing of the run left, every order server reachable.
    assert journal["rollback"]["ok"] is True
    for name in zone_a:
        assert tagged_rules(project, name) == "", name
        assert project.lab.active_dirs(name) == [], name
    assert all(lb_reaches(project, n) for n in orders)
    assert journal["recovery"]["recovered"] is True, journal["recovery"]
    report = (project.run_dir / run_id / "report.html").read_text()
    assert "<h2>Zones</h2>" in report and "taken down" in report and "survives" in report
    assert all(name in report for name in guardrails)
    project.assert_no_active_fault()
