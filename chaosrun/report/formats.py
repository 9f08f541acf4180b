"""Webhook bodies for the receivers teams use: the generic JSON (fields + a chat `text`),
Slack's incoming-webhook message with blocks, and PagerDuty Events API v2 events.

Every format is built from the same facts (chaosrun.report.notify.payload for runs,
chaosrun.model.audit for fleet actions), so no format can say more than the generic one:
titles, hosts, status, reasons and timings, never fault vars or secrets.
PagerDuty: a run is one alert (`dedup_key` = run id) that `start` opens at severity info,
`abort` raises to critical and `end` resolves; a refusal is a warning of its own; a freeze
is one alert that `unfreeze` resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMATS = ("generic", "slack", "pagerduty")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024  # PagerDuty's limit for payload.summary
FREEZE_KEY = "chaosrun-freeze"

# event -> (event_action, severity) for PagerDuty
_PAGERDUTY = {
    "start": ("trigger", "info"),
    "abort": ("trigger", "critical"),
    "end": ("resolve", None),
    "refused": ("trigger", "warning"),
    "freeze": ("trigger", "info"),
    "unfreeze": ("resolve", None),
    "recover": ("trigger", "warning"),
    "slot_failed": ("trigger", "warning"),
}


def render(fmt: str, facts: Mapping[str, Any], routing_key: str | None = None) -> dict[str, Any]:
    """The body for one receiver of format `fmt`."""
    if fmt == "slack":
        return slack(facts)
    if fmt == "pagerduty":
        if not routing_key:
            raise ValueError("a pagerduty webhook needs a routing key")
        return pagerduty(facts, routing_key)
    return dict(facts)


def slack(facts: Mapping[str, Any]) -> dict[str, Any]:
    """`text` for notifications and clients without blocks, plus a section and a context
    line (run id, status, hosts) for the channel."""
    text = str(facts.get("text", ""))
    context = [
        f"*{label}:* {value}"
        for label, value in (
            ("run", f"`{facts['run_id']}`" if facts.get("run_id") else None),
            ("status", facts.get("status")),
            ("hosts", ", ".join(map(str, facts.get("targets") or [])) or None),
            ("by", facts.get("user") and f"{facts.get('user')}@{facts.get('host')}"),
        )
        if value
    ]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if context:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]}
        )
    return {"text": text, "blocks": blocks}


def pagerduty(facts: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    """One Events API v2 event; `resolve` carries only what PagerDuty reads for it."""
    event = str(facts.get("event"))
    action, severity = _PAGERDUTY.get(event, ("trigger", "info"))
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": _dedup_key(event, facts),
    }
    if action == "resolve":
        return body
    experiment = facts.get("experiment") or {}
    body["payload"] = {
        "summary": str(facts.get("text", ""))[:SUMMARY_MAX],
        "source": str(facts.get("controller") or facts.get("host") or "chaosrun"),
        "severity": severity,
        "component": facts.get("fault_role"),
        "group": experiment.get("title"),
        "class": "chaos experiment" if facts.get("run_id") else "chaos fleet action",
        "custom_details": {k: v for k, v in facts.items() if k != "text" and v is not None},
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    return body


def _dedup_key(event: str, facts: Mapping[str, Any]) -> str:
    if event in ("freeze", "unfreeze"):
        return FREEZE_KEY
    run_id = str(facts.get("run_id") or f"{event}-{facts.get('at', '')}")
    return f"{run_id}-refused" if event == "refused" else run_id
