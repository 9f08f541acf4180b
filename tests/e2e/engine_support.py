"""Helpers of the engine's end-to-end tests and the abort-latency benchmark: a watcher that
polls Prometheus on its own (the test's own eyes) and journal time parsing."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from chaosrun.lab.api import get_json
from chaosrun.model.apiaccess import ApiAccess


def parse_time(text: str) -> float:
    """Epoch seconds of a journal timestamp (UTC ISO 8601 with milliseconds)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def query(server: ApiAccess, promql: str, timeout: float = 1.0) -> list[float] | None:
    """Values of an instant query, or None when Prometheus does not answer."""
    try:
        data = get_json(server, "/api/v1/query", {"query": promql}, timeout)
    except (OSError, ValueError):
        return None
    return [float(r["value"][1]) for r in data.get("data", {}).get("result", [])]


def query_range(
    server: ApiAccess, promql: str, start: float, end: float, step: float, timeout: float = 10.0
) -> list[tuple[float, float]]:
    """(epoch seconds, value) of a range query's one series; empty when it has none."""
    params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    data = get_json(server, "/api/v1/query_range", params, timeout)
    result = data.get("data", {}).get("result", [])
    assert len(result) <= 1, f"{promql} has {len(result)} series"
    return [(float(t), float(v)) for t, v in result[0]["values"]] if result else []


class Watcher:
    """Polls a query every `every` seconds from a thread; remembers when `seen` first held."""

    def __init__(
        self,
        url: ApiAccess,
        promql: str,
        seen: Callable[[list[float]], bool],
        every: float = 0.1,
    ) -> None:
        self.url, self.promql, self.seen, self.every = url, promql, seen, every
        self.first: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.is_set() and self.first is None:
            started = time.time()
            values = query(self.url, self.promql)
            if values and self.seen(values):
                self.first = started
                return
            self._stop.wait(self.every)
