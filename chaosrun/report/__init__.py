"""Reports from run journals: HTML, JUnit, Markdown, JSON, history and webhooks.

Everything here reads only the run journal (docs/journal.md), so reports can be
rebuilt at any time from a run directory, on any controller.
"""

from __future__ import annotations

from chaosrun.report.journal import load_journal, resolve_journal
from chaosrun.report.notify import notify
from chaosrun.report.writer import render, write_run_reports

__all__ = ["load_journal", "notify", "render", "resolve_journal", "write_run_reports"]
