"""Alertmanager silences for the alerts an experiment expects (`expected_alerts`).

Before inject, one silence per expected alert through Alertmanager's API v2, scoped to the
run's targets: `alertname`, the experiment's labels, and the alert's host label
(`instance` unless the experiment names another) matching a target's inventory name,
alone or followed by `:port`. A silence ends one lease from now; while the run lives a
thread extends it on the lease's cadence, so a dead controller's silence ends by itself
as its faults revert. The same thread reads Alertmanager's alerts: an expected alert seen
on a target fired (its silenced state says whether the silence held it back); any other
alert that started during the run is unexpected, and it pages as usual. At the end the
silences are expired once the alerts they hold resolved (bounded), so the expiry itself
pages nobody for an alert the run caused.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from chaosrun.model.apiaccess import ApiAccess
from chaosrun.model.experiment import ExpectedAlert
from chaosrun.probes.session import explain, open_session


class SilenceError(Exception):
    """A silence could not be created: the run must not inject."""


def host_regex(hosts: list[str]) -> str:
    """Alertmanager regex (anchored, RE2) for a label naming one of `hosts`, with or
    without a `:port` suffix."""
    return "(" + "|".join(re.escape(h) for h in sorted(hosts)) + ")(:[0-9]+)?"


def matchers(alert: ExpectedAlert, hosts: list[str]) -> list[dict[str, Any]]:
    found = [_equal("alertname", alert.name)]
    found += [_equal(k, v) for k, v in sorted(alert.labels.items()) if k != "alertname"]
    if alert.host_label:
        found.append(
            {"name": alert.host_label, "value": host_regex(hosts), "isRegex": True, "isEqual": True}
        )
    return found


def _equal(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": False, "isEqual": True}


def matches(alert: ExpectedAlert, labels: dict[str, str], hosts: list[str]) -> str | None:
    """The host an alert with `labels` is on when it is this expected alert on a target
    ("" when the expected alert has no host scope), else None."""
    if labels.get("alertname") != alert.name:
        return None
    if any(labels.get(k) != v for k, v in alert.labels.items()):
        return None
    if not alert.host_label:
        return labels.get("instance", "")
    value = labels.get(alert.host_label, "")
    return value if re.fullmatch(host_regex(hosts), value) else None


def iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> float | None:
    """Alertmanager's RFC 3339 times (nanoseconds, `Z`) as epoch seconds."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text or "")
    if not match:
        return None
    frac = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return dt.datetime.fromisoformat(match.group(1) + frac + zone).timestamp()


@dataclass
class AlertWatch:
    """The run's silences and what Alertmanager showed while they lasted."""

    access: ApiAccess
    expected: tuple[ExpectedAlert, ...]
    hosts: list[str]
    ttl: float
    every: float
    comment: str
    created_by: str
    timeout: float = 5.0
    clock: Callable[[], float] = time.time
    silences: list[dict[str, Any]] = field(default_factory=list)
    fired: dict[int, dict[str, Any]] = field(default_factory=dict)
    unexpected: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    created_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Extending and expiring one at a time: an extension in flight while the run expires
    # would otherwise land after the expiry, and Alertmanager makes a new silence of it.
    _writes: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _session: requests.Session | None = None

    # -- Alertmanager calls ----------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = open_session(self.access)
        return self._session

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.access.url.rstrip('/')}/api/v2/{path}"
        resp = self.session.request(method, url, timeout=self.timeout, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def _put(self, body: dict[str, Any]) -> str:
        return str(self._call("POST", "silences", json=body)["silenceID"])

    def _note(self, what: str, exc: BaseException) -> None:
        line = f"{what}: {explain(exc, self.access.url)}"
        with self._lock:
            if line not in self.errors[-5:]:
                self.errors.append(line)

    # -- the run's side --------------------------------------------------------------------
    def create(self) -> None:
        """One silence per expected alert; on any failure expires those made, raises."""
        now = self.clock()
        self.created_at = now
        for index, alert in enumerate(self.expected):
            body = {
                "matchers": matchers(alert, self.hosts),
                "startsAt": iso(now),
                "endsAt": iso(now + self.ttl),
                "createdBy": self.created_by,
                "comment": self.comment,
            }
            try:
                silence = {"id": self._put(body), "alert": index, "body": body, "expired": False}
                self.silences.append(silence)
                # Alertmanager moves a start in the past to now; an update in place must
                # repeat its own start, so keep the silence as it stored it.
                stored = self._call("GET", f"silence/{silence['id']}")
                silence["body"] = {k: stored[k] for k in body}
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                self.expire()
                reason = explain(exc, self.access.url)
                raise SilenceError(f"cannot silence expected alert {alert.name}: {reason}") from exc

    def start(self) -> AlertWatch:
        self._thread = threading.Thread(target=self._loop, name="chaosrun-silences", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.timeout + 1)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.extend()
            self.poll()

    def extend(self) -> None:
        """Every live silence ends one lease from now; nothing once expiry began."""
        with self._writes:
            if not self._stop.is_set():
                self._extend()

    def _extend(self) -> None:
        for silence in self.silences:
            if silence["expired"]:
                continue
            body = {**silence["body"], "id": silence["id"], "endsAt": iso(self.clock() + self.ttl)}
            try:
                # In place when only the end moves; a new id if Alertmanager replaced it.
                silence["id"] = self._put(body)
                silence["body"]["endsAt"] = body["endsAt"]
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                self._note("extending a silence", exc)

    def poll(self) -> list[dict[str, Any]]:
        """Read the alerts now; returns those our silences hold that are still active."""
        params = {"active": "true", "silenced": "true", "inhibited": "true"}
        try:
            alerts = self._call("GET", "alerts", params=params) or []
        except (requests.RequestException, ValueError) as exc:
            self._note("reading alerts", exc)
            return []
        ours = {s["id"] for s in self.silences}
        held = []
        now = iso(self.clock())
        with self._lock:
            for alert in alerts:
                if self._classify(alert, ours, now):
                    held.append(alert)
        return held

    def _classify(self, alert: dict[str, Any], ours: set[str], now: str) -> bool:
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        status = alert.get("status") or {}
        silenced = bool(ours & set(status.get("silencedBy") or []))
        expected = False
        for index, wanted in enumerate(self.expected):
            host = matches(wanted, labels, self.hosts)
            if host is None:
                continue
            expected = True
            seen = self.fired.setdefault(index, {"first_seen": now, "hosts": [], "silenced": False})
            if host and host not in seen["hosts"]:
                seen["hosts"].append(host)
            seen["silenced"] = seen["silenced"] or silenced
        started = parse_time(str(alert.get("startsAt") or ""))
        new = started is not None and self.created_at is not None and started >= self.created_at
        if not expected and new and not silenced:
            key = str(alert.get("fingerprint") or sorted(labels.items()))
            self.unexpected.setdefault(
                key,
                {"name": labels.get("alertname", ""), "labels": labels, "first_seen": now},
            )
        return silenced

    def settle(self, within: float, hurry: threading.Event | None = None) -> None:
        """Wait (at most `within` seconds) until no alert our silences hold is active."""
        deadline = time.monotonic() + within
        while self.poll() and time.monotonic() < deadline:
            if hurry is not None and hurry.wait(1.0):
                return
            if hurry is None:
                time.sleep(1.0)

    def expire(self) -> None:
        """Expire every silence still live, after any extension in flight; idempotent."""
        self._stop.set()
        with self._writes:
            self._expire()

    def _expire(self) -> None:
        for silence in self.silences:
            if silence["expired"]:
                continue
            try:
                self._call("DELETE", f"silence/{silence['id']}")
                silence["expired"] = True
            except (requests.RequestException, ValueError) as exc:
                self._note(f"expiring silence {silence['id']}", exc)

    def missing(self) -> list[str]:
        """Expected alerts that never showed on a target."""
        return [a.name for i, a in enumerate(self.expected) if i not in self.fired]

    def summary(self) -> dict[str, Any]:
        """The journal's `alerts`."""
        with self._lock:
            expected = [
                {
                    "name": a.name,
                    "labels": dict(a.labels),
                    "host_label": a.host_label,
                    "fired": i in self.fired,
                    **self.fired.get(i, {}),
                    "silences": [s["id"] for s in self.silences if s["alert"] == i],
                }
                for i, a in enumerate(self.expected)
            ]
            return {
                "alertmanager": self.access.url,
                "hosts": list(self.hosts),
                "silenced_at": iso(self.created_at) if self.created_at is not None else None,
                "silences": [
                    {
                        "id": s["id"],
                        "alert": self.expected[s["alert"]].name,
                        "matchers": s["body"]["matchers"],
                        "ends_at": s["body"]["endsAt"],
                        "expired": s["expired"],
                    }
                    for s in self.silences
                ],
                "expected": expected,
                "unexpected": sorted(self.unexpected.values(), key=lambda u: u["first_seen"]),
                "errors": list(self.errors),
            }
