"""From a runbook to the engine's Plan: its front matter checked as the drilled experiment.

The front matter is parsed as an experiment with the runbook's own line numbers, then goes
through planning.make_plan unchanged (role argument specs, the inventory pattern, blast
radius, windows, secrets), so every message names runbook:line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chaosrun.base.errors import InvalidInput
from chaosrun.model import config as project_config
from chaosrun.model.experiment import parse_experiment
from chaosrun.plan.planning import Plan, defaults_from, make_plan
from chaosrun.runbook.check import RUNBOOK_KEYS, check
from chaosrun.runbook.parse import Runbook, load


def drill_plan(path: Path, inventory: Path | None, seed: int | None = None) -> tuple[Runbook, Plan]:
    cfg = project_config.load()
    defaults = defaults_from(cfg)
    book = load(path)
    if check(book, defaults) is None:
        raise InvalidInput(f"{path}:1: the front matter names no fault: nothing to drill")
    experiment = parse_experiment(experiment_text(book), path, [], defaults)
    return book, make_plan(experiment, inventory, cfg, seed)


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
