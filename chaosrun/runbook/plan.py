"""From a runbook to the engine's Plan: its front matter checked as the drilled experiment.

The front matter goes through planning.make_plan unchanged (role argument specs, the
inventory pattern, blast radius, windows, secrets), via a temporary experiment file
that keeps the runbook's line numbers, so every message still names runbook:line.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml

from chaosrun.errors import InvalidInput
from chaosrun.planning import Plan, defaults_from, make_plan
from chaosrun.runbook.check import RUNBOOK_KEYS, check
from chaosrun.runbook.parse import Runbook, load


def drill_plan(path: Path, inventory: Path | None, seed: int | None = None) -> tuple[Runbook, Plan]:
    from chaosrun import config as project_config

    book = load(path)
    if check(book, defaults_from(project_config.load())) is None:
        raise InvalidInput(f"{path}:1: the front matter names no fault: nothing to drill")
    fd, tmp = tempfile.mkstemp(prefix="chaosrun-drill-", suffix=".yml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(experiment_text(book))
        try:
            plan = make_plan(Path(tmp), inventory, [], seed)
        except InvalidInput as exc:
            raise InvalidInput(str(exc).replace(tmp, str(path))) from None
    finally:
        os.unlink(tmp)
    plan.experiment.file = path
    return book, plan


def experiment_text(book: Runbook) -> str:
    """The front matter with its own line numbers; runbook-only keys commented out."""
    lines = book.file.read_text(encoding="utf-8").splitlines()
    end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    body, skipping = [""], False
    for raw in lines[1:end]:
        top = raw[:1] not in ("", " ", "#", "\t")
        if top:
            skipping = raw.split(":", 1)[0].strip() in RUNBOOK_KEYS
        body.append(f"# {raw}" if skipping else raw)
    front = book.front if isinstance(book.front, dict) else {}
    if "title" not in front:
        body.append("title: " + yaml.safe_dump(book.title or book.file.stem).splitlines()[0])
    if "duration" not in front:
        body.append("duration: 1s  # unused: the runbook's steps replace observe")
    return "\n".join(body) + "\n"
