"""Errors a user can act on: one clear line, a distinct exit code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chaosrun.base.exitcodes import ExitCode


class ChaosrunError(Exception):
    """An error reported to the user as one line, exiting with `exit_code`."""

    exit_code: int = ExitCode.FAILED

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InvalidInput(ChaosrunError):
    """Bad experiment, runbook, config or option (exit 2)."""

    exit_code = ExitCode.INVALID_INPUT


class Loosened(InvalidInput):
    """Overrides that loosen the files' safety (exit 2): `lines` are the loosenings among
    the message's problems, `overrides` what was asked, `experiment` its file (the audit
    log records who asked for what: chaosrun.model.tighten_audit)."""

    def __init__(
        self, message: str, lines: Sequence[str], overrides: dict[str, str], experiment: Path
    ) -> None:
        super().__init__(message)
        self.lines, self.overrides, self.experiment = list(lines), dict(overrides), experiment


class Refused(ChaosrunError):
    """A safety check refused to start (exit 4)."""

    exit_code = ExitCode.REFUSED
