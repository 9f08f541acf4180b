"""The report's Alerts section: the alerts the experiment expected (silenced on its
targets while it ran), whether each fired, and the alerts nobody expected that fired
(they paged as usual). Drawn from the journal's `alerts` (chaosrun.run.silences)."""

from __future__ import annotations

from typing import Any

from chaosrun.report.journal import Journal
from chaosrun.report.page import e, table


def _labels(labels: dict[str, Any], skip: tuple[str, ...] = ("alertname",)) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in skip)


def rows(journal: Journal) -> tuple[list[list[str]], list[list[str]], list[str]]:
    """(expected rows, unexpected rows, silence notes) of the journal's `alerts`."""
    alerts = journal.get("alerts") or {}
    expected = []
    for a in alerts.get("expected") or []:
        if a.get("fired"):
            on = ", ".join(map(str, a.get("hosts") or [])) or "the targets"
            held = "silenced" if a.get("silenced") else "NOT silenced"
            state = f"fired on {on} ({held}), first seen {a.get('first_seen', '?')}"
        else:
            state = "did not fire"
        expected.append([str(a.get("name")), _labels(a.get("labels") or {}), state])
    unexpected = [
        [
            str(u.get("name")),
            _labels(u.get("labels") or {}),
            f"fired, first seen {u.get('first_seen')}",
        ]
        for u in alerts.get("unexpected") or []
    ]
    notes = [
        f"silence {s.get('id')} ({s.get('alert')}): "
        + ("expired" if s.get("expired") else f"NOT expired, ends {s.get('ends_at')}")
        for s in alerts.get("silences") or []
    ]
    notes += [str(x) for x in alerts.get("errors") or []]
    return expected, unexpected, notes


def html_section(journal: Journal) -> str:
    if not journal.get("alerts"):
        return ""
    expected, unexpected, notes = rows(journal)
    classes = [["", "", "ok" if r[2].startswith("fired") else "failed"] for r in expected]
    text = (
        "<h2>Alerts</h2><p>Expected alerts were silenced on the targets while the run lasted; "
        "their firing proves the monitoring sees the fault. Unexpected alerts paged as usual.</p>"
        + table(["Expected alert", "Labels", "In this run"], expected, classes)
    )
    if unexpected:
        text += table(
            ["Unexpected alert", "Labels", "In this run"],
            unexpected,
            [["", "", "failed"] for _ in unexpected],
        )
    else:
        text += "<p>No unexpected alert fired.</p>"
    if notes:
        text += f'<p class="sub">{e("; ".join(notes))}</p>'
    return text


def markdown_lines(journal: Journal, cell: Any) -> list[str]:
    """Markdown lines of the section; `cell` escapes a table cell."""
    if not journal.get("alerts"):
        return []
    expected, unexpected, notes = rows(journal)
    lines = ["## Alerts", "", "| Alert | Labels | In this run |", "|---|---|---|"]
    lines += [f"| {cell(n)} | {cell(lab)} | expected, {cell(s)} |" for n, lab, s in expected]
    lines += [f"| {cell(n)} | {cell(lab)} | unexpected, {cell(s)} |" for n, lab, s in unexpected]
    lines += [""] + [f"- {cell(n)}" for n in notes] + ([""] if notes else [])
    return lines
