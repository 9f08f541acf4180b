"""`chaosrun drill`: inject the runbook's fault, run the runbook instead of waiting, time it.

DrillEngine runs the run engine (chaosrun.run.engine.Engine: preflight, steady state, baseline,
inject + verify, lease, guardrails, rollback, recovery) with the runbook's steps as its
activity while the fault is on, in place of the observe phase's wait: one ansible-runner
run per executable step. A step that fails (or a signal, guardrail or kill switch) aborts:
the engine's rollback then reverts the fault and the drill is reported as failed at that
step. A drill keeps its fault on no longer than its limit (chaosrun.runbook.plan.drill_limit:
the runbook's `duration`, else chaosrun.yml's `max_duration`): past it the engine stops the
drill as a guardrail does, and ends it aborted (exit 3) and timed out. A stop does not wait
for the step under way: its play is canceled, an unanswered prompt left behind, and the
step journaled as `stopped`. After a runbook that succeeded
the fault's rollback still runs (it is idempotent and clears the on-host state and the
dead-man timer), and the steady state must hold again within `recovery.within`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from chaosrun.base.phases import Phase
from chaosrun.hosts import runner
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.plan.planning import Plan
from chaosrun.run.engine import Activity, ActivityEnd, Engine, FaultWindow, Outcome
from chaosrun.run.journal import now_iso
from chaosrun.run.progress import Progress
from chaosrun.run.runid import make_run_id
from chaosrun.runbook import compile as compiler
from chaosrun.runbook.parse import Runbook, Step
from chaosrun.runbook.plan import drill_limit

T = TypeVar("T")
Ack = Callable[[Step], tuple[bool, str]]  # manual step -> (done, detail)
# How long a stopped step's play may take to end once canceled, before the rollback starts
# beside it (ansible-runner looks at its cancel callback between events).
STEP_CANCELED_S = 10.0


@dataclass
class StepResult:
    ok: bool
    detail: str = ""
    hosts: dict[str, str] = field(default_factory=dict)


# (runbook, step, inventory, work dir, endpoints, cancel=) -> how the step went
StepRunner = Callable[..., StepResult]


def endpoint_vars(prometheus: ApiAccess | None, alertmanager: ApiAccess | None) -> dict[str, Any]:
    """The run's own Prometheus and Alertmanager (the plan's: runbook, inventory or
    chaosrun.yml) for the compiled steps' probes, which default to these variables, with
    their access blocks: the secrets' sources, never their values."""
    found: dict[str, Any] = {}
    for name, access in (("prometheus", prometheus), ("alertmanager", alertmanager)):
        if access is not None:
            found[f"chaosrun_{name}_url"] = str(access.url)
            found[f"chaosrun_{name}_access"] = access.module_access()
    return found


def secret_sources(endpoints: Mapping[str, Any]) -> set[str]:
    """The variables the compiled steps' probe modules read a secret from (on the
    controller, in the step's play): the only secret variables a step's play is handed."""
    found = set()
    for name in ("prometheus", "alertmanager"):
        block = endpoints.get(f"chaosrun_{name}_access") or {}
        auth = block.get("basic_auth") or {}
        found |= {v for v in (block.get("bearer_token_env"), auth.get("password_env")) if v}
    return found


def auto_ack(step: Step) -> tuple[bool, str]:
    return True, "manual step acknowledged automatically (--auto-ack)"


def run_step(
    book: Runbook,
    step: Step,
    inventory: Path,
    work_dir: Path,
    endpoints: Mapping[str, Any] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> StepResult:
    """Run the compiled play of one step with ansible-runner; `endpoints` (endpoint_vars)
    are extra vars, so they win over the inventory's; `cancel` ends the play early."""
    import ansible_runner

    work_dir.mkdir(parents=True, exist_ok=True)
    playbook = work_dir / f"step-{step.number}.yml"
    playbook.write_text(compiler.dump_step(book, step), encoding="utf-8")
    hosts: dict[str, str] = {}
    messages: list[str] = []

    def handle(event: dict[str, Any]) -> bool:
        data = event.get("event_data") or {}
        host, kind = data.get("host"), event.get("event", "")
        if not host:
            return True
        if kind in runner.FAILED and not data.get("ignore_errors"):
            hosts[host] = "unreachable" if kind == "runner_on_unreachable" else "failed"
            res = data.get("res") or {}
            msg = res.get("msg") or res.get("stderr") or res.get("stdout") or kind
            messages.append(f"{host}: {data.get('task', '')}: {str(msg).strip()[:300]}")
        elif kind in ("runner_on_ok", "runner_on_skipped"):
            hosts.setdefault(host, "ok")
        return True

    extra = {"auto_ack": True, **(endpoints or {})}
    needs = secret_sources(extra)
    with runner.play_inputs(work_dir, extra, prefix="step-", needs=needs) as (_, play):
        # playbook_args in play: the user's vault ids reach the step too.
        run = ansible_runner.run(
            **play,
            playbook=str(playbook.resolve()),
            inventory=str(inventory),
            event_handler=handle,
            cancel_callback=cancel,
        )
    ok = run.status == "successful" and not messages
    if not ok and not messages:
        messages.append(f"ansible-playbook {run.status} (rc {run.rc})")
    return StepResult(ok, "; ".join(messages), hosts)


class DrillEngine:
    """A drill: the run engine with the runbook's steps as what runs while the fault is on
    (the engine's `Activity` seam), and the runbook's own block in the run's journal."""

    def __init__(
        self,
        plan: Plan,
        run_root: Path,
        progress: Progress,
        book: Runbook,
        ack: Ack = auto_ack,
        step_runner: StepRunner = run_step,
        run_id: str | None = None,
    ) -> None:
        self.plan, self.book, self.ack, self.step_runner = plan, book, ack, step_runner
        self.failed_step: Step | None = None
        self.current: Step | None = None  # the step under way
        self.limit = drill_limit(book, plan)
        activity = Activity(
            Phase.RUNBOOK,
            f"{book.title}: {len(book.steps)} step(s), at most {self.limit.text()}",
            self._run_book,
            abort_outcome="failed",
            limit=self.limit,
            doing=self._doing,
        )
        runbook = {"title": book.title, "file": str(book.file), "steps": len(book.steps)}
        self.engine = Engine(
            plan,
            run_root,
            progress,
            run_id or make_run_id(f"drill-{book.file.stem}"),
            kind="drill",
            activity=activity,
            journal_extras={"runbook": {**runbook, "failed_step": None}},
        )
        self.journal = self.engine.journal

    def run(self) -> Outcome:
        return self.engine.run()

    def _doing(self) -> str:
        step = self.current
        if step is None:
            return ""
        return f"during step {step.number} ({step.title}), {self.book.where(step.line)}"

    def _run_book(self, window: FaultWindow) -> ActivityEnd:
        """The runbook, step by step, until one fails or the run is stopped."""
        started = time.monotonic()
        end = ActivityEnd()
        for step in self.book.steps:
            if window.stop.is_set():
                end.abort = f"{window.stop_reason()} before step {step.number}"
                break
            self.current = step
            entry = self._step(step, window, started, end.timings)
            self.current = None
            if entry["outcome"] == "stopped":  # a signal's reason; an abort's is already set
                end.abort = f"{window.stop_reason()} during step {step.number} ({step.title})"
                break
            if entry["outcome"] == "failed":
                self.failed_step = step
                window.journal.update("runbook", failed_step=step.number)
                end.failed = True
                end.abort = (
                    f"runbook failed at step {step.number} ({step.title}), "
                    f"{self.book.file}:{step.line}: {entry['detail']}"
                )
                break
        runbook_s = round(time.monotonic() - started, 3)
        end.timings["runbook_s"] = runbook_s
        end.recover_after_s = runbook_s  # a drill's time to recover counts from the fault
        return end

    def _step(
        self, step: Step, window: FaultWindow, fault_at: float, timings: dict[str, float]
    ) -> dict[str, Any]:
        """Run (or ask for) one step, journal it; a step that marks a measure times it."""
        name = compiler.play_name(step)
        window.progress.phase(Phase.RUNBOOK, name)
        entry: dict[str, Any] = {
            "number": step.number,
            "name": step.title,
            "kind": step.kind,
            "line": step.line,
            "started_at": now_iso(),
        }
        started = time.monotonic()
        if step.kind == "manual":
            answer = _until_stopped(lambda: self.ack(step), window.stop, wait_s=0)
            done, detail = answer if answer is not None else (False, "")
            outcome = "acknowledged" if done else "failed"
        else:
            work_dir = window.run_dir / "ansible" / "runbook"
            endpoints = endpoint_vars(self.plan.prometheus, self.plan.alertmanager)
            inventory = self.plan.inventory.path
            answer = result = _until_stopped(
                lambda: self.step_runner(
                    self.book, step, inventory, work_dir, endpoints, cancel=window.stop.is_set
                ),
                window.stop,
                wait_s=STEP_CANCELED_S,
            )
            if result is not None:
                outcome, detail = ("ok" if result.ok else "failed"), result.detail
                entry["hosts"] = result.hosts
        if answer is None or (outcome == "failed" and window.stop.is_set()):
            # Stopped under way (the drill's limit, a guardrail, a signal): not the step's
            # own failure; the run's abort says why.
            outcome = "stopped"
            detail = (window.journal.get("abort") or {}).get("reason") or window.stop_reason()
        ended = time.monotonic()
        entry.update(
            ended_at=now_iso(),
            duration_s=round(ended - started, 3),
            since_fault_s=round(ended - fault_at, 3),
            outcome=outcome,
            detail=self.plan.redactor.text(detail),
        )
        measure = _measure(step)
        if measure and outcome == "ok" and f"time_to_{measure}_s" not in timings:
            entry["measure"] = measure
            timings[f"time_to_{measure}_s"] = entry["since_fault_s"]
        window.journal.add_step(entry)
        window.progress.message(f"{name}: {outcome} in {entry['duration_s']:.1f}s")
        return entry


def _until_stopped(work: Callable[[], T], stop: threading.Event, wait_s: float) -> T | None:
    """`work()` in a thread of its own, or None once `stop` is set before it returned (then
    waiting up to `wait_s` more for it to end: a canceled play winding down)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def go() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # raised in the drill's own thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=go, name="drill-step", daemon=True).start()
    while not done.wait(0.1):
        if stop.is_set():
            done.wait(wait_s)
            return None
    if "error" in box:
        raise box["error"]
    return box["value"]


def _measure(step: Step) -> str | None:
    """Which drill time a step marks: its `measure:`, else an alert step marks `alert`."""
    if step.block is None or not isinstance(step.block.data, dict):
        return None
    if "measure" in step.block.data:
        return str(step.block.data["measure"])
    return "alert" if step.kind == "alert" else None
