"""`chaosrun report` and `chaosrun history`: reports and trends from run journals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chaosrun.base.errors import InvalidInput
from chaosrun.base.output import console, emit_json, info, warn, write_out
from chaosrun.commands.options import RunsDirOpt, use_runs_dir

if TYPE_CHECKING:
    from chaosrun.report.history import History

# chaosrun.report.writer.FORMATS (a unit test checks they agree): the renderers are
# imported only when a report is rendered.
REPORT_FORMATS = ("html", "junit", "md", "json")

Output = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
]


def _deliver(text: str, output: Path | None) -> None:
    from chaosrun.report.writer import write_atomic

    if output is None:
        write_out(text)
        return
    write_atomic(output, text)
    info(f"wrote {output}")


def report(
    run: Annotated[str, typer.Argument(help="A run id, a run directory or a journal.json.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(REPORT_FORMATS)}.")
    ] = "html",
    output: Output = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Render the report of one run from its journal."""
    if fmt not in REPORT_FORMATS:
        raise InvalidInput(f"--format {fmt!r}: expected one of {', '.join(REPORT_FORMATS)}")
    from chaosrun.report.journal import load_journal, resolve_journal
    from chaosrun.report.writer import render

    journal = load_journal(resolve_journal(run, use_runs_dir(runs_dir)))
    _deliver(render(journal, fmt), output)


def _pct(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "n/a"


def _print_history(h: History) -> None:
    ttr = "n/a" if h.mean_time_to_recover_s is None else f"{h.mean_time_to_recover_s:.1f} s"
    counts = ", ".join(
        f"{k.replace('_', ' ')} {v}" for k, v in h.counts.items() if v and k != "crashed"
    )
    console.print(f"runs {h.total} ({counts or 'none'}) in {h.runs_dir}")
    if h.counts.get("crashed"):
        console.print(
            f"crashed {h.counts['crashed']}: the controller died mid-run "
            "(not counted in the success rate)"
        )
    console.print(f"success rate {_pct(h.success_rate)}, mean time to recover {ttr}")
    console.print(f"resilience score {h.score_text}")
    from rich.table import Table

    table = Table("experiment", "severity", "runs", "passed", "mean TTR", "trend", "outcomes")
    for x in h.experiments:
        mttr = "n/a" if x.mean_time_to_recover_s is None else f"{x.mean_time_to_recover_s:.1f} s"
        table.add_row(
            x.title, x.severity or "", str(x.runs), _pct(x.success_rate), mttr, x.trend, x.outcomes
        )
    for run in h.runs:
        if run["status"] in ("failed", "aborted", "rollback_failed", "crashed") and run["report"]:
            console.print(f"{run['status']}: {run['run_id']}: {run['report']}", markup=False)
    if h.experiments:
        console.print(table, markup=False)
        console.print(
            "outcomes, oldest first: P passed, F failed, A aborted, X rollback failed, "
            "R refused, ? running, C crashed"
        )


def history(
    since: Annotated[
        str | None, typer.Option(help="Only runs started since: 7d, 12h, 30m or an ISO date.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="One of: text, json, html.")] = "text",
    output: Output = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Counts, success rate, time to recover, resilience score and trends across runs."""
    if fmt not in ("text", "json", "html"):
        raise InvalidInput(f"--format {fmt!r}: expected one of text, json, html")
    from chaosrun.report.history import build_history, parse_since
    from chaosrun.report.history_html import render_history

    directory = use_runs_dir(runs_dir)
    if not directory.is_dir():
        warn(f"{directory}: no such run directory (no run yet?)")
    h = build_history(directory, parse_since(since) if since else None)
    for note in h.skipped:
        warn(f"skipped {note}")
    if fmt == "json":
        if output is None:
            emit_json(h.to_dict())
        else:
            _deliver(json.dumps(h.to_dict(), indent=2, sort_keys=True) + "\n", output)
    elif fmt == "html":
        _deliver(render_history(h, output.resolve().parent if output else None), output)
    else:
        _print_history(h)


def register(app: typer.Typer) -> None:
    """Add `report` and `history` to the root app."""
    app.command("report")(report)
    app.command("history")(history)
