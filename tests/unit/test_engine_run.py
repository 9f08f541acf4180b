"""The phase machine with fake hosts (runner and SSH replaced) and a real HTTP Prometheus.

What must hold on every path: exit code and status, the journal on disk, and rollback
ran whenever inject started.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from engine_fixtures import COLLECTIONS, GOOD, INVENTORY, FakePrometheus

from chaosrun.base.errors import ChaosrunError
from chaosrun.base.secrets import Redactor
from chaosrun.hosts import hostshell, rolespec, runner
from chaosrun.hosts.runner import PlayResult
from chaosrun.model.experiment import load_experiment
from chaosrun.plan.planning import load_plan
from chaosrun.run import early, preflight, prestart
from chaosrun.run.engine import Engine
from chaosrun.run.progress import Progress

EXP = load_experiment(GOOD)
STEADY = EXP.steady_state[0].config["query"]
RATIO = EXP.guardrails.probes[0].config["query"]
LATENCY = EXP.guardrails.probes[1].config["query"]
BASELINE = f"avg_over_time(({LATENCY})[1m:1s])"


class Hosts:
    """Records what the engine did to the (fake) hosts."""

    def __init__(self) -> None:
        self.plays: list[tuple[str, ...]] = []
        self.scripts: list[str] = []
        # entry point (or "entry point:expect") -> host status to report
        self.fail: dict[str, str] = {}
        self.on_inject = lambda: None
        self.inject_seconds = 0.0  # a slow inject waits this long unless canceled
        self.revert_rc = 0  # what every host's revert script answers over SSH
        self.revert_out = ""  # ... and prints

    def play(self, *, entry_points, hosts, variables, cancel=None, **_kw) -> PlayResult:
        self.plays.append(tuple(entry_points))
        if entry_points == ["inject"]:
            self.on_inject()
            if self.inject_seconds and cancel is not None and cancel.wait(self.inject_seconds):
                return PlayResult("canceled", 254, dict.fromkeys(hosts, "not run"))
        self.variables = variables
        expect = variables.get("demo_fault_expect", "")
        status = self.fail.get(f"{entry_points[0]}:{expect}", self.fail.get(entry_points[0], "ok"))
        if status == "raise":
            raise RuntimeError("boom in " + entry_points[0])
        return PlayResult(
            "successful" if status == "ok" else "failed", 0, dict.fromkeys(hosts, status)
        )

    def run_all(self, scripts, timeout=30.0):
        self.scripts.extend(scripts.values())
        revert = any("revert.sh" in s for s in scripts.values())
        rc, out = (self.revert_rc, self.revert_out) if revert else (0, "")
        return {h: hostshell.Answer(rc, out, 0.01) for h in scripts}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANSIBLE_COLLECTIONS_PATH", str(COLLECTIONS))
    cfg = tmp_path / "chaosrun.yml"
    cfg.write_text(
        f"run_dir: {tmp_path / 'runs'}\nfreeze_file: {tmp_path / 'freeze.json'}\n"
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n"
    )
    monkeypatch.setenv("CHAOSRUN_CONFIG", str(cfg))
    rolespec.load_role.cache_clear()
    hosts = Hosts()
    monkeypatch.setattr(runner, "run_entry_points", hosts.play)
    monkeypatch.setattr(hostshell.HostShell, "run_all", hosts.run_all)
    monkeypatch.setattr(hostshell.HostShell, "close", lambda self, keep_connections=False: None)
    prom = FakePrometheus()
    prom.answers.update({STEADY: [0.0], RATIO: [0.0], LATENCY: [0.2], BASELINE: [0.2]})
    # The project's Prometheus, as a team's shell names it: an override may not redirect the
    # guardrails (chaosrun.model.tighten_sources), so the fake is not a `--set prometheus.url`.
    monkeypatch.setenv("CHAOSRUN_PROMETHEUS_URL", prom.url)
    yield tmp_path, hosts, prom
    prom.close()


def run(env, *overrides: str, file: Path = GOOD):
    tmp_path = env[0]
    plan = load_plan(file, INVENTORY, ["duration=0.6s", *overrides])
    engine = Engine(plan, tmp_path / "runs", Progress(_quiet(), plan.redactor))
    outcome = engine.run()
    journal = json.loads(outcome.journal.read_text())
    return outcome, journal


def _quiet():
    from rich.console import Console

    return Console(file=open(os.devnull, "w"))


def phases(journal) -> list[str]:
    return [p["name"] for p in journal["phases"]]


def test_pass(env) -> None:
    _, hosts, _ = env
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"], journal["exit_code"]) == (0, "passed", 0)
    assert phases(journal) == [
        "validate", "preflight", "steady_state_before", "baseline", "inject", "verify_active",
        "observe", "rollback", "verify_inactive", "recovery",
    ]  # fmt: skip
    assert hosts.plays == [("inject",), ("verify",), ("verify",)]
    assert any("revert.sh" in s for s in hosts.scripts)
    assert journal["targets"]["selected"] == ["order-2"]
    assert journal["recovery"]["recovered"] is True
    assert journal["recovery"]["time_to_recover_s"] >= 0
    samples = next(p for p in journal["probes"] if p["role"] == "guardrail")["samples"]
    assert samples and all(s["verdict"] == "PASS" for s in samples)
    assert hosts.variables["demo_fault_expect"] == "inactive"
    assert hosts.variables["chaos_run_id"] == journal["run_id"]


def test_the_journal_names_the_experiment_from_the_project_root(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One experiment is one history row whether it ran as `run experiments/x.yml`, from a
    subdirectory or from a schedule's entry (an absolute path)."""
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(GOOD.parents[1]))
    _, journal = run(env)
    assert journal["experiment"]["file"] == f"{GOOD.parent.name}/{GOOD.name}"
    monkeypatch.setenv("CHAOSRUN_PROJECT", str(env[0]))  # a file outside the project
    _, journal = run(env)
    assert journal["experiment"]["file"] == str(GOOD)


def test_guardrail_breach_aborts_and_rolls_back(env) -> None:
    _, hosts, prom = env
    prom.answers[RATIO] = [0.5]
    outcome, journal = run(env, "duration=30s")
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert "guardrail 'error ratio under 5%' breached 1 time(s)" in journal["abort"]["reason"]
    assert hosts.plays[-1][-1] == "verify"  # preceded by rollback if inject was cut short
    assert journal["rollback"]["ok"] is True


def test_unknown_budget_aborts(env) -> None:
    _, hosts, prom = env
    prom.answers[RATIO] = 500
    outcome, journal = run(env, "duration=30s", "guardrails.unknown_budget=1")
    assert outcome.exit_code == 3
    assert "UNKNOWN 2 time(s) in a row (budget 1)" in journal["abort"]["reason"]
    assert hosts.plays[-1] == ("verify",)


def test_steady_state_not_holding_refuses_without_touching(env) -> None:
    _, hosts, prom = env
    prom.answers[STEADY] = [0.5]
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (4, "refused")
    assert hosts.plays == []
    assert not any("revert" in s or "lease" in s for s in hosts.scripts)


def test_sigterm_rolls_back(env) -> None:
    _, hosts, _ = env
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    outcome, journal = run(env, "duration=30s")
    timer.join()
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert "SIGTERM" in journal["abort"]["reason"]
    assert hosts.plays[-1] == ("verify",)


def test_sigterm_during_rollback_finishes_it_then_aborts_without_recovery(env, monkeypatch) -> None:
    _, hosts, prom = env
    confirmations: list[bool] = []
    real_play = hosts.play

    def play(**kw):
        if kw["variables"].get("demo_fault_expect") == "inactive":
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs before os.kill returns
            confirmations.append(kw.get("cancel") is not None and kw["cancel"].is_set())
        return real_play(**kw)

    monkeypatch.setattr(runner, "run_entry_points", play)
    prom.answers[STEADY] = [0.0]
    outcome, journal = run(env, "recovery.within=60s")
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert journal["abort"]["reason"] == "SIGINT received during rollback"
    assert journal["abort"]["signal"] == "SIGINT"
    assert confirmations == [False]  # one signal: the confirmation ran to its end
    assert journal["rollback"]["ok"] is True and "confirmed" not in journal["rollback"]
    assert journal["recovery"]["detail"].startswith("skipped")
    assert "recovery" not in phases(journal)


def test_a_second_signal_cuts_a_read_only_confirmation(env, monkeypatch) -> None:
    _, hosts, _ = env
    real_play = hosts.play

    def play(**kw):
        if kw["variables"].get("demo_fault_expect") == "inactive":
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            assert kw["cancel"].is_set()
            return PlayResult("canceled", 254, dict.fromkeys(kw["hosts"], "not run"))
        return real_play(**kw)

    monkeypatch.setattr(runner, "run_entry_points", play)
    started = time.monotonic()
    outcome, journal = run(env, "recovery.within=60s")
    assert time.monotonic() - started < 30
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert journal["abort"]["reason"] == "SIGTERM received during rollback"
    assert journal["rollback"]["ok"] is True and journal["rollback"]["confirmed"] is False


def test_a_second_signal_never_cuts_the_roles_rollback(env, monkeypatch) -> None:
    _, hosts, _ = env
    hosts.revert_rc = 1  # a revert script failed: the role's rollback entry point must run
    seen = []
    real_play = hosts.play

    def play(**kw):
        if kw["variables"].get("demo_fault_expect") == "inactive":
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            seen.append(kw.get("cancel"))
        return real_play(**kw)

    monkeypatch.setattr(runner, "run_entry_points", play)
    outcome, journal = run(env)
    assert seen == [None] and hosts.plays[-1] == ("rollback", "verify")
    assert (outcome.exit_code, journal["rollback"]["ok"]) == (3, True)


def test_exception_rolls_back(env) -> None:
    _, hosts, _ = env
    hosts.fail["verify:active"] = "raise"
    outcome, journal = run(env)
    assert outcome.exit_code == 3
    assert "boom in verify" in journal["abort"]["reason"]
    assert hosts.plays[-1] == ("verify",)


def test_inject_failure_still_rolls_back(env) -> None:
    _, hosts, _ = env
    hosts.fail["inject"] = "failed"
    outcome, journal = run(env)
    assert outcome.exit_code == 3
    assert journal["abort"]["reason"] == "inject failed on order-2: failed"
    # A half-done inject is undone by the role's rollback, not trusted to the script alone.
    assert hosts.plays == [("inject",), ("rollback", "verify")]


def test_an_inject_that_armed_nothing_is_refused_not_a_rollback_failure(env) -> None:
    _, hosts, _ = env
    hosts.fail["inject"] = "failed"
    hosts.revert_out = hostshell.NOTHING_INJECTED  # every host: the run never armed it
    outcome, journal = run(env)
    assert outcome.exit_code == 4
    assert journal["status"] == "refused"
    assert hosts.plays == [("inject",), ("rollback", "verify")]


def test_rollback_failure_is_exit_5(env) -> None:
    _, hosts, _ = env
    hosts.revert_rc = 1
    hosts.fail["rollback"] = "failed"
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (5, "rollback_failed")
    assert outcome.failed_hosts == ["order-2"]


def test_rollback_failure_names_the_reason_after_a_second_look(env, monkeypatch) -> None:
    _, hosts, _ = env
    monkeypatch.setattr("chaosrun.run.engine.SECOND_LOOK_PAUSE_S", 0.0)
    hosts.fail["verify:inactive"] = hosts.fail["rollback:inactive"] = "failed"
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (5, "rollback_failed")
    # The second look reverts again on the failed host, then looks.
    assert hosts.plays[-1] == ("rollback", "verify")
    assert phases(journal)[-2:] == ["verify_inactive", "verify_inactive_again"]
    assert set(journal["rollback"]["failures"]) == {"order-2"}
    assert set(journal["rollback"]["first_look"]) == {"order-2"}


def test_a_confirmation_that_settles_passes_on_the_second_look(env, monkeypatch) -> None:
    _, hosts, _ = env
    monkeypatch.setattr("chaosrun.run.engine.SECOND_LOOK_PAUSE_S", 0.0)
    looks = []
    play = hosts.play

    def settling(**kw):
        result = play(**kw)
        if kw["variables"].get("demo_fault_expect") == "inactive":
            looks.append(kw["entry_points"])
            if len(looks) == 1:
                return PlayResult("failed", 2, dict.fromkeys(kw["hosts"], "failed"))
        return result

    monkeypatch.setattr(runner, "run_entry_points", settling)
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (0, "passed")
    assert len(looks) == 2 and looks[-1] == ["rollback", "verify"]
    assert journal["rollback"]["ok"] is True
    assert set(journal["rollback"]["first_look"]) == {"order-2"}


def test_a_failed_revert_script_is_retried_by_the_roles_rollback(env) -> None:
    _, hosts, _ = env
    hosts.revert_rc = hostshell.REVERT_INCOMPLETE_RC
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (0, "passed")
    assert hosts.plays == [("inject",), ("verify",), ("rollback", "verify")]
    assert journal["rollback"]["revert_scripts"]["order-2"].startswith("rc 4")


def test_recovery_deadline_is_exit_1(env) -> None:
    _, hosts, prom = env
    hosts.on_inject = lambda: prom.answers.update({STEADY: [0.5]})
    outcome, journal = run(env, "recovery.within=1s")
    assert (outcome.exit_code, journal["status"]) == (1, "failed")
    assert journal["recovery"]["recovered"] is False


def test_secrets_never_reach_the_journal(env) -> None:
    outcome, journal = run(env, "fault.vars.demo_fault_token=hunter2-secret")
    text = outcome.journal.read_text()
    assert "hunter2-secret" not in text
    assert journal["fault"]["vars"]["demo_fault_token"] == "********"
    assert journal["overrides"]["fault.vars.demo_fault_token"] == "********"


def test_redactor_masks_inside_text() -> None:
    red = Redactor()
    red.add("s3cr3t-value")
    assert red.data({"a": ["x s3cr3t-value y"]}) == {"a": ["x ******** y"]}


def test_guardrails_watch_during_inject(env) -> None:
    _, hosts, prom = env
    prom.answers[RATIO] = [0.5]
    hosts.inject_seconds = 20
    started = time.monotonic()
    outcome, journal = run(env, "duration=30s")
    assert time.monotonic() - started < 15, "the slow inject was not canceled"
    assert outcome.exit_code == 3
    assert "guardrail 'error ratio under 5%' breached" in journal["abort"]["reason"]
    ratio = next(p for p in journal["probes"] if p["name"] == "error ratio under 5%")
    assert ratio["samples"][0]["phase"] == "inject"
    # The canceled inject may still land on a host after its revert script ran, so the
    # confirmation runs the role's rollback too, not verify alone.
    assert hosts.plays == [("inject",), ("rollback", "verify")]


def test_the_journal_times_every_hosts_revert_answer(env) -> None:
    _, journal = run(env)
    assert journal["rollback"]["revert_answers"] == {"order-2": {"seconds": 0.01, "via": "shell"}}


def test_the_steady_state_is_sampled_through_the_fault_and_its_impact_recorded(env) -> None:
    _, hosts, prom = env

    def blip() -> None:  # users see errors from inject on, for about two seconds
        prom.answers[STEADY] = [0.03]
        threading.Timer(2.0, lambda: prom.answers.update({STEADY: [0.0]})).start()

    hosts.on_inject = blip
    outcome, journal = run(env, "duration=5s")
    assert outcome.exit_code == 0, journal.get("abort")
    steady = next(p for p in journal["probes"] if p["role"] == "steady_state")
    during = [s for s in steady["samples"] if s["phase"] in ("inject", "verify_active", "observe")]
    assert len(during) >= 4 and {"BREACH", "PASS"} <= {s["verdict"] for s in during}
    found = journal["impact"]
    (entry,) = found["probes"]
    assert entry["worst"] == 0.03 and entry["beyond_s"] > 0
    assert 0 < found["self_healing_s"] < 5 and found["after_rollback_s"] == 0.0
    assert "healed by itself in" in found["summary"]


class FakePending:
    """A started-ahead play (chaosrun.run.prestart.Pending) that runs the fake hosts' play when
    released; `waiting` False: its wait ran out, so the engine must start a fresh one."""

    def __init__(self, fleet: Hosts, log: list[tuple[str, ...]], waiting: bool, **kw) -> None:
        self.fleet, self.log, self.waiting = fleet, log, waiting
        self.phase = kw["work_dir"].name
        self.journal = kw["work_dir"].parent.parent / "journal.json"
        self.result = PlayResult("unknown", -1)  # the same object the release returns

    def spawned(self, timeout: float) -> bool:
        return True

    def adopt(self, on_event, finishing) -> None:
        self.log.append(("adopt", self.phase))

    def release(self, hosts, entry_points, variables, cancel=None, then=None, then_events=None):
        self.log.append(("release", self.phase, *entry_points, *(["then", *then] if then else [])))
        if not self.waiting:
            return None
        self.variables = variables  # the role's vars come with the release
        first, played = (
            self.result,
            self.fleet.play(entry_points=entry_points, hosts=hosts, variables=self.variables),
        )
        first.status, first.rc, first.hosts = played.status, played.rc, played.hosts
        first.known.set()
        if then and first.ok and getattr(self.fleet, "signal_behind_inject", False):
            first.then = PlayResult("unknown", -1, dict.fromkeys(hosts, "not run"))
            threading.Thread(target=self._signal_during_verify, args=(first.then,)).start()
            return first
        if then and first.ok:
            first.then = self.fleet.play(entry_points=then, hosts=hosts, variables=self.variables)
        elif then:  # a failed first stage cancels the play: the next never runs
            first.then = PlayResult("canceled", 254)
        if first.then is not None:
            first.then.known.set()
        return first

    def _signal_during_verify(self, then: PlayResult) -> None:
        """SIGTERM once the engine's verify phase began (the verify behind inject runs),
        which it cancels."""
        deadline = time.monotonic() + 60
        while '"verify_active"' not in self.journal.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)
        then.status, then.rc = "canceled", 254
        then.known.set()

    def abandon(self) -> None:
        self.log.append(("abandon", self.phase))


def _prestart(monkeypatch, hosts: Hosts, waiting: bool = True) -> list[tuple[str, ...]]:
    log: list[tuple[str, ...]] = []

    def start(**kw):
        log.append(("start", kw["work_dir"].name))
        return FakePending(hosts, log, waiting, **kw)

    monkeypatch.setattr(prestart, "start", start)
    return log


def test_each_play_is_started_ahead_and_released_when_its_phase_begins(env, monkeypatch) -> None:
    _, hosts, _ = env
    log = _prestart(monkeypatch, hosts)
    outcome, journal = run(env)
    assert outcome.exit_code == 0
    # Inject's play runs verify(active) behind it; the journal still has both phases.
    assert log == [
        ("start", "inject"), ("release", "inject", "inject", "then", "verify"),
        ("start", "verify_inactive"), ("release", "verify_inactive", "verify"),
    ]  # fmt: skip
    assert hosts.plays == [("inject",), ("verify",), ("verify",)]
    ahead = {p["name"]: p["started_ahead"] for p in journal["phases"] if "started_ahead" in p}
    assert ahead == {"inject": True, "verify_active": True, "verify_inactive": True}
    assert phases(journal)[4:6] == ["inject", "verify_active"]
    assert hosts.variables["chaos_run_id"] == journal["run_id"]


def test_a_signal_during_the_verify_behind_inject_rolls_back(env, monkeypatch) -> None:
    _, hosts, _ = env
    _prestart(monkeypatch, hosts)
    hosts.signal_behind_inject = True
    outcome, journal = run(env, "duration=30s")
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert journal["abort"]["reason"] == "SIGTERM received during verify"
    ended = {p["name"]: p["outcome"] for p in journal["phases"]}
    assert ended["inject"] == "ok" and ended["verify_active"] == "canceled"
    assert "observe" not in ended
    # Inject had returned on every host: its revert script is the rollback, verify confirms.
    assert any("revert.sh" in s for s in hosts.scripts)
    assert hosts.plays == [("inject",), ("verify",)] and journal["rollback"]["ok"] is True


def test_an_inject_that_failed_in_the_combined_play_is_rolled_back(env, monkeypatch) -> None:
    _, hosts, _ = env
    _prestart(monkeypatch, hosts)
    hosts.fail["inject"] = "failed"
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert "inject failed on order-2" in journal["abort"]["reason"]
    assert "verify_active" not in phases(journal)  # canceled behind the failed inject
    assert hosts.plays[0] == ("inject",) and hosts.plays[-1] == ("rollback", "verify")
    assert journal["rollback"]["ok"] is True


def test_a_refused_run_abandons_its_started_plays(env, monkeypatch) -> None:
    _, hosts, prom = env
    log = _prestart(monkeypatch, hosts)
    prom.answers[STEADY] = [0.5]
    outcome, _ = run(env)
    assert outcome.exit_code == 4 and hosts.plays == []
    # Never released: each ends touching no host.
    assert log == [("start", "inject"), ("abandon", "inject")]


def test_a_play_no_longer_waiting_is_replaced_by_a_fresh_one(env, monkeypatch) -> None:
    _, hosts, _ = env
    _prestart(monkeypatch, hosts, waiting=False)
    outcome, journal = run(env)
    assert outcome.exit_code == 0
    assert hosts.plays == [("inject",), ("verify",), ("verify",)]  # each by a fresh play
    assert not any(p.get("started_ahead") for p in journal["phases"])


def test_a_journal_that_cannot_be_written_never_stops_the_rollback(env, monkeypatch) -> None:
    """The controller's disk fills while the fault is on: every journal write fails from
    then on. The revert scripts still run and the run still ends with its outcome (the
    journal's last good copy on disk), instead of an exception that skips the rollback."""
    _, hosts, _ = env
    from chaosrun.base import filemodes

    full = threading.Event()
    real = filemodes.group_file

    def group_file(fd_or_path):
        if full.is_set():
            raise OSError(28, "No space left on device")
        real(fd_or_path)

    monkeypatch.setattr(filemodes, "group_file", group_file)
    hosts.on_inject = full.set
    tmp_path = env[0]
    plan = load_plan(GOOD, INVENTORY, ["duration=0.6s"])
    outcome = Engine(plan, tmp_path / "runs", Progress(_quiet(), plan.redactor)).run()
    assert any("revert.sh" in s for s in hosts.scripts), "the revert scripts never ran"
    assert ("verify",) in hosts.plays[1:] or ("rollback", "verify") in hosts.plays
    assert outcome.status == "passed" and outcome.exit_code == 0
    assert "journal" in (outcome.abort_reason or "")
    on_disk = json.loads(outcome.journal.read_text())
    assert on_disk["status"] == "running"  # the last copy written before the disk filled


class _LostTerminal:
    """A console's file whose reader went away once `gone` is set (a closed pipe: `chaosrun
    run ... | tee log` and tee died). Only the guardrail monitor's thread meets it first, as
    it does while the fault is on: the main thread waits out the duration in silence."""

    def __init__(self) -> None:
        self.gone = threading.Event()

    def write(self, text: str) -> int:
        if self.gone.is_set() and threading.current_thread() is not threading.main_thread():
            raise BrokenPipeError(32, "Broken pipe")
        return len(text)

    def flush(self) -> None:
        pass


def test_output_that_cannot_be_written_never_stops_the_guardrails(env) -> None:
    """Rich turns a broken pipe into SystemExit in whichever thread printed: in the monitor
    it ended the thread, and no guardrail, kill switch or lapsed lease was looked at again
    for the rest of the fault. The run's output is not worth its guardrails."""
    from rich.console import Console

    tmp_path, hosts, prom = env
    terminal = _LostTerminal()

    def inject() -> None:
        terminal.gone.set()
        prom.answers[RATIO] = [0.5]  # the fault hurts: the guardrail must see it

    hosts.on_inject = inject
    plan = load_plan(GOOD, INVENTORY, ["duration=3s"])
    engine = Engine(plan, tmp_path / "runs", Progress(Console(file=terminal), plan.redactor))
    outcome = engine.run()
    journal = json.loads(outcome.journal.read_text())
    assert (outcome.status, journal["status"]) == ("aborted", "aborted")
    assert "guardrail" in journal["abort"]["reason"]
    assert any("revert.sh" in s for s in hosts.scripts)


def test_a_hangup_rolls_back_at_once(env, monkeypatch) -> None:
    """The operator's ssh session to the controller drops: SIGHUP. Its default ended the
    controller on the spot, leaving the fault to the hosts' dead-man leases and the journal
    `running`; it is a stop like SIGTERM."""
    _, hosts, _ = env
    seen: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda *_: seen.append(1))  # not the default:
    try:  # ... a test without the engine's handler must not end pytest
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGHUP))
        timer.start()
        outcome, journal = run(env, "duration=6s")
        timer.join()
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert journal["abort"]["reason"].startswith("SIGHUP received")
    assert hosts.plays[-1] == ("verify",) and not seen


def test_a_run_under_nohup_ignores_the_hangup(env) -> None:
    """nohup (SIGHUP ignored when the run starts) means: keep going when the terminal goes."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGHUP))
        timer.start()
        outcome, journal = run(env, "duration=1s")
        timer.join()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert (outcome.exit_code, journal["status"]) == (0, "passed")


def test_a_freeze_after_preflight_refuses_before_inject(env, monkeypatch) -> None:
    """`chaosrun freeze` while the run reads its steady state and baseline, after preflight
    passed: nothing is injected (the run is refused), not injected and rolled back a tick
    later."""
    from chaosrun.model import killswitch
    from chaosrun.probes import Prober

    tmp_path, hosts, _ = env
    real = Prober.take_baselines

    def baselines(self, probes, window):
        killswitch.freeze(tmp_path / "freeze.json", "game day over", tmp_path / "audit.jsonl")
        return real(self, probes, window)

    monkeypatch.setattr(Prober, "take_baselines", baselines)
    outcome, journal = run(env)
    assert (outcome.exit_code, journal["status"]) == (4, "refused")
    assert "kill switch" in outcome.abort_reason and "game day over" in outcome.abort_reason
    assert hosts.plays == []
    assert not any("revert" in s or "lease" in s for s in hosts.scripts)


def test_a_signal_while_the_lease_starts_releases_no_inject(env, monkeypatch) -> None:
    """SIGTERM after the last look but before inject is released (the lease's first renewal,
    one round trip to every host, may take seconds): the started-ahead play is never
    released, so no host is touched after the signal."""
    _, hosts, _ = env
    log = _prestart(monkeypatch, hosts)
    real = hosts.run_all
    sent: list[bool] = []

    def run_all(scripts, timeout=30.0):
        if not sent and any("random/boot_id" in s for s in scripts.values()):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before os.kill returns
        return real(scripts, timeout)

    monkeypatch.setattr(
        hostshell.HostShell, "run_all", lambda self, s, timeout=30.0: run_all(s, timeout)
    )
    outcome, journal = run(env, "duration=30s")
    assert sent and (outcome.exit_code, journal["status"]) == (3, "aborted")
    assert journal["abort"]["reason"] == "SIGTERM received before inject"
    assert not any(entry[0] == "release" for entry in log)
    assert ("inject",) not in hosts.plays


def _begin(env, monkeypatch, inventory: Path = INVENTORY):
    """`chaosrun run`'s way: inject's play starts once the experiment is read, then the
    plan is made (chaosrun.run.early)."""
    tmp_path, hosts, _ = env
    log = _prestart(monkeypatch, hosts)
    monkeypatch.delenv(early.ENV_SWITCH)
    starter = early.Starter(tmp_path / "runs", inventory)
    plan = load_plan(GOOD, inventory, ["duration=0.6s"], on_read=starter)
    return log, starter, plan


def test_a_run_begun_before_its_plan_releases_the_play_it_started(env, monkeypatch) -> None:
    tmp_path, hosts, _ = env
    log, starter, plan = _begin(env, monkeypatch)
    assert log == [("start", "inject")] and starter.started is not None
    engine = Engine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), started=starter.started
    )
    outcome = engine.run()
    journal = json.loads(outcome.journal.read_text())
    assert outcome.exit_code == 0
    assert log == [
        ("start", "inject"), ("adopt", "inject"), ("release", "inject", "inject", "then", "verify"),
        ("start", "verify_inactive"), ("release", "verify_inactive", "verify"),
    ]  # fmt: skip
    # The run is the one begun: its id and directory, and the role's vars at the release.
    assert journal["run_id"] == starter.started.run_id == hosts.variables["chaos_run_id"]
    assert outcome.journal.parent == starter.started.run_dir


def _asked(hosts: Hosts) -> int:
    """How many times preflight's script went to the hosts."""
    return sum(preflight.PREREQUISITES in s for s in hosts.scripts)


def test_a_run_begun_before_its_plan_asks_its_hosts_before_the_engine(env, monkeypatch) -> None:
    """`chaosrun run` asks the hosts once the plan passes the local checks, while the engine
    loads; the engine's preflight takes those answers instead of asking again."""
    tmp_path, hosts, _ = env
    _log, starter, plan = _begin(env, monkeypatch)
    preflight.ask_ahead(plan, starter.started)
    assert starter.started.asked is not None and starter.started.asked.result()
    assert _asked(hosts) == 1
    engine = Engine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), started=starter.started
    )
    assert engine.shell is starter.started.shell
    outcome = engine.run()
    journal = json.loads(outcome.journal.read_text())
    assert outcome.exit_code == 0 and _asked(hosts) == 1
    assert [p["outcome"] for p in journal["phases"] if p["name"] == "preflight"] == ["ok"]


def test_a_run_the_safety_rules_refuse_asks_no_host_before_its_refusal(env, monkeypatch) -> None:
    from chaosrun.model import killswitch

    tmp_path, hosts, _ = env
    killswitch.freeze(tmp_path / "freeze.json", "game day over", tmp_path / "audit.jsonl")
    log, starter, plan = _begin(env, monkeypatch)
    # Frozen: nothing was started ahead of the plan (no playbook, no guardian).
    assert starter.started is None and log == []
    engine = Engine(plan, tmp_path / "runs", Progress(_quiet(), plan.redactor))
    outcome = engine.run()
    journal = json.loads(outcome.journal.read_text())
    assert (outcome.exit_code, journal["status"]) == (4, "refused")
    assert "game day over" in outcome.abort_reason and hosts.scripts == []


def test_a_run_its_own_blackout_window_refuses_starts_nothing_ahead(env, monkeypatch) -> None:
    tmp_path, hosts, _ = env
    log = _prestart(monkeypatch, hosts)
    monkeypatch.delenv(early.ENV_SWITCH)
    starter = early.Starter(tmp_path / "runs", INVENTORY)
    always = '[{name: all day, cron: "* * * * *", length: 1h}]'
    sets = ["duration=0.6s", f"blackout_windows={always}"]
    plan = load_plan(GOOD, INVENTORY, sets, on_read=starter)
    assert starter.started is None and log == []
    outcome = Engine(plan, tmp_path / "runs", Progress(_quiet(), plan.redactor)).run()
    assert outcome.exit_code == 4 and "inside blackout window 'all day'" in outcome.abort_reason
    assert hosts.scripts == []


def test_a_run_begun_for_hosts_that_skip_host_keys_starts_its_own_play(
    env, monkeypatch, tmp_path: Path
) -> None:
    """Ansible's plays then open their own connections, not the run's shared ones: the play
    started before the plan assumed them shared, so it ends unused."""
    loose = tmp_path / "inventory.yml"
    loose.write_text(
        INVENTORY.read_text().replace("vars:\n", "vars:\n    ansible_host_key_checking: false\n", 1)
    )
    log, starter, plan = _begin(env, monkeypatch, loose)
    preflight.ask_ahead(plan, starter.started)
    asked_early = starter.started.shell
    engine = Engine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), started=starter.started
    )
    assert engine.run().exit_code == 0
    assert log[:3] == [("start", "inject"), ("abandon", "inject"), ("start", "inject")]
    assert engine.run_id == starter.started.run_id
    # The hosts asked early on connections its guardian ended: preflight asked again.
    assert asked_early is not None and engine.shell is not asked_early and _asked(env[1]) == 2


def test_a_run_begun_where_ansible_skips_host_keys_releases_the_play_it_started(
    env, monkeypatch
) -> None:
    """Ansible's own setting off: the play was started without the shared connections,
    as the engine would start it, so the engine takes it."""
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "False")
    tmp_path = env[0]
    log, starter, plan = _begin(env, monkeypatch)
    assert starter.started is not None and starter.started.control_path is None
    engine = Engine(
        plan, tmp_path / "runs", Progress(_quiet(), plan.redactor), started=starter.started
    )
    assert engine.run().exit_code == 0
    assert log[:3] == [
        ("start", "inject"),
        ("adopt", "inject"),
        ("release", "inject", "inject", "then", "verify"),
    ]


def test_a_run_its_plan_refuses_leaves_no_run_directory(env, monkeypatch, tmp_path: Path) -> None:
    empty = tmp_path / "inventory.yml"
    empty.write_text("all:\n  hosts:\n    elsewhere: {}\n")
    hosts = env[1]
    log = _prestart(monkeypatch, hosts)
    monkeypatch.delenv(early.ENV_SWITCH)
    starter = early.Starter(tmp_path / "runs", empty)
    with pytest.raises(ChaosrunError):
        load_plan(GOOD, empty, ["duration=0.6s"], on_read=starter)
    assert log == [("start", "inject")]
    starter.discard()
    assert log == [("start", "inject"), ("abandon", "inject")]
    assert not starter.started.run_dir.exists() and hosts.plays == []


def test_a_run_command_its_plan_refuses_leaves_no_run_directory(
    env, monkeypatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from chaosrun import cli

    empty = tmp_path / "inventory.yml"
    empty.write_text("all:\n  hosts:\n    elsewhere: {}\n")
    log = _prestart(monkeypatch, env[1])
    monkeypatch.delenv(early.ENV_SWITCH)
    runs = tmp_path / "cli-runs"
    args = ["run", str(GOOD), "-i", str(empty), "--runs-dir", str(runs)]
    done = CliRunner().invoke(cli.app, args)  # cli.main would print it and exit 2
    assert isinstance(done.exception, ChaosrunError), done.output
    assert "pattern 'order_service' matches no host" in str(done.exception)
    assert log == [("start", "inject"), ("abandon", "inject")]
    assert not runs.exists()  # made for the run, removed with it
