"""The run's processes end with it: a detached daemon (like an ssh ControlMaster) and a
process carrying the run's marker, after a SIGKILL of the controller's group and after
a normal end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from chaosrun.base import liveness

# A controller: starts the reaper, then a daemon that detaches (double fork, own session,
# SIGHUP ignored, an empty environment: only the guardian's notes can find it) and a
# plain child that keeps the environment (found by the marker).
CONTROLLER = textwrap.dedent(
    """\
    import os, subprocess, sys, time
    from chaosrun.run import reaper
    from pathlib import Path
    Path(sys.argv[3]).mkdir(parents=True)  # as the run's HostShell makes it
    r = reaper.Reaper(sys.argv[1], Path(sys.argv[3])).start()
    print(os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"], flush=True)
    daemon = (
        "import os, signal, sys, time\\n"
        "if os.fork(): sys.exit(0)\\n"
        "os.setsid(); signal.signal(signal.SIGHUP, signal.SIG_IGN)\\n"
        "print(os.getpid(), flush=True); time.sleep(300)"
    )
    p = subprocess.Popen([sys.executable, "-c", daemon], stdout=subprocess.PIPE, env={})
    print(p.stdout.readline().decode().strip(), flush=True)
    p.wait()
    plain = subprocess.Popen(["sleep", "300"], start_new_session=True)
    print(plain.pid, flush=True)
    time.sleep(1.5)  # the guardian notes the daemon
    print("ready", flush=True)
    if sys.argv[2] == "end-on-cue":
        sys.stdin.readline()
    if sys.argv[2].startswith("end"):
        r.stop()
        print("stopped", flush=True)
    time.sleep(300)
    """
)


def _start(run_id: str, how: str, control_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, run_id, how, str(control_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    # Ansible's ssh connections of the run go to the run's own directory.
    assert proc.stdout.readline().strip() == str(control_dir)
    pids = [int(proc.stdout.readline()), int(proc.stdout.readline())]
    assert proc.stdout.readline().strip() == "ready"
    assert all(liveness.process_start(p) for p in pids)
    return proc, pids


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if liveness.process_start(p) is not None]
        if not left:
            return []
        time.sleep(0.1)
    return left


def test_sigkill_of_the_controller_group_ends_the_runs_processes(tmp_path: Path):
    proc, pids = _start(f"unit-kill-{os.getpid()}", "kill", tmp_path / "r")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert _gone_within(pids, 5) == []


def test_the_end_of_a_run_ends_its_processes_but_not_the_controller(tmp_path: Path):
    # On cue: a controller that ended at once could sweep before this test saw its pids.
    proc, pids = _start(f"unit-end-{os.getpid()}", "end-on-cue", tmp_path / "r")
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "stopped"
        assert _gone_within(pids, 5) == []
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _master(socket: str) -> int:
    """An ssh ControlMaster as ps sees it: detached, parent init, its socket in its title."""
    out = subprocess.run(
        [
            "bash",
            "-c",
            f'(exec -a "ssh: {socket} [mux]" sleep 30 </dev/null >/dev/null 2>&1 &) ; '
            f"sleep 0.2; pgrep -f -n '{socket} \\[mux\\]'",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return int(out.stdout.split()[0])


def test_a_run_takes_the_masters_of_its_own_directory_and_no_other(tmp_path: Path):
    """However the run ends, a master whose socket is in the run's directory ends with it,
    even one the guardian never saw below the controller; another program's master, an
    orphan of init as well, is spared."""
    for how in ("end-on-cue", "kill"):
        control_dir = tmp_path / how
        proc, pids = _start(f"unit-masters-{how}-{os.getpid()}", how, control_dir)
        own = _master(f"{control_dir}/e-0123abcd")
        stranger = _master(f"{tmp_path}/elsewhere/cp-1")
        try:
            assert (liveness.stat(stranger) or [None, None])[1] == "1"
            assert proc.stdin is not None and proc.stdout is not None
            if how == "kill":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.stdin.write("go\n")
                proc.stdin.flush()
                assert proc.stdout.readline().strip() == "stopped"
            assert _gone_within([*pids, own], 5) == [], how
            assert liveness.process_start(stranger) is not None, f"{how}: took a stranger's"
            deadline = time.monotonic() + 5  # the guardian removes it after its last sweep
            while control_dir.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not control_dir.exists(), how
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            for pid in (own, stranger):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
