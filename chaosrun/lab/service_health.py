"""Health of the lab's system for `chaosrun lab status`: each order/payment instance's
/health, HAProxy's view of its backends, PostgreSQL roles and replication, and what the
traffic generator's users see. Registered with `chaosrun.lab.health`, which imports this
module when it exists."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from chaosrun.lab import api, health
from chaosrun.lab import topology as t
from chaosrun.lab.health import Check, Snapshot
from chaosrun.lab.topology import Host, LabConfig

TIMEOUT = 2.0
GROUP = "services"
SERVICES = {"order_service": "order-service", "payment_service": "payment-service"}


def fetch(url: str, timeout: float = TIMEOUT) -> tuple[int, str]:
    """Status and body of a GET; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def parse_metrics(text: str) -> dict[str, float]:
    """Unlabelled view of Prometheus text: the first sample of each metric name."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_part, _, value = line.rpartition(" ")
        name = name_part.split("{", 1)[0]
        try:
            found.setdefault(name, float(value))
        except ValueError:
            continue
    return found


def app_check(host: Host, service: str) -> Check:
    name = f"{service} on {host.name}"
    try:
        code, body = fetch(f"http://{host.address}:{t.APP_PORT}/health")
    except OSError as exc:
        return Check(name, False, f"no answer: {_reason(exc)}", GROUP)
    try:
        state = json.loads(body)
        pool = state["pool"]
        detail = f"{state['status']}, db pool {pool['in_use']}/{pool['size']} in use"
    except (ValueError, KeyError, TypeError):
        detail = f"HTTP {code}"
    return Check(name, code == 200, detail, GROUP)


def haproxy_checks(lb: Host) -> list[Check]:
    try:
        code, body = fetch(f"http://{lb.address}:{t.LB_STATS_PORT}/stats;csv")
    except OSError as exc:
        return [Check(f"haproxy on {lb.name}", False, f"no answer: {_reason(exc)}", GROUP)]
    if code != 200:
        return [Check(f"haproxy on {lb.name}", False, f"stats answered HTTP {code}", GROUP)]
    servers: dict[str, list[tuple[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(body.lstrip("# "))):
        if row.get("svname") not in ("FRONTEND", "BACKEND") and row.get("pxname") != "stats":
            servers.setdefault(row["pxname"], []).append((row["svname"], row.get("status", "")))
    checks = []
    for backend, rows in sorted(servers.items()):
        down = [f"{name} {status}" for name, status in rows if not status.startswith("UP")]
        detail = f"{len(rows) - len(down)}/{len(rows)} servers up"
        if down:
            detail += f"; {', '.join(down)}"
        checks.append(Check(f"haproxy {backend} backend", not down, detail, GROUP))
    return checks


def postgres_check(host: Host) -> Check:
    primary = "db_primary" in host.groups
    name = f"postgresql {'primary' if primary else 'replica'} on {host.name}"
    try:
        _, body = fetch(f"http://{host.address}:{t.POSTGRES_EXPORTER_PORT}/metrics")
    except OSError as exc:
        return Check(name, False, f"exporter: no answer: {_reason(exc)}", GROUP)
    m = parse_metrics(body)
    if m.get("pg_up") != 1:
        return Check(name, False, "server not reachable by its exporter", GROUP)
    replica = m.get("pg_replication_is_replica")
    if primary:
        return Check(
            name, replica == 0, "accepting writes" if replica == 0 else "in recovery", GROUP
        )
    streaming = m.get("pg_replication_streaming") == 1
    lag = m.get("pg_replication_lag_seconds")
    detail = (
        f"{'streaming' if streaming else 'NOT streaming'}, lag {lag if lag is not None else '?'}s"
    )
    return Check(name, replica == 1 and streaming, detail, GROUP)


def _query(lab: LabConfig, expr: str) -> float | None:
    result = api.query(lab, expr, timeout=TIMEOUT)
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if value != value else value  # NaN: no traffic to judge


def traffic_check(lab: LabConfig) -> Check:
    name = "user traffic (last 30s)"
    try:
        rate = _query(lab, "sum(rate(lab_traffic_requests_total[30s]))")
        target = _query(lab, "max(lab_traffic_target_rate)")
        failed = _query(lab, 'sum(rate(lab_traffic_requests_total{outcome!="ok"}[30s]))')
    except (OSError, ValueError, KeyError) as exc:
        return Check(name, None, f"Prometheus: {_reason(exc)}", GROUP)
    if rate is None or target is None:
        return Check(name, None, "no traffic measured yet", GROUP)
    ratio = (failed or 0.0) / rate if rate else 0.0
    detail = f"{rate:.1f}/{target:g} req/s, {ratio:.1%} failed"
    return Check(name, rate >= 0.9 * target and ratio < 0.01, detail, GROUP)


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__


@health.check
def lab_system(lab: LabConfig, snap: Snapshot) -> Iterable[Check]:
    """Every service of the lab system, probed in parallel with short timeouts."""
    probes: list[Callable[[], list[Check]]] = []
    for host in lab.hosts():
        for group, service in SERVICES.items():
            if group in host.groups:
                probes.append(lambda h=host, s=service: [app_check(h, s)])
        if "lb" in host.groups:
            probes.append(lambda h=host: haproxy_checks(h))
        if "db" in host.groups:
            probes.append(lambda h=host: [postgres_check(h)])
    probes.append(lambda: [traffic_check(lab)])
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        results = list(pool.map(lambda probe: probe(), probes))
    return [check for checks in results for check in checks]
