"""The run's processes end with it: a detached daemon (like an ssh ControlMaster) and a
process carrying the run's marker, after a SIGKILL of the controller's group and after
a normal end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from chaosrun import liveness

# A controller: starts the reaper, then a daemon that detaches (double fork, own session,
# SIGHUP ignored, an empty environment: only the guardian's notes can find it) and a
# plain child that keeps the environment (found by the marker).
CONTROLLER = textwrap.dedent(
    """\
    import os, subprocess, sys, time
    from chaosrun import reaper
    r = reaper.Reaper(sys.argv[1]).start()
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


def _start(run_id: str, how: str) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTROLLER, run_id, how],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
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


def test_sigkill_of_the_controller_group_ends_the_runs_processes():
    proc, pids = _start(f"unit-kill-{os.getpid()}", "kill")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert _gone_within(pids, 5) == []


def test_the_end_of_a_run_ends_its_processes_but_not_the_controller():
    proc, pids = _start(f"unit-end-{os.getpid()}", "end")
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "stopped"
        assert _gone_within(pids, 5) == []
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _stranger_master() -> int:
    """Another program's ssh ControlMaster: detached, parent init, `[mux]` in its title."""
    out = subprocess.run(
        [
            "bash",
            "-c",
            '(exec -a "ssh: /tmp/elsewhere/cp-1 [mux]" sleep 30 </dev/null >/dev/null 2>&1 &'
            " echo $!)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return int(out.stdout.split()[0])


def test_a_run_that_ends_spares_another_programs_controlmaster():
    proc, pids = _start(f"unit-cue-{os.getpid()}", "end-on-cue")
    stranger = _stranger_master()
    try:
        # What the guardian would take after a dead controller: an orphan of init.
        assert (liveness.stat(stranger) or [None, None])[1] == "1"
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "stopped"
        assert _gone_within(pids, 5) == []
        assert liveness.process_start(stranger) is not None, "the run took a stranger's master"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.kill(stranger, signal.SIGKILL)
