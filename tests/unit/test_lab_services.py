"""The lab's demo services without a database: the bounded pool, metrics text, routing,
draining, and the order service end to end over real HTTP with a fake database."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

FILES = Path(__file__).resolve().parents[2] / "playbooks" / "lab" / "roles" / "lab_app" / "files"
sys.path.insert(0, str(FILES))

import demo_app  # noqa: E402
import order_service  # noqa: E402
import payment_service  # noqa: E402


class FakeCursor:
    def __init__(self, db: FakeDB) -> None:
        self.db = db
        self.result: list[tuple[Any, ...]] = []

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> None:
        time.sleep(self.db.delay)
        if self.db.fail:
            raise RuntimeError("database is gone")
        self.result = self.db.run(query, params)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.result[0] if self.result else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.result


class FakeConn:
    def __init__(self, db: FakeDB) -> None:
        self.db = db
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self.db)

    def close(self) -> None:
        self.closed = True


class FakeDB:
    """Just enough of the orders table for the order service's three queries."""

    def __init__(self) -> None:
        self.orders: dict[int, list[Any]] = {}
        self.opened = 0
        self.delay = 0.0
        self.fail = False
        self.mismatches = 0
        self.lock = threading.Lock()

    def connect(self) -> FakeConn:
        with self.lock:
            self.opened += 1
        return FakeConn(self)

    def run(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.lock:
            if query.startswith("INSERT INTO orders"):
                new_id = len(self.orders) + 1
                item, amount, host = params
                self.orders[new_id] = [new_id, item, amount, "new", host, "now"]
                return [(new_id,)]
            if "p.amount <> o.amount" in query:
                return [(self.mismatches,)]
            if query.startswith("UPDATE orders"):
                self.orders[params[1]][3] = params[0]
                return []
            if "WHERE id" in query:
                found = self.orders.get(params[0])
                return [tuple(found)] if found else []
            return [tuple(o) for o in reversed(self.orders.values())][:10]


def test_pool_never_opens_more_than_its_size_and_times_out() -> None:
    db = FakeDB()
    pool = demo_app.Pool(db.connect, size=2, timeout=0.2)
    held = [pool._acquire(), pool._acquire()]
    assert pool.in_use == 2
    started = time.monotonic()
    with pytest.raises(demo_app.PoolTimeout):
        pool._acquire()
    assert 0.15 < time.monotonic() - started < 1.0
    for conn in held:
        pool._release(conn, broken=False)
    with pool.connection():
        pass
    assert db.opened == 2
    assert pool.in_use == 0


def test_pool_closes_a_connection_after_an_error_and_opens_a_new_one() -> None:
    db = FakeDB()
    pool = demo_app.Pool(db.connect, size=1, timeout=0.2)
    with pytest.raises(RuntimeError), pool.connection() as conn:
        raise RuntimeError("query failed")
    assert conn.closed
    with pool.connection() as again:
        assert again is not conn
    assert db.opened == 2


def test_pool_waiter_gets_a_connection_released_within_the_timeout() -> None:
    pool = demo_app.Pool(FakeDB().connect, size=1, timeout=2)
    conn = pool._acquire()
    threading.Timer(0.1, pool._release, (conn, False)).start()
    assert pool._acquire() is conn


def test_metrics_text_has_the_agreed_names() -> None:
    metrics = demo_app.Metrics("order-service")
    metrics.gauges = lambda: {"demo_db_pool_in_use": 1, "demo_db_pool_size": 5}
    metrics.observe(201, 0.02)
    metrics.observe(503, 3.0)
    metrics.count_pool_timeout()
    text = metrics.render()
    assert 'demo_requests_total{service="order-service",code="201"} 1' in text
    assert 'demo_requests_total{service="order-service",code="503"} 1' in text
    assert 'demo_request_duration_seconds_bucket{service="order-service",le="0.025"} 1' in text
    assert 'demo_request_duration_seconds_bucket{service="order-service",le="+Inf"} 2' in text
    assert 'demo_db_pool_timeouts_total{service="order-service"} 1' in text
    assert 'demo_db_pool_size{service="order-service"} 5' in text


def test_settings_reject_bad_numbers_and_hide_the_password() -> None:
    env = {"DEMO_DB_PASSWORD": "s3cret", "DEMO_POOL_SIZE": "7"}
    settings = demo_app.Settings.from_env("order-service", env)
    assert settings.pool_size == 7
    assert "s3cret" not in repr(settings)
    with pytest.raises(SystemExit, match="DEMO_POOL_TIMEOUT"):
        demo_app.Settings.from_env("order-service", {"DEMO_POOL_TIMEOUT": "soon"})


@pytest.fixture
def order_app() -> tuple[demo_app.App, FakeDB]:
    db = FakeDB()
    settings = demo_app.Settings("order-service", pool_size=2, pool_timeout=0.2)
    return order_service.build(settings, demo_app.Pool(db.connect, 2, 0.2)), db


def test_order_is_created_and_read_back(order_app: tuple[demo_app.App, FakeDB]) -> None:
    app, _ = order_app
    code, created = app.dispatch("POST", "/orders", {"item": "book", "amount": "12.5"})
    assert code == 201 and created["status"] == "paid"
    code, found = app.dispatch("GET", f"/orders/{created['id']}", {})
    assert code == 200 and found["item"] == "book" and found["amount"] == "12.50"
    assert app.dispatch("GET", "/orders/999", {})[0] == 404
    assert app.dispatch("POST", "/orders", {"amount": "-1"})[0] == 400
    assert app.dispatch("DELETE", "/orders", {})[0] == 404


def test_database_failure_is_a_503_and_a_full_pool_counts_a_timeout(
    order_app: tuple[demo_app.App, FakeDB],
) -> None:
    app, db = order_app
    db.fail = True
    assert app.dispatch("GET", "/orders", {})[0] == 503
    db.fail = False
    held = [app.pool._acquire(), app.pool._acquire()]
    assert app.dispatch("GET", "/orders", {})[0] == 503
    assert app.metrics.pool_timeouts == 1
    for conn in held:
        app.pool._release(conn, broken=False)


def test_failed_payment_fails_the_order(order_app: tuple[demo_app.App, FakeDB]) -> None:
    app, db = order_app
    app.settings = demo_app.Settings("order-service", payment_url="http://127.0.0.1:9/")
    code, body = app.dispatch("POST", "/orders", {"item": "x"})
    assert code == 502 and body["status"] == "payment_failed"
    assert db.orders[body["id"]][3] == "payment_failed"


def test_payment_signs_and_validates() -> None:
    assert payment_service.sign(1, "5.00") == payment_service.sign(1, "5.00")
    assert payment_service.sign(1, "5.00") != payment_service.sign(2, "5.00")
    settings = demo_app.Settings("payment-service")
    app = payment_service.build(settings, demo_app.Pool(FakeDB().connect, 1, 0.1))
    assert app.dispatch("POST", "/payments", {"order_id": "x"})[0] == 400


def test_reconciler_counts_mismatched_payments_and_goes_unknown_without_the_database() -> None:
    db = FakeDB()
    pool = demo_app.Pool(db.connect, 1, 0.1)
    reconciler = payment_service.Reconciler(pool)
    app = payment_service.build(demo_app.Settings("payment-service"), pool, reconciler)
    assert "demo_payment_amount_mismatches" not in app.metrics.render()  # not checked yet
    db.mismatches = 5
    reconciler.check()
    text = app.metrics.render()
    assert 'demo_payment_amount_mismatches{service="payment-service"} 5.0' in text
    assert "demo_db_pool_size" in text  # the service's own gauges stay
    db.fail = True
    reconciler.check()
    assert "demo_payment_amount_mismatches" not in app.metrics.render()


def _serve(app: demo_app.App) -> tuple[ThreadingHTTPServer, str]:
    server = demo_app.Server(("127.0.0.1", 0), demo_app.make_handler(app))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_http_health_metrics_and_draining(order_app: tuple[demo_app.App, FakeDB]) -> None:
    app, _ = order_app
    server, base = _serve(app)
    try:
        req = urllib.request.Request(
            base + "/orders", data=json.dumps({"item": "pen"}).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 201
        assert _get(base + "/health")[0] == 200
        # The request is counted once its response is written, on the server's thread: the
        # client may ask for the metrics first.
        counted = b'demo_requests_total{service="order-service",code="201"} 1'
        deadline = time.monotonic() + 5
        code, text = _get(base + "/metrics")
        while counted not in text and time.monotonic() < deadline:
            time.sleep(0.02)
            code, text = _get(base + "/metrics")
        assert code == 200
        # health checks and scrapes are not user requests
        assert counted in text
        assert b'code="200"' not in text
        app.draining.set()
        code, body = _get(base + "/health")
        assert code == 503 and json.loads(body)["status"] == "draining"
    finally:
        server.shutdown()
        server.server_close()


class NeverReached(demo_app.BaseHTTPRequestHandler):
    """The test calls the server's error policy directly, not through a request."""


@pytest.mark.parametrize("gone", [ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe")])
def test_a_client_gone_mid_answer_leaves_no_traceback_other_errors_do(
    gone: OSError, capsys: pytest.CaptureFixture[str]
) -> None:
    # HAProxy resets its health check's connection as soon as it has the status line.
    server = demo_app.Server(("127.0.0.1", 0), NeverReached)
    try:
        for exc in (gone, ValueError("a bug")):
            try:
                raise exc
            except Exception:
                server.handle_error(None, ("10.0.0.1", 1234))
    finally:
        server.server_close()
    printed = capsys.readouterr().err
    assert "ValueError: a bug" in printed
    assert type(gone).__name__ not in printed
