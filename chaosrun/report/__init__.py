"""Reports from run journals: HTML, JUnit, Markdown, JSON, history and webhooks.

Everything here reads only the run journal (docs/journal.md), so reports can be
rebuilt at any time from a run directory, on any controller. Import the module you
need (chaosrun.report.writer, .notify, ...): the package itself imports nothing, so
reading a webhook format does not load every renderer.
"""
