"""Overrides may not redirect or blind the guardrails: where the probes read their truth
(the experiment's `prometheus:` block) and what the run mutes (`expected_alerts`, which
become Alertmanager silences) are the files' reviewed decision.

- `prometheus.url` and its access settings (TLS, CA, client certificate, credentials,
  headers): unchanged. A Prometheus that answers healthy values would pass every
  guardrail; another tenant's header or a skipped TLS check does the same quietly.
  `prometheus.timeout` may be shorter, never longer; `scrape_interval` only sizes the
  detection times and warnings `validate` prints, so it is free.
- `expected_alerts`: every silence asked must be one the files list, or narrower (the
  same alert with more labels, or a host scope where the file had none). An override may
  drop one (its alert then pages as usual), never add one or widen one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from chaosrun.base.secrets import MASK
from chaosrun.model.apiaccess import KEYS as ACCESS_KEYS
from chaosrun.model.experiment import ExpectedAlert, Experiment

Where = Callable[[tuple], str]
# Settings shown by name only: header values and credentials may be secrets.
HIDDEN = ("headers", "basic_auth")
TRUTH = "an override may not change where the guardrails and steady state read from"
SILENCE = (
    "an override may not add or widen a silence: it mutes pages; drop one or narrow it, "
    "or change the file"
)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s'\"]+@")  # scheme://user:pass@


def redirected(
    filed: Experiment, raw: dict, asked: Experiment, project: str, where: Where
) -> list[str]:
    """One line per setting of the experiment's Prometheus an override changed or loosened;
    `raw` is the file's YAML (a timeout it does not set is chaosrun.yml's, `project`)."""
    mine, theirs = filed.prometheus, asked.prometheus
    problems = []
    if theirs.url != mine.url:
        problems.append(
            f"{where(('prometheus', 'url'))}: {_said(theirs.url)} asked, {filed.file} says "
            f"{_said(mine.url)} ({TRUTH})"
        )
    for key in ACCESS_KEYS:
        value, limit = theirs.access.get(key), mine.access.get(key)
        if value != limit:
            problems.append(
                f"{where(('prometheus', key))}: {_setting(key, value)} asked, {filed.file} "
                f"says {_setting(key, limit)} ({TRUTH})"
            )
    if theirs.timeout > mine.timeout:
        own = raw.get("prometheus")
        source = str(filed.file) if isinstance(own, dict) and "timeout" in own else project
        problems.append(
            f"{where(('prometheus', 'timeout'))}: {theirs.timeout:g}s asked, looser than "
            f"{mine.timeout:g}s from {source} (an override may only tighten: a shorter "
            "timeout is tighter)"
        )
    return problems


def _said(url: str | None) -> str:
    return repr(scrub(url)) if url else "none (the project's Prometheus)"


def scrub(text: str) -> str:
    """`text` with the user information of its URLs masked (`https://u:p@h`: a password)."""
    return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def _setting(key: str, value: Any) -> str:
    if value is None:
        return "none"
    if key in HIDDEN and isinstance(value, dict):
        return f"{key} with {', '.join(sorted(map(str, value)))}"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(scrub(value)) if isinstance(value, str) else repr(value)


def widened(filed: Experiment, asked: Experiment, where: Where) -> list[str]:
    """One line per expected alert the override adds or widens beyond the file's."""
    problems = []
    for alert in asked.expected_alerts:
        if any(_within(alert, mine) for mine in filed.expected_alerts):
            continue
        same = [mine for mine in filed.expected_alerts if mine.name == alert.name]
        if same:
            said = "; ".join(_scope(mine) for mine in same)
            text = f"{_scope(alert)} asked, wider than {filed.file}'s {said}"
        else:
            listed = ", ".join(repr(a.name) for a in filed.expected_alerts) or "none"
            text = f"a silence of {_scope(alert)} asked, {filed.file} lists {listed}"
        problems.append(f"{where(alert.path)}: {text} ({SILENCE})")
    return problems


def _within(asked: ExpectedAlert, mine: ExpectedAlert) -> bool:
    """Whether the silence `asked` makes matches no alert that `mine`'s does not."""
    if asked.name != mine.name:
        return False
    if any(asked.labels.get(k) != v for k, v in mine.labels.items()):
        return False
    return not mine.host_label or asked.host_label == mine.host_label


def _scope(alert: ExpectedAlert) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    hosts = f"on the run's hosts by {alert.host_label}" if alert.host_label else "on every host"
    return f"{alert.name!r}" + (f" {{{labels}}}" if labels else "") + f" {hosts}"


def unscoped(exp: Experiment) -> list[tuple[tuple, str]]:
    """(path, warning) for each expected alert of the experiment without a host scope."""
    return [
        (
            (*alert.path, "host_label"),
            f"the silence of {alert.name!r} has no host scope: while the run lasts it mutes "
            f"{alert.name} wherever it fires, not only on the run's targets",
        )
        for alert in exp.expected_alerts
        if not alert.host_label
    ]
