"""A real cron daemon fires `chaosrun run --scheduled` from the entries that
`chaosrun schedule install --backend cron` writes: one slot runs the experiment on the
lab, the others are skipped (probability 0; minimum gap), and the audit log says which
and why. `uninstall` then removes exactly the file it wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from labsched import PROJECT, Lab, sched_lab

from chaosrun.model import audit

pytestmark = [pytest.mark.lab, pytest.mark.e2e]
__all__ = ["sched_lab"]

EXPERIMENT = "tests/e2e/experiments/stop-one-order.yml"


def chaosrun(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        timeout=120,
    )


def cron_running() -> bool:
    try:
        pid = int(Path("/var/run/crond.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def wait_for(
    log: Path, done: Callable[[list[dict[str, Any]]], bool], timeout: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    entries: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        entries = list(audit.read(log))
        if done(entries):
            return entries
        time.sleep(2)
    pytest.fail(f"audit log never showed it; it has:\n{json.dumps(entries, indent=1)}")


def test_cron_fires_runs_and_logs_skipped_slots(sched_lab: Lab, tmp_path: Path) -> None:
    # Takes two to three minutes on purpose: cron fires at whole minutes, and the test needs
    # one slot that runs and a later slot of the same schedule that the minimum gap skips.
    cron = shutil.which("cron")
    if cron is None:
        pytest.fail("cron is not installed (scripts/setup.sh installs it)")
    log = tmp_path / "audit.jsonl"
    conf = tmp_path / "chaosrun.yml"
    conf.write_text(
        yaml.safe_dump(
            {
                "audit": {"path": str(log)},
                "run_dir": str(tmp_path / "runs"),
                "freeze_file": str(tmp_path / "freeze.json"),
            }
        )
    )
    inventory = str(sched_lab.inventory.relative_to(PROJECT))
    common = {"experiment": EXPERIMENT, "inventory": inventory, "cron": "* * * * *"}
    env_vars = {"CHAOSRUN_CONFIG": str(conf)}
    sched_file = tmp_path / "chaosrun-schedules.yml"
    sched_file.write_text(
        yaml.safe_dump(
            {
                "schedules": [
                    {"name": "e2e-every-minute", **common, "min_gap": "1h", "env": env_vars},
                    {"name": "e2e-never", **common, "probability": 0, "env": env_vars},
                ]
            }
        )
    )
    env = {**os.environ, "CHAOSRUN_SCHEDULES": str(sched_file)}
    cron_file = Path(f"/etc/cron.d/chaosrun-e2e-{os.getpid()}")
    installed = chaosrun(
        "schedule", "install", "--backend", "cron", "--cron-file", str(cron_file), env=env
    )
    assert installed.returncode == 0, installed.stderr
    assert "run --scheduled e2e-every-minute" in cron_file.read_text()
    daemon = None if cron_running() else subprocess.Popen([cron, "-f"])
    try:
        # first slot: one run goes ahead and finishes, the other slot is skipped
        entries = wait_for(
            log,
            lambda es: (
                any(e.get("schedule") == "e2e-never" for e in es)
                and any(e["action"] == "run" and e["run_id"] for e in es)
            ),
            timeout=300,
        )
        mine = [e for e in entries if e.get("schedule")]
        first = next(e for e in mine if e["schedule"] == "e2e-every-minute")
        assert first["outcome"] == "scheduled", first
        never = next(e for e in mine if e["schedule"] == "e2e-never")
        assert never["outcome"] == "skipped" and "probability 0" in never["reason"]
        run = next(e for e in entries if e["action"] == "run" and e["run_id"])
        assert run["experiment"].endswith("stop-one-order.yml")
        assert run["outcome"] == "passed", run
        # a later slot of the same schedule is skipped: the minimum gap is 1h
        entries = wait_for(
            log,
            lambda es: any(
                e.get("schedule") == "e2e-every-minute" and e["outcome"] == "skipped" for e in es
            ),
            timeout=150,
        )
        gap = next(
            e
            for e in entries
            if e.get("schedule") == "e2e-every-minute" and e["outcome"] == "skipped"
        )
        assert "minimum gap 3600s not reached" in gap["reason"]
        runs = [e for e in entries if e["action"] == "run" and e["run_id"]]
        assert runs == [run], "a second run slipped through"
        listed = json.loads(chaosrun("schedule", "list", "--json", env=env).stdout)
        assert {r["name"]: r["installed"] for r in listed} == {
            "e2e-every-minute": "cron",
            "e2e-never": "cron",
        }
    finally:
        removed = chaosrun("schedule", "uninstall", env=env)
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=30)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {cron_file}" in removed.stderr
    assert not cron_file.exists()
    for host in sched_lab.order_hosts():
        assert sched_lab.unit_state(host, "order-service.service") == "active"
