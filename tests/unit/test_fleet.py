"""Fleet control without a lab: who controls a fault, orphans, and `abort` of a live run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from chaosrun import audit, config, fleet
from chaosrun.errors import InvalidInput, Refused


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
    me = fleet.controller_id()
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


def test_list_faults_reads_meta_and_lease_from_the_hosts(tmp_path, monkeypatch):
    """The listing as the hosts answer it: meta.json plus the lease file's expiry."""
    c = cfg(tmp_path)
    me = fleet.controller_id()
    meta = json.dumps(
        {
            "run_id": "r1",
            "role": "service_stop",
            "since": 100,
            "expires_at": 130,
            "controller": me,
            "revert_script": "/var/lib/chaosrun/active/r1/service_stop/revert.sh",
        }
    )
    seen = {}

    def fake_adhoc(inventory, pattern, module, args):
        seen["module"] = module
        return {
            "order-1": (True, {"stdout": f"4102444800\t{meta}\nnot json\n"}),
            "order-2": (True, {"stdout": ""}),
            "db-1": (False, {"msg": "Failed to connect to the host via ssh"}),
        }

    monkeypatch.setattr(fleet, "_adhoc", fake_adhoc)
    monkeypatch.setattr(fleet, "_module_installed", lambda: False)
    faults, problems = fleet.list_faults(c, tmp_path / "hosts")
    assert seen["module"] == "ansible.builtin.shell"
    (f,) = faults
    assert (f.host, f.run_id, f.role, f.armed_until) == (
        "order-1",
        "r1",
        "service_stop",
        4102444800,
    )
    assert f.controller_alive is True and not f.orphaned
    assert f.as_dict()["armed_until"] == "2100-01-01T00:00:00Z"
    assert [(p.host, p.message) for p in problems] == [
        ("db-1", "Failed to connect to the host via ssh")
    ]


def test_list_faults_with_the_collections_module_trusts_the_hosts_clock(tmp_path, monkeypatch):
    c = cfg(tmp_path)
    answer = {
        "faults": [
            {
                "run_id": "r2",
                "role": "network_partition",
                "since": 1,
                "expires_at": 4102444800,
                "expired": True,
                "controller": "10.0.0.1",
                "revert_script": "/x/active/r2/network_partition/revert.sh",
            }
        ]
    }
    monkeypatch.setattr(fleet, "_adhoc", lambda inv, pattern, module, args: {"h": (True, answer)})
    assert fleet._module_installed(), "the collection ships chaosrun.chaos.fault_status"
    (f,) = fleet.list_faults(c, tmp_path / "hosts")[0]
    # The controller is an SSH address: unknown; the host says the lease ran out.
    assert f.controller_alive is None and f.orphaned
    assert "rm -rf /x/active/r2/network_partition" in fleet._recover_script(f)
