"""`chaosrun drill`: inject the runbook's fault, run the runbook instead of waiting, time it.

DrillEngine is the run engine (chaosrun.engine.Engine: preflight, steady state, baseline,
inject + verify, lease, guardrails, rollback, recovery) with the observe phase replaced
by the runbook's steps, one ansible-runner run per executable step. A step that fails
(or a signal, guardrail or kill switch) aborts: the engine's rollback then reverts the
fault and the drill is reported as failed at that step. After a runbook that succeeded
the fault's rollback still runs (it is idempotent and clears the on-host state and the
dead-man timer), and the steady state must hold again within `recovery.within`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun import runner
from chaosrun.engine import Engine, make_run_id
from chaosrun.journal import now_iso
from chaosrun.planning import Plan
from chaosrun.progress import Progress
from chaosrun.runbook import compile as compiler
from chaosrun.runbook.parse import Runbook, Step

Ack = Callable[[Step], tuple[bool, str]]  # manual step -> (done, detail)


@dataclass
class StepResult:
    ok: bool
    detail: str = ""
    hosts: dict[str, str] = field(default_factory=dict)


StepRunner = Callable[[Runbook, Step, Path, Path], StepResult]


def auto_ack(step: Step) -> tuple[bool, str]:
    return True, "manual step acknowledged automatically (--auto-ack)"


def run_step(book: Runbook, step: Step, inventory: Path, work_dir: Path) -> StepResult:
    """Run the compiled play of one step with ansible-runner."""
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

    fd, vars_path = tempfile.mkstemp(prefix="step-", suffix=".yml", dir=work_dir)
    os.close(fd)
    Path(vars_path).write_text("auto_ack: true\n", encoding="utf-8")
    try:
        run = ansible_runner.run(
            private_data_dir=str(work_dir),
            playbook=str(playbook.resolve()),
            inventory=str(inventory),
            cmdline=runner.playbook_args("-e", f"@{vars_path}"),  # with the user's vault ids
            envvars=runner.runner_env(),
            event_handler=handle,
            quiet=True,
            suppress_env_files=True,
        )
    finally:
        os.unlink(vars_path)
    ok = run.status == "successful" and not messages
    if not ok and not messages:
        messages.append(f"ansible-playbook {run.status} (rc {run.rc})")
    return StepResult(ok, "; ".join(messages), hosts)


class DrillEngine(Engine):
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
        run_id = run_id or make_run_id(f"drill-{book.file.stem}")
        super().__init__(plan, run_root, progress, run_id, kind="drill")
        self.book, self.ack, self.step_runner = book, ack, step_runner
        self.failed_step: Step | None = None
        self.fault_active_at: float | None = None

    def _start_journal(self) -> None:
        super()._start_journal()
        self.journal.set(
            runbook={
                "title": self.book.title,
                "file": str(self.book.file),
                "steps": len(self.book.steps),
                "failed_step": None,
            }
        )

    def _observe(self) -> None:
        """The runbook, step by step, instead of waiting out a duration."""
        phase = self._phase("runbook", f"{self.book.title}: {len(self.book.steps)} step(s)")
        self.fault_active_at = time.monotonic()
        for step in self.book.steps:
            if self.stop.is_set():
                self._set_abort(f"{self._stop_reason()} before step {step.number}")
                break
            entry = self._step(step)
            if entry["outcome"] == "failed":
                self.failed_step = step
                self.journal.data["runbook"]["failed_step"] = step.number
                self._set_abort(
                    f"runbook failed at step {step.number} ({step.title}), "
                    f"{self.book.file}:{step.line}: {entry['detail']}"
                )
                break
        self.timings["runbook_s"] = round(time.monotonic() - self.fault_active_at, 3)
        outcome = "failed" if self.abort else "ok"
        self.journal.phase_end(phase, outcome, (self.abort or {}).get("reason", ""))

    def _step(self, step: Step) -> dict[str, Any]:
        name = compiler.play_name(step)
        self.progress.phase("runbook", name)
        entry: dict[str, Any] = {
            "number": step.number,
            "name": step.title,
            "kind": step.kind,
            "line": step.line,
            "started_at": now_iso(),
        }
        started = time.monotonic()
        if step.kind == "manual":
            done, detail = self.ack(step)
            outcome = "acknowledged" if done else "failed"
        else:
            result = self.step_runner(
                self.book, step, self.plan.inventory.path, self.run_dir / "ansible" / "runbook"
            )
            outcome, detail = ("ok" if result.ok else "failed"), result.detail
            entry["hosts"] = result.hosts
        ended = time.monotonic()
        entry.update(
            ended_at=now_iso(),
            duration_s=round(ended - started, 3),
            since_fault_s=round(ended - (self.fault_active_at or started), 3),
            outcome=outcome,
            detail=self.plan.redactor.text(detail),
        )
        measure = _measure(step)
        if measure and outcome == "ok" and f"time_to_{measure}_s" not in self.timings:
            entry["measure"] = measure
            self.timings[f"time_to_{measure}_s"] = entry["since_fault_s"]
        with self.journal._lock:
            self.journal.data["steps"].append(entry)
        self.journal.save()
        self.progress.message(f"{name}: {outcome} in {entry['duration_s']:.1f}s")
        return entry

    def _finish(self, status: str, detail: str):
        if status == "aborted" and self.failed_step is not None:
            status = "failed"  # the runbook, not a guardrail, is what failed
        if status == "passed" and "time_to_recover_s" not in self.timings:
            rec = self.journal.data.get("recovery") or {}
            if self.fault_active_at is not None and rec.get("time_to_recover_s") is not None:
                runbook = self.timings.get("runbook_s", 0.0)
                self.timings["time_to_recover_s"] = round(runbook + rec["time_to_recover_s"], 3)
        return super()._finish(status, detail)


def _measure(step: Step) -> str | None:
    """Which drill time a step marks: its `measure:`, else an alert step marks `alert`."""
    if step.block is None or not isinstance(step.block.data, dict):
        return None
    if "measure" in step.block.data:
        return str(step.block.data["measure"])
    return "alert" if step.kind == "alert" else None
