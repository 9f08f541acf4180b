"""The phase and exit-code tables: the phases the fault is on in (a drill's runbook among
them), the order `plan` lists, and the exit code of every final status."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from chaosrun.base.errors import ChaosrunError, InvalidInput, Refused
from chaosrun.base.exitcodes import ExitCode
from chaosrun.base.phases import AFTER_FAULT, FAULT_ON, RUN_ORDER, Phase
from chaosrun.report import cascade, verdicts


def test_the_fault_is_on_from_inject_to_rollback_and_in_a_drills_runbook() -> None:
    on = {p.value for p in Phase if p.fault_on}
    assert on == {"inject", "verify_active", "observe", "runbook", "rollback"}
    assert {p.value for p in Phase if p.after_fault} == {
        "verify_inactive", "verify_inactive_again", "recovery", "report",
    }  # fmt: skip
    assert not any(p.fault_on and p.after_fault for p in Phase)
    assert "runbook" in FAULT_ON and "recovery" in AFTER_FAULT and "baseline" not in FAULT_ON
    # The reports judge with the same sets the cascade orders by.
    assert verdicts.FAULT_PHASES == FAULT_ON and verdicts.AFTER_FAULT == AFTER_FAULT


def test_a_phase_is_its_journal_name() -> None:
    assert json.dumps({"phase": Phase.VERIFY_ACTIVE}) == '{"phase": "verify_active"}'
    assert f"{Phase.INJECT}_s" == "inject_s" and Phase("runbook") is Phase.RUNBOOK
    assert [str(p) for p in RUN_ORDER][:4] == [
        "preflight", "steady_state_before", "baseline", "inject",
    ]  # fmt: skip
    assert Phase.RUNBOOK not in RUN_ORDER  # an experiment run observes; a drill runs steps


def test_a_breach_in_a_drills_runbook_is_in_the_cascade() -> None:
    journal = {
        "phases": [{"name": "inject", "started_at": "2026-01-01T00:00:00.000Z"}],
        "probes": [
            {
                "name": "errors",
                "role": "guardrail",
                "samples": [
                    {"at": "2026-01-01T00:00:01.000Z", "phase": "baseline", "verdict": "BREACH"},
                    {"at": "2026-01-01T00:00:05.000Z", "phase": "runbook", "verdict": "BREACH"},
                ],
            }
        ],
    }
    (entry,) = cascade.first_signals(journal)
    assert (entry["signal"], entry["after_inject_s"]) == ("errors", 5.0)


@pytest.mark.parametrize(
    ("status", "code"),
    [("passed", 0), ("failed", 1), ("aborted", 3), ("refused", 4), ("rollback_failed", 5)],
)
def test_every_final_status_has_its_exit_code(status: str, code: int) -> None:
    assert ExitCode.of(status) == code
    assert json.dumps({"exit_code": ExitCode.of(status)}) == f'{{"exit_code": {code}}}'


def test_the_error_classes_exit_with_the_table() -> None:
    assert ChaosrunError("x").exit_code == ExitCode.FAILED == 1
    assert InvalidInput("x").exit_code == ExitCode.INVALID_INPUT == 2
    assert Refused("x").exit_code == ExitCode.REFUSED == 4
    with pytest.raises(KeyError):
        ExitCode.of("running")  # not a final status


LAST_WORDS = """
import sys
from types import SimpleNamespace
import typer
from chaosrun.commands.outcome import exit_with, last_words
from chaosrun.base.output import info

app = typer.Typer()

@app.command()
def run() -> None:
    outcome = SimpleNamespace(
        exit_code=int(sys.argv[1]), status="aborted", abort_reason="SIGTERM received",
        run_id="r", journal="j", failed_hosts=["order-1"],
    )
    with last_words():
        info("journal: runs/r/journal.json")
    exit_with(outcome, SimpleNamespace(text=str), progress_on_stderr=False)

app(sys.argv[2:])
"""


@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize("code", [3, 5])
def test_the_exit_code_is_the_runs_when_nobody_reads_its_output(code: int, buffered: bool) -> None:
    """`chaosrun run ... 2>&1 | tee` and tee died: the run's last lines meet a closed pipe,
    and its exit code must still be the run's, not 1 from the broken pipe nor 120 from the
    interpreter's last flush (streams buffered, as in a shell without PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)  # nobody reads: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-c", LAST_WORDS, str(code)],
            stdout=write,
            stderr=write,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == code
