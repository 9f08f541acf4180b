"""From a runbook to the engine's Plan: its front matter checked as the drilled experiment.

The front matter is parsed as an experiment with the runbook's own line numbers, then goes
through planning.make_plan unchanged (role argument specs, the inventory pattern, blast
radius, windows, secrets), so every message names runbook:line. A drill's `Limit`
(`drill_limit`) is how long it may keep its fault on: the front matter's `duration` when it
gives one, else chaosrun.yml's `max_duration`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from chaosrun.base.errors import InvalidInput
from chaosrun.model import config as project_config
from chaosrun.model import fault_time
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


def drill_limit(book: Runbook, plan: Plan) -> fault_time.Limit:
    """How long the drill may keep its fault on, and the line that says so."""
    front = book.front if isinstance(book.front, dict) else {}
    own = plan.experiment.duration if "duration" in front else None
    where = book.where(book.front_positions.line(("duration",)))
    cfg = plan.config
    return fault_time.drill_limit(own, where, cfg.max_duration_s, cfg.max_duration_source)


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
        body.append("duration: 1s  # a placeholder: the runbook's steps replace observe")
    return "\n".join(body) + "\n"
