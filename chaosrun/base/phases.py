"""The phases of a run, as the journal names them, and which of them the fault is on in.

A leaf: the engine, the cascade, the reports and `chaosrun plan` all read phases from here,
so a new phase (a drill's `runbook`) is judged the same way everywhere at once.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """A phase of a run; its value is the name in the journal."""

    VALIDATE = "validate"
    PREFLIGHT = "preflight"
    STEADY_STATE_BEFORE = "steady_state_before"
    BASELINE = "baseline"
    INJECT = "inject"
    VERIFY_ACTIVE = "verify_active"
    OBSERVE = "observe"
    # A drill runs its runbook's steps where a run observes (chaosrun.runbook.drill).
    RUNBOOK = "runbook"
    ROLLBACK = "rollback"
    VERIFY_INACTIVE = "verify_inactive"
    VERIFY_INACTIVE_AGAIN = "verify_inactive_again"
    RECOVERY = "recovery"
    # Older journals name a phase for writing the report; samples there are after the fault.
    REPORT = "report"

    @property
    def fault_on(self) -> bool:
        """From the start of inject to the end of the rollback's revert scripts: samples
        here measure the fault (guardrails judge it, the cascade orders it)."""
        return self in _FAULT_ON

    @property
    def after_fault(self) -> bool:
        """Once the revert scripts ran: samples here are the system recovering."""
        return self in _AFTER_FAULT


_FAULT_ON = frozenset(
    {Phase.INJECT, Phase.VERIFY_ACTIVE, Phase.OBSERVE, Phase.RUNBOOK, Phase.ROLLBACK}
)
_AFTER_FAULT = frozenset(
    {Phase.VERIFY_INACTIVE, Phase.VERIFY_INACTIVE_AGAIN, Phase.RECOVERY, Phase.REPORT}
)

# For journal strings: `sample["phase"] in FAULT_ON` (a StrEnum equals its value).
FAULT_ON: frozenset[str] = frozenset(p for p in Phase if p.fault_on)
AFTER_FAULT: frozenset[str] = frozenset(p for p in Phase if p.after_fault)

# The phases of an experiment run in order, as `chaosrun plan` lists them.
RUN_ORDER: tuple[Phase, ...] = (
    Phase.PREFLIGHT,
    Phase.STEADY_STATE_BEFORE,
    Phase.BASELINE,
    Phase.INJECT,
    Phase.VERIFY_ACTIVE,
    Phase.OBSERVE,
    Phase.ROLLBACK,
    Phase.VERIFY_INACTIVE,
    Phase.RECOVERY,
)
