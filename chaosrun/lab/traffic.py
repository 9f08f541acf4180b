"""The lab's traffic generator: steady requests through the load balancer, measured the way
users see them. This is the lab's user-facing steady state.

Run on the controller as `python -m chaosrun.lab.traffic` (`chaosrun lab up` starts it).
It sends an open-loop stream at a fixed rate (default 20 req/s): every other request
places an order (POST /orders, which also charges it through the payment service), the
others read a recent order back. A fixed pool of workers bounds concurrency; a request
that waits longer than the timeout for a worker counts as a timeout without being sent,
because a user would have given up too. Metrics on 127.0.0.1:<traffic_port>/metrics:
`lab_traffic_requests_total{outcome="ok|error|timeout"}`,
`lab_traffic_request_duration_seconds` (histogram), `lab_traffic_target_rate`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chaosrun.lab import topology
from chaosrun.lab.topology import LabConfig

OUTCOMES = ("ok", "error", "timeout")
# Fine between 0.5 s and the 2 s timeout, where the lab's latency guardrails sit: with a
# 1 s bucket followed by 2.5 s, two requests of 1.1 s out of 200 put an interpolated p99
# above 2 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0)
DEFAULT_RATE = 20.0
DEFAULT_TIMEOUT = 2.0


class Metrics:
    """Requests by outcome and a latency histogram, rendered in the Prometheus text format."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self._buckets = [0] * len(BUCKETS)
        self._count = 0
        self._sum = 0.0
        self.inflight = 0

    def observe(self, outcome: str, seconds: float) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
            self._count += 1
            self._sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self._buckets[i] += 1

    @contextmanager
    def sending(self) -> Iterator[None]:
        with self._lock:
            self.inflight += 1
        try:
            yield
        finally:
            with self._lock:
                self.inflight -= 1

    def render(self) -> str:
        with self._lock:
            outcomes, buckets = dict(self.outcomes), list(self._buckets)
            count, total, inflight = self._count, self._sum, self.inflight
        name = "lab_traffic_request_duration_seconds"
        lines = [
            "# HELP lab_traffic_requests_total Requests through the load balancer, by outcome.",
            "# TYPE lab_traffic_requests_total counter",
            *(f'lab_traffic_requests_total{{outcome="{o}"}} {n}' for o, n in outcomes.items()),
            f"# HELP {name} Latency users see, including waiting for a free worker.",
            f"# TYPE {name} histogram",
            *(f'{name}_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS, buckets, strict=True)),
            f'{name}_bucket{{le="+Inf"}} {count}',
            f"{name}_sum {total:.6f}",
            f"{name}_count {count}",
            "# HELP lab_traffic_target_rate Configured request rate (requests per second).",
            "# TYPE lab_traffic_target_rate gauge",
            f"lab_traffic_target_rate {self.rate}",
            "# HELP lab_traffic_inflight Requests being sent right now.",
            "# TYPE lab_traffic_inflight gauge",
            f"lab_traffic_inflight {inflight}",
        ]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Target:
    host: str
    port: int


def default_target(lab: LabConfig) -> Target:
    lb = next(h for h in lab.hosts() if "lb" in h.groups)
    return Target(lb.address, topology.LB_ORDER_PORT)


def send(target: Target, method: str, path: str, body: dict | None, timeout: float) -> str:
    """One request on a fresh connection; its outcome."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Connection": "close"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        if 200 <= resp.status < 300:
            return "ok" if method == "GET" else _created(payload)
        return "error"
    except TimeoutError:
        return "timeout"
    except (OSError, http.client.HTTPException):
        return "error"
    finally:
        conn.close()


def _created(payload: bytes) -> str:
    try:
        order = json.loads(payload)
    except ValueError:
        return "error"
    return f"ok:{order['id']}" if isinstance(order, dict) and "id" in order else "error"


class Generator:
    """Schedules requests at a fixed rate and runs them on a bounded pool of workers."""

    def __init__(self, target: Target, rate: float, timeout: float, workers: int) -> None:
        self.target = target
        self.rate = rate
        self.timeout = timeout
        self.metrics = Metrics(rate)
        self.stop = threading.Event()
        self._jobs: queue.Queue[tuple[int, float] | None] = queue.Queue(maxsize=workers * 4)
        self._recent: deque[int] = deque(maxlen=200)
        self._workers = [threading.Thread(target=self._work, daemon=True) for _ in range(workers)]

    def request_for(self, seq: int) -> tuple[str, str, dict | None]:
        if seq % 2 and self._recent:
            order_id = self._recent[seq % len(self._recent)]
            return "GET", f"/orders/{order_id}", None
        return "POST", "/orders", {"item": f"widget-{seq % 7}", "amount": f"{5 + seq % 20}.00"}

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            seq, scheduled = job
            waited = time.monotonic() - scheduled
            if waited >= self.timeout:
                self.metrics.observe("timeout", waited)
                continue
            method, path, body = self.request_for(seq)
            with self.metrics.sending():
                outcome = send(self.target, method, path, body, self.timeout - waited)
            if outcome.startswith("ok:"):
                self._recent.append(int(outcome[3:]))
                outcome = "ok"
            self.metrics.observe(outcome, time.monotonic() - scheduled)

    def run(self) -> None:
        """Send until `stop` is set, then let in-flight requests finish (bounded)."""
        for worker in self._workers:
            worker.start()
        start = time.monotonic()
        seq = 0
        while not self.stop.is_set():
            due = start + seq / self.rate
            delay = due - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            try:
                self._jobs.put_nowait((seq, due))
            except queue.Full:  # every worker is stuck: the user would have timed out
                self.metrics.observe("timeout", self.timeout)
            seq += 1
        for _ in self._workers:
            try:
                self._jobs.put(None, timeout=self.timeout)
            except queue.Full:
                break
        for worker in self._workers:
            worker.join(timeout=self.timeout + 1)


def serve_metrics(metrics: Metrics, listen: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            data = metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per scrape every second would drown the log

    server = ThreadingHTTPServer((listen, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


def parse_args(argv: list[str] | None, lab: LabConfig) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m chaosrun.lab.traffic", description=__doc__)
    parser.add_argument(
        "--rate",
        type=float,
        default=_env_float("CHAOSRUN_LAB_TRAFFIC_RATE", DEFAULT_RATE),
        help="requests per second (env CHAOSRUN_LAB_TRAFFIC_RATE; default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=_env_float("CHAOSRUN_LAB_TRAFFIC_TIMEOUT", DEFAULT_TIMEOUT),
        help="seconds before a request counts as a timeout (env CHAOSRUN_LAB_TRAFFIC_TIMEOUT)",
    )
    parser.add_argument("--target", help="HOST:PORT to send to (default: the lab's order frontend)")
    parser.add_argument("--port", type=int, default=lab.traffic_port, help="metrics port")
    parser.add_argument("--listen", default="127.0.0.1", help="metrics address")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000:
        parser.error(f"--rate must be between 0 and 1000, not {args.rate}")
    if not 0 < args.timeout <= 60:
        parser.error(f"--timeout must be between 0 and 60 seconds, not {args.timeout}")
    return args


def parse_target(text: str | None, lab: LabConfig) -> Target:
    if not text:
        return default_target(lab)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SystemExit(f"--target must be HOST:PORT, not {text!r}")
    return Target(host, int(port))


def main(argv: list[str] | None = None) -> None:
    lab = LabConfig.from_env()
    args = parse_args(argv, lab)
    target = parse_target(args.target, lab)
    workers = max(4, min(200, int(args.rate * args.timeout * 2)))
    gen = Generator(target, args.rate, args.timeout, workers)
    server = serve_metrics(gen.metrics, args.listen, args.port)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: gen.stop.set())
    print(
        f"traffic: {args.rate:g} req/s to http://{target.host}:{target.port} "
        f"(timeout {args.timeout:g}s, {workers} workers); "
        f"metrics on http://{args.listen}:{args.port}/metrics",
        flush=True,
    )
    gen.run()
    server.shutdown()
    print(f"traffic: stopped; {gen.metrics.outcomes}", flush=True)


if __name__ == "__main__":
    main()
