"""A Markdown summary of one run, for pull requests, tickets and chat."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from chaosrun.report import alerts, impact, impact_text, verdicts
from chaosrun.report.journal import Journal, experiment_title, seconds_between

# Inline markup characters; `<`, `>` and `&` are HTML-escaped, and no user text starts a
# line, so block markers (#, -, >, digits) need no escaping.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: Any) -> str:
    """Text that Markdown renders literally: no markup, no raw HTML, one line."""
    text = " ".join(("" if value is None else str(value)).split())
    return _MD_SPECIAL.sub(r"\\\1", escape(text, quote=False))


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    return [_row(headers), "|" + "---|" * len(headers), *(_row(r) for r in rows), ""]


def _secs(value: Any) -> str:
    return f"{value:.1f} s" if verdicts.is_number(value) else "n/a"


def _recovery_lines(journal: Journal, recovery: dict[str, Any]) -> list[str]:
    found = impact.of(journal)
    if not found:
        return [f"- Time to recover: {md(_secs(recovery.get('time_to_recover_s')))}"]
    healing = impact_text.seconds(found.get("self_healing_s"), "none")
    after = impact_text.seconds(found.get("after_rollback_s"), "not recovered")
    return [f"- Self-healing: {md(healing)}", f"- Recovery after rollback: {md(after)}"]


def _impact_lines(journal: Journal) -> list[str]:
    """The impact sentence and a row per steady-state probe."""
    found = impact.of(journal)
    if not found:
        return []
    sentence = found.get("summary") or impact_text.sentence(journal, found)
    rows = [
        [
            e.get("name"),
            impact_text.limit_text(e),
            impact_text.value_text(e, e.get("worst")),
            f"{e.get('beyond_s', 0):.1f} s",
            e.get("back_within_at") or ("never left" if not e.get("beyond_s") else "never"),
        ]
        for e in found.get("probes") or []
    ]
    return [
        "",
        "## Impact",
        "",
        f"**{md(sentence)}**",
        "",
        *_table(
            ["Steady-state probe", "Limit", "Worst", "Beyond the limit", "Back within at"], rows
        ),
    ]


def render_markdown(journal: Journal) -> str:
    status = str(journal.get("status"))
    recovery = journal.get("recovery") or {}
    targets = journal.get("targets") or {}
    selected = ", ".join(map(str, targets.get("selected") or []))
    lines = [
        f"# {md(experiment_title(journal))}",
        "",
        f"**{md(verdicts.headline(status, journal))}** (run {md(journal.get('run_id'))}, "
        f"exit code {md(journal.get('exit_code'))})",
        "",
        f"- Targets: {md(targets.get('pattern'))}: {md(selected)}",
        f"- Fault: {md((journal.get('fault') or {}).get('role'))}",
        *_recovery_lines(journal, recovery),
    ]
    abort = journal.get("abort")
    if abort:
        lines.append(f"- Aborted: {md(abort.get('reason'))}")
    lines += _impact_lines(journal)
    lines += ["", "## Phases", ""]
    lines += _table(
        ["Phase", "Outcome", "Took", "Detail"],
        [
            [
                p.get("name"),
                p.get("outcome"),
                _secs(seconds_between(p.get("started_at"), p.get("ended_at"))),
                p.get("detail") or "",
            ]
            for p in journal.get("phases") or []
        ],
    )
    probes = journal.get("probes") or []
    if probes:
        lines += ["## Probes", ""]
        rows = []
        for p in probes:
            result = verdicts.probe_result(p)
            rows.append([p.get("name"), p.get("role"), result.verdict, result.message])
        lines += _table(["Probe", "Role", "Verdict", "Why"], rows)
    lines += alerts.markdown_lines(journal, md)
    steps = journal.get("steps") or []
    if steps:
        lines += ["## Runbook steps", ""]
        lines += _table(
            ["Step", "Outcome", "Took"],
            [
                [
                    s.get("name") or s.get("title"),
                    s.get("outcome") or s.get("status"),
                    _secs(s.get("duration_s")),
                ]
                for s in steps
            ],
        )
    return "\n".join(lines).rstrip() + "\n"
