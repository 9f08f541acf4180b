"""Validate a parsed runbook; every error names the file and the line.

The front matter is the drilled experiment minus what the runbook supplies itself (the
title from the `#` heading; the runbook replaces the observe phase, so `duration` is
optional and, given, the drill's limit), so it is checked by the experiment loader's own
rules, `max_duration` among them. The runbook-only key: `variables` (vars of every
compiled play).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput
from chaosrun.base.usertext import NOT_EVALUATED, has_jinja, jinja_markers
from chaosrun.model.experiment import Defaults, Experiment, _build
from chaosrun.model.schema import Checker
from chaosrun.runbook.parse import Runbook, Step, load

RUNBOOK_KEYS = ("variables",)
MEASURES = ("detect", "alert", "recover")
VAR_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
COMMON = {"within", "interval", "measure", "url", "timeout"}
KINDS: dict[str, tuple[set[str], set[str]]] = {
    "prometheus": ({"prometheus", "within"}, {"max", "min", *COMMON}),
    "http": ({"http", "within"}, {"status", "body_contains", "method", *COMMON}),
    "alert": ({"alert", "within"}, {"labels", "state", "api", *COMMON}),
    "tasks": ({"hosts", "tasks"}, {"become", "vars", "measure"}),
}


def check_file(path: Path, defaults: Defaults | None = None) -> tuple[Runbook, Experiment | None]:
    """Parse and check; raises InvalidInput listing every problem found."""
    book = load(path)
    experiment = check(book, defaults)
    return book, experiment


def check(book: Runbook, defaults: Defaults | None = None) -> Experiment | None:
    errors = list(book.errors)
    if not book.title:
        errors.append(f"{book.where(1)}: the runbook needs a `# Title` heading")
    if not book.steps:
        errors.append(f"{book.where(book.title_line or 1)}: the runbook has no `## step`")
    checker = Checker(book.file, book.front_positions)
    experiment = _front(book, checker, defaults or Defaults())
    for step in book.steps:
        _step(book, step, errors)
    errors.extend(checker.errors)
    if errors:
        raise InvalidInput("\n".join(sorted(set(errors), key=_line_key)))
    return experiment


def warnings(book: Runbook) -> list[str]:
    """Headings, prose and probe fields that hold Jinja: compiled as plain text, never
    evaluated (`tasks` blocks are Ansible and are templated as usual)."""
    found = []
    for step in book.steps:
        if has_jinja(step.title):
            found.append(f"{book.where(step.line)}: the heading {NOT_EVALUATED}")
        if has_jinja(step.text):
            found.append(
                f"{book.where(step.line)}: the prose of step {step.number} {NOT_EVALUATED}"
            )
        if step.block is not None and step.kind != "tasks":
            for path in jinja_markers(step.block.data):
                line = step.block.positions.line(path)
                found.append(f"{book.where(line)}: {'.'.join(map(str, path))} {NOT_EVALUATED}")
    return found


def experiment_data(book: Runbook) -> dict[str, Any] | None:
    """The front matter as an experiment document (title and duration filled in)."""
    if not isinstance(book.front, dict) or "fault" not in book.front:
        return None
    data = {k: v for k, v in book.front.items() if k not in RUNBOOK_KEYS}
    data.setdefault("title", book.title or book.file.stem)
    # The steps replace observe; a `duration` of its own is the drill's limit (runbook.plan).
    data.setdefault("duration", "1s")
    return data


def _front(book: Runbook, c: Checker, defaults: Defaults) -> Experiment | None:
    if book.front is None:
        return None
    if not isinstance(book.front, dict):
        c.err((), "the front matter must be a mapping")
        return None
    variables = book.front.get("variables", {})
    if not isinstance(variables, dict):
        c.err(("variables",), "must be a mapping of variable names to values")
    else:
        for name in variables:
            if not VAR_NAME.match(str(name)):
                c.err(("variables", name), "variable names are lower_snake_case")
    data = experiment_data(book)
    if data is None:
        return None  # a runbook without a fault compiles, but cannot be drilled
    return _build(c, data, book.file, book.front_positions, defaults)


def _step(book: Runbook, step: Step, errors: list[str]) -> None:
    if step.block is None:
        if not step.title:
            errors.append(f"{book.where(step.line)}: the step has no title")
        return
    data, pos = step.block.data, step.block.positions
    if not step.block.valid:
        return
    if not isinstance(data, dict):
        errors.append(f"{book.where(step.block.line)}: a chaosrun block is a YAML mapping")
        return
    kinds = [k for k in ("prometheus", "http", "alert") if k in data]
    kind = kinds[0] if len(kinds) == 1 else ("tasks" if not kinds else "")
    if not kind:
        errors.append(f"{book.where(step.block.line)}: one of prometheus, http, alert per block")
        return
    required, optional = KINDS[kind]
    c = Checker(book.file, pos)
    c.mapping(data, (), required, optional)
    if "within" in data:
        c.duration(data["within"], ("within",), minimum=0)
    if "interval" in data:
        c.duration(data["interval"], ("interval",), minimum=0.05)
    if "measure" in data:
        c.choice(data["measure"], ("measure",), MEASURES)
    if kind == "prometheus":
        c.string(data.get("prometheus"), ("prometheus",))
        if "max" not in data and "min" not in data:
            c.err(("prometheus",), "give max or min: what value passes")
        for key in ("max", "min"):
            if key in data:
                c.number(data[key], (key,))
    elif kind == "alert":
        c.string(data.get("alert"), ("alert",))
        if "state" in data:
            c.choice(data["state"], ("state",), ("firing", "not_firing"))
        if "api" in data:
            c.choice(data["api"], ("api",), ("prometheus", "alertmanager"))
    elif kind == "http":
        c.string(data.get("http"), ("http",))
    else:
        _tasks(c, data)
    errors.extend(c.errors)


def _tasks(c: Checker, data: dict[str, Any]) -> None:
    if "hosts" in data:
        c.string(data["hosts"], ("hosts",))
    tasks = data.get("tasks")
    if "tasks" not in data:
        return
    if not isinstance(tasks, list) or not tasks:
        c.err(("tasks",), "must be a non-empty list of Ansible tasks")
        return
    for i, task in enumerate(tasks):
        if not isinstance(task, dict):
            c.err(("tasks", i), "each task is a mapping")
        elif not isinstance(task.get("name"), str) or not task["name"].strip():
            c.err(("tasks", i), "each task needs a name (an imperative sentence)")


def _line_key(message: str) -> tuple[str, int]:
    file, _, rest = message.partition(":")
    number = rest.split(":", 1)[0]
    return file, int(number) if number.isdigit() else 0
