"""Fleet control without a lab: who controls a fault, orphans, and `abort` of a live run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from chaosrun.base import liveness
from chaosrun.base.errors import InvalidInput, Refused
from chaosrun.hosts import hostshell
from chaosrun.hosts.hostshell import Answer
from chaosrun.model import audit, config
from chaosrun.ops import fleet


def cfg(tmp_path):
    path = tmp_path / "chaosrun.yml"
    path.write_text("")
    return config.load(path)


def fault(**kw):
    base = dict(
        host="h",
        run_id="r",
        role="service_stop",
        since=1.0,
        armed_until=None,
        controller="",
        controller_alive=None,
        revert_script="/x/revert.sh",
    )
    base.update(kw)
    return fleet.Fault(**base)


def test_controller_id_names_this_process_and_is_understood(tmp_path):
    me = audit.controller_id()
    assert me.endswith(f"@{socket.gethostname()}:{__import__('os').getpid()}")
    assert fleet.controller_alive(me, tmp_path, "r") is True
    dead = me.rsplit(":", 1)[0] + ":999999999"
    assert fleet.controller_alive(dead, tmp_path, "r") is False
    assert fleet.controller_alive("ops@elsewhere:12", tmp_path, "r") is None
    assert fleet.controller_alive("10.0.0.1", tmp_path, "r") is None


def test_orphaned_when_the_controller_is_dead_or_the_lease_ran_out():
    assert fault(controller_alive=False).orphaned
    assert not fault(controller_alive=True, armed_until=0).orphaned
    assert fault(armed_until=time.time() - 1).orphaned
    assert not fault(armed_until=time.time() + 30).orphaned


def test_recover_needs_exactly_one_of_run_or_all(tmp_path):
    with pytest.raises(InvalidInput, match="exactly one"):
        fleet.recover(cfg(tmp_path), tmp_path / "hosts", None, False)


HANDLER = """
import signal, sys, time
def stop(*_):
    open(sys.argv[1], "w").write("rolled back")
    sys.exit(3)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(30)
"""


def test_abort_signals_a_live_run_and_records_it(tmp_path):
    c = cfg(tmp_path)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", HANDLER, str(marker)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    run = c.run_dir / "run-1"
    run.mkdir(parents=True)
    (run / "journal.json").write_text(
        json.dumps(
            {
                "run_id": "run-1",
                "status": "running",
                "experiment": {"file": "e.yml"},
                "controller": {"host": socket.gethostname(), "pid": proc.pid},
                "targets": {"selected": ["order-1"]},
            }
        )
    )
    assert fleet.abort(c, "run-1", "game day over") == proc.pid
    assert proc.wait(5) == 3 and marker.read_text() == "rolled back"
    assert json.loads((run / "abort.json").read_text())["reason"] == "game day over"
    (entry,) = list(audit.read(c.audit_path))
    assert entry["action"] == "abort" and entry["targets"] == ["order-1"]
    # The process is gone now: a second abort is refused and points at recover.
    with pytest.raises(Refused, match="recover --run run-1"):
        fleet.abort(c, "run-1", "again")


def test_abort_of_an_unknown_run(tmp_path):
    with pytest.raises(InvalidInput, match="no run 'zzz'"):
        fleet.abort(cfg(tmp_path), "zzz", "x")


class LocalShell:
    """The fleet's hosts as local /bin/sh runs (each host's state directory is the one the
    script names); hosts in `down` answer as an unreachable ssh does, the first `flaky` calls."""

    def __init__(self, hosts, down=(), flaky=()):
        self.hosts = dict.fromkeys(hosts)
        self.down, self.flaky, self.calls = set(down), set(flaky), []

    def run_all(self, scripts, timeout=30.0):
        answers = {}
        for host, script in scripts.items():
            self.calls.append(host)
            if host in self.down or (host in self.flaky and self.calls.count(host) == 1):
                answers[host] = Answer(255, "ssh: connect to host: Connection refused", 0.0)
                continue
            done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True)
            answers[host] = Answer(done.returncode, (done.stdout + done.stderr).strip(), 0.0)
        return answers


def use_shell(monkeypatch, shell):
    monkeypatch.setattr(fleet, "_fleet", lambda inventory, pattern: contextlib.nullcontext(shell))


def state_with_faults(tmp_path, controller):
    """r1: an armed service_stop with its lease; r2: a failed inject (no revert script)."""
    state = tmp_path / "state"
    armed = state / "active" / "r1" / "service_stop"
    armed.mkdir(parents=True)
    meta = {"run_id": "r1", "role": "service_stop", "since": 100, "expires_at": 130}
    (armed / "meta.json").write_text(json.dumps({**meta, "controller": controller}, indent=1))
    (armed / "revert.sh").write_text(f"echo undone > {tmp_path / 'undone'}\n")
    (state / "active" / "r1" / "lease").write_text("4102444800\n")
    half = state / "active" / "r2" / "process_kill"
    half.mkdir(parents=True)
    (half / "meta.json").write_text(json.dumps({"since": 200, "expires_at": 230}))
    return state


def test_status_reads_every_host_once_over_its_connection(tmp_path, monkeypatch):
    """The listing script run by a shell on a real state directory: meta.json, the lease,
    the host's own clock; a host that does not answer is asked once more, then reported."""
    state = state_with_faults(tmp_path, audit.controller_id())
    shell = LocalShell(["order-1", "db-1", "web-1"], down={"db-1"}, flaky={"web-1"})
    use_shell(monkeypatch, shell)
    faults, problems = fleet.list_faults(cfg(tmp_path), tmp_path / "hosts", "all", str(state))
    assert sorted(shell.calls) == ["db-1", "db-1", "order-1", "web-1", "web-1"]
    on_order = sorted((f for f in faults if f.host == "order-1"), key=lambda f: f.run_id)
    armed, half = on_order
    assert (armed.run_id, armed.role, armed.armed_until) == ("r1", "service_stop", 4102444800)
    assert armed.controller_alive is True and not armed.orphaned
    assert armed.as_dict()["armed_until"] == "2100-01-01T00:00:00Z"
    assert armed.revert_script == f"{state}/active/r1/service_stop/revert.sh"
    # No lease file: meta.json's expiry, long past by the host's clock.
    assert (half.run_id, half.role, half.armed_until, half.expired) == (
        "r2",
        "process_kill",
        230,
        True,
    )
    assert half.orphaned
    assert [(p.host, p.message) for p in problems] == [
        ("db-1", "ssh: connect to host: Connection refused")
    ]


def test_recover_runs_revert_scripts_and_clears_a_failed_injects_directory(tmp_path, monkeypatch):
    state = state_with_faults(tmp_path, "ops@elsewhere-controller:1")
    (state / "active" / "r1" / "lease").write_text("1\n")  # ran out: orphaned
    use_shell(monkeypatch, LocalShell(["order-1"]))
    done = fleet.recover(cfg(tmp_path), tmp_path / "hosts", None, True, str(state))
    outcomes, problems = done.outcomes, done.problems
    assert outcomes == {"order-1/service_stop": "reverted", "order-1/process_kill": "reverted"}
    assert (tmp_path / "undone").read_text().strip() == "undone"
    assert not (state / "active" / "r2").exists() and not problems
    (entry,) = list(audit.read(cfg(tmp_path).audit_path))
    assert entry["outcome"] == "recovered" and entry["targets"] == ["order-1"]


def _hung_step(state, run_id: str, seconds: int) -> subprocess.Popen:
    """A fault step of `run_id` in a session of its own (as sshd starts one), hung in its
    apply under the host's lock (`sleep seconds`), as the arm step holds it."""
    script = (
        f"# {hostshell.STEP_MARK} {run_id} service_stop (the step mark)\n"
        f"exec 9>>{state}/lock; flock 9; sleep {seconds}\n"
    )
    return subprocess.Popen(["setsid", "/bin/sh", "-c", script])


def test_recover_ends_a_dead_runs_hung_step_first_and_says_so(tmp_path, monkeypatch):
    """The step holds the host's lock the end of the run waits for (up to 120 s): recover
    ends it first, so it returns at once, reverted, and says which run's step it ended."""
    state = state_with_faults(tmp_path, "ops@elsewhere-controller:1")
    (state / "active" / "r1" / "lease").write_text("1\n")  # ran out: orphaned
    (state / "lock").touch()
    hung, other = _hung_step(state, "r1", 614), _hung_step(tmp_path, "r10", 615)
    try:
        time.sleep(0.5)
        use_shell(monkeypatch, LocalShell(["order-1"]))
        started = time.monotonic()
        done = fleet.recover(cfg(tmp_path), tmp_path / "hosts", "r1", False, str(state))
        assert time.monotonic() - started < 10
        assert done.outcomes == {"order-1/service_stop": "reverted"}
        assert done.steps_ended == {"order-1": ["r1"]}
        assert hung.wait(5) == -9
        assert other.poll() is None  # another run's step (r1 is a prefix of r10)
        (entry,) = list(audit.read(cfg(tmp_path).audit_path))
        assert entry["steps_ended"] == {"order-1": ["r1"]} and entry["outcome"] == "recovered"
    finally:
        for proc in (hung, other):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_listing_parser_trusts_the_hosts_clock():
    out = 'NOW\t1000\nFAULT\tr2\tnetwork_partition\t999\t{"controller": "10.0.0.1"}\n'
    (item,) = fleet.parse_listing(out, "/x")["faults"]
    assert item["expired"] is True and item["controller"] == "10.0.0.1"
    f = fault(controller="10.0.0.1", expired=True, revert_script=item["revert_script"])
    # The controller is an SSH address: unknown; the host says the lease ran out.
    assert f.controller_alive is None and f.orphaned
    assert "rm -rf /x/active/r2/network_partition" in fleet._recover_script(f)


def _crashed_journal(run, pid: int) -> None:
    """A journal its controller left `running` when it died, whose pid another process
    (`pid`) now has: the start time recorded is not that process's."""
    (run / "journal.json").write_text(
        json.dumps(
            {
                "run_id": run.name,
                "status": "running",
                "experiment": {"file": "e.yml"},
                "controller": {
                    "host": socket.gethostname(),
                    "pid": pid,
                    "pid_started": "1",  # not the start of `pid`: the pid was reused
                    "boot_id": None,
                },
                "targets": {"selected": ["order-1"]},
            }
        )
    )


def test_abort_never_signals_a_process_that_took_a_dead_controllers_pid(tmp_path):
    c = cfg(tmp_path)
    marker = tmp_path / "marker"
    stranger = subprocess.Popen(
        [sys.executable, "-c", HANDLER, str(marker)], stdout=subprocess.PIPE
    )
    try:
        assert stranger.stdout.readline().strip() == b"ready"
        run = c.run_dir / "run-1"
        run.mkdir(parents=True)
        _crashed_journal(run, stranger.pid)
        with pytest.raises(Refused, match="recover --run run-1"):
            fleet.abort(c, "run-1", "game day over")
        time.sleep(0.3)
        assert stranger.poll() is None and not marker.exists()
        assert not (run / "abort.json").exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_fault_whose_controllers_pid_was_reused_is_orphaned(tmp_path):
    """The hosts name the controller user@host:pid; this machine's journal of the run says
    when that pid started, so a process that took the pid since is not the controller."""
    c = cfg(tmp_path)
    run = c.run_dir / "run-1"
    run.mkdir(parents=True)
    me = audit.controller_id()
    _crashed_journal(run, int(me.rsplit(":", 1)[1]))
    assert fleet.controller_alive(me, c.run_dir, "run-1") is False
    assert fleet.controller_alive("10.0.0.1", c.run_dir, "run-1") is False
    # The journal of a live run (its pid's own start time) keeps its faults live.
    live = json.loads((run / "journal.json").read_text())
    live["controller"].update(liveness.identity())
    (run / "journal.json").write_text(json.dumps(live))
    assert fleet.controller_alive(me, c.run_dir, "run-1") is True
