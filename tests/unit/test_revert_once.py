"""The revert's side of a fault's life on a host, run for real with /bin/sh in a temporary
state directory (as tests/unit/test_run_end.py runs the arm step): a revert that comes
after the fault was undone only finishes the cleanup, and the engine's revert ends the
run's steps still running on the host (by the step mark) and nothing else.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from test_run_end import arm, run_sh

from chaosrun.hosts import hostshell

RUN = "run-1"


def _armed(tmp_path: Path) -> tuple[Path, Path]:
    state, flag = tmp_path / "state", tmp_path / "flag"
    done = arm(state, flag)
    _out, err = done.communicate(timeout=30)
    assert done.returncode == 0, err
    assert flag.read_text() == "on\n"
    return state / "active" / RUN / "demo", flag


def test_a_revert_after_the_undo_only_finishes_the_cleanup(tmp_path: Path) -> None:
    fault, flag = _armed(tmp_path)
    # A first revert undid the fault (its marker) and was stopped before its cleanup; the
    # fault is back on meanwhile (whatever a second undo would change, it must not).
    (fault / "reverted").write_text("2026-01-01T00:00:00Z deadman\n")
    done = run_sh(f"/bin/sh {fault}/revert.sh rollback")
    assert done.returncode == 0, done.stderr
    assert "undone by an earlier revert (2026-01-01T00:00:00Z deadman)" in done.stdout
    assert flag.exists(), "undone a second time"
    assert not fault.exists()  # the cleanup finished


def _step(run_id: str, seconds: int) -> subprocess.Popen[bytes]:
    """A fault step of `run_id` in a session of its own (as sshd starts one), blocked in its
    apply (`sleep seconds`), with a detached child (`sleep seconds+10`, a hog) that has a
    session of its own."""
    script = (
        f"# {hostshell.STEP_MARK} {run_id} demo (the step mark)\n"
        f"setsid sleep {seconds + 10} </dev/null >/dev/null 2>&1 &\n"
        f"sleep {seconds}\n"
    )
    return subprocess.Popen(["setsid", "/bin/sh", "-c", script])


def _alive(seconds: int) -> bool:
    found = subprocess.run(["pgrep", "-fx", f"sleep {seconds}"], capture_output=True, check=False)
    return found.returncode == 0


def test_the_revert_ends_the_runs_steps_and_nothing_else(tmp_path: Path) -> None:
    ours, other = _step(RUN, 611), _step("run-10", 612)  # run-1 is a prefix of run-10
    try:
        # Started in the background: on a busy machine they may take a moment to exist.
        deadline = time.monotonic() + 10
        while not (_alive(611) and _alive(621) and _alive(612)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _alive(611) and _alive(621) and _alive(612)
        done = run_sh(hostshell.stop_steps_script(RUN))
        assert done.stdout.count(hostshell.STEP_ENDED) == 1, done
        assert ours.wait(5) == -9  # SIGKILL, with its session
        time.sleep(0.2)
        assert not _alive(611)
        assert _alive(621)  # what the step left detached is the revert script's to stop
        assert other.poll() is None and _alive(612)  # another run's step
    finally:
        for proc in (ours, other):
            proc.kill()
        for seconds in (611, 612, 621, 622):
            subprocess.run(["pkill", "-fx", f"sleep {seconds}"], check=False)
