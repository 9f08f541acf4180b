"""A scheduled slot's result: one audit line when it ends, a webhook when it failed.

`chaosrun run --scheduled NAME` runs inside `guard()`. A slot the schedule's rules let
through ends with one audit line (action `slot`, outcome `passed` or `failed`, its exit
code, run id and reason); a failed one (refused, invalid input, deviated, aborted,
rollback failed, a crash) is also posted to the webhooks that take `slot_failed`. When
chaosrun cannot record it (an unreadable chaosrun.yml), or cannot start at all, the
scheduler entry's fallback script does (chaosrun.modes.schedule_install). `last_result()`
reads the audit log back for `chaosrun schedule list`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from chaosrun.base.errors import ChaosrunError
from chaosrun.base.exitcodes import ExitCode, rollback_failed_line
from chaosrun.model import audit, config

try:  # click's own Exit, where a click is installed beside typer's vendored one
    from click.exceptions import Exit as _ClickExit
except ImportError:  # an installed chaosrun has typer alone
    _ClickExit = typer.Exit

EVENT = "slot_failed"
FALLBACK_ENV = "CHAOSRUN_SLOT_FALLBACK"  # set by installed entries: their fallback script


@dataclass
class Slot:
    """What the run learned before it ended: its id and why it did not pass."""

    name: str
    experiment: str
    run_id: str | None = None
    reason: str | None = None
    skipped: bool = False


_current: ContextVar[Slot | None] = ContextVar("chaosrun_slot", default=None)


@contextmanager
def guard(name: str, experiment: str) -> Iterator[Slot]:
    """Record how the slot ended, whatever way it ends; the exception goes on."""
    slot = Slot(name, experiment)
    token = _current.set(slot)
    try:
        yield slot
    except (typer.Exit, _ClickExit) as exc:
        finish(slot, exc.exit_code, slot.reason)
        raise
    except ChaosrunError as exc:
        finish(slot, exc.exit_code, str(exc))
        raise
    except KeyboardInterrupt:
        finish(slot, ExitCode.INTERRUPTED, "interrupted")
        raise
    except Exception as exc:
        finish(slot, ExitCode.FAILED, f"chaosrun crashed: {type(exc).__name__}: {exc}")
        raise
    else:
        if not slot.skipped:
            finish(slot, ExitCode.PASSED, None)
    finally:
        _current.reset(token)


def note(outcome: Any, redactor: Any) -> None:
    """The run's id and, when it did not pass, why: for the slot being run, if any."""
    slot = _current.get()
    if slot is None:
        return
    slot.run_id = outcome.run_id
    if outcome.exit_code == ExitCode.ROLLBACK_FAILED:
        slot.reason = rollback_failed_line(outcome)
    elif outcome.exit_code:
        slot.reason = f"{outcome.status}: {redactor.text(outcome.abort_reason or '')}"


def finish(slot: Slot, exit_code: int, reason: str | None) -> None:
    """One audit line for the slot, and the slot_failed webhooks when it failed."""
    exit_code = int(exit_code)  # the audit line holds a plain number
    failed = exit_code != ExitCode.PASSED
    reason = reason or (f"exit {exit_code}" if failed else None)
    try:
        cfg = config.load()
    except ChaosrunError as exc:
        run_fallback(slot.name, exit_code, f"{reason}; and chaosrun.yml: {exc}")
        return
    entry = audit.record(
        cfg.audit_path,
        "slot",
        "failed" if failed else "passed",
        experiment=slot.experiment,
        run_id=slot.run_id,
        reason=reason,
        schedule=slot.name,
        exit_code=exit_code,
    )
    if failed:
        text = f"chaosrun schedule {slot.name}: slot failed (exit {exit_code}): {reason}"
        audit.announce(cfg.webhooks, EVENT, entry, text=text)


def run_fallback(name: str, exit_code: int, reason: str) -> None:
    """Hand the record to the entry's fallback script (no config to find the audit log)."""
    script = os.environ.get(FALLBACK_ENV)
    if not script or not Path(script).is_file():
        return
    subprocess.run(["/bin/sh", script, name, reason, str(exit_code)], check=False, timeout=30)


def last_result(audit_path: Path, name: str) -> dict[str, Any] | None:
    """The schedule's last slot: `passed`/`failed` (with exit code, reason, run id),
    `skipped` (with the rule's reason), or `started` when a slot went ahead and nothing
    recorded its end (still running, or killed)."""
    latest: dict[str, Any] | None = None
    for entry in audit.read(audit_path):
        if entry.get("schedule") != name:
            continue
        if entry.get("action") == "slot":
            result = entry.get("outcome")
        elif entry.get("action") == "run" and entry.get("outcome") in ("skipped", "scheduled"):
            result = "skipped" if entry["outcome"] == "skipped" else "started"
        else:
            continue
        latest = {
            "at": entry.get("at"),
            "result": result,
            "exit_code": entry.get("exit_code"),
            "reason": entry.get("reason"),
            "run_id": entry.get("run_id"),
        }
    return latest


def describe(result: dict[str, Any] | None) -> str:
    """One short cell for `schedule list`."""
    if result is None:
        return "never"
    at = str(result.get("at") or "")[:19].replace("T", " ")
    if result["result"] == "failed":
        return f"FAILED exit {result.get('exit_code')} {at}\n{str(result.get('reason'))[:80]}"
    return f"{result['result']} {at}"
