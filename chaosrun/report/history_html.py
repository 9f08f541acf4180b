"""The HTML page of `chaosrun history`: score, counts, a chart of runs and trends."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from chaosrun.report import svg
from chaosrun.report.history import History
from chaosrun.report.journal import parse_time
from chaosrun.report.page import document, e

STATUS_COLOURS = {
    "passed": "#1a7f37",
    "failed": "#bc4c00",
    "aborted": "#cf222e",
    "rollback_failed": "#82071e",
    "refused": "#8c959f",
    "running": "#0969da",
    "crashed": "#8250df",
}


def _pct(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "n/a"


def _secs(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "n/a"


def _outcome_strip(outcomes: str, statuses: list[str]) -> str:
    """A row of coloured squares, one per run, oldest first."""
    cells = "".join(
        f'<rect x="{i * 12}" y="0" width="10" height="14" '
        f'fill="{STATUS_COLOURS.get(s, "#8c959f")}"><title>{escape(s)}</title></rect>'
        for i, s in enumerate(statuses)
    )
    width = max(len(statuses) * 12, 12)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="strip" width="{width}" height="14" '
        f'role="img" aria-label="{escape(outcomes)}">{cells}</svg>'
    )


def _runs_table(history: History, page_dir: Path | None) -> str:
    """Every run, its id linking to its report when the run directory has one."""
    rows = []
    for r in history.runs:
        run = e(r["run_id"])
        if r.get("report"):
            href = os.path.relpath(r["report"], page_dir) if page_dir else r["report"]
            run = f'<a href="{e(Path(href).as_posix())}">{run}</a>'
        cells = [e(r["started_at"]), run, e(r["title"]), e(r["status"])]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
                    + f"<td>{e(_secs(r['time_to_recover_s']))}</td></tr>")  # fmt: skip
    head = "".join(
        f"<th>{h}</th>" for h in ("Started", "Run", "Experiment", "Status", "Time to recover")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _runs_chart(history: History) -> str:
    """Time to recover of every run over time, coloured by status."""
    runs = [(parse_time(r["started_at"]), r) for r in history.runs]
    runs = [(t, r) for t, r in runs if t]
    if not runs:
        return ""
    axis = svg.TimeAxis(runs[0][0], max(runs[-1][0], runs[0][0]))
    height, top, bottom = 200, svg.TOP, 200 - svg.BOTTOM
    ttrs = [r["time_to_recover_s"] or 0.0 for _, r in runs]
    high = max([*ttrs, 1.0]) * 1.1
    parts = [
        svg.x_axis(axis, bottom),
        svg.caption(axis.right, bottom + 28, "run started (UTC)", "end"),
        svg.caption(axis.left - 6, top - 6, "time to recover (s)", "end"),
    ]
    for i in range(5):
        v = high * i / 4
        y = bottom - (bottom - top) * v / high
        parts += [svg.hline(axis, y, "grid"), svg.caption(axis.left - 6, y + 4, svg.fmt(v), "end")]
    for t, r in runs:
        ttr = r["time_to_recover_s"]
        y = bottom - (bottom - top) * (ttr or 0.0) / high
        tip = f"{r['run_id']} {r['title']}: {r['status']}, time to recover {_secs(ttr)}"
        colour = STATUS_COLOURS.get(str(r["status"]), "#8c959f")
        parts.append(
            f'<circle cx="{axis.x(t):.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return svg.figure(height, "Time to recover per run, seconds, coloured by status", parts)


def render_history(history: History, page_dir: Path | None = None) -> str:
    """The page; run reports are linked relative to `page_dir` (where the page is written),
    else by their absolute path."""
    statuses = {r["run_id"]: str(r["status"]) for r in history.runs}
    facts = [
        ("Runs", history.total),
        ("Executed", history.executed),
        *((s.replace("_", " ").capitalize(), n) for s, n in history.counts.items()),
        ("Success rate", _pct(history.success_rate)),
        ("Mean time to recover", _secs(history.mean_time_to_recover_s)),
    ]
    rows = []
    for x in history.experiments:
        runs = [statuses[r["run_id"]] for r in history.runs if r["experiment"] == x.key]
        rows.append(
            f"<tr><td>{e(x.title)}<br><span class='sub'>{e(x.key)}</span></td>"
            f"<td>{e(x.severity or '')}</td><td>{x.runs}</td><td>{_pct(x.success_rate)}</td>"
            f"<td>{_secs(x.mean_time_to_recover_s)}</td><td>{e(x.trend)}</td>"
            f"<td>{_outcome_strip(x.outcomes, runs)}</td></tr>"
        )
    headers = "".join(
        f"<th>{h}</th>"
        for h in ("Experiment", "Severity", "Runs", "Passed", "Mean TTR", "Trend", "Outcomes")
    )
    body = "".join(
        [
            "<h1>Chaos engineering history</h1>",
            f'<p class="sub">{e(history.runs_dir)}'
            + (f", since {e(history.since)}" if history.since else "")
            + "</p>",
            f'<div class="banner status-other">Resilience score: {e(history.score_text)}</div>',
            '<dl class="facts">'
            + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
            + "</dl>",
            "<h2>Runs</h2>",
            _runs_chart(history),
            "<h2>Experiments</h2>",
            f"<table><thead><tr>{headers}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
            "<h2>Every run</h2>",
            _runs_table(history, page_dir),
            "<p class='sub'>The resilience score is the severity-weighted share of executed runs "
            "that passed (low 1, medium 2, high 3, critical 5; a failed rollback counts twice). "
            "See docs/reports.md.</p>",
        ]
    )
    return document("chaosrun history", body)
