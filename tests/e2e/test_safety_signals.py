"""A signal during rollback, and a controller killed with its process group mid-phase.

SIGTERM during rollback: the revert finishes, then the run ends as aborted (exit 3) at once,
without the recovery wait. SIGKILL of the whole group: nothing of the run is left running
on the controller, no temporary file outside its run directory, and `history` calls it
crashed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from engine_support import parse_time
from safety_support import (  # noqa: F401  (fixtures)
    CHAOSRUN,
    LEASE_TTL,
    PROJECT,
    Project,
    project_fixture,
    safety_lab_fixture,
    stop_one_order,
)

from chaosrun.base import liveness
from chaosrun.run import reaper

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
UNIT = "order-service.service"


def _wait_in_rollback(project: Project, proc, timeout: float = 400) -> str:
    """Poll the run's journal often: the rollback (revert scripts, then the role's verify
    in one ansible-playbook run) lasts a few seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in project.run_dir.glob("*/journal.json"):
            try:
                journal = json.loads(path.read_text())
            except ValueError:
                continue
            names = [p["name"] for p in journal.get("phases", [])]
            if journal["controller"]["pid"] == proc.pid and "rollback" in names:
                return journal["run_id"]
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before its rollback")
        time.sleep(0.1)
    pytest.fail(f"no rollback within {timeout}s")


def test_sigterm_during_rollback_finishes_it_then_exits_3(project: Project):
    # A recovery deadline far longer than the test allows: waiting it out would show.
    exp = project.experiment(
        "sigterm-rollback", stop_one_order(duration="2s").replace("within: 60s", "within: 300s")
    )
    proc = project.start("run", str(exp), "-i", str(project.lab.inventory))
    run_id = _wait_in_rollback(project, proc)
    proc.send_signal(signal.SIGTERM)
    sent = time.time()
    _out, err = proc.communicate(timeout=300)
    exited = time.time()
    assert proc.returncode == 3, err[-3000:]
    journal = project.journal(run_id)
    assert journal["status"] == "aborted"
    assert journal["abort"]["reason"] == "SIGTERM received during rollback"
    assert journal["abort"]["signal"] == "SIGTERM"
    phases = {p["name"]: p for p in journal["phases"]}
    assert phases["verify_inactive"]["outcome"] == "ok"  # the rollback ran to its end
    assert journal["rollback"]["ok"] is True and "confirmed" not in journal["rollback"]
    assert "recovery" not in phases
    rollback_s = parse_time(phases["verify_inactive"]["ended_at"]) - parse_time(
        phases["rollback"]["started_at"]
    )
    assert exited - sent <= rollback_s + 2, (exited - sent, rollback_s)
    (host,) = journal["targets"]["selected"]
    assert project.lab.unit_active(host, UNIT)
    project.assert_no_active_fault()


def _descendants(pid: int) -> dict[int, str]:
    """pid -> start time of every process below `pid` (the kernel's child lists)."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                for child in (task / "children").read_text().split():
                    started = liveness.process_start(int(child))
                    if started is not None:
                        found[int(child)] = started
                        todo.append(int(child))
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _in_environment(text: str) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and text.encode() in (entry / "environ").read_bytes():
                found.add(int(entry.name))
    return found


def _ssh_to_lab(subnet: str, since: int) -> set[int]:
    """Processes started at or after `since` (ticks since boot) holding a TCP connection to
    the lab's hosts' SSH port: ssh clients and ControlMaster daemons (which detach from
    their parent, so no process tree shows them). This lab is this test's alone."""
    net = ipaddress.ip_network(subnet)
    inodes = set()
    for table in ("/proc/net/tcp",):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, port = fields[2].split(":")
            ip = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(addr), "little"))
            if ip in net and int(port, 16) == 22 and fields[3] == "01":  # ESTABLISHED
                inodes.add(f"socket:[{fields[9]}]")
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        started = liveness.process_start(int(entry.name))
        if started is None or int(started) < since:
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                found.add(int(entry.name))
    return found


def _run_processes(project: Project, run_id: str, before: dict[int, str], since: int) -> list[str]:
    """What is left of the run: processes seen below it before the kill (the same pid and
    start time), any whose environment names its run directory (ansible-runner gives its
    processes the run's artifact directory), and any started since the run began that
    still talk SSH to the lab's hosts."""
    left = {p for p, started in before.items() if liveness.process_start(p) == started}
    left |= _in_environment(str(project.run_dir / run_id))
    left |= _ssh_to_lab(project.lab.config.subnet, since)
    left |= set(reaper.marked(run_id, spare=set()))
    return [f"{p}: {_cmdline(p)[:120]!r}" for p in sorted(left)]


SLOW_LOOK = """\
steady_state:
  - name: a slow look at the hosts
    command: {hosts: order_service, cmd: "sleep 40; true"}
    timeout: 90s
"""


def test_sigkill_of_the_controller_group_leaves_nothing_running(project: Project, tmp_path):
    # Killed while Ansible runs a quiet 40 s task (a command probe before inject): nothing
    # but the run's end can explain Ansible's processes ending within 5 s.
    temp = tmp_path / "controller-tmp"  # the controller's system temp dir, watched
    temp.mkdir()
    # Earlier runs' ControlMaster connections to the lab would be reused, and the run would
    # open none of its own: end them, so what the run opens is seen.
    for pid in _ssh_to_lab(project.lab.config.subnet, 0):
        if b"[mux]" in _cmdline(pid):
            os.kill(pid, signal.SIGTERM)
    exp = project.experiment("sigkill-group", stop_one_order(extra=SLOW_LOOK))
    proc = subprocess.Popen(
        [*CHAOSRUN, "run", str(exp), "-i", str(project.lab.inventory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**project.env(), "TMPDIR": str(temp)},
        cwd=PROJECT,
        start_new_session=True,
    )
    since = int(liveness.process_start(proc.pid) or 0)
    try:
        run_id, tree = _wait_for_ansible(project, proc)
        os.killpg(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    while _run_processes(project, run_id, tree, since) and time.monotonic() - killed < 5:
        time.sleep(0.2)
    left = _run_processes(project, run_id, tree, since)
    assert left == [], f"{time.monotonic() - killed:.1f}s after the kill"
    assert list(temp.iterdir()) == []
    history = project.chaosrun("history", "--runs-dir", str(project.run_dir), "-f", "json")
    assert history.returncode == 0, history.stderr
    (row,) = [r for r in json.loads(history.stdout)["runs"] if r["run_id"] == run_id]
    assert row["status"] == "crashed"
    text = project.chaosrun("history", "--runs-dir", str(project.run_dir)).stdout
    assert "crashed 1: the controller died mid-run" in text
    (crashed,) = [r for r in project.status()["crashed"] if r["run_id"] == run_id]
    assert crashed["faults_left_on"] == [] and "no longer alive" in crashed["reason"]
    project.assert_no_active_fault()  # killed before inject: nothing to revert


def _wait_for_ansible(project: Project, proc, timeout: float = 400):
    """Until the run's ansible process (the slow probe) runs: (run id, processes below)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in project.run_dir.glob("*/journal.json"):
            with contextlib.suppress(ValueError):
                journal = json.loads(path.read_text())
                if any(p["name"] == "steady_state_before" for p in journal["phases"]):
                    tree = _descendants(proc.pid)
                    # The command probe's ansible-playbook: its play is named on its
                    # command line (chaosrun.hosts.runner.run_command).
                    if any(b"probe-command.yml" in _cmdline(p) for p in tree):
                        time.sleep(1)  # the workers and their ssh clients start
                        return journal["run_id"], _descendants(proc.pid)
        assert proc.poll() is None, f"run ended (rc {proc.returncode}) before its probe"
        time.sleep(0.1)
    pytest.fail("the probe's ansible never seen")
