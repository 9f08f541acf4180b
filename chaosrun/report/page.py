"""The HTML shell shared by the run and history reports: one self-contained file.

A Content-Security-Policy forbids every fetch and every script, so a report opened
from an archive or a CI artifact store stays inert even if a string slipped through
escaping.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from chaosrun import __version__

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
KNOWN_STATUSES = (
    "passed",
    "failed",
    "aborted",
    "refused",
    "rollback_failed",
    "running",
    "crashed",
)

CSS = """
:root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; }
body { margin: 0 auto; max-width: 980px; padding: 16px 24px 48px; line-height: 1.45; }
h1 { font-size: 1.5em; margin: 0.2em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.15em; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; margin-top: 1.8em; }
h3 { font-size: 1em; margin: 1.2em 0 0.3em; overflow-wrap: anywhere; }
.sub { color: #59636e; font-size: 0.9em; overflow-wrap: anywhere; }
.banner { padding: 12px 16px; border-radius: 6px; font-weight: 600; font-size: 1.15em;
  color: #fff; margin: 12px 0; }
.status-passed { background: #1a7f37; } .status-failed { background: #bc4c00; }
.status-aborted { background: #cf222e; } .status-rollback_failed { background: #82071e; }
.status-refused { background: #59636e; } .status-running { background: #0969da; }
.status-crashed { background: #8250df; }
.status-other { background: #59636e; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: #59636e; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.abort-reason { border-left: 4px solid #cf222e; background: #ffebe9; padding: 8px 12px; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f6f8fa; overflow-wrap: normal; }
td.ok, .chip.PASS { color: #1a7f37; }
td.failed, .chip.BREACH { color: #cf222e; }
td.skipped, td.pending, .chip.UNKNOWN { color: #59636e; }
.chip { font-weight: 600; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.88em; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; }
svg .lbl { font-size: 10px; fill: #59636e; } svg .band-lbl { font-size: 10px; fill: #6e7781; }
svg .axis, svg .tick { stroke: #8c959f; } svg .grid { stroke: #eaeef2; }
svg .series { fill: none; stroke: #0969da; stroke-width: 1.6; }
svg .threshold { stroke: #cf222e; stroke-dasharray: 6 4; stroke-width: 1.2; }
svg .threshold-lbl { font-size: 10px; fill: #cf222e; }
svg .baseline { stroke: #8250df; stroke-dasharray: 1 3; stroke-width: 1.2; }
svg .baseline-lbl { font-size: 10px; fill: #8250df; }
svg .band-fault { fill: #ffebe9; } svg .band-rollback { fill: #fff8c5; }
svg .abort { stroke: #cf222e; stroke-width: 2; } svg .abort-lbl { font-size: 10px; fill: #cf222e; }
svg .recovered { stroke: #1a7f37; stroke-width: 1.5; stroke-dasharray: 2 2; }
svg .recovered-lbl { font-size: 10px; fill: #1a7f37; }
.legend span { margin-right: 14px; font-size: 0.85em; color: #59636e; }
.sw { display: inline-block; width: 12px; height: 10px; margin-right: 4px; vertical-align: -1px; }
footer { margin-top: 3em; color: #8c959f; font-size: 0.8em; }
"""


def status_class(status: str) -> str:
    """A CSS class for a run status; unknown statuses never reach the markup."""
    return f"status-{status}" if status in KNOWN_STATUSES else "status-other"


def e(value: object) -> str:
    """Escape anything for HTML text and attribute values."""
    return escape("" if value is None else str(value), quote=True)


def table(
    headers: Iterable[str],
    rows: Iterable[Iterable[object]],
    classes: Iterable[Iterable[str]] | None = None,
) -> str:
    """An escaped HTML table; `classes` gives a CSS class per cell, row by row."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    class_rows = list(classes) if classes is not None else None
    for i, row in enumerate(rows):
        cells = list(row)
        cls = list(class_rows[i]) if class_rows else [""] * len(cells)
        body.append(
            "<tr>"
            + "".join(f'<td class="{e(c)}">{e(v)}</td>' for v, c in zip(cells, cls, strict=False))
            + "</tr>"
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def document(title: str, body: str) -> str:
    """A complete HTML page around an already-escaped body."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}<footer>chaosrun {e(__version__)}</footer></body></html>\n"
    )
