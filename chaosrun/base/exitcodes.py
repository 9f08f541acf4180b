"""The exit codes of chaosrun, one table: what a run, a drill, a ramp or a slot ends with.

A leaf, so the engine, the modes and the error classes share it without importing each
other. The values are part of the command line's contract (docs: every command's help).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    PASSED = 0
    FAILED = 1  # the hypothesis deviated, a drill step failed, or a plain error
    INVALID_INPUT = 2  # bad experiment, runbook, config or option: nothing touched
    ABORTED = 3  # a guardrail, a signal or a kill switch stopped it; rolled back
    REFUSED = 4  # a safety check refused to start: nothing touched
    ROLLBACK_FAILED = 5  # a fault may still be active
    INTERRUPTED = 130  # Ctrl-C outside a run (the shell's 128 + SIGINT)

    @classmethod
    def of(cls, status: str) -> ExitCode:
        """The exit code of a run's final status (`passed`, `rollback_failed`, ...)."""
        return cls[status.upper()]


def rollback_failed_line(outcome: Any) -> str:
    """What exit 5 says, the line an operator must not miss: which hosts may still hold
    the fault (`run` and `drill` print it, a scheduled slot's audit line records it)."""
    return (
        f"ROLLBACK FAILED on {', '.join(outcome.failed_hosts) or 'some hosts'}; "
        "a fault may still be active: run `chaosrun recover`"
    )
