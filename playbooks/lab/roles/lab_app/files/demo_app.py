"""The shared core of the lab's demo services: settings, metrics, a bounded database
connection pool and a small threaded HTTP server with graceful draining.

Deployed next to order_service.py and payment_service.py; standard library plus
psycopg2 only, because the lab hosts install nothing at deploy time.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Settings:
    """Everything a service reads from its environment file."""

    service: str
    port: int = 8000
    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "shop"
    db_user: str = "shop"
    db_password: str = ""
    pool_size: int = 5
    pool_timeout: float = 1.0
    connect_timeout: int = 2
    statement_timeout_ms: int = 2000
    drain_seconds: float = 3.0
    payment_url: str = ""
    payment_timeout: float = 2.0

    @classmethod
    def from_env(cls, service: str, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)

        def get(name: str, default: Any, kind: Callable[[str], Any] = str) -> Any:
            raw = env.get(f"DEMO_{name}")
            if raw is None or raw == "":
                return default
            try:
                return kind(raw)
            except ValueError:
                raise SystemExit(f"DEMO_{name}={raw!r} is not a valid {kind.__name__}") from None

        return cls(
            service=service,
            port=get("PORT", 8000, int),
            db_host=get("DB_HOST", "127.0.0.1"),
            db_port=get("DB_PORT", 5432, int),
            db_name=get("DB_NAME", "shop"),
            db_user=get("DB_USER", "shop"),
            db_password=get("DB_PASSWORD", ""),
            pool_size=get("POOL_SIZE", 5, int),
            pool_timeout=get("POOL_TIMEOUT", 1.0, float),
            connect_timeout=get("CONNECT_TIMEOUT", 2, int),
            statement_timeout_ms=get("STATEMENT_TIMEOUT_MS", 2000, int),
            drain_seconds=get("DRAIN_SECONDS", 3.0, float),
            payment_url=get("PAYMENT_URL", ""),
            payment_timeout=get("PAYMENT_TIMEOUT", 2.0, float),
        )

    def __repr__(self) -> str:  # the password never reaches a log line
        return f"Settings(service={self.service!r}, port={self.port}, db={self.db_host})"


class Metrics:
    """Counters, one histogram and gauges in the Prometheus text format, by hand."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._requests: dict[str, int] = {}
        self._buckets = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0
        self.pool_timeouts = 0
        self.gauges: Callable[[], dict[str, float]] = dict

    def observe(self, code: int, seconds: float) -> None:
        with self._lock:
            key = str(code)
            self._requests[key] = self._requests.get(key, 0) + 1
            self._count += 1
            self._sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1

    def count_pool_timeout(self) -> None:
        with self._lock:
            self.pool_timeouts += 1

    def render(self) -> str:
        svc = f'service="{self.service}"'
        with self._lock:
            requests = sorted(self._requests.items())
            buckets, count, total = list(self._buckets), self._count, self._sum
            timeouts = self.pool_timeouts
        lines = [
            "# HELP demo_requests_total Requests served, by HTTP status code.",
            "# TYPE demo_requests_total counter",
            *(f'demo_requests_total{{{svc},code="{c}"}} {n}' for c, n in requests),
            "# HELP demo_request_duration_seconds Time to serve a request.",
            "# TYPE demo_request_duration_seconds histogram",
            *(
                f'demo_request_duration_seconds_bucket{{{svc},le="{b}"}} {n}'
                for b, n in zip(BUCKETS, buckets, strict=True)
            ),
            f'demo_request_duration_seconds_bucket{{{svc},le="+Inf"}} {count}',
            f"demo_request_duration_seconds_sum{{{svc}}} {total:.6f}",
            f"demo_request_duration_seconds_count{{{svc}}} {count}",
            "# HELP demo_db_pool_timeouts_total Requests that found no free connection in time.",
            "# TYPE demo_db_pool_timeouts_total counter",
            f"demo_db_pool_timeouts_total{{{svc}}} {timeouts}",
        ]
        for name, value in sorted(self.gauges().items()):
            lines += [f"# TYPE {name} gauge", f"{name}{{{svc}}} {value}"]
        return "\n".join(lines) + "\n"


class PoolTimeout(Exception):
    """No connection became free within the pool timeout."""


class Pool:
    """A bounded pool: at most `size` connections, callers wait at most `timeout` seconds.

    Connections are opened lazily and closed after any error, so a database that comes
    back is picked up again without a restart.
    """

    def __init__(self, connect: Callable[[], Any], size: int, timeout: float) -> None:
        self._connect = connect
        self.size = size
        self.timeout = timeout
        self._cond = threading.Condition()
        self._idle: list[Any] = []
        self._open = 0
        self.in_use = 0

    def _acquire(self) -> Any:
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while not self._idle and self._open >= self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PoolTimeout(f"no database connection free within {self.timeout}s")
                self._cond.wait(left)
            self.in_use += 1
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._connect()
        except BaseException:
            self._forget()
            raise

    def _forget(self) -> None:
        with self._cond:
            self._open -= 1
            self.in_use -= 1
            self._cond.notify()

    def _release(self, conn: Any, broken: bool) -> None:
        if broken or getattr(conn, "closed", False):
            # a broken connection may fail to close; it is gone either way
            with contextlib.suppress(Exception):
                conn.close()
            self._forget()
            return
        with self._cond:
            self.in_use -= 1
            self._idle.append(conn)
            self._cond.notify()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        conn = self._acquire()
        broken = True
        try:
            yield conn
            broken = False
        finally:
            self._release(conn, broken)


def pg_connect(settings: Settings) -> Callable[[], Any]:
    """A connect function for the pool: autocommit, short timeouts, keepalives."""
    import psycopg2  # only on the hosts; the unit tests use fake connections

    def connect() -> Any:
        conn = psycopg2.connect(
            host=settings.db_host,
            port=settings.db_port,
            dbname=settings.db_name,
            user=settings.db_user,
            password=settings.db_password,
            connect_timeout=settings.connect_timeout,
            application_name=settings.service,
            options=f"-c statement_timeout={settings.statement_timeout_ms}",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )
        conn.autocommit = True
        return conn

    return connect


class HttpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


Route = Callable[[dict[str, Any], list[str]], tuple[int, Any]]


class App:
    """Routes plus the state every handler shares (settings, metrics, pool, draining)."""

    def __init__(self, settings: Settings, pool: Pool) -> None:
        self.settings = settings
        self.pool = pool
        self.metrics = Metrics(settings.service)
        self.metrics.gauges = lambda: {
            "demo_db_pool_in_use": pool.in_use,
            "demo_db_pool_size": pool.size,
        }
        self.routes: dict[tuple[str, str], Route] = {}
        self.draining = threading.Event()
        self.inflight = 0
        self._inflight_lock = threading.Lock()
        self._last_logged = 0.0

    def log_failure(self, message: str) -> None:
        """Say why a request failed, at most once a second, so a flood stays readable."""
        now = time.monotonic()
        if now - self._last_logged >= 1.0:
            self._last_logged = now
            print(f"request failed: {message}", flush=True)

    def route(self, method: str, prefix: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            self.routes[(method, prefix)] = fn
            return fn

        return register

    def dispatch(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        prefix = parts[0] if parts else ""
        handler = self.routes.get((method, prefix))
        if handler is None:
            return 404, {"error": f"no route for {method} /{prefix}"}
        try:
            return handler(body, parts[1:])
        except HttpError as exc:
            return exc.code, {"error": str(exc)}
        except PoolTimeout as exc:
            self.metrics.count_pool_timeout()
            self.log_failure(str(exc))
            return 503, {"error": str(exc)}
        except Exception as exc:  # a database or upstream failure is a 5xx, never a crash
            message = f"{type(exc).__name__}: {str(exc).strip()[:200]}"
            self.log_failure(message)
            return 503, {"error": message}

    def health(self) -> tuple[int, Any]:
        state = {
            "service": self.settings.service,
            "status": "draining" if self.draining.is_set() else "ok",
            "pool": {"size": self.pool.size, "in_use": self.pool.in_use},
        }
        return (503 if self.draining.is_set() else 200), state


def make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = app.settings.service
        timeout = 10  # idle keep-alive connections must not pin threads forever

        def log_message(self, format: str, *args: Any) -> None:
            pass  # per-request logs would flood the journal at 20 req/s

        def _send(self, code: int, payload: Any, content_type: str = "application/json") -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if app.draining.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            if self.path == "/metrics" and method == "GET":
                ctype = "text/plain; version=0.0.4"
                return self._send(200, app.metrics.render().encode(), ctype)
            if self.path == "/health" and method == "GET":
                return self._send(*app.health())
            started = time.monotonic()
            with app._inflight_lock:
                app.inflight += 1
            code = 500  # counted as such if the client vanishes or the body is unreadable
            try:
                code, payload = self._work(method)
                self._send(code, payload)
            finally:
                app.metrics.observe(code, time.monotonic() - started)
                with app._inflight_lock:
                    app.inflight -= 1

        def _work(self, method: str) -> tuple[int, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return 400, {"error": "body is not JSON"}
            if not isinstance(body, dict):
                return 400, {"error": "body must be a JSON object"}
            return app.dispatch(method, self.path, body)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # HAProxy ends every health check with a reset once it has the status line, often
        # before the body is written: a client gone is not an error worth a traceback in
        # the journal (one a second per host, and CPU on a lab that shares its cores).
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def serve(app: App) -> None:
    """Serve until SIGTERM/SIGINT, then drain: fail /health so the load balancer takes
    this instance out, keep serving for drain_seconds, wait for in-flight requests."""
    server = Server(("0.0.0.0", app.settings.port), make_handler(app))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2})
    thread.start()
    print(f"{app.settings.service} listening on :{app.settings.port}", flush=True)
    stop.wait()
    app.draining.set()
    print(f"{app.settings.service} draining for {app.settings.drain_seconds}s", flush=True)
    time.sleep(app.settings.drain_seconds)
    server.shutdown()
    server.server_close()
    deadline = time.monotonic() + 5
    while app.inflight and time.monotonic() < deadline:
        time.sleep(0.05)
    thread.join(timeout=1)
    print(f"{app.settings.service} stopped", flush=True)
    sys.stdout.flush()
