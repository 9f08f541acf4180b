"""The kill switch: `chaosrun freeze` writes a freeze file, `unfreeze` removes it.

While the file exists no run starts, and running ones abort and roll back at their
next guardrail tick. The check is one stat() (plus a small read when frozen), cheap
enough for every tick. The file lives in the project's state directory (config key
`freeze_file`), so every controller of the checkout, cron and the CLI alike, sees it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.model import audit


@dataclass(frozen=True)
class Freeze:
    reason: str
    at: str
    user: str
    host: str
    project: str = ""  # the controller's project directory (a freeze on the hosts)

    def message(self) -> str:
        return f"chaos is frozen since {self.at} by {self.user}@{self.host}: {self.reason}"


def current(path: Path) -> Freeze | None:
    """The active freeze, or None. A file that cannot be parsed still counts as frozen:
    failing closed is the point of a kill switch."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return Freeze(reason=f"freeze file unreadable: {exc}", at="?", user="?", host="?")
    try:
        data: dict[str, Any] = json.loads(text)
        return Freeze(
            str(data["reason"]),
            str(data["at"]),
            str(data["user"]),
            str(data["host"]),
            str(data.get("project") or ""),
        )
    except (ValueError, KeyError, TypeError):
        return Freeze(reason="freeze file present (unparsable)", at="?", user="?", host="?")


def check(path: Path) -> None:
    """Raise Refused when frozen."""
    freeze = current(path)
    if freeze:
        raise Refused(freeze.message())


def freeze(path: Path, reason: str, audit_path: Path, webhooks: Sequence[Any] = ()) -> Freeze:
    """Freeze chaos (idempotent: a second freeze replaces the reason)."""
    reason = require_reason(reason)
    who = audit.who()
    state = Freeze(reason=reason, at=audit.now_iso(), user=who["user"], host=who["host"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state.__dict__, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    entry = audit.record(audit_path, "freeze", "frozen", reason=reason)
    audit.announce(webhooks, "freeze", entry)
    return state


def unfreeze(
    path: Path, reason: str, audit_path: Path, webhooks: Sequence[Any] = ()
) -> Freeze | None:
    """Lift the freeze; returns the freeze that was lifted (None if there was none)."""
    reason = require_reason(reason)
    before = current(path)
    path.unlink(missing_ok=True)
    entry = audit.record(
        audit_path,
        "unfreeze",
        "unfrozen" if before else "not_frozen",
        reason=reason,
        previous_reason=before.reason if before else None,
    )
    audit.announce(webhooks, "unfreeze", entry)
    return before


def require_reason(reason: str | None) -> str:
    """The stripped reason; InvalidInput when there is none."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("--reason is required: say why, for the audit log")
    return text
