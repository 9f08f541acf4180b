"""The Markdown summary: readable, and hostile text stays text."""

from __future__ import annotations

import report_journals as rj

from chaosrun.report.markdown import md, render_markdown


def test_markdown_summary_has_verdict_phases_and_probes():
    text = render_markdown(rj.journal("aborted"))
    assert text.startswith("# Kill one order-service instance\n")
    assert "**ABORTED and rolled back**" in text
    assert "| observe | breach |" in text
    assert "| p99 order under 500ms | guardrail | BREACH |" in text
    assert "Time to recover: 3.2 s" in text


def test_hostile_strings_cannot_become_html_or_break_tables():
    text = render_markdown(rj.journal("aborted", hostile=True))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert md("a|b\nc") == "a\\|b c"


def test_drill_steps_are_listed():
    text = render_markdown(rj.drill())
    assert "## Runbook steps" in text and "Acknowledge the page" in text
