"""A run that ended on a host stays ended there: the fault role's arm step and the ways to
end a run (the role's rollback, the engine's fast revert, recover) take the same host lock,
run for real with /bin/sh in a temporary state directory (the dead-man's detached fallback:
the test machine has no systemd as PID 1).

An inject cancelled on the controller goes on running on the host; whichever of its arm and
the run's rollback gets the lock first, no fault is left armed after the rollback.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fault_templates import environment

from chaosrun.base import hostlayout as layout
from chaosrun.hosts import hostshell

RUN = "run-1"
# A `cat` that dawdles once in the arm step only (CHAOSRUN_TEST_SLOW set), after saying so:
# the arm's first `cat` writes a program under the lock, before the revert script exists.
SLOW_CAT = """#!/bin/sh
if [ -n "${CHAOSRUN_TEST_SLOW:-}" ] && [ ! -e "$CHAOSRUN_TEST_SLOW" ]; then
  : > "$CHAOSRUN_TEST_SLOW"; sleep 2
fi
exec /bin/cat "$@"
"""


def _vars(state: Path, flag: Path) -> dict[str, object]:
    fault_dir = state / "active" / RUN / "demo"
    return {
        "fault_role": "demo",
        "chaos_run_id": RUN,
        "chaos_ttl": 60,
        "inventory_hostname": "testhost",
        "__fault_state_dir": str(state),
        "__fault_dir": str(fault_dir),
        "__fault_unit": f"chaosrun-deadman-{RUN}-demo",
        "__fault_textfile": "",
        "__fault_meta": {"run_id": RUN, "role": "demo"},
        "__fault_controller": "local",
        "fault_apply_body": f"echo on > {shlex.quote(str(flag))}",
        "fault_revert_body": f"rm -f {shlex.quote(str(flag))}",
    }


def arm(state: Path, flag: Path, **env: str) -> subprocess.Popen[str]:
    script = environment().get_template("arm.sh.j2").render(_vars(state, flag))
    return subprocess.Popen(
        ["/bin/sh", "-c", script],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def role_rollback(state: Path, flag: Path) -> str:
    return environment().get_template("rollback.sh.j2").render(_vars(state, flag))


def fast_revert(state: Path, _flag: Path) -> str:
    return hostshell.revert_script(str(state), RUN)


ROLLBACKS: dict[str, Callable[[Path, Path], str]] = {
    "role": role_rollback,
    "fast": fast_revert,
}


def run_sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)


def _nothing_armed(state: Path, flag: Path) -> None:
    assert not flag.exists()
    assert not (state / "active" / RUN).exists()


@pytest.mark.parametrize("kind", sorted(ROLLBACKS))
def test_an_arm_after_the_rollback_refuses_and_touches_nothing(tmp_path: Path, kind: str) -> None:
    state, flag = tmp_path / "state", tmp_path / "flag"
    ended = run_sh(ROLLBACKS[kind](state, flag))
    assert ended.returncode == 0, ended.stderr
    assert (state / "ended" / RUN).read_text().endswith(" rollback\n")

    late = arm(state, flag)
    out, err = late.communicate(timeout=30)
    assert late.returncode == 3, (out, err)
    assert f"run {RUN} already ended on this host" in err, err
    assert "nothing was touched" in err
    _nothing_armed(state, flag)


@pytest.mark.parametrize("kind", sorted(ROLLBACKS))
def test_a_rollback_waits_for_an_arm_holding_the_lock_then_reverts_it(
    tmp_path: Path, kind: str
) -> None:
    state, flag = tmp_path / "state", tmp_path / "flag"
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "cat").write_text(SLOW_CAT)
    (slow / "cat").chmod(0o755)
    in_arm = tmp_path / "arm-holds-the-lock"
    armer = arm(state, flag, PATH=f"{slow}:{os.environ['PATH']}", CHAOSRUN_TEST_SLOW=str(in_arm))
    deadline = time.monotonic() + 20
    while not in_arm.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert in_arm.exists(), armer.communicate(timeout=30)
    # The arm holds the lock and has no revert script yet: without the lock the rollback
    # would answer "nothing armed" here.
    assert not (state / "active" / RUN / "demo" / layout.REVERT).exists()

    started = time.monotonic()
    rollback = run_sh(ROLLBACKS[kind](state, flag))
    waited = time.monotonic() - started
    out, err = armer.communicate(timeout=30)
    assert armer.returncode == 0, (out, err)
    assert "applied" in out
    assert rollback.returncode == 0, (rollback.stdout, rollback.stderr)
    assert waited >= 1.0, waited
    assert "reverted demo of run run-1 (rollback)" in rollback.stdout
    if kind == "role":
        assert "REVERTED" in rollback.stdout.splitlines()
    _nothing_armed(state, flag)
    history = [json.loads(line) for line in (state / "history.jsonl").read_text().splitlines()]
    assert [(h["run_id"], h["by"], h["ok"]) for h in history] == [(RUN, "rollback", True)]


@pytest.mark.parametrize("kind", sorted(ROLLBACKS))
def test_a_rollback_says_when_the_lock_wait_ran_out(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, flag = tmp_path / "state", tmp_path / "flag"
    state.mkdir()
    # The wait shortened to 1 s, as a host whose inject hangs would see it after 120 s.
    script = ROLLBACKS[kind](state, flag).replace("flock -w 120 9", "flock -w 1 9")
    holder = subprocess.Popen(["flock", str(state / "lock"), "sleep", "5"])
    try:
        time.sleep(0.3)
        answer = run_sh(script)
    finally:
        holder.kill()
        holder.wait()
    assert answer.returncode == hostshell.LOCK_WAIT_RC, (answer.stdout, answer.stderr)
    assert "still holds it and may arm after this" in answer.stderr
    # Ended all the same: an arm that has not yet passed its own check still refuses.
    assert (state / "ended" / RUN).exists()


def test_markers_older_than_a_day_go(tmp_path: Path) -> None:
    state, flag = tmp_path / "state", tmp_path / "flag"
    (state / "ended").mkdir(parents=True)
    old, recent = state / "ended" / "run-old", state / "ended" / "run-recent"
    old.write_text("x\n")
    recent.write_text("x\n")
    day = layout.ENDED_KEEP_MINUTES * 60
    os.utime(old, (time.time() - day - 120,) * 2)
    os.utime(recent, (time.time() - day + 600,) * 2)
    assert run_sh(role_rollback(state, flag)).returncode == 0
    assert sorted(p.name for p in (state / "ended").iterdir()) == [RUN, "run-recent"]


def test_recover_ends_each_run_it_reverts() -> None:
    script = hostshell.end_run_script("/srv/chaos/", ["run-a", "run-b"], "recover")
    assert "/srv/chaos/ended/run-a;" in script and "/srv/chaos/ended/run-b;" in script
    assert "recover" in script and "flock -w 120 9" in script
