"""The shell snippets the engine runs over SSH, run here by a real /bin/sh on a temp dir,
and the runner adapter's reading of ansible-runner events."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from chaosrun.hosts import hostshell
from chaosrun.hosts.runner import PlayResult, _record


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)


def fault_dir(state: Path, run_id: str, role: str, body: str) -> Path:
    d = state / "active" / run_id / role
    d.mkdir(parents=True)
    (d / "revert.sh").write_text(f'{body}\necho "$1" > "{d.parent}/{role}.reverted"\n')
    return d


def test_revert_runs_every_revert_script_of_the_run(tmp_path: Path) -> None:
    fault_dir(tmp_path, "run-1", "service_stop", "true")
    fault_dir(tmp_path, "run-1", "process_kill", "true")
    fault_dir(tmp_path, "run-2", "other", "true")
    done = sh(hostshell.revert_script(str(tmp_path), "run-1"))
    assert done.returncode == 0, done.stderr
    run1 = tmp_path / "active" / "run-1"
    assert (run1 / "service_stop.reverted").read_text().strip() == "rollback"
    assert (run1 / "process_kill.reverted").is_file()
    assert not (tmp_path / "active" / "run-2" / "other.reverted").exists()


def test_revert_reports_a_failing_script_and_runs_the_others(tmp_path: Path) -> None:
    fault_dir(tmp_path, "run-1", "a_fault", "exit 1")
    fault_dir(tmp_path, "run-1", "b_fault", "true")
    assert sh(hostshell.revert_script(str(tmp_path), "run-1")).returncode == 1
    assert (tmp_path / "active" / "run-1" / "b_fault.reverted").is_file()


def test_revert_leaves_a_fault_without_script_to_the_role(tmp_path: Path) -> None:
    fault_dir(tmp_path, "run-1", "a_fault", "true")
    half = tmp_path / "active" / "run-1" / "b_fault"
    half.mkdir()
    done = sh(hostshell.revert_script(str(tmp_path), "run-1"))
    assert done.returncode == hostshell.REVERT_INCOMPLETE_RC
    assert (tmp_path / "active" / "run-1" / "a_fault.reverted").is_file()
    assert half.is_dir()


def test_revert_with_nothing_injected_succeeds(tmp_path: Path) -> None:
    assert sh(hostshell.revert_script(str(tmp_path), "run-9")).returncode == 0


def test_lease_is_pushed_only_while_the_run_is_active(tmp_path: Path) -> None:
    gone = sh(hostshell.lease_script(str(tmp_path), "run-1", 30)).returncode
    assert gone == hostshell.LEASE_GONE_RC
    assert not (tmp_path / "active" / "run-1").exists()  # never recreates a reverted run
    (tmp_path / "active" / "run-1").mkdir(parents=True)
    assert sh(hostshell.lease_script(str(tmp_path), "run-1", 30)).returncode == 0
    expiry = int((tmp_path / "active" / "run-1" / "lease").read_text())
    assert abs(expiry - (time.time() + 30)) < 3


def test_revert_says_when_the_run_never_armed_the_host(tmp_path: Path) -> None:
    nothing = sh(hostshell.revert_script(str(tmp_path), "run-9"))
    assert hostshell.NOTHING_INJECTED in nothing.stdout
    # A revert of the run on record (this one or an earlier one): something was injected.
    (tmp_path / "history.jsonl").write_text('{"run_id": "run-9", "role": "x", "by": "deadman"}\n')
    assert (
        hostshell.NOTHING_INJECTED not in sh(hostshell.revert_script(str(tmp_path), "run-9")).stdout
    )
    fault_dir(tmp_path, "run-1", "a_fault", "exit 1")  # a failed revert leaves the run's state
    assert (
        hostshell.NOTHING_INJECTED not in sh(hostshell.revert_script(str(tmp_path), "run-1")).stdout
    )


def boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def test_lease_refuses_a_fault_armed_before_a_reboot(tmp_path: Path) -> None:
    fault = tmp_path / "active" / "run-1" / "file_corrupt"
    fault.mkdir(parents=True)
    (fault / "armed").write_text("an-earlier-boot timer chaosrun-deadman-run-1-file-corrupt\n")
    stale = sh(hostshell.lease_script(str(tmp_path), "run-1", 30))
    assert stale.returncode == hostshell.LEASE_DISARMED_RC
    assert "file_corrupt was armed before the host rebooted" in stale.stdout
    assert not (tmp_path / "active" / "run-1" / "lease").exists()


def test_lease_refuses_a_fault_whose_dead_man_process_is_gone(tmp_path: Path) -> None:
    fault = tmp_path / "active" / "run-1" / "hog"
    fault.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (fault / "armed").write_text(f"{boot_id()} process {dead.pid}\n")
    gone = sh(hostshell.lease_script(str(tmp_path), "run-1", 30))
    assert gone.returncode == hostshell.LEASE_DISARMED_RC
    assert f"dead-man process {dead.pid} of hog is gone" in gone.stdout
    with subprocess.Popen(["sleep", "30"]) as alive:
        (fault / "armed").write_text(f"{boot_id()} process {alive.pid}\n")
        assert sh(hostshell.lease_script(str(tmp_path), "run-1", 30)).returncode == 0
        alive.kill()


def test_holders_lists_runs(tmp_path: Path) -> None:
    assert sh(hostshell.holders_script(str(tmp_path))).stdout == ""
    (tmp_path / "active" / "run-7").mkdir(parents=True)
    assert sh(hostshell.holders_script(str(tmp_path))).stdout.split() == ["run-7"]


def event(kind: str, host: str, task: str = "Stop the unit", **res) -> dict:
    return {"event": kind, "event_data": {"host": host, "task": task, "res": res}}


def test_runner_events_to_host_status() -> None:
    seen: list[tuple[str, str, str]] = []
    result = PlayResult("successful", 0, dict.fromkeys(["a", "b", "c"], "not run"))
    for e in [
        event("runner_on_ok", "a"),
        event("runner_on_ok", "b"),
        event("runner_on_failed", "b", msg="unit not found"),
        event("runner_on_ok", "b"),  # a later task must not hide the failure
        event("runner_on_unreachable", "c", msg="timed out"),
        event("runner_on_ok", "zzz"),  # not ours
    ]:
        _record(e, result, lambda *args: seen.append(args))
    result.settle()
    assert result.hosts == {"a": "ok", "b": "failed", "c": "unreachable"}
    assert result.messages["b"] == "Stop the unit: unit not found"
    assert ("b", "failed", "Stop the unit") in seen
    assert not result.ok and result.failed_hosts() == ["b", "c"]


def test_a_failed_script_reports_its_own_message() -> None:
    result = PlayResult("failed", 2, {"a": "not run"})
    refusal = "a holds an active fault of run r1 (roles: process_kill); run r2 is refused."
    res = {"msg": "non-zero return code", "rc": 3, "stderr": refusal}
    _record(
        {"event": "runner_on_failed", "event_data": {"host": "a", "task": "Look", "res": res}},
        result,
        None,
    )
    assert result.messages["a"] == f"Look: {refusal}"


def test_live_progress_never_shows_secrets() -> None:
    import io

    from rich.console import Console

    from chaosrun.base.secrets import Redactor
    from chaosrun.base.verdict import ProbeResult, Verdict
    from chaosrun.run.progress import make_progress

    out = io.StringIO()
    redactor = Redactor()
    redactor.add("topsecret-token")
    progress = make_progress(Console(file=out, force_terminal=True, width=100), redactor, True)
    progress.phase("inject", "inject")
    progress.host("inject", "order-1", "failed", "Use topsecret-token")
    progress.probe("guardrail", "errors", ProbeResult(Verdict.BREACH, 0.5, "topsecret-token"))
    progress.message("abort: topsecret-token")
    progress.close()
    assert "order-1" in out.getvalue()
    assert "topsecret-token" not in out.getvalue()
