"""`lab status`'s checks of the lab system, against one local fake of the services'
endpoints (health, HAProxy's CSV, the PostgreSQL exporter) on an ephemeral port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chaosrun.lab import service_health as sh
from chaosrun.lab import topology
from chaosrun.lab.topology import Host

HEADER = "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp"
CSV = f"""# {HEADER},wretr,wredis,status,weight
stats,FRONTEND,,,0,1,400,5,0,0,0,0,0,,,,,OPEN,
order,order-1,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP,1
order,order-2,0,0,0,1,,5,0,0,,0,,0,0,0,0,DOWN,1
order,BACKEND,0,0,0,1,40,10,0,0,0,0,,0,0,0,0,UP,2
payment,payment-1,0,0,0,1,,5,0,0,,0,,0,0,0,0,UP 1/2,1
payment,BACKEND,0,0,0,1,40,10,0,0,0,0,,0,0,0,0,UP,1
"""


class Fake(ThreadingHTTPServer):
    daemon_threads = True
    replica_streaming = 1
    healthy = True


class Handler(BaseHTTPRequestHandler):
    server: Fake

    def do_GET(self) -> None:
        if self.path == "/health":
            code = 200 if self.server.healthy else 503
            status = "ok" if self.server.healthy else "draining"
            body = json.dumps({"status": status, "pool": {"size": 5, "in_use": 2}})
        elif self.path == "/stats;csv":
            code, body = 200, CSV
        else:
            code = 200
            body = (
                "# TYPE pg_up gauge\npg_up 1\n"
                'pg_replication_is_replica{server="x"} 1\n'
                f'pg_replication_streaming{{server="x"}} {self.server.replica_streaming}\n'
                'pg_replication_lag_seconds{server="x"} 0.25\n'
            )
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    server = Fake(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    for name in ("APP_PORT", "LB_STATS_PORT", "POSTGRES_EXPORTER_PORT"):
        monkeypatch.setattr(topology, name, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def local(name: str, *groups: str) -> Host:
    return Host(name, groups, "zone_a", "127.0.0.1")


def test_app_health_reports_pool_use_and_draining(fake: Fake) -> None:
    check = sh.app_check(local("order-1", "order_service"), "order-service")
    assert check.ok and check.detail == "ok, db pool 2/5 in use"
    fake.healthy = False
    check = sh.app_check(local("order-1", "order_service"), "order-service")
    assert check.ok is False and "draining" in check.detail


def test_haproxy_names_the_servers_that_are_down(fake: Fake) -> None:
    checks = {c.name: c for c in sh.haproxy_checks(local("lb-1", "lb"))}
    order, payment = checks["haproxy order backend"], checks["haproxy payment backend"]
    assert order.ok is False and order.detail == "1/2 servers up; order-2 DOWN"
    assert payment.ok and payment.detail == "1/1 servers up"


def test_replica_must_stream(fake: Fake) -> None:
    check = sh.postgres_check(local("db-2", "db", "db_replica"))
    assert check.ok and check.detail == "streaming, lag 0.25s"
    fake.replica_streaming = 0
    assert sh.postgres_check(local("db-2", "db", "db_replica")).ok is False
    assert sh.postgres_check(local("db-1", "db", "db_primary")).ok is False  # in recovery


def test_unreachable_service_is_a_failure_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setattr(topology, "APP_PORT", port)
    check = sh.app_check(local("order-9", "order_service"), "order-service")
    assert check.ok is False and check.detail.startswith("no answer")


def test_lab_up_waits_for_steady_traffic_and_names_what_it_saw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chaosrun.base.errors import ChaosrunError
    from chaosrun.lab import wait
    from chaosrun.lab.health import Check

    lab = topology.LabConfig()
    seen = iter(
        [
            Check("traffic", None, "no traffic measured yet"),
            Check("traffic", False, "4.7/20 req/s, 0.0% failed"),
            Check("traffic", True, "19.8/20 req/s, 0.0% failed"),
        ]
    )
    monkeypatch.setattr(wait, "traffic_check", lambda _lab: next(seen))
    monkeypatch.setattr(wait.time, "sleep", lambda _s: None)
    wait.steady_traffic(lab, timeout=60)
    assert next(seen, None) is None  # it asked until the traffic was steady

    monkeypatch.setattr(
        wait, "traffic_check", lambda _lab: Check("traffic", False, "12.0/20 req/s, 4.0% failed")
    )
    with pytest.raises(ChaosrunError, match=r"not steady after 0s: 12.0/20 req/s, 4.0% failed"):
        wait.steady_traffic(lab, timeout=0)
