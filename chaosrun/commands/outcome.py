"""What `run` and `drill` print when a run ends: one --json shape, and one way out (the loud
ROLLBACK FAILED line on exit 5, then the exit code) for both."""

from __future__ import annotations

import sys
from typing import Any

import typer

from chaosrun.base.exitcodes import ExitCode, rollback_failed_line
from chaosrun.base.output import error


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


def exit_with(outcome: Any, redactor: Any, progress_on_stderr: bool) -> None:
    """End the command with the run's exit code. A run that did not pass says why in one
    line on stderr, where scripts and cron logs look for it (unless the progress already
    printed it there, as with --json); a failed rollback is shouted in every mode."""
    if outcome.exit_code == ExitCode.ROLLBACK_FAILED:
        error(rollback_failed_line(outcome))
    elif outcome.exit_code and not progress_on_stderr:
        error(f"{outcome.status}: {redactor.text(outcome.abort_reason or '')}")
    sys.stdout.flush()
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
