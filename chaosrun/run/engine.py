"""The phase machine of one run.

preflight -> steady state before -> baseline -> inject -> verify active -> observe ->
rollback (ALWAYS once inject started: end of duration, breach, UNKNOWN
budget spent, Ctrl-C, SIGTERM, an exception) -> verify inactive -> recovery. From the
start of inject a monitor thread checks guardrails and safety rules every interval.

Rollback first runs every host's ONE revert script over already open SSH connections,
in parallel (fast: no ansible-playbook start on the abort path), then confirms in one
ansible-runner run: the role's verify(inactive) entry point, preceded by its rollback
entry point when a revert script did not answer success on some host or inject was cut
short (its last step may land after the revert script).

No phase waits for an ansible-playbook start when it can help it (chaosrun.run.prestart):
inject's playbook starts before the plan is made (chaosrun.run.early: the engine takes
it with the run's id and guardian) or else beside preflight, and runs verify(active) too,
behind inject in the same process (its events split at the boundary into the two
phases), rollback's confirmation starts once the fault is verified, each released when
its phase begins; the rest are abandoned unused.
Nor for its end: a phase ends at its play's stats event, and the process exits in the
background (`runner.Finishing`); the run's end, once its journal is written, waits a
little for those exits, and the reaper's sweep ends any still exiting.

Modes reuse the engine through named seams, never by subclassing it: an `Activity` is
what runs while the fault is on (the default waits out the duration; a drill runs its
runbook's steps) and `journal_extras` are a mode's own journal entries (a drill's
`runbook`, a ramp's `ramp`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaosrun.base import project as projects
from chaosrun.base.errors import Refused
from chaosrun.base.exitcodes import ExitCode
from chaosrun.base.hostlayout import run_dir as host_run_dir
from chaosrun.base.phases import Phase
from chaosrun.base.verdict import ProbeResult, Verdict
from chaosrun.hosts import hostshell, runner
from chaosrun.model import audit, fault_time, safety, zones
from chaosrun.model.audit import controller_id
from chaosrun.model.experiment import ProbeSpec
from chaosrun.plan.planning import Plan
from chaosrun.probes import Prober
from chaosrun.probes.prometheus import PrometheusSource
from chaosrun.report import impact, impact_text
from chaosrun.report.hooks import RunHooks
from chaosrun.run import deadline as deadlines
from chaosrun.run import early, preflight, prestart, reaper
from chaosrun.run.journal import Journal, now_iso
from chaosrun.run.lease import DISARMED, FAILED, FROZEN, GONE, RENEWED, LeaseRenewer
from chaosrun.run.limit import FaultLimit
from chaosrun.run.observe import Observer
from chaosrun.run.progress import Progress
from chaosrun.run.runid import make_run_id
from chaosrun.run.silences import AlertWatch, SilenceError

# Before the second look at a rollback that was not confirmed: long enough for a queued
# systemd job or a unit's restart to settle, short next to the run.
SECOND_LOOK_PAUSE_S = 2.0
# How long the end of a run waits for the alerts its silences hold to resolve before
# expiring them (an alert still active then pages: the run no longer explains it).
SETTLE_S = 60.0
# How long the end of a run waits for the plays whose result it already has to end their
# processes (ansible-playbook's exit, ansible-runner's artifacts: 0.2 s on a calm machine,
# mostly spent while the run writes its journal and report); the reaper ends any left.
PLAYS_END_S = 2.0
# How long an inject that failed or was stopped waits for the verify behind it in the same
# process to be canceled (a 50 ms poll, then its workers killed) before the rollback.
CANCELED_VERIFY_S = 10.0


@dataclass
class Outcome:
    status: str
    exit_code: int
    journal: Path
    run_id: str
    abort_reason: str | None = None
    failed_hosts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FaultWindow:
    """What an activity gets while the fault is on: the run's stop flag (a guardrail, a
    signal, a kill switch or a lapsed lease sets it), why it was set, where to write."""

    stop: threading.Event
    stop_reason: Callable[[], str]
    journal: Journal
    progress: Progress
    run_dir: Path


@dataclass
class ActivityEnd:
    """How an activity ended. `abort`: why it stopped the run early. `failed`: the
    activity itself failed (a drill's step), so the run fails rather than aborts."""

    abort: str | None = None
    failed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    # Time to recover counts from the activity's start: the recovery's own time plus this.
    recover_after_s: float | None = None


@dataclass(frozen=True)
class Activity:
    """What the run does while the fault is on, once verify saw it."""

    phase: Phase
    detail: str
    run: Callable[[FaultWindow], ActivityEnd]
    abort_outcome: str = "aborted"  # the phase's outcome in the journal when it stopped early
    # The longest it may keep the fault on (chaosrun.run.limit), for an activity that holds
    # it for no set duration; `doing` says where it was when the limit passed.
    limit: fault_time.Limit | None = None
    doing: Callable[[], str] | None = None


class Engine:
    def __init__(
        self,
        plan: Plan,
        run_root: Path,
        progress: Progress,
        run_id: str | None = None,
        kind: str = "run",
        activity: Activity | None = None,
        journal_extras: Mapping[str, Any] | None = None,
        started: early.Started | None = None,
    ):
        self.plan = plan
        self.exp = plan.experiment
        self.progress = progress
        if started is not None:  # begun before its plan (chaosrun.run.early)
            run_id = started.run_id
        self.run_id = run_id or make_run_id(self.exp.file.stem)
        self.run_dir = run_root / self.run_id
        # The one journal of the run: the observer and the report hooks write to it too.
        self.journal = Journal(self.run_dir, self.run_id, plan.redactor, kind=kind)
        self.journal_extras = dict(journal_extras or {})
        g = self.exp.guardrails
        self.activity = activity or Activity(
            Phase.OBSERVE, f"{self.exp.duration:g}s, guardrails every {g.interval:g}s", self._wait
        )
        self.activity_end: ActivityEnd | None = None
        limit = self.activity.limit
        self.limit = FaultLimit(limit, self._time_out) if limit is not None else None
        self.timed_out = False  # the activity's limit stopped the run
        self.stop = threading.Event()
        self.stop_reason = ""
        self.signalled = False  # a signal (not a guardrail) stopped the run
        self.signal_event = threading.Event()
        self.signal_name = ""
        self.signal_phase: Phase | None = None  # the phase the first signal arrived in
        # A second signal: stop waiting for anything but a revert script in flight.
        self.hurry = threading.Event()
        self.current_phase = Phase.VALIDATE
        self._abort_lock = threading.Lock()
        self.in_rollback = False
        # Set once inject returned on every host; until then a canceled inject may still
        # apply its fault after the revert scripts ran, so rollback runs the role's own.
        self.inject_complete = False
        # Why inject failed (per host, the role's own message), and whether the hosts say
        # the run never armed anything: then the run was refused, not rolled back.
        self.inject_failure: str | None = None
        self.nothing_injected = False
        # The hosts' freeze marker (`chaosrun freeze -i`) stopped the run: with nothing of
        # it ever armed, that is a refusal, as the on-host lock step's own would be.
        self.frozen_abort = False
        self.hosts = list(plan.selection.selected)
        # Preflight's answers when `chaosrun run` asked the hosts before this engine was ready.
        self.asked = started.asked if started is not None else None
        self.shell = (started and started.shell) or preflight.run_shell(plan, self.run_id, started)
        source = (
            PrometheusSource(plan.prometheus, self.exp.prometheus.timeout)
            if plan.prometheus
            else None
        )
        self.prober = Prober(
            source=source,
            timeout=self.exp.prometheus.timeout,
            inventory=plan.inventory.path,
            work_dir=self.run_dir / "ansible",
            alertmanager=plan.alertmanager,
            headers=plan.headers,
        )
        self.abort: dict[str, Any] | None = None
        self.rollback_end: float | None = None
        self.timings: dict[str, float] = {}
        self.watch = safety.Watch(plan.config, self.run_id)
        self.lease: LeaseRenewer | None = None
        # Inject and verify(active) end within it, or the run cancels them (deadlines.inject).
        self.deadline: deadlines.Deadline | None = None
        self.fault_over = threading.Event()  # set when rollback is about to start
        # Set when recovery starts (it samples the steady state itself) or the run ends.
        self.sampling_over = threading.Event()
        self.monitor: threading.Thread | None = None
        observe = self.exp.observe
        self.observer = Observer(
            observe.probes, self.prober, self.journal, observe.interval, lambda: self.current_phase
        )
        self.alerts = self._alert_watch()
        # Phase -> its ansible-playbook, started ahead and waiting for the phase to begin.
        self.pending: dict[Phase, prestart.Pending] = {}
        # The plays whose result the engine has and whose process is still ending.
        self.finishing = runner.Finishing()
        # Webhooks at start/abort/end and report.html + junit.xml in the run dir.
        self.hooks = RunHooks(self.journal.path, plan.config.webhooks, self.progress.message)
        self.guardian = self._take(started) if started is not None else None

    def _take(self, started: early.Started) -> reaper.Reaper | None:
        """The guardian, inject's play and the hosts' shell of a run begun before its plan,
        when they are what this engine would start itself; else they end (the run's
        directory stays) and preflight asks the hosts again on connections of its own."""
        started.taken = True
        if not started.fits(self.shell.ansible_control_path(), len(self.hosts)):
            # Its guardian's sweep ends the shell's ssh and removes the run's control directory,
            # which a shell makes when it is made: the engine's is made after it.
            started.discard(keep_dir=True)
            self.shell, self.asked = preflight.run_shell(self.plan, self.run_id), None
            return None
        started.pending.adopt(
            lambda h, s, t: self.progress.host(Phase.INJECT, h, s, t), self.finishing
        )
        self.pending[Phase.INJECT] = started.pending
        return started.guardian

    # -- the whole run -------------------------------------------------------------------
    def run(self) -> Outcome:
        # Every process the run starts ends with it, even when this one is SIGKILLed.
        run_reaper = (
            self.guardian
            or reaper.Reaper(
                self.run_id,
                self.shell.control_dir,
                self.shell.ansible_control_path(),
            ).start()
        )
        try:
            self._start_journal()
            self.hooks.start()
            previous = self._install_signals()
            try:
                return self._run()
            finally:
                self._abandon_pending()
                self._end_plays()
                self._restore_signals(previous)
                self.prober.close()
                if self.alerts is not None:  # whatever went wrong, no silence outlives us
                    self.alerts.stop()
                    self.alerts.expire()
        finally:
            run_reaper.stop()

    def _run(self) -> Outcome:
        try:
            # Inject's playbook (verify(active) runs in it too, behind inject) starts while
            # preflight and the steady state run.
            waits = early.inject_wait_s(self.exp, self.plan.ttl)
            self._prestart(Phase.INJECT, waits)
            self._preflight()
            self._steady_state_before()
            self._baseline()
            self._silence_expected_alerts()
            self._last_look()
        except Refused as exc:
            return self._finish("refused", str(exc))
        except Exception as exc:  # nothing touched yet: refuse, and say why
            return self._finish("refused", f"error before inject: {exc!r}")
        if self.stop.is_set():  # stopped before any host was touched: nothing to undo
            self._set_abort(f"{self._stop_reason()} before inject")
            return self._finish("aborted", self.abort["reason"])
        try:
            self._inject_and_observe()
        except BaseException as exc:  # rollback must follow whatever went wrong
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"error: {exc!r}"
            self._set_abort(f"{reason} during the fault")
        try:
            rolled_back = self._rollback()
        except Exception as exc:  # the loudest outcome: a fault may still be active
            self.progress.message(f"ROLLBACK ERROR: {exc!r}", "bold white on red")
            self.journal.set(rollback={"ok": False, "hosts": {}, "error": repr(exc)})
            rolled_back = False
        if not rolled_back:
            return self._finish("rollback_failed", "rollback failed")
        if self.nothing_injected and (self.inject_failure or self.frozen_abort):
            # The role refused (the on-host lock, its input) before arming anything.
            why = self.inject_failure or (self.abort or {}).get("reason", "")
            return self._finish("refused", f"nothing injected: {why}")
        recovered = self._recovery()
        if self.signalled:  # a signal during rollback or recovery ends the run as aborted
            self._set_abort(f"{self.stop_reason} during {self.signal_phase}")
            self.abort.setdefault("signal", self.signal_name)
            self.journal.set(abort=self.abort)
        if self.abort is not None:
            return self._finish("aborted", self.abort["reason"])
        if not recovered:
            return self._finish("failed", "steady state did not recover in time")
        missing = self._close_alerts()
        if missing:
            return self._finish("failed", f"expected alert(s) did not fire: {', '.join(missing)}")
        return self._finish("passed", "")

    def _start_journal(self) -> None:
        p, exp = self.plan, self.exp
        self.journal.set(
            experiment={
                "title": exp.title,
                "file": projects.find().name_of(exp.file),
                "severity": exp.severity,
                "description": exp.description,
                "duration_s": exp.duration,
            },
            overrides=p.public_overrides(),
            inventory=str(p.inventory.path),
            targets={
                "pattern": p.selection.pattern,
                "matched": p.selection.matched,
                "excluded": p.selection.excluded,
                "selected": p.selection.selected,
                **zones.journal_fields(p.selection),
            },
            fault={
                "role": exp.fault.role,
                "role_path": str(p.role.path),  # which copy of the role ran
                "vars": p.public_vars(),
                "ttl_s": p.ttl,
                **({"limit": self.limit.limit.as_dict()} if self.limit else {}),
            },
            **self.journal_extras,
        )
        for role, probe in exp.all_probes():
            self.journal.probe(
                probe.name, probe.kind, role, dict(probe.thresholds), _describe(probe)
            )
        phase = self.journal.phase_start(Phase.VALIDATE)
        self.journal.phase_end(phase, "ok", "experiment, role vars and targets checked")

    def _finish(self, status: str, detail: str) -> Outcome:
        end = self.activity_end
        if status == "aborted" and end is not None and end.failed:
            status = "failed"  # the activity (a drill's step), not a guardrail, failed
        self._abandon_pending()
        if status == "passed":
            self._time_to_recover()
        code = ExitCode.of(status)
        self._stop_sampling()
        self.observer.finish()
        self._record_impact()
        # A fault that may still be on is no longer planned: its alerts page at once.
        self._close_alerts(settle=status != "rollback_failed")
        self.journal.set(
            status=status,
            exit_code=code,
            ended_at=now_iso(),
            abort=self.abort,
            timings=self.timings,
        )
        self.hooks.finish()
        if self.journal.unsaved:  # a full disk: the outcome stands, its record does not
            note = (
                f"journal not written ({self.journal.unsaved}): "
                f"{self.journal.path} holds an older copy"
            )
            self.progress.message(note, "bold white on red")
            detail = f"{detail}; {note}" if detail else note
        self._audit(status, detail)
        failed = []
        if status == "rollback_failed":
            failed = [
                h
                for h, s in (self.journal.get("rollback") or {}).get("hosts", {}).items()
                if s != "ok"
            ] or list(self.hosts)
        self.progress.message(
            f"{status} (exit {code})" + (f": {detail}" if detail else ""),
            "bold green" if code == 0 else "bold red",
        )
        return Outcome(status, int(code), self.journal.path, self.run_id, detail or None, failed)

    def _time_to_recover(self) -> None:
        """An activity that counts time to recover from its own start (a drill's runbook)
        adds its length to the recovery's time, unless one of its steps measured it."""
        end = self.activity_end
        if end is None or end.recover_after_s is None or "time_to_recover_s" in self.timings:
            return
        recovered_in = (self.journal.get("recovery") or {}).get("time_to_recover_s")
        if recovered_in is not None:
            self.timings["time_to_recover_s"] = round(end.recover_after_s + recovered_in, 3)

    def _stop_sampling(self) -> None:
        self.sampling_over.set()
        if self.monitor is not None:  # a sample in flight is dropped, not waited for
            self.monitor.join(timeout=0.1)

    def _record_impact(self) -> None:
        """Worst values, time beyond the limits and the two recovery figures."""
        journal = self.journal.snapshot()
        found = impact.summarize(journal, self.exp.guardrails.interval)
        if found is not None:
            found["summary"] = impact_text.sentence(journal, found)
            self.journal.set(impact=found)

    def _audit(self, status: str, detail: str) -> None:
        try:
            audit.record(
                self.plan.config.audit_path,
                "refused" if status == "refused" else "run",
                status,
                experiment=str(self.exp.file),
                run_id=self.run_id,
                targets=self.hosts,
                reason=self.plan.redactor.text(detail) or None,
            )
        except OSError as exc:  # the audit log must not turn a finished run into a crash
            self.progress.message(f"audit log not written: {exc}", "yellow")

    # -- signals ---------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        previous = {}
        if threading.current_thread() is not threading.main_thread():
            return previous
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self._on_signal)
        # A hangup (the operator's session to the controller dropped) stops the run like
        # SIGTERM instead of ending it on the spot; under nohup it stays ignored.
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        """Only flags here: the handler interrupts the main thread anywhere, even inside
        the journal's lock, so the abort is recorded by the main thread's own code."""
        name = signal.Signals(signum).name
        if self.signalled:
            self.hurry.set()
            self.progress.message(
                f"{name} received again: stopping now (a revert script in flight still "
                "finishes: a fault is never left half reverted)",
                "bold yellow",
            )
            return
        self.signalled = True
        self.signal_name = name
        self.signal_phase = Phase.ROLLBACK if self.in_rollback else self.current_phase
        self.stop_reason = f"{name} received"
        self.signal_event.set()
        self.stop.set()
        if self.in_rollback:
            self.progress.message(
                f"{name} received: rollback in progress, finishing it, then stopping (exit 3)",
                "bold yellow",
            )
        else:
            self.progress.message(f"{name} received: aborting and rolling back", "bold yellow")

    # -- before the fault ----------------------------------------------------------------
    def _phase(self, name: Phase, detail: str = "") -> dict[str, Any]:
        self.current_phase = name
        self.progress.phase(name, detail)
        return self.journal.phase_start(name)

    def _preflight(self) -> None:
        phase = self._phase(Phase.PREFLIGHT, f"{len(self.hosts)} host(s): {', '.join(self.hosts)}")
        try:
            hosts = preflight.run_checks(
                self.plan, self.shell, self.prober.source, self.run_id, self.asked
            )
        except Refused as exc:
            self.journal.phase_end(phase, "refused", str(exc))
            raise
        self.journal.phase_end(phase, "ok", "", hosts)

    def _sample(
        self, role: str, probe: ProbeSpec, phase: Phase, result: ProbeResult, at: str | None = None
    ) -> None:
        self.journal.sample(
            role, probe.name, phase, result.verdict, result.value, result.evidence, at=at
        )
        self.progress.probe(role, probe.name, result)

    def _steady_state_before(self) -> None:
        phase = self._phase(Phase.STEADY_STATE_BEFORE)
        probes = list(self.exp.steady_state)
        results = self.prober.evaluate_all(probes)
        bad = []
        for probe, result in zip(probes, results, strict=True):
            self._sample("steady_state", probe, Phase.STEADY_STATE_BEFORE, result)
            if result.verdict is not Verdict.PASS:
                bad.append(f"{probe.name!r} is {result.verdict} ({result.evidence})")
        if bad:
            reason = "steady state does not hold before the start: " + "; ".join(bad)
            self.journal.phase_end(phase, "refused", reason)
            raise Refused(reason)
        self.journal.phase_end(phase, "ok", f"{len(probes)} probe(s) pass")

    def _baseline(self) -> None:
        phase = self._phase(Phase.BASELINE)
        probes = [p for _, p in self.exp.all_probes()]
        results = self.prober.take_baselines(probes, self.exp.baseline_window)
        self.journal.set_baselines({n: r.value for n, r in results.items() if r.value is not None})
        bad = [f"{n!r}: {r.evidence}" for n, r in results.items() if r.value is None]
        detail = "; ".join(f"{n} = {r.value:g}" for n, r in results.items() if r.value is not None)
        if bad:
            reason = "no baseline for " + "; ".join(bad)
            self.journal.phase_end(phase, "refused", reason)
            raise Refused(reason)
        self.journal.phase_end(phase, "ok", detail or "no relative thresholds")

    def _last_look(self) -> None:
        """The kill switch, the blackout windows and an abort request once more before
        inject: preflight read them ahead of the steady state and the baseline, which take
        a while, and a freeze meanwhile must refuse the run before it touches any host
        (the guardrail monitor would only roll back a fault already injected)."""
        if self.stop.is_set():
            return  # a signal: the run ends as aborted before inject
        reason = self.watch.abort_reason()
        if reason:
            raise Refused(reason)

    # -- expected alerts (chaosrun.run.silences) ----------------------------------------------
    def _alert_watch(self) -> AlertWatch | None:
        if not self.exp.expected_alerts or self.plan.alertmanager is None:
            return None
        return AlertWatch(
            access=self.plan.alertmanager,
            expected=self.exp.expected_alerts,
            hosts=list(self.hosts),
            ttl=self.plan.ttl,
            every=min(self.plan.renew_every, 2.0),
            comment=f"chaosrun run {self.run_id}: expected during {self.exp.title!r}",
            created_by=f"chaosrun {controller_id()}",
        )

    def _silence_expected_alerts(self) -> None:
        """Silence the expected alerts on the targets before anything is injected."""
        if self.alerts is None:
            return
        try:
            self.alerts.create()
        except SilenceError as exc:
            raise Refused(str(exc)) from None
        self.alerts.start()
        self.journal.set(alerts=self.alerts.summary())
        names = ", ".join(a.name for a in self.exp.expected_alerts)
        self.progress.message(f"silenced expected alert(s) on the targets: {names}", "cyan")

    def _close_alerts(self, settle: bool = True) -> list[str]:
        """Expire the silences once what they hold resolved (bounded); the expected alerts
        that did not fire. Idempotent: every way out of the run calls it."""
        if self.alerts is None or not self.alerts.silences:
            return []
        if any(not s["expired"] for s in self.alerts.silences):
            self.alerts.stop()
            within = SETTLE_S if settle and not self.hurry.is_set() else 0
            self.alerts.settle(within, self.hurry)
            self.alerts.expire()
            self.journal.set(alerts=self.alerts.summary())
        return self.alerts.missing()

    # -- the fault ---------------------------------------------------------------------------
    def _role_vars(self, expect: str | None) -> dict[str, Any]:
        values: dict[str, Any] = {
            **self.exp.fault.vars,
            "chaos_run_id": self.run_id,
            "chaos_ttl": fault_time.arm_ttl(self.plan.ttl, self.activity.limit),
            "chaos_state_dir": self.plan.state_dir,
            # user@host:pid, so `chaosrun status` can tell whether this run still lives.
            "chaos_controller": controller_id(),
            # The `experiment` label of chaosrun_fault_active on the hosts' dashboards.
            "chaos_experiment": self.exp.title,
            # check() validated the vars before any host was touched: no per-host repeat.
            "chaos_validated": True,
        }
        if expect:
            values[f"{self.plan.role.short}_expect"] = expect
        return values

    def _play(
        self,
        phase_name: Phase,
        entry_points: list[str],
        expect: str | None,
        cancel: bool | threading.Event,
        hosts: list[str] | None = None,
    ):
        phase = self._phase(phase_name, ", ".join(entry_points))
        started = time.monotonic()
        stop = self.stop if cancel is True else (cancel or None)
        pending = self.pending.pop(phase_name, None)
        result = None
        if pending is not None:
            canceled = stop.is_set if stop is not None else None
            variables = self._role_vars(expect)
            result = pending.release(hosts or self.hosts, entry_points, variables, canceled)
        started_ahead = result is not None
        if result is None:
            result = self._fresh_play(phase_name, entry_points, expect, stop, hosts)
        self._play_end(phase_name, phase, started, result, started_ahead)
        return result

    def _fresh_play(
        self,
        phase_name: Phase,
        entry_points: list[str],
        expect: str | None,
        stop: threading.Event | None,
        hosts: list[str] | None = None,
    ) -> runner.PlayResult:
        """`entry_points` by an ansible-playbook started now (none was started ahead)."""
        return runner.run_entry_points(
            role=self.exp.fault.role,
            entry_points=entry_points,
            hosts=hosts or self.hosts,
            variables=self._role_vars(expect),
            inventory=self.plan.inventory.path,
            work_dir=self.run_dir / "ansible" / phase_name,
            on_event=lambda h, s, t: self.progress.host(phase_name, h, s, t),
            cancel=stop,
            finishing=self.finishing,
        )

    def _play_end(
        self,
        phase_name: Phase,
        phase: dict[str, Any],
        started: float,
        result: runner.PlayResult,
        started_ahead: bool,
    ) -> None:
        """End `phase` with its play's result: timing, progress, the journal entry."""
        self.timings[f"{phase_name}_s"] = round(time.monotonic() - started, 3)
        self.progress.hosts_done(phase_name, result.hosts)
        detail = "; ".join(f"{h}: {m}" for h, m in result.messages.items())
        outcome = "ok" if result.ok else ("canceled" if result.status == "canceled" else "failed")
        # Whether its playbook was started ahead (chaosrun.run.prestart), for a slow phase's
        # post-mortem; written before phase_end, which saves the entry.
        phase["started_ahead"] = started_ahead
        self.journal.phase_end(phase, outcome, detail or result.status, result.hosts)

    def _inject_then_verify(self) -> tuple[runner.PlayResult, runner.PlayResult | None]:
        """Inject, and verify(active) behind it in the same started-ahead process: inject's
        result once its play ended on every host (verify's then starts on the hosts, which
        the journal's verify phase begins with), and verify's still to come. No such
        process: inject by a play of its own, and None for verify."""
        pending = self.pending.pop(Phase.INJECT, None)
        if pending is None:
            return self._play(Phase.INJECT, ["inject"], None, cancel=True), None
        phase = self._phase(Phase.INJECT, "inject")
        started = time.monotonic()
        inject = pending.result

        def canceled() -> bool:
            # A failed inject ends the play as a stop does: verify is not run behind it.
            return self.stop.is_set() or (inject.known.is_set() and not inject.ok)

        first = pending.release(
            self.hosts,
            ["inject"],
            self._role_vars("active"),
            canceled,
            then=["verify"],
            then_events=lambda h, s, t: self.progress.host(Phase.VERIFY_ACTIVE, h, s, t),
        )
        if first is None:  # not waiting any more: inject, then verify, each by a fresh play
            fresh = self._fresh_play(Phase.INJECT, ["inject"], None, self.stop)
            self._play_end(Phase.INJECT, phase, started, fresh, False)
            return fresh, None
        self._play_end(Phase.INJECT, phase, started, first, True)
        return first, first.then

    def _verify_behind_inject(self, then: runner.PlayResult) -> runner.PlayResult:
        """Verify(active) as the journal's phase of its own, though the inject's process
        runs it: from the end of inject to its play's stats."""
        phase = self._phase(Phase.VERIFY_ACTIVE, "verify")
        started = time.monotonic()
        then.known.wait()
        self._play_end(Phase.VERIFY_ACTIVE, phase, started, then, True)
        return then

    def _prestart(self, phase_name: Phase, wait_s: float) -> None:
        """Start `phase_name`'s playbook now, to be released when the phase begins."""
        if phase_name in self.pending:
            return
        pending = prestart.start(
            role=self.exp.fault.role,
            hosts=len(self.hosts),
            inventory=self.plan.inventory.path,
            work_dir=self.run_dir / "ansible" / phase_name,
            wait_s=wait_s,
            on_event=lambda h, s, t: self.progress.host(phase_name, h, s, t),
            finishing=self.finishing,
        )
        if pending is not None:
            self.pending[phase_name] = pending

    def _abandon_pending(self) -> None:
        """End the playbooks started for phases the run will not reach: none touches a host."""
        while self.pending:
            self.pending.popitem()[1].abandon()

    def _end_plays(self) -> None:
        """Wait a little for the processes of the plays whose result the run has (they had
        the journal's writing to end in); the reaper ends those still exiting."""
        self.finishing.wait(PLAYS_END_S)

    def _inject_and_observe(self) -> None:
        # Renew from the start of inject: the lease is written by the role's arm step, and
        # a slow inject must not outlive it (the role then refuses to apply the fault).
        if self.limit is not None:  # counted from the start of inject, as the lease is
            self.limit.start()
        lease = self._start_lease()
        # Guardrails watch from the start of inject too: a fault that hurts users while
        # it is being applied is rolled back without waiting for the observe phase.
        self.current_phase = Phase.INJECT  # the monitor's first samples belong to it
        self.monitor = threading.Thread(target=self._monitor, name="guardrails", daemon=True)
        self.monitor.start()
        self.observer.start()
        self.deadline = self._inject_deadline().start()
        try:
            if self.stop.is_set():  # stopped while the lease's first renewal ran: no release
                self._set_abort(f"{self._stop_reason()} before inject")
                return
            result, then = self._inject_then_verify()
            if then is not None and (self.stop.is_set() or not result.ok):
                # The verify behind it is being canceled: let it end before the rollback.
                then.known.wait(CANCELED_VERIFY_S)
            if self.stop.is_set():
                self._cut_short("inject", result, then)
                return
            if not result.ok:
                self.inject_failure = "; ".join(
                    f"{h}: {result.messages.get(h, 'failed')}" for h in result.failed_hosts()
                )
                self._set_abort(f"inject failed on {self.inject_failure}")
                return
            self.inject_complete = True
            lease.hold([h for h, s in result.hosts.items() if s == "ok"])
            verify = (
                self._verify_behind_inject(then)
                if then is not None
                else self._play(Phase.VERIFY_ACTIVE, ["verify"], "active", cancel=True)
            )
            self.deadline.cancel()
            if self.stop.is_set():
                self._cut_short("verify", None, verify)
            elif not verify.ok:
                self._set_abort(f"fault not observable on {', '.join(verify.failed_hosts())}")
            else:
                # Rollback's confirmation starts while the fault is on: an abort's
                # confirmation then waits for no ansible-playbook start either.
                held = self.limit.limit.seconds if self.limit else self.exp.duration
                self._prestart(Phase.VERIFY_INACTIVE, held + 600)
                self._hold()
        finally:
            self.deadline.cancel()
            if self.limit is not None:
                self.limit.cancel()
            self.fault_over.set()
            # stop() waits for a renewal in flight; the rollback must not wait for it.
            threading.Thread(target=lease.stop, name="lease-stop", daemon=True).start()

    def _inject_deadline(self) -> deadlines.Deadline:
        """deadlines.inject for each batch of hosts the play runs at once."""
        hosts = len(self.hosts)
        per_batch = self.plan.config.inject_deadline_s
        seconds = deadlines.budget(per_batch, hosts, runner.forks(hosts))
        return deadlines.Deadline(seconds, self.stop)

    def _cut_short(
        self, phase: str, inject: runner.PlayResult | None, verify: runner.PlayResult | None
    ) -> None:
        """The abort of a run stopped during inject or verify(active): the stop's reason, or
        the deadline's with the hosts that had not finished (journal: abort.unfinished)."""
        deadline = self.deadline
        if deadline is None or not deadline.passed:
            self._set_abort(f"{self._stop_reason()} during {phase}")
            return
        late = deadlines.unfinished([inject, verify])
        if verify is not None and verify.busy:
            phase = "verify"
        why = deadlines.reason(deadline.seconds, phase, late, self.hosts)
        self._set_abort(
            why, deadline_s=deadline.seconds, unfinished=late or dict.fromkeys(self.hosts, "")
        )

    def _start_lease(self) -> LeaseRenewer:
        ttl = self.plan.ttl

        # A renewal waits no longer than the interval: one stuck on a host that is going
        # down must not keep the next from asking it again once it is back.
        timeout = max(2.0, self.plan.renew_every)

        def renew() -> dict[str, str]:
            # Never past the activity's limit: the host's dead-man reverts there at the latest.
            seconds = self.limit.lease_seconds(ttl) if self.limit else ttl
            script = hostshell.lease_script(self.plan.state_dir, self.run_id, seconds)
            answers = self.shell.run_all(dict.fromkeys(self.hosts, script), timeout=timeout)
            return {h: (_lease_answer(a.rc), a.out.strip()) for h, a in answers.items()}

        self.lease = LeaseRenewer(renew=renew, ttl=ttl, every=self.plan.renew_every)
        return self.lease.start()

    def _set_abort(self, reason: str, **details: Any) -> None:
        with self._abort_lock:
            if self.abort is not None:
                return
            self.abort = {"reason": reason, "at": now_iso(), **details}
            self.journal.set(abort=self.abort)
            self.hooks.abort()
            self.progress.message(f"abort: {reason}", "bold red")

    def _hold(self) -> None:
        """The activity while the fault is on; the guardrail monitor or a signal may end it
        early (it sees `stop` set)."""
        activity = self.activity
        phase = self._phase(activity.phase, activity.detail)
        window = FaultWindow(
            self.stop, self._stop_reason, self.journal, self.progress, self.run_dir
        )
        end = self.activity_end = activity.run(window)
        self.timings.update(end.timings)
        if end.abort:
            self._set_abort(end.abort)
        outcome = "timed_out" if self.timed_out else activity.abort_outcome if self.abort else "ok"
        self.journal.phase_end(phase, outcome, (self.abort or {}).get("reason", ""))

    def _time_out(self) -> None:
        """The activity's limit passed with the fault on: stop the run as a guardrail does,
        unless something else stopped it first or the rollback already began."""
        if self.limit is None or self.stop.is_set() or self.fault_over.is_set():
            return
        doing = self.activity.doing() if self.activity.doing else ""
        self._set_abort(self.limit.reason(doing), timed_out=self.limit.limit.as_dict())
        self.timed_out = "timed_out" in (self.abort or {})
        self.stop.set()

    def _wait(self, window: FaultWindow) -> ActivityEnd:
        """The default activity: wait out the experiment's duration."""
        window.stop.wait(self.exp.duration)
        return ActivityEnd(abort=window.stop_reason() if window.stop.is_set() else None)

    def _monitor(self) -> None:
        """Guardrails and safety rules every interval, from inject until rollback starts;
        an abort sets `stop`, which wakes the main thread at once. The steady state is
        sampled with them, and on from rollback until recovery starts (its impact)."""
        g = self.exp.guardrails
        watch = _GuardrailWatch(g.breaches_in_a_row, g.unknown_budget)
        next_tick = time.monotonic()
        while not self.sampling_over.is_set():
            guarding = not self.fault_over.is_set() and not self.stop.is_set()
            try:
                reason = (self._safety_reason() if guarding else None) or self._tick(
                    watch, guarding
                )
            except Exception as exc:  # the monitor must never die silently
                reason = f"guardrail monitor error: {exc!r}"
            if reason and guarding and not self.fault_over.is_set():
                self._set_abort(reason)
                self.stop.set()
            now = time.monotonic()
            next_tick = max(next_tick + g.interval, now)  # a slow tick does not burst
            self.sampling_over.wait(next_tick - now)

    def _stop_reason(self) -> str:
        """A signal's reason, or the `chaosrun abort` request that sent it."""
        request = safety.abort_request(self.plan.config.run_dir, self.run_id)
        if request:
            who = f"{request.get('user', '?')}@{request.get('host', '?')}"
            return f"aborted by {who}: {request.get('reason') or 'chaosrun abort'}"
        return self.stop_reason

    def _safety_reason(self) -> str | None:
        """The kill switch, a blackout window, an abort request, or a lapsed lease."""
        reason = self.watch.abort_reason()
        if reason:
            return reason
        frozen = self.lease.frozen_hosts() if self.lease else {}
        if frozen:
            self.frozen_abort = True
            return "kill switch on the hosts: " + "; ".join(
                f"{h}: {note or 'frozen'}" for h, note in frozen.items()
            )
        lapsed = self.lease.lapsed() if self.lease else []
        disarmed = self.lease.disarmed_hosts() if self.lease else []
        if disarmed:
            return (
                f"dead-man disarmed on {', '.join(disarmed)} (the host rebooted?): "
                "the run no longer controls its fault there"
            )
        if lapsed:
            return (
                f"lease lapsed on {', '.join(lapsed)}: the fault is gone "
                "(reverted by its dead-man, or by the boot guard after a reboot)"
            )
        return None

    def _tick(self, watch: _GuardrailWatch, guarding: bool) -> str | None:
        """One sample of every guardrail (while `guarding`) and steady-state probe, in
        parallel, stamped with the time the tick asked; the first guardrail reason to abort."""
        guards = list(self.exp.guardrails.probes) if guarding else []
        steady = list(self.exp.steady_state)
        if not guards and not steady:
            return None
        at = now_iso()
        results = self.prober.evaluate_all(guards + steady)
        if self.sampling_over.is_set():
            return None  # the journal may already be final
        phase = self.current_phase  # the phase the answers came back in
        reason = None
        for probe, result in zip(guards, results, strict=False):
            self._sample("guardrail", probe, phase, result, at)
            reason = reason or watch.update(probe.name, result)
        for probe, result in zip(steady, results[len(guards) :], strict=True):
            self._sample("steady_state", probe, phase, result, at)
        return reason

    # -- after the fault --------------------------------------------------------------------
    def _rollback(self) -> bool:
        """Revert scripts over SSH at once, then confirm with the role (rollback + verify)."""
        self.in_rollback = True
        phase = self._phase(Phase.ROLLBACK, "revert scripts over SSH, then the role's rollback")
        started = time.monotonic()
        script = hostshell.revert_script(self.plan.state_dir, self.run_id)
        answers = self.shell.run_all(dict.fromkeys(self.hosts, script), timeout=180)
        fast = {h: "ok" if a.rc == 0 else f"rc {a.rc}: {a.out[-200:]}" for h, a in answers.items()}
        record: dict[str, Any] = {
            "ok": None,
            "hosts": fast,
            "reverted_at": now_iso(),
            "revert_scripts_s": round(time.monotonic() - started, 3),
            # Per host: how long its answer took and over what, for a slow host's post-mortem
            # (with the `began`/`at` of the host's history.jsonl: the script's own time).
            "revert_answers": {
                h: {"seconds": round(a.seconds, 3), "via": a.via} for h, a in answers.items()
            },
        }
        # The hosts where the run's steps were still running (a hung or canceled inject):
        # the revert ended them before it took the fault's locks.
        ended = [h for h, a in answers.items() if hostshell.STEP_ENDED in a.out]
        if ended:
            record["steps_ended"] = ended
        self.timings["revert_scripts_s"] = record["revert_scripts_s"]
        self.journal.set(rollback=record)
        fast_ok = all(v == "ok" for v in fast.values())
        self.nothing_injected = all(hostshell.NOTHING_INJECTED in a.out for a in answers.values())
        detail = f"revert scripts in {record['revert_scripts_s']:.2f}s"
        self.journal.phase_end(phase, "ok" if fast_ok else "partial", detail, fast)
        # Every host ran its revert script, which is all the role's rollback entry point
        # does: confirming with verify alone saves that entry point's tasks on every host.
        # Not after an interrupted inject: its last step may land after the revert script.
        verify_alone = fast_ok and self.inject_complete
        entry_points = ["verify"] if verify_alone else ["rollback", "verify"]
        # A second signal may cut the confirmation only when it is a read-only verify:
        # the role's rollback entry point is a revert and always finishes.
        hurry = self.hurry if verify_alone else False
        confirm = self._play(Phase.VERIFY_INACTIVE, entry_points, "inactive", cancel=hurry)
        if confirm.status != "canceled" and not confirm.ok:
            confirm = self._second_look(confirm, record)
        self.rollback_end = time.monotonic()
        if verify_alone and confirm.status == "canceled":
            # Every revert script answered success; only the second look was skipped.
            confirm.status, confirm.hosts = "successful", dict(fast)
            record["confirmed"] = False
            self.progress.message(
                "rollback not confirmed (stopped by a second signal): every revert script "
                "answered success; `chaosrun status` shows what the hosts hold",
                "yellow",
            )
        record.update(
            ok=confirm.ok, hosts=confirm.hosts, revert_scripts=fast, finished_at=now_iso()
        )
        if not confirm.ok:
            # Why each host failed, in the journal and on screen: an operator acting on
            # this line at night must not have to dig the reason out of Ansible's output.
            record["failures"] = {
                h: confirm.messages.get(h) or fast.get(h, "failed") for h in confirm.failed_hosts()
            }
        self.journal.set(rollback=record)
        if not confirm.ok:
            why = "; ".join(f"{h}: {m}" for h, m in record["failures"].items())
            self.progress.message(
                f"ROLLBACK FAILED on {', '.join(confirm.failed_hosts())}: a fault may still be "
                f"active there ({why}). Run `chaosrun recover` or look in "
                f"{host_run_dir(self.plan.state_dir, self.run_id)}/ on those hosts",
                "bold white on red",
            )
        self.in_rollback = False
        # The masters stay: the recovery's command probes share them (an `ssh -O exit`
        # here would cut a session in flight), and the run's reaper ends them at its end.
        self.shell.close(keep_connections=True)
        return confirm.ok

    def _second_look(self, first: runner.PlayResult, record: dict[str, Any]) -> runner.PlayResult:
        """One more revert and confirmation on the hosts that failed the first, after a pause:
        a unit may still be settling (a restart in progress, a dead-man's stop queued in a
        busy systemd). Both looks are journaled; a host that fails twice fails the rollback."""
        failed = first.failed_hosts()
        record["first_look"] = {
            h: first.messages.get(h, first.hosts.get(h, "failed")) for h in failed
        }
        self.journal.set(rollback=record)
        self.progress.message(
            f"rollback not confirmed on {', '.join(failed)}: reverting and looking again",
            "yellow",
        )
        time.sleep(SECOND_LOOK_PAUSE_S)
        again = self._play(
            Phase.VERIFY_INACTIVE_AGAIN,
            ["rollback", "verify"],
            "inactive",
            cancel=False,
            hosts=failed,
        )
        hosts = {**first.hosts, **again.hosts}
        messages = {h: m for h, m in first.messages.items() if h not in again.hosts}
        messages.update(again.messages)
        return runner.PlayResult(again.status, again.rc, hosts, messages)

    def _recovery(self) -> bool:
        within = self.exp.recovery_within
        record: dict[str, Any] = {"within_s": within, "time_to_recover_s": None, "recovered": False}
        if self.signalled:
            record["detail"] = "skipped: the run was stopped by a signal"
            self.journal.set(recovery=record)
            return False
        phase = self._phase(Phase.RECOVERY, f"steady state within {within:g}s")
        self._stop_sampling()
        probes = list(self.exp.steady_state)
        start = self.rollback_end or time.monotonic()
        while True:
            at = now_iso()  # when the sample was taken, as the monitor's are stamped
            results = self.prober.evaluate_all(probes) if probes else []
            for probe, result in zip(probes, results, strict=True):
                self._sample("steady_state", probe, Phase.RECOVERY, result, at)
            if all(r.verdict is Verdict.PASS for r in results):
                record.update(recovered=True, time_to_recover_s=round(time.monotonic() - start, 3))
                break
            if time.monotonic() - start >= within or self.signalled:
                break
            self.signal_event.wait(self.exp.recovery_interval)
        self.journal.set(recovery=record)
        outcome = "ok" if record["recovered"] else "failed"
        detail = (
            f"recovered in {record['time_to_recover_s']:.1f}s"
            if record["recovered"]
            else f"stopped by {self.signal_name}"
            if self.signalled
            else f"steady state did not hold again within {within:g}s"
        )
        self.journal.phase_end(phase, outcome, detail)
        return bool(record["recovered"])


class _GuardrailWatch:
    """Counts breaches and UNKNOWNs in a row per guardrail; says when to abort."""

    def __init__(self, breaches_in_a_row: int, unknown_budget: int) -> None:
        self.limit = breaches_in_a_row
        self.budget = unknown_budget
        self.breaches: dict[str, int] = {}
        self.unknowns: dict[str, int] = {}

    def update(self, name: str, result: ProbeResult) -> str | None:
        if result.verdict is Verdict.BREACH:
            self.unknowns[name] = 0
            self.breaches[name] = self.breaches.get(name, 0) + 1
            if self.breaches[name] >= self.limit:
                return (
                    f"guardrail {name!r} breached {self.breaches[name]} time(s) in a row: "
                    f"{result.evidence}"
                )
        elif result.verdict is Verdict.UNKNOWN:
            self.unknowns[name] = self.unknowns.get(name, 0) + 1
            if self.unknowns[name] > self.budget:
                return (
                    f"guardrail {name!r} UNKNOWN {self.unknowns[name]} time(s) in a row "
                    f"(budget {self.budget}): {result.evidence}"
                )
        else:
            self.breaches[name] = 0
            self.unknowns[name] = 0
        return None


def _lease_answer(rc: int) -> str:
    if rc == 0:
        return RENEWED
    if rc == hostshell.LEASE_DISARMED_RC:
        return DISARMED
    if rc == hostshell.LEASE_FROZEN_RC:
        return FROZEN
    return GONE if rc == hostshell.LEASE_GONE_RC else FAILED


def _describe(probe: ProbeSpec) -> str:
    cfg = probe.config
    if probe.kind == "prometheus":
        return cfg["query"]
    if probe.kind == "http":
        return f"{cfg['method']} {cfg['url']}"
    if probe.kind == "command":
        return f"{cfg['hosts']}: {cfg['cmd']}"
    if probe.kind == "tcp":
        return f"TCP handshake with {cfg['host']}:{cfg['port']}"
    return f"alert {cfg['name']} {'firing' if cfg['firing'] else 'not firing'} ({cfg['source']})"
