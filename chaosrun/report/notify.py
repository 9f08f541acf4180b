"""Webhook notifications at the start, abort and end of a run.

Each webhook gets the body of its format (chaosrun.report.formats): the generic JSON
(structured fields for machines plus a `text` line, which Slack-compatible receivers
show), Slack blocks, or a PagerDuty Events v2 event. Only facts a channel may see are
sent (titles, hosts, status, reasons, timings); fault vars and overrides,
where secrets live, never are. Delivery is best effort with a short timeout, in
background threads joined against one deadline, so a dead webhook never blocks a run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from chaosrun import __version__
from chaosrun.base import secrets
from chaosrun.report import formats, verdicts
from chaosrun.report.journal import experiment_title

EVENTS = ("start", "abort", "end", "refused")
URLS_ENV = secrets.WEBHOOKS_ENV
DEFAULT_TIMEOUT_S = 3.0
_ICONS = {
    "start": ":test_tube:",
    "abort": ":rotating_light:",
    "end": ":checkered_flag:",
    "refused": ":no_entry:",
}


@dataclass(frozen=True)
class Target:
    """One receiver: where, in which format, and PagerDuty's routing key (a secret)."""

    url: str
    format: str = "generic"
    routing_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Delivery:
    """What happened to one POST; `target` never shows the URL's path or query."""

    target: str
    ok: bool
    detail: str


def urls_from_env(env: Mapping[str, str] | None = None) -> list[str]:
    """Webhook URLs from $CHAOSRUN_WEBHOOKS (separated by commas or whitespace)."""
    raw = (env if env is not None else os.environ).get(URLS_ENV, "")
    return [u for u in raw.replace(",", " ").split() if u]


def safe_target(url: str) -> str:
    """scheme://host[:port]/... : webhook paths often embed a token, so they are hidden."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/..."


def _slack_escape(text: str) -> str:
    # Slack's message formatting requires exactly these three to be escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _text(event: str, journal: Mapping[str, Any]) -> str:
    title = experiment_title(dict(journal))
    run_id = journal.get("run_id")
    hosts = ", ".join(map(str, (journal.get("targets") or {}).get("selected") or []))
    if event == "refused":
        refusals = [p for p in journal.get("phases") or [] if p.get("outcome") == "refused"]
        reason = refusals[-1].get("detail") if refusals else ""
        line = f"chaosrun run {run_id} refused: {title}" + (f": {reason}" if reason else "")
    elif event == "start":
        line = f"chaosrun run {run_id} started: {title} on {hosts or 'no host yet'}"
    elif event == "abort":
        reason = (journal.get("abort") or {}).get("reason") or "aborted"
        line = f"chaosrun run {run_id} ABORTED: {title}: {reason}"
    else:
        status = str(journal.get("status"))
        ttr = (journal.get("recovery") or {}).get("time_to_recover_s")
        recovered = f", recovered in {ttr:.1f} s" if verdicts.is_number(ttr) else ""
        headline = verdicts.headline(status, journal)
        line = f"chaosrun run {run_id} ended: {title}: {headline}{recovered}"
    return f"{_ICONS.get(event, '')} {_slack_escape(line)}".strip()


def payload(event: str, journal: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body for one event: generic fields plus Slack's `text`."""
    exp = journal.get("experiment") or {}
    recovery = journal.get("recovery") or {}
    return {
        "source": "chaosrun",
        "version": __version__,
        "event": event,
        "text": _text(event, journal),
        "run_id": journal.get("run_id"),
        "kind": journal.get("kind", "run"),
        "status": journal.get("status"),
        "exit_code": journal.get("exit_code"),
        "experiment": {k: exp.get(k) for k in ("title", "file", "severity")},
        "targets": list((journal.get("targets") or {}).get("selected") or []),
        "fault_role": (journal.get("fault") or {}).get("role"),
        "started_at": journal.get("started_at"),
        "ended_at": journal.get("ended_at"),
        "abort_reason": (journal.get("abort") or {}).get("reason"),
        "recovered": recovery.get("recovered"),
        "time_to_recover_s": recovery.get("time_to_recover_s"),
        "controller": (journal.get("controller") or {}).get("host"),
    }


def post(target: Target, facts: Mapping[str, Any], timeout: float) -> Delivery:
    """POST `facts` in the target's format; a problem is the Delivery's detail, never raised."""
    try:
        body = formats.render(target.format, facts, target.routing_key)
    except ValueError as exc:
        return Delivery(safe_target(target.url), False, str(exc))
    return _post(target.url, json.dumps(body, default=str).encode(), timeout)


def _post(url: str, body: bytes, timeout: float) -> Delivery:
    target = safe_target(url)
    if urlsplit(url).scheme not in ("http", "https"):
        return Delivery(target, False, "only http and https webhooks are supported")
    # Imported here (http.client, ssl): preflight reads the kill switch through the audit
    # log, which announces through this module, before it asks the hosts.
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json", "User-Agent": f"chaosrun/{__version__}"}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Delivery(target, 200 <= response.status < 300, f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        return Delivery(target, False, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Delivery(target, False, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")


def notify(
    event: str,
    journal: Mapping[str, Any],
    urls: Sequence[str | Target],
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[Delivery]:
    """POST a run's event to every receiver at once (see `deliver`)."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}; expected one of {EVENTS}")
    targets = [u if isinstance(u, Target) else Target(u) for u in urls]
    return deliver(targets, payload(event, journal), timeout)


def deliver(
    targets: Sequence[Target], facts: Mapping[str, Any], timeout: float = DEFAULT_TIMEOUT_S
) -> list[Delivery]:
    """POST `facts` to every target in its format, all at once, waiting at most about
    `timeout` seconds in all.

    Never raises for delivery problems: a webhook that fails or hangs is reported in the
    returned list (a hung one as "timed out") and the caller carries on.
    """
    results: dict[int, Delivery] = {}

    def send(index: int, target: Target) -> None:
        results[index] = post(target, facts, timeout)

    threads = [
        threading.Thread(target=send, args=(i, t), daemon=True, name="chaosrun-webhook")
        for i, t in enumerate(targets)
    ]
    for t in threads:
        t.start()
    # One deadline for the whole fan-out; daemon threads left behind die with the process.
    deadline = time.monotonic() + timeout + 0.5
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.0))
    return [
        results.get(i) or Delivery(safe_target(t.url), False, "timed out")
        for i, t in enumerate(targets)
    ]
