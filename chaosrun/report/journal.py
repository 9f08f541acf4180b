"""Find and load run journals, and read times out of them.

A journal may be partial (the engine rewrites it after every phase, and a crash
leaves whatever was written last), so every field except `run_id` and `status`
is optional for the readers in this package.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaosrun.base import liveness
from chaosrun.base.errors import InvalidInput

SUPPORTED_SCHEMA = 1
Journal = dict[str, Any]


def resolve_journal(ref: str, runs_dir: Path) -> Path:
    """Turn a journal file, a run directory or a run id (under `runs_dir`) into the
    journal's path."""
    path = Path(ref)
    if path.is_file():
        return path
    if path.is_dir() and (path / "journal.json").is_file():
        return path / "journal.json"
    by_id = runs_dir / ref / "journal.json"
    if by_id.is_file():
        return by_id
    raise InvalidInput(
        f"{ref}: no journal found (give a journal.json, a run directory or a run id "
        f"under {runs_dir})"
    )


def load_journal(path: Path) -> Journal:
    """Read and check one journal; raise InvalidInput naming the file and the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read journal: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not a JSON journal: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: a journal is a JSON object, got {type(data).__name__}")
    schema = data.get("schema")
    if schema != SUPPORTED_SCHEMA:
        raise InvalidInput(f"{path}: field 'schema': expected {SUPPORTED_SCHEMA}, got {schema!r}")
    for field in ("run_id", "status"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise InvalidInput(f"{path}: field '{field}': missing or not a string")
    for field in ("phases", "probes", "steps"):
        if not isinstance(data.get(field) or [], list):
            raise InvalidInput(f"{path}: field '{field}': expected a list")
    return liveness.classify(data)


def parse_time(value: Any) -> datetime | None:
    """A journal timestamp (UTC ISO 8601) as an aware datetime, or None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def seconds_between(start: Any, end: Any) -> float | None:
    """Seconds from one journal timestamp to another, or None if either is missing."""
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return None
    return (b - a).total_seconds()


def experiment_title(journal: Journal) -> str:
    exp = journal.get("experiment") or {}
    return str(exp.get("title") or exp.get("file") or journal.get("run_id"))


def experiment_key(journal: Journal) -> str:
    """The identity of an experiment across runs: its file, else its title."""
    exp = journal.get("experiment") or {}
    return str(exp.get("file") or exp.get("title") or "(unnamed)")
