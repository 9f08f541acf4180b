"""What `run` and `drill` print when a run ends: one --json shape, and one way out (the loud
ROLLBACK FAILED line on exit 5, then the exit code) for both."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import typer

from chaosrun.base.exitcodes import ExitCode, rollback_failed_line
from chaosrun.base.output import error, flush_or_drop


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


@contextlib.contextmanager
def last_words() -> Iterator[None]:
    """What a run prints once it ended: when nobody reads any more (`chaosrun run | tee`
    and tee died), the lines are dropped and the exit code stays the run's, instead of 1
    from the broken pipe (rich turns one into SystemExit(1))."""
    # rich's SystemExit(1) on a broken pipe, where the command line's own answer to it
    # (output.drop_unread_lines) is not in place: the exit code stays the caller's.
    with contextlib.suppress(OSError, SystemExit):
        yield
    flush_or_drop()


def exit_with(outcome: Any, redactor: Any, progress_on_stderr: bool) -> None:
    """End the command with the run's exit code. A run that did not pass says why in one
    line on stderr, where scripts and cron logs look for it (unless the progress already
    printed it there, as with --json); a failed rollback is shouted in every mode."""
    with last_words():
        if outcome.exit_code == ExitCode.ROLLBACK_FAILED:
            error(rollback_failed_line(outcome))
        elif outcome.exit_code and not progress_on_stderr:
            error(f"{outcome.status}: {redactor.text(outcome.abort_reason or '')}")
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)
