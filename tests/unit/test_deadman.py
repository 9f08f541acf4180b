"""The on-host undo machinery, run for real with /bin/sh in a temporary state directory:
the revert script the fault role renders, and the dead-man that honours the run's lease.

These run without systemd (the test machine has none as PID 1), which is exactly the
dead-man's detached fallback.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import jinja2
import pytest

ROLE = Path(__file__).resolve().parents[2] / "collections/ansible_collections/chaosrun/chaos/roles"
DEADMAN = ROLE / "fault/files/chaosrun-deadman"
RUN = "run-1"


def render_revert(state: Path, body: str, textfile: Path | None = None) -> Path:
    """Render the shared revert script for fault `demo` of RUN, as the arm step does."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "fault/templates"))
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    fault_dir = state / "active" / RUN / "demo"
    fault_dir.mkdir(parents=True)
    text = env.get_template("revert-script.sh.j2").render(
        fault_role="demo",
        chaos_run_id=RUN,
        inventory_hostname="testhost",
        __fault_dir=str(fault_dir),
        __fault_unit=f"chaosrun-deadman-{RUN}-demo",
        __fault_state_dir=str(state),
        fault_revert_body=body,
        __fault_textfile=str(textfile or ""),
    )
    script = fault_dir / "revert.sh"
    script.write_text(text)
    return script


def set_lease(state: Path, expires: float) -> None:
    lease = state / "active" / RUN / "lease"
    lease.write_text(f"{int(expires)}\n")


def history(state: Path) -> list[dict]:
    lines = (state / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.fixture
def fault(tmp_path: Path) -> tuple[Path, Path]:
    """A state dir with an armed fault whose undo removes the `flag` file."""
    state = tmp_path / "state"
    flag = tmp_path / "flag"
    flag.write_text("fault")
    render_revert(state, f"rm -f {shlex.quote(str(flag))}")
    return state, flag


def start_deadman(state: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        ["/bin/sh", str(DEADMAN), str(state / "active" / RUN / "demo")], env=env
    )


def test_revert_script_undoes_cleans_up_and_records(fault: tuple[Path, Path]) -> None:
    state, flag = fault
    set_lease(state, time.time() + 60)
    script = state / "active" / RUN / "demo" / "revert.sh"
    first = subprocess.run(["/bin/sh", str(script), "rollback"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert not flag.exists()
    assert not (state / "active" / RUN).exists()  # the fault's and the run's directories
    record = history(state)[-1]
    assert record | {"began": 0, "at": 0} == {
        "run_id": RUN, "role": "demo", "by": "rollback", "began": 0, "at": 0, "ok": True,
    }  # fmt: skip
    assert 0 <= record["at"] - record["began"] <= 10  # when the script started and ended
    assert not script.exists()  # the one way to undo the fault is gone with the fault


def test_a_failing_undo_keeps_the_state_and_says_so(tmp_path: Path) -> None:
    state = tmp_path / "state"
    script = render_revert(state, "echo cannot undo >&2\nfalse")
    proc = subprocess.run(["/bin/sh", str(script), "rollback"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "reverting demo of run run-1 failed" in proc.stderr
    assert "cannot undo" in proc.stderr
    assert (script.parent / "revert.failed").is_file() and script.is_file()
    assert history(state)[-1]["ok"] is False


def test_the_dashboard_metric_goes_with_the_fault_only(tmp_path: Path) -> None:
    """The revert script removes the fault's chaosrun_fault_active file when the undo
    succeeded, and leaves it while the fault is still there."""
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir()
    for name, body, gone in (("ok", "true", True), ("bad", "false", False)):
        prom = textfiles / f"chaosrun_{name}_demo.prom"
        prom.write_text('chaosrun_fault_active{run_id="run-1",experiment="",role="demo"} 1\n')
        script = render_revert(tmp_path / name, body, prom)
        subprocess.run(["/bin/sh", str(script), "rollback"], capture_output=True, check=False)
        assert prom.exists() is not gone, name


def test_deadman_reverts_when_the_lease_expires(fault: tuple[Path, Path]) -> None:
    state, flag = fault
    set_lease(state, time.time() + 1)
    proc = start_deadman(state)
    assert proc.wait(timeout=30) == 0
    assert not flag.exists()
    assert history(state)[-1]["by"] == "deadman"


def test_a_renewed_lease_keeps_the_fault(fault: tuple[Path, Path]) -> None:
    state, flag = fault
    # The lease file holds whole seconds: +3 leaves at least a second after the sleep, so
    # a busy machine's scheduling delay does not let the first lease lapse.
    set_lease(state, time.time() + 3)
    proc = start_deadman(state)
    try:
        time.sleep(1)
        renewed = int(time.time() + 4)
        set_lease(state, renewed)
        while time.time() < renewed - 0.5:
            assert flag.exists(), "reverted before the renewed lease expired"
            time.sleep(0.2)
        # The undo runs first, the record of it last.
        assert wait_until(lambda: (state / "history.jsonl").exists(), timeout=20)
        assert not flag.exists()
    finally:
        proc.kill()
        proc.wait()
    assert history(state)[-1]["by"] == "deadman"


def test_an_unreadable_lease_fails_safe(fault: tuple[Path, Path]) -> None:
    state, flag = fault
    (state / "active" / RUN / "lease").write_text("not a number\n")
    proc = start_deadman(state)
    assert proc.wait(timeout=30) == 0
    assert not flag.exists()


def test_deadman_exits_quietly_after_a_rollback(fault: tuple[Path, Path]) -> None:
    state, _flag = fault
    set_lease(state, time.time() + 60)
    proc = start_deadman(state)
    script = state / "active" / RUN / "demo" / "revert.sh"
    subprocess.run(["/bin/sh", str(script), "rollback"], check=True, capture_output=True)
    proc.kill()  # it sleeps until the lease; a rollback via the role also kills it (pidfile)
    proc.wait()
    assert [r["by"] for r in history(state)] == ["rollback"]


def stepped_clock(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose `date +%s` is the real clock plus the seconds in the returned
    file: a host clock an NTP correction steps while the dead-man waits."""
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    real = shutil.which("date")
    fake = bindir / "date"
    fake.write_text(
        "#!/bin/sh\n"
        f'[ "$*" = +%s ] || exec {real} "$@"\n'
        f"echo $(( $({real} +%s) + $(cat {shlex.quote(str(offset))}) ))\n"
    )
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}, offset


def test_a_clock_stepped_back_does_not_stretch_the_lease(
    fault: tuple[Path, Path], tmp_path: Path
) -> None:
    """The controller is gone (no renewal comes), then the host's clock steps back an hour:
    the fault still ends when its lease runs out, not an hour later."""
    state, flag = fault
    env, offset = stepped_clock(tmp_path)
    set_lease(state, time.time() + 2)
    proc = start_deadman(state, env)
    try:
        time.sleep(0.5)  # it read the lease and waits for it to run out
        offset.write_text("-3600")
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert not flag.exists()
    assert history(state)[-1]["by"] == "deadman"


def test_a_renewal_after_a_clock_step_still_counts(
    fault: tuple[Path, Path], tmp_path: Path
) -> None:
    """A renewal writes its expiry by the host's clock as it is now, stepped or not: the
    dead-man honours it for as long as it says."""
    state, flag = fault
    env, offset = stepped_clock(tmp_path)
    set_lease(state, time.time() + 3)
    proc = start_deadman(state, env)
    try:
        time.sleep(1)
        offset.write_text("-3600")
        until = time.time() + 4
        set_lease(state, until - 3600)  # the renewal, by the stepped clock
        while time.time() < until - 0.5:
            assert flag.exists(), "reverted before the renewed lease expired"
            time.sleep(0.2)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert not flag.exists()
