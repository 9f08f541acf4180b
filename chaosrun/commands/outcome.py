"""What `run` and `drill` print with --json when a run ends: one shape for both."""

from __future__ import annotations

from typing import Any


def outcome_json(outcome: Any, redactor: Any, **extra: Any) -> dict[str, Any]:
    """The run's id, status, exit code, journal path and redacted abort reason, plus extras."""
    return {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "journal": str(outcome.journal),
        "reason": redactor.text(outcome.abort_reason or ""),
        **extra,
    }
