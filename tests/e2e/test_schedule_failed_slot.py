"""A failed scheduled slot on the lab is loud: the cron entry that `chaosrun schedule
install` writes, run by hand exactly as cron would (a bare environment, another working
directory), finds the project, its configuration, the experiment and the inventory; the
slot is refused (a blackout window covers every minute), and the refusal shows up in the
audit log, in `chaosrun schedule list` and at the lab's webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from labsched import PROJECT, Lab, sched_lab

from chaosrun.model import audit
from chaosrun.modes import schedule_install, schedules

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
__all__ = ["sched_lab"]

EXPERIMENT = "tests/e2e/experiments/stop-one-order.yml"
CRON_ENV = ["env", "-i", "HOME=/root", "LOGNAME=root", "SHELL=/bin/sh", "PATH=/usr/bin:/bin"]


def test_failed_slot_reaches_audit_list_and_webhook(sched_lab: Lab, tmp_path: Path) -> None:
    receiver = f"http://127.0.0.1:{sched_lab.config.webhook_port}"
    hook_path = f"/slot-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "audit.jsonl"
    conf = tmp_path / "chaosrun.yml"
    conf.write_text(
        yaml.safe_dump(
            {
                "audit": {"path": str(log)},
                "run_dir": str(tmp_path / "runs"),
                "freeze_file": str(tmp_path / "freeze.json"),
                "blackout_windows": [{"name": "always", "cron": "* * * * *", "length": "1h"}],
                "notifications": {"webhooks": [{"name": "lab", "url": receiver + hook_path}]},
            }
        )
    )
    sched_file = tmp_path / "chaosrun-schedules.yml"
    inventory = str(sched_lab.inventory.relative_to(PROJECT))
    sched_file.write_text(
        yaml.safe_dump(
            {
                "schedules": [
                    {
                        "name": "e2e-refused",
                        "experiment": EXPERIMENT,
                        "inventory": inventory,
                        "cron": "@daily",
                    }
                ]
            }
        )
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CHAOSRUN_")},
        "CHAOSRUN_CONFIG": str(conf),  # carried into the entry by install
        "CHAOSRUN_SCHEDULES": str(sched_file),
        "CHAOSRUN_PROJECT": str(PROJECT),
        "COLUMNS": "250",
    }

    def chaosrun(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaosrun", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT,
            timeout=120,
        )

    cron_file = tmp_path / "cron.d" / "chaosrun"
    installed = chaosrun("schedule", "install", "--backend", "cron", "--cron-file", str(cron_file))
    assert installed.returncode == 0, installed.stderr
    [line] = [x for x in cron_file.read_text().splitlines() if x.startswith("@daily root ")]
    command = line.removeprefix("@daily root ").replace("\\%", "%")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 2))
    try:
        subprocess.run([*CRON_ENV, "/bin/sh", "-c", command], cwd=elsewhere, timeout=300)
        slot_log = (tmp_path / ".chaosrun" / "schedules" / "e2e-refused.log").read_text()
        entries = list(audit.read(log))
        slots = [e for e in entries if e["action"] == "slot"]
        assert len(slots) == 1, slot_log
        slot = slots[0]
        assert slot["outcome"] == "failed" and slot["exit_code"] == 4, slot
        assert slot["schedule"] == "e2e-refused" and slot["run_id"]
        assert "blackout window" in slot["reason"] and "always" in slot["reason"], slot
        # it found the inventory: the refusal names the run's targets, not a missing file
        refused = [e for e in entries if e["action"] == "refused"]
        assert refused and refused[0]["targets"], entries
        [row] = json.loads(chaosrun("schedule", "list", "--json").stdout)
        assert row["last_result"]["result"] == "failed" and row["last_result"]["exit_code"] == 4
        assert "FAILED exit 4" in chaosrun("schedule", "list").stdout
        deadline = time.monotonic() + 30
        bodies: list[dict] = []
        while time.monotonic() < deadline and not bodies:
            got = requests.get(f"{receiver}/notifications", params={"since": since}, timeout=10)
            bodies = [
                r["body"]
                for r in got.json()
                if r["path"] == hook_path and r["body"].get("event") == "slot_failed"
            ]
            time.sleep(0 if bodies else 1)
        assert len(bodies) == 1, "the lab's webhook receiver never got slot_failed"
        assert bodies[0]["schedule"] == "e2e-refused" and "exit 4" in bodies[0]["text"]
    finally:
        removed = chaosrun("schedule", "uninstall")
    assert removed.returncode == 0 and not cron_file.exists()
    for host in sched_lab.order_hosts():
        assert sched_lab.active_faults(host) == [], host  # refused: nothing injected


def test_systemd_unit_records_a_slot_whose_chaosrun_is_gone(sched_lab: Lab) -> None:
    """A lab host's real systemd (PID 1) starts the rendered service, whose chaosrun does
    not exist there: systemd says 203/EXEC and the unit's ExecStopPost hands the slot to
    the fallback script, which writes the audit line. The host has no chaosrun at all, so
    this is the case exactly, with the project placed at a path of its own."""
    host = "payment-1"
    project = Path("/tmp/chaosrun-e2e-gone")
    sched = schedules.parse_one(
        {"name": "e2e-gone", "experiment": "e.yml", "cron": "@daily"}, str, ()
    )
    where = schedule_install.Where(
        project=project,
        schedule_file=project / "chaosrun-schedules.yml",
        chaosrun=("/opt/chaosrun-gone/bin/chaosrun",),
    )
    unit = "chaosrun-e2e-gone.service"
    fallback = schedule_install.fallback_script(project / "audit.jsonl", [])
    script = (
        f"mkdir -p {where.state_dir} && cat > {where.fallback} <<'CHAOSRUN_EOF'\n"
        f"{fallback}CHAOSRUN_EOF\n"
        f"cat > /etc/systemd/system/{unit} <<'CHAOSRUN_EOF'\n"
        f"{schedule_install.service_unit(sched, where)}CHAOSRUN_EOF\n"
        f"systemctl daemon-reload; systemctl start {unit}; cat {project}/audit.jsonl"
    )
    try:
        out = sched_lab.on_host(host, script)
    finally:
        sched_lab.on_host(
            host,
            f"rm -rf {project} /etc/systemd/system/{unit}; systemctl daemon-reload; "
            f"systemctl reset-failed {unit} 2>/dev/null; true",
        )
    [entry] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert entry["action"] == "slot" and entry["outcome"] == "failed", entry
    assert entry["exit_code"] == 203 and entry["schedule"] == "e2e-gone"
    assert entry["reason"] == "chaosrun could not be started: /opt/chaosrun-gone/bin/chaosrun"
