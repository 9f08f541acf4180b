"""A schedule's `set:` checked before it reaches a scheduler: like `--set`, it may only
tighten the experiment's safety (chaosrun.model.tighten) and may not ask a fault longer
than chaosrun.yml's `max_duration` (checked as the experiment is read). Its slots would
each refuse such an entry (exit 2) long after it was installed; `schedule add|list|install`
and `awx export` refuse it up front instead, naming the schedule file's line, the entry and
the field. A loosening `schedule add --set` is also an audit line (tighten_audit).

An experiment file that is missing or invalid on its own, or a `chaosrun.yml` named by an
entry's `env:` that cannot be read, is left to its slots (and to `chaosrun validate`):
what is checked here is what the entry's `set:` adds to the experiment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from chaosrun.base import paths
from chaosrun.base.errors import InvalidInput, Loosened
from chaosrun.model import config, tighten, tighten_audit
from chaosrun.model.config import Located
from chaosrun.model.experiment import load_experiment
from chaosrun.modes.schedules import Schedule, schedules_path
from chaosrun.plan.planning import defaults_from

# Where an entry's overrides were given: the schedule, its index, the override keys.
Place = Callable[[Schedule, int, list[str]], str]


def refuse_loosening(scheds: Sequence[Schedule], explicit: str | Path | None = None) -> None:
    """InvalidInput (exit 2) naming every entry of the schedule file whose `set:` loosens
    its experiment's safety, each by the file's line of the key, the entry and the field."""
    path = schedules_path(explicit)
    doc = Located(path, path.read_text(encoding="utf-8")) if path.is_file() else None

    def place(sched: Schedule, index: int, keys: list[str]) -> str:
        at = ("schedules", index, "set", keys[0])
        line = doc.lines.get(at, doc.lines.get(at[:3])) if doc else None
        fields = ", ".join(f"set.{k}" for k in keys)
        return f"{path}{f':{line}' if line else ''}: schedules[{index}].{fields} ({sched.name})"

    _raise(problems(scheds, place))


def refuse_added(sched: Schedule) -> None:
    """InvalidInput (exit 2) when a schedule given on the command line loosens (`--set`);
    a loosening is written to the audit log, as `run` writes one (tighten_audit)."""

    def place(one: Schedule, _index: int, keys: list[str]) -> str:
        return f"schedule {one.name} (--set {', '.join(keys)})"

    loose: list[str] = []
    found = problems([sched], place, loose)
    if loose:
        refused = Loosened("\n".join(found), loose, sched.overrides, _in_project(sched.experiment))
        try:
            tighten_audit.record(config.load().audit_path, "schedule add", refused)
        except OSError as exc:
            found.append(f"audit log not written: {exc}")
    _raise(found)


def problems(scheds: Sequence[Schedule], place: Place, loose: list[str] | None = None) -> list[str]:
    """One line per safety field an entry's `set:` loosens (also added to `loose`), or per
    problem its `set:` makes in an experiment that is valid without it."""
    found: list[str] = []
    configs: dict[str | None, config.Config | None] = {}
    for index, sched in enumerate(scheds):
        if not sched.overrides:
            continue
        given = sched.env.get(config.ENV_VAR)
        if given not in configs:
            configs[given] = _config(given)
        cfg = configs[given]
        if cfg is not None:
            lines, loosening = _loosened(
                sched, cfg, lambda keys, s=sched, i=index: place(s, i, keys)
            )
            found += lines
            if loosening and loose is not None:
                loose += lines
    return found


def _config(given: str | None) -> config.Config | None:
    """The chaosrun.yml an entry's slots read: its `env:`'s, else this shell's (install
    carries it into the entries). None when the entry's own cannot be read: its slots
    fail on that, naming it."""
    if not given:
        return config.load()
    try:
        return config.load(_in_project(given))
    except InvalidInput:
        return None


def _loosened(sched: Schedule, cfg: config.Config, place: tighten.Place) -> tuple[list[str], bool]:
    """The entry's problems, and whether they are loosenings (else its `set:` makes the
    experiment invalid)."""
    file = _in_project(sched.experiment)
    defaults = defaults_from(cfg)  # the run's, read as a slot reads them
    try:
        load_experiment(file, [], defaults)
    except InvalidInput:
        return [], False  # the file's own problem, not the entry's
    overrides = [f"{k}={v}" for k, v in sorted(sched.overrides.items())]
    try:
        asked = load_experiment(file, overrides, defaults)
    except InvalidInput as exc:
        lines = [f"{place(list(sched.overrides))}: {line}" for line in str(exc).splitlines()]
        return lines, False
    return tighten.loosened(asked, cfg.caps, place), True


def _in_project(relative: str) -> Path:
    """A path of the schedule file as its slot reads it (the slot runs in the project)."""
    path = Path(os.path.expanduser(relative))
    return path if path.is_absolute() else paths.project_root() / path


def _raise(found: list[str]) -> None:
    if found:
        raise InvalidInput("\n".join(found))
