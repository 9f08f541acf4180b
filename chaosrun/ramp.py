"""Start small: ramp an experiment's selection step by step.

A ramp is a list of steps, each a host count (`1`, `2`), a percentage of the matched
hosts (`"25%"`) or `all`. Every step is a full inject/observe/rollback/recover cycle; the ramp
stops at the first step that does not pass. The result names the largest step the
system absorbed, the number a team wants to know.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosrun.errors import InvalidInput
from chaosrun.percent import hosts_for_percent

if TYPE_CHECKING:  # the engine imports the model, which imports parse_steps from here
    from chaosrun.engine import Outcome
    from chaosrun.planning import Plan
    from chaosrun.progress import Progress


def parse_steps(raw: Any, where: str) -> list[int | str]:
    """Validate a ramp list as written (`[1, 2, "25%", "50%"]`)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(f"{where}: ramp must be a non-empty list of counts or percentages")
    steps: list[int | str] = []
    for i, step in enumerate(raw):
        if isinstance(step, bool):
            raise InvalidInput(f"{where}[{i}]: expected a count or a percentage, got {step!r}")
        if isinstance(step, int) and step >= 1:
            steps.append(step)
        elif step == "all":
            steps.append("100%")
        elif isinstance(step, str) and step.strip().endswith("%"):
            try:
                pct = float(step.strip()[:-1])
            except ValueError:
                raise InvalidInput(f"{where}[{i}]: {step!r} is not a percentage") from None
            if not 0 < pct <= 100:
                raise InvalidInput(f"{where}[{i}]: {step!r} must be in (0%, 100%]")
            steps.append(f"{pct:g}%")
        else:
            raise InvalidInput(
                f"{where}[{i}]: expected a host count >= 1, a percentage like '25%' or all, "
                f"got {step!r}"
            )
    return steps


def host_counts(steps: Sequence[int | str], matched: int) -> list[int]:
    """Host counts of each step for `matched` hosts: strictly increasing, duplicates and
    steps past the matched hosts dropped (a percentage rounds down, at least 1)."""
    counts: list[int] = []
    for step in steps:
        count = hosts_for_percent(matched, float(step[:-1])) if isinstance(step, str) else step
        count = min(count, matched)
        if not counts or count > counts[-1]:
            counts.append(count)
    return counts


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
    import dataclasses

    from chaosrun import blast_radius, journal
    from chaosrun.engine import Engine, make_run_id
    from chaosrun.targets import Selection, choose

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
