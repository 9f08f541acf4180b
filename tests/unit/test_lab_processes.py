"""Controller processes: pid files that survive pid reuse, restart on a changed command,
and strays found by their environment marker. Real processes (sleep), no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chaosrun.lab import processes
from chaosrun.lab.processes import Spec
from chaosrun.lab.state import OWNER_ENV, LabPaths


def sleeper(seconds: str = "300", env: tuple = ()) -> Spec:
    return Spec("sleeper", (sys.executable, "-c", f"import time; time.sleep({seconds})"), env)


def test_start_is_tracked_and_stop_ends_it(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    pid = processes.start(paths, sleeper())
    running = processes.read(paths, "sleeper")
    assert running and running.alive and running.pid == pid
    assert processes.stop(paths, "sleeper")
    assert processes.cmdline(pid) is None
    assert not paths.pid_file("sleeper").exists()
    assert not processes.stop(paths, "sleeper")


def test_ensure_keeps_a_current_process_and_replaces_a_changed_one(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    assert processes.ensure(paths, sleeper())
    first = processes.read(paths, "sleeper")
    assert not processes.ensure(paths, sleeper())
    assert processes.ensure(paths, sleeper(env=(("X", "1"),)))
    second = processes.read(paths, "sleeper")
    assert first and second and second.pid != first.pid
    assert processes.cmdline(first.pid) is None
    processes.stop(paths, "sleeper")


def test_a_reused_pid_is_not_taken_for_ours(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    paths.run_dir.mkdir(parents=True)
    record = {"pid": os.getpid(), "argv": ["prometheus", "--x"], "fingerprint": "f"}
    paths.pid_file("prometheus").write_text(json.dumps(record))
    running = processes.read(paths, "prometheus")
    assert running and not running.alive
    assert not processes.stop(paths, "prometheus")  # must not signal the test itself
    assert not paths.pid_file("prometheus").exists()


def test_strays_are_found_by_their_marker(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    env = {**os.environ, OWNER_ENV: str(paths.root)}
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], env=env)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        # Right after exec the kernel may not have set the new environment up yet (Popen
        # returns once exec began): look again for a while, as `lab down` would.
        deadline = time.monotonic() + 5
        while stray.pid not in (found := processes.strays(paths)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stray.pid in found
        assert other.pid not in found
        assert processes.strays(paths, known=[stray.pid]) == []
    finally:
        for proc in (stray, other):
            proc.kill()
            proc.wait()
