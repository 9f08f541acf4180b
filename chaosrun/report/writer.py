"""Pick a renderer by format name, and write a run's default reports beside its journal."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from chaosrun.base import filemodes
from chaosrun.base.errors import InvalidInput
from chaosrun.report.html import render_run
from chaosrun.report.journal import Journal, load_journal
from chaosrun.report.junit import render_junit
from chaosrun.report.markdown import render_markdown
from chaosrun.report.summary import summarize

FORMATS = ("html", "junit", "md", "json")
# What `chaosrun run` leaves in every run directory, next to journal.json.
DEFAULT_FILES = {"html": "report.html", "junit": "junit.xml"}


def render(journal: Journal, fmt: str) -> str:
    """The report of one run in one of FORMATS."""
    if fmt == "html":
        return render_run(journal)
    if fmt == "junit":
        return render_junit([journal])
    if fmt == "md":
        return render_markdown(journal)
    if fmt == "json":
        return json.dumps(summarize(journal), indent=2, sort_keys=True, default=str) + "\n"
    raise InvalidInput(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so readers never see half a report."""
    filemodes.group_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        filemodes.group_file(fd)  # mkstemp's 0600 would keep the team out
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run_reports(run_dir: Path, journal: Journal | None = None) -> list[Path]:
    """Write report.html and junit.xml into a run directory; return the paths written.

    The engine calls this after the final journal write. `journal` may be passed to
    avoid re-reading it; otherwise run_dir/journal.json is loaded.
    """
    journal = journal if journal is not None else load_journal(run_dir / "journal.json")
    written = []
    for fmt, name in DEFAULT_FILES.items():
        path = run_dir / name
        write_atomic(path, render(journal, fmt))
        written.append(path)
    return written
