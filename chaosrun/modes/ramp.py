"""Start small: ramp an experiment's selection step by step.

A ramp is a list of steps, each a host count (`1`, `2`), a percentage of the matched
hosts (`"25%"`) or `all` (chaosrun.model.ramp_steps, the model's part). Every step is a full
inject/observe/rollback/recover cycle; the ramp stops at the first step that does not
pass. The result names the largest step the system absorbed, the number a team wants to
know. A mode above the engine: one engine run per step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.model import blast_radius
from chaosrun.model.ramp_steps import host_counts
from chaosrun.plan.planning import Plan
from chaosrun.plan.targets import Selection, choose
from chaosrun.run import journal
from chaosrun.run.engine import Engine, Outcome
from chaosrun.run.progress import Progress
from chaosrun.run.runid import make_run_id


@dataclass
class StepResult:
    index: int
    count: int
    hosts: list[str]
    status: str  # passed | failed | aborted | refused | rollback_failed
    exit_code: int
    detail: str = ""


@dataclass
class RampResult:
    matched: int
    steps: list[StepResult] = field(default_factory=list)

    @property
    def largest_absorbed(self) -> StepResult | None:
        passed = [s for s in self.steps if s.status == "passed"]
        return passed[-1] if passed else None

    @property
    def stopped_at(self) -> StepResult | None:
        failed = [s for s in self.steps if s.status != "passed"]
        return failed[0] if failed else None

    def as_dict(self) -> dict[str, Any]:
        best = self.largest_absorbed
        stop = self.stopped_at
        return {
            "matched": self.matched,
            "steps": [s.__dict__ for s in self.steps],
            "largest_absorbed": None
            if best is None
            else {
                "step": best.index,
                "hosts": best.count,
                "percent": round(100.0 * best.count / self.matched, 1),
                "selected": best.hosts,
            },
            "stopped_at": None
            if stop is None
            else {"step": stop.index, "hosts": stop.count, "status": stop.status},
        }


def run(
    counts: Sequence[int],
    matched: Sequence[str],
    cycle: Callable[[int, list[str]], tuple[str, int, str]],
    pick: Callable[[list[str], int], list[str]],
) -> RampResult:
    """Run `cycle(index, hosts) -> (status, exit_code, detail)` for each step until one
    does not pass. `pick(matched, count)` chooses the hosts; each step keeps the hosts
    of the step before, so a step only adds blast radius."""
    result = RampResult(matched=len(matched))
    chosen: list[str] = []
    for index, count in enumerate(counts, start=1):
        rest = [h for h in matched if h not in chosen]
        chosen = chosen + pick(rest, count - len(chosen))
        status, code, detail = cycle(index, list(chosen))
        result.steps.append(StepResult(index, count, list(chosen), status, code, detail))
        if status != "passed":
            break
    return result


def run_plan(plan: Plan, run_root: Path, progress: Progress, ramp_id: str | None = None) -> Outcome:
    """Run a planned experiment as a ramp: one engine run per step, each on a selection
    that grows, until a step does not pass. Every step's journal gets a `ramp` entry; once
    the ramp ended, each also names the largest step absorbed. Returns the last step's
    outcome."""
    spec = plan.experiment.targets
    selection = plan.selection
    candidates = [h for h in selection.matched if h not in selection.excluded]
    counts = host_counts(list(spec.ramp), len(candidates))
    for count in counts:  # the whole ramp is refused up front if any step is over the cap
        blast_radius.check(selection.pattern, len(selection.matched), count, plan.caps)
    ramp_id = ramp_id or make_run_id(plan.experiment.file.stem)
    outcomes: dict[int, Outcome] = {}

    def pick(rest: list[str], count: int) -> list[str]:
        return choose(rest, "count", count, spec.seed) if count > 0 else []

    def cycle(index: int, hosts: list[str]) -> tuple[str, int, str]:
        step_plan = dataclasses.replace(
            plan,
            selection=Selection(selection.pattern, selection.matched, selection.excluded, hosts),
        )
        progress.message(
            f"ramp step {index}/{len(counts)}: {len(hosts)} host(s): {', '.join(hosts)}"
        )
        ramp = {"id": ramp_id, "step": index, "of": len(counts)}
        engine = Engine(
            step_plan,
            run_root,
            progress,
            run_id=f"{ramp_id}-step{index}",
            journal_extras={"ramp": ramp},
        )
        outcome = outcomes[index] = engine.run()
        return outcome.status, outcome.exit_code, outcome.abort_reason or ""

    result = run(counts, candidates, cycle, pick)
    summary = result.as_dict()
    for step in result.steps:
        ramp = {"id": ramp_id, "step": step.index, "of": len(counts), **summary}
        journal.amend(outcomes[step.index].journal, ramp=ramp)
    best = result.largest_absorbed
    progress.message(
        "ramp: largest blast radius absorbed: "
        + (f"{best.count} of {result.matched} host(s) (step {best.index})" if best else "none")
    )
    return outcomes[result.steps[-1].index]
