"""The lab's system on the real lab: steady user traffic, an order-service instance stopped
by hand (HAProxy takes it out, users see nothing, the pager gets InstanceDown), rows
streaming from the primary to the replica, replication lag in Prometheus, an idempotent
second deployment, and `lab status` naming every service."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import PROJECT, LabHandle, lab_env

from chaosrun.lab import api
from chaosrun.lab.keys import ssh_argv
from chaosrun.lab.topology import Host

pytestmark = pytest.mark.lab
T = TypeVar("T")


def host(lab: LabHandle, name: str) -> Host:
    return next(h for h in lab.config.hosts() if h.name == name)


def ssh(lab: LabHandle, name: str, command: str, timeout: float = 30) -> str:
    """Run a command as root on a lab host: in as `chaos`, then non-interactive sudo."""
    argv = [*ssh_argv(lab.paths, host(lab, name).address), "sudo -n sh -c " + shlex.quote(command)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{name}: {command}: {done.stderr.strip()}"
    return done.stdout.strip()


def get(url: str, timeout: float = 5) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body = resp.read().decode()
    return json.loads(body) if body.lstrip().startswith(("{", "[")) else body


def query(lab: LabHandle, expr: str) -> list[dict[str, Any]]:
    return api.query(lab.config, expr)


def eventually(fn: Callable[[], T | None], timeout: float, what: str, step: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            last = exc
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last})")


def traffic_counts(lab: LabHandle) -> dict[str, float]:
    text = get(f"http://127.0.0.1:{lab.config.traffic_port}/metrics")
    counts = {}
    for line in text.splitlines():
        if line.startswith("lab_traffic_requests_total{"):
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("lab_traffic_target_rate "):
            counts["target_rate"] = float(line.rsplit(" ", 1)[1])
    return counts


def delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before.get(k, 0.0) for k in ("ok", "error", "timeout")}


def haproxy_status(lab: LabHandle, backend: str, server: str) -> str:
    lb = host(lab, "lb-1")
    text = get(f"http://{lb.address}:8404/stats;csv")
    for line in text.splitlines():
        fields = line.split(",")
        if fields[:2] == [backend, server]:
            return fields[17]
    raise KeyError(f"{backend}/{server} not in HAProxy stats")


@pytest.fixture(scope="module")
def system(lab: LabHandle) -> LabHandle:
    """The lab with traffic flowing: at least one successful user request measured."""
    eventually(lambda: traffic_counts(lab).get("ok", 0) > 0, 120, "the first user request")
    return lab


def test_steady_traffic_meets_its_rate_without_errors(system: LabHandle) -> None:
    before = traffic_counts(system)
    time.sleep(30)
    after = traffic_counts(system)
    seen = delta(before, after)
    expected = after["target_rate"] * 30
    assert seen["error"] == 0 and seen["timeout"] == 0, seen
    assert seen["ok"] >= 0.95 * expected, f"{seen['ok']} ok of {expected:.0f} expected"


@pytest.fixture
def stopped_order_instance(system: LabHandle) -> Iterator[str]:
    name = "order-2"
    ssh(system, name, "systemctl stop order-service.service")
    try:
        yield name
    finally:
        ssh(system, name, "systemctl start order-service.service")
        eventually(
            lambda: haproxy_status(system, "order", name) == "UP", 60, f"{name} back in HAProxy"
        )


def _instance_down_alert(lab: LabHandle, instance: str, since: float) -> dict[str, Any] | None:
    for note in get(f"{lab.webhook_url}/notifications"):
        body = note.get("body") or {}
        if isinstance(body, str):
            body = json.loads(body)
        for alert in body.get("alerts", []):
            labels = alert.get("labels", {})
            if (
                labels.get("alertname") == "InstanceDown"
                and labels.get("instance") == instance
                and alert.get("status") == "firing"
                and _epoch(alert.get("startsAt", "")) >= since - 5
            ):
                return alert
    return None


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def test_stopped_order_instance_is_invisible_to_users_and_pages(
    system: LabHandle, stopped_order_instance: str
) -> None:
    name, since = stopped_order_instance, time.time()
    eventually(
        lambda: haproxy_status(system, "order", name).startswith("DOWN"),
        30,
        f"HAProxy to take {name} out",
        step=0.5,
    )
    before = traffic_counts(system)
    time.sleep(10)
    seen = delta(before, traffic_counts(system))
    assert seen["error"] == 0 and seen["timeout"] == 0, seen
    assert seen["ok"] > 0
    alert = eventually(
        lambda: _instance_down_alert(system, name, since), 120, "InstanceDown at the webhook"
    )
    assert alert["labels"]["job"] == "order_service"


def test_rows_written_on_the_primary_appear_on_the_replica(system: LabHandle) -> None:
    lb = host(system, "lb-1")
    item = f"replication-check-{int(time.time())}"
    req = urllib.request.Request(
        f"http://{lb.address}:8080/orders",
        data=json.dumps({"item": item, "amount": "1.00"}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        order_id = json.load(resp)["id"]
    select = f"SELECT item FROM orders WHERE id = {int(order_id)}"
    psql = f"runuser -u postgres -- psql -d shop -tAc '{select}'"
    assert ssh(system, "db-1", psql) == item
    eventually(lambda: ssh(system, "db-2", psql) == item, 15, "the row on the replica", 0.5)
    refused = subprocess.run(
        [
            *ssh_argv(system.paths, host(system, "db-2").address),
            'sudo -n -u postgres psql -d shop -c "DELETE FROM orders WHERE id = 0"',
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode != 0 and "read-only" in refused.stderr


def test_replication_lag_is_a_series_in_prometheus(system: LabHandle) -> None:
    lag = eventually(
        lambda: query(system, 'pg_replication_lag_seconds{job="postgres",instance="db-2"}'),
        30,
        "pg_replication_lag_seconds for db-2",
    )
    assert float(lag[0]["value"][1]) < 5
    replica = query(system, 'pg_replication_is_replica{job="postgres"}')
    roles = {r["metric"]["instance"]: r["value"][1] for r in replica}
    assert roles == {"db-1": "0", "db-2": "1"}
    slots = query(system, 'pg_replication_slots_pg_wal_lsn_diff{instance="db-1"}')
    assert [s["metric"]["slot_name"] for s in slots] == ["db_2"]


def test_lab_status_lists_every_service_healthy(system: LabHandle) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "lab", "status", "--json"],
        capture_output=True,
        text=True,
        env=lab_env(system.config),
        cwd=PROJECT,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"] if c["group"] == "services"}
    expected = {
        *(
            f"order-service on {h.name}"
            for h in system.config.hosts()
            if "order_service" in h.groups
        ),
        "payment-service on payment-1",
        "payment-service on payment-2",
        "haproxy order backend",
        "haproxy payment backend",
        "postgresql primary on db-1",
        "postgresql replica on db-2",
        "user traffic (last 30s)",
    }
    assert expected <= set(checks), sorted(checks)
    unhealthy = {n: c["detail"] for n, c in checks.items() if n in expected and not c["ok"]}
    assert not unhealthy


def test_second_deployment_changes_nothing(system: LabHandle) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(system.inventory),
            str(PROJECT / "playbooks" / "lab" / "site.yml"),
        ],
        capture_output=True,
        text=True,
        env=lab_env(system.config),
        cwd=PROJECT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    recap = done.stdout[done.stdout.index("PLAY RECAP") :]
    changed = [
        line for line in recap.splitlines() if "changed=" in line and "changed=0" not in line
    ]
    assert not changed, recap
    # Speed is reported, not asserted: it depends on how many other labs share the machine.
    print(f"second deployment took {time.monotonic() - started:.0f}s")
